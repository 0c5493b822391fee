"""An upstream that refuses or never answers: the client is reset, the engine keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket

import pytest
from helpers import (
    HOST,
    Server,
    echo,
    echo_roundtrip,
    refusing_address,
    running,
    wait_until,
)

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route


@contextlib.contextmanager
def unresponsive_address():
    """A listener whose accept queue is full and never drained: further SYNs go unanswered."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(0)
    fillers = []
    try:
        address = listener.getsockname()[:2]
        for _ in range(8):
            filler = socket.socket()
            filler.settimeout(0.2)
            try:
                filler.connect(address)
            except (TimeoutError, OSError):
                filler.close()
                break
            fillers.append(filler)
        yield address
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def client_outcome(address: tuple[str, int]) -> str:
    """Connect, send a little, and report how the proxy ended the connection."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(b"hello?")
        data = await reader.read(65536)
        return "eof" if data == b"" else f"data {data[:20]!r}"
    except ConnectionResetError:
        return "reset"
    finally:
        writer.close()


@pytest.mark.timeout(30)
async def test_refused_upstream_closes_the_client_and_the_engine_keeps_serving():
    with refusing_address() as refused:
        async with (
            Server(echo) as good,
            running(
                Engine([Route((HOST, 0), refused), Route((HOST, 0), good.address)], Limits())
            ) as engine,
        ):
            bad_route, good_route = engine.addresses
            loop = asyncio.get_running_loop()
            started = loop.time()
            outcome = await asyncio.wait_for(client_outcome(bad_route), 5)
            elapsed = loop.time() - started
            assert outcome in ("eof", "reset")
            assert elapsed < 2.0, f"the client leg stayed open {elapsed:.2f}s after the refusal"
            errors = [e for e in engine.events if e.kind == "error"]
            assert len(errors) == 1
            assert f"{refused[0]}:{refused[1]}" in errors[0].message
            assert engine.totals["errors"] == 1

            # Many refusals mixed with good connections: every good one still works.
            payloads = [random.Random(i).randbytes(50_000) for i in range(10)]
            results = await asyncio.wait_for(
                asyncio.gather(
                    *(client_outcome(bad_route) for _ in range(20)),
                    *(echo_roundtrip(good_route, p) for p in payloads),
                ),
                15,
            )
            assert all(r in ("eof", "reset") for r in results[:20])
            assert results[20:] == payloads
            await wait_until(lambda: not engine.connections, 5, "all connections to close")
            assert engine.totals["errors"] == 21
            assert good.errors == []


@pytest.mark.timeout(30)
async def test_unresponsive_upstream_times_out_and_the_engine_keeps_serving():
    with unresponsive_address() as silent:
        async with (
            Server(echo) as good,
            running(
                Engine(
                    [Route((HOST, 0), silent), Route((HOST, 0), good.address)],
                    Limits(),
                    connect_timeout=0.5,
                )
            ) as engine,
        ):
            silent_route, good_route = engine.addresses
            loop = asyncio.get_running_loop()
            started = loop.time()
            pending = asyncio.create_task(client_outcome(silent_route))
            # While that dial hangs, other connections are served.
            payload = random.Random(7).randbytes(100_000)
            assert await echo_roundtrip(good_route, payload) == payload
            assert not pending.done()
            outcome = await asyncio.wait_for(pending, 10)
            elapsed = loop.time() - started
            assert outcome in ("eof", "reset")
            assert 0.4 <= elapsed < 3.0, f"closed after {elapsed:.2f}s with a 0.5s connect timeout"
            errors = [e for e in engine.events if e.kind == "error"]
            assert len(errors) == 1 and "timed out" in errors[0].message
            await wait_until(lambda: not engine.connections, 5, "all connections to close")
            assert engine.totals["errors"] == 1
