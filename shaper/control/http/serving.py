"""Listening for an App, and stopping: no new connections, idle ones closed, streams told
to end (App.closing), and what is still running after the grace period cancelled."""

from __future__ import annotations

import asyncio

from shaper.control.http.app import App
from shaper.control.http.protocol import HttpProtocol

SHUTDOWN_GRACE = 2.0  # seconds handlers get to finish their answers when the server stops


class Runner:
    """A listening App; `await runner.cleanup()` stops it."""

    def __init__(self, app: App, server: asyncio.Server, live: set[HttpProtocol]):
        self.app = app
        self._server = server
        self._live = live
        sockname = server.sockets[0].getsockname()
        self.address: tuple[str, int] = (str(sockname[0]), int(sockname[1]))

    @property
    def open_connections(self) -> int:
        return len(self._live)

    async def cleanup(self, grace: float = SHUTDOWN_GRACE) -> None:
        self._server.close()
        self.app.closing.set()
        for protocol in list(self._live):
            protocol.shut_down()
        tasks = [p.task for p in self._live if p.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        late = [p.task for p in self._live if p.task is not None]
        for protocol in list(self._live):
            protocol.abort()
        if late:  # let the cancelled handlers run their cleanup
            await asyncio.wait(late, timeout=grace)
        await self._server.wait_closed()


async def serve(app: App, host: str, port: int) -> Runner:
    """Listen on (host, port), port 0 for any; OSError if it cannot be bound."""
    live: set[HttpProtocol] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(app, live), host, port)
    return Runner(app, server, live)
