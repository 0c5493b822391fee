"""A connection at rest is given its kept snapshot again, and only while nothing it shows
has changed: after every kind of change the next snapshot equals one built afresh."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest
from helpers import HOST, Server, running, wait_until

from shaper.engine.connection import Connection
from shaper.engine.engine import Engine
from shaper.faults import fault_from_dict
from shaper.model import snapshots as stats
from shaper.model.limits import Limits
from shaper.model.routes import Route

SHAPED = {"rate": "20Mbit", "latency": "2ms", "buffer": "64KiB"}


class Ahead:
    """How far ahead of the loop's clock a snapshot is taken: 60 s more at every call, so
    that the rates (half-life 0.5 s) are at rest and time never runs backwards."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        self.seconds += 60.0
        return self.seconds


LATER = Ahead()
NOW = lambda: 0.0  # noqa: E731  (at the loop's time: rates as they are)


class Peer:
    """The upstream server's side of one connection: it writes when told, reads until the
    end unless told to stop reading."""

    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.received = 0
        self.reading = asyncio.Event()
        self.reading.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        while True:
            await self.reading.wait()
            chunk = await reader.read(65536)
            if not chunk:
                break
            self.received += len(chunk)
        await asyncio.sleep(30)


async def settled(
    conn: Connection,
    ahead: Callable[[], float] = LATER,
    state: tuple[str, ...] = (stats.IDLE,),
    down: tuple[str, ...] = (stats.IDLE,),
) -> stats.ConnectionStats:
    """Check, at every look until its upstream is in one of `state` and its downstream in
    one of `down`, that the snapshot a connection gives (kept, if it was at rest) is the
    one built afresh; return the last."""
    await asyncio.sleep(0.05)  # what the test just did reaches the engine

    def check() -> stats.ConnectionStats | None:
        now, wall = conn.loop.time() + ahead(), time.time()
        given = conn.snapshot(now, True, wall)
        fresh = conn.snapshot(now, True, wall, reuse=False)
        assert given == fresh
        wanted = fresh.upstream.state in state and fresh.downstream.state in down
        return fresh if wanted else None

    found: stats.ConnectionStats = await wait_until(check, 5, f"states {state}, {down}")
    if state == down == (stats.IDLE,):
        assert reused(conn), "idle and at rest, yet built afresh"
    return found


def reused(conn: Connection) -> bool:
    """Two snapshots in a row share their parts: the second was the kept one."""
    now = conn.loop.time() + LATER()
    first, second = conn.snapshot(now), conn.snapshot(now)
    return second.upstream is first.upstream and second.downstream is first.downstream


@pytest.mark.timeout(60)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_every_change_at_rest_shows_in_the_next_snapshot(limits):
    peer = Peer()
    async with (
        Server(peer.handle) as server,
        running(
            Engine([Route((HOST, 0), server.address, name="main")], Limits().with_both(limits))
        ) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        await wait_until(lambda: peer.writer is not None, 5, "the upstream connection")
        conn = next(iter(engine.connections.values()))
        assert peer.writer is not None

        record = await settled(conn)
        # Its age moves on while the rest is kept.
        later = conn.snapshot(conn.loop.time() + LATER(), True, time.time() + 5)
        assert later.age == pytest.approx(record.age + 5, abs=0.1)

        # Bytes up, then bytes down.
        writer.write(b"x" * 1000)
        await writer.drain()
        await wait_until(lambda: peer.received == 1000, 5, "the bytes upstream")
        # No snapshot while they moved: the direction is idle again, only its counts moved.
        await asyncio.sleep(0.7)
        record = await settled(conn)
        assert record.upstream.bytes_in == record.upstream.bytes_out == 1000
        peer.writer.write(b"y" * 500)
        await reader.readexactly(500)
        record = await settled(conn)
        assert record.downstream.bytes_out == 500

        # Limits: the queue's capacity, a stall, the sockets' buffers.
        engine.set_limits(Limits().with_both({**limits, "buffer": "128KiB"}))
        record = await settled(conn)
        assert record.upstream.queue_capacity == 128 * 1024
        engine.set_limits(Limits().with_both({**limits, "stall": True}))
        record = await settled(conn, state=(stats.STALLED,), down=(stats.STALLED,))
        assert record.upstream.state == stats.STALLED
        engine.set_limits(Limits().with_both({**limits, "sockbuf": "32KiB"}))
        record = await settled(conn)
        assert record.client_kernel.rcvbuf == 2 * 32 * 1024  # Linux doubles what is set

        # Limits of its own: its own links.
        engine.set_connection_limits(conn.id, Limits().with_both({"rate": "5Mbit"}))
        record = await settled(conn)
        assert record.limits_override
        assert record.upstream.link == record.downstream.link == "own"
        engine.set_connection_limits(conn.id, None)
        record = await settled(conn)
        assert not record.limits_override

        # A fault that touches it.
        engine.add_fault(fault_from_dict({"name": "bits", "type": "slicer"}))
        record = await settled(conn)
        assert record.faults == ("bits",)
        engine.remove_fault("bits")
        record = await settled(conn)
        assert record.faults == ()

        # A receiver that stops reading: its kernel queues fill, and nothing is kept.
        peer.reading.clear()
        writer.write(b"z" * 3_000_000)
        record = await settled(
            conn, ahead=NOW, state=(stats.BACKPRESSURED, stats.BLOCKED), down=stats.STATES
        )
        assert not reused(conn)
        peer.reading.set()
        await writer.drain()
        await wait_until(lambda: peer.received == 3_001_000, 10, "the bytes to arrive")
        record = await settled(conn)
        assert record.upstream.bytes_out == 3_001_000

        # A half-close by the client.
        sock = writer.get_extra_info("socket")
        sock.shutdown(socket.SHUT_WR)
        record = await settled(conn, state=(stats.HALF_CLOSED,))
        writer.close()
