"""A client turned away by a `refuse` fault: reset as soon as it is accepted, or closed."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from shaper.engine import kernel


class Refused(asyncio.Protocol):
    __slots__ = ("mode",)

    def __init__(self, mode: str):
        self.mode = mode  # "reset" or "close"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)
        sock: socket.socket | None = stream.get_extra_info("socket")
        if self.mode == "reset":
            if sock is not None:
                kernel.set_reset_on_close(sock)
            stream.abort()
        else:
            stream.close()

    def data_received(self, data: bytes) -> None:
        """A client that wrote before it saw the close: its bytes go nowhere."""

    def eof_received(self) -> bool:
        return False
