"""Clients that send garbage and vanish: no crash, no leaked descriptor."""

from __future__ import annotations

import asyncio
import os
import random

import pytest
from helpers import (
    HOST,
    Server,
    echo_roundtrip,
    refusing_address,
    reset,
    running,
    wait_until,
)

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def hostile_client(address: tuple[str, int], behaviour: str, rng: random.Random) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        if behaviour == "reset-at-once":
            reset(writer)
            return
        if behaviour == "close-at-once":
            return
        garbage = rng.randbytes(rng.randint(1, 200_000))
        writer.write(garbage)
        if behaviour == "garbage-then-reset":
            await asyncio.sleep(rng.uniform(0, 0.05))
            reset(writer)
            return
        if behaviour == "flood-then-reset":
            for _ in range(20):
                writer.write(garbage)
            await asyncio.sleep(rng.uniform(0.01, 0.1))
            reset(writer)
            return
        await writer.drain()
        if behaviour == "garbage-half-close":
            writer.write_eof()
            await asyncio.wait_for(reader.read(65536), 5)
            return
        # "garbage-then-close": a normal close with the reply unread
    except ConnectionError:
        pass
    finally:
        writer.close()


async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every read with some garbage of its own."""
    rng = random.Random()
    while chunk := await reader.read(65536):
        writer.write(rng.randbytes(len(chunk) // 2 + 1))
        await writer.drain()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "limits",
    [{}, {"rate": "50Mbit", "latency": "5ms", "buffer": "16KiB", "jitter": "2ms"}],
    ids=["unshaped", "shaped"],
)
async def test_garbage_and_abrupt_resets_do_not_crash_or_leak(limits):
    loop = asyncio.get_running_loop()
    unhandled: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    behaviours = [
        "reset-at-once",
        "close-at-once",
        "garbage-then-reset",
        "flood-then-reset",
        "garbage-half-close",
        "garbage-then-close",
    ]
    with refusing_address() as refused:
        async with Server(chatty) as server:
            engine = Engine(
                [Route((HOST, 0), server.address), Route((HOST, 0), refused)],
                Limits().with_both(limits),
            )
            async with running(engine):
                good_route, refused_route = engine.addresses
                # Warm up (thread pool for name lookups, etc.) before counting descriptors.
                assert await echo_roundtrip(good_route, b"x") is not None
                await wait_until(lambda: not engine.connections, 5, "the warm-up to close")
                await wait_until(lambda: not server.writers, 5, "the warm-up server side")
                baseline = open_fds()

                rng = random.Random(8)
                clients = []
                for i in range(120):
                    route = refused_route if i % 10 == 9 else good_route
                    clients.append(hostile_client(route, rng.choice(behaviours), random.Random(i)))
                results = await asyncio.wait_for(
                    asyncio.gather(*clients, return_exceptions=True), 30
                )
                unexpected = [r for r in results if isinstance(r, BaseException)]
                assert unexpected == []

                await wait_until(lambda: not engine.connections, 10, "engine.connections to empty")
                await wait_until(lambda: not server.writers, 10, "the upstream server's side")
                await wait_until(lambda: open_fds() <= baseline, 5, f"open fds back to {baseline}")
                assert engine.totals["connections_total"] == 121

                # Still serving, and still accounting.
                payload = random.Random(9).randbytes(300_000)
                reply = await echo_roundtrip(good_route, payload)
                assert len(reply) > 0
                stats = engine.snapshot(connections=True)
                assert stats.connections_total == 122
    assert server.errors == []
    assert unhandled == [], f"unhandled exceptions in the loop: {unhandled}"
