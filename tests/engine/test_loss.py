"""Loss on real sockets on 127.0.0.1: the emulated sender repairs every lost packet, so
a transfer through a lossy path arrives whole, only later; the same seed loses the same
packets. Generous functional bounds only."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from helpers import HOST, Server, pattern, running, source, wait_until

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route

SIZE = 1_000_000
BODY = pattern(SIZE)
PATH = {"rate": "8Mbit", "latency": "10ms"}


async def download(address: tuple[str, int]) -> tuple[float, bytes]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    reader, writer = await asyncio.open_connection(*address)
    try:
        data = await asyncio.wait_for(reader.read(-1), 60)
    finally:
        writer.close()
    return loop.time() - start, data


async def one_download(loss: str, seed: int = 1) -> tuple[float, bytes, dict[str, float]]:
    """A download through `loss` each way; its time, its bytes and the downstream's loss
    figures once the connection is closed."""
    limits = Limits().with_both({**PATH, "loss": loss})
    async with (
        Server(source(BODY, wait_for_close=False)) as server,
        running(Engine([Route((HOST, 0), server.address)], limits, seed=seed)) as engine,
    ):
        seconds, data = await download(engine.addresses[0])
        await wait_until(lambda: not engine.connections, what="the connection closed")
        totals = next(iter(engine.route_totals.values()), {})
        figures = {name: totals.get(("downstream", name), 0) for name in ("lost", "timeouts")}
        figures["stalled_us"] = totals.get(("downstream", "stalled_us"), 0)
    return seconds, data, figures


@pytest.mark.timeout(120)
async def test_a_transfer_through_five_percent_loss_arrives_whole_and_later():
    clean, data, figures = await one_download("0%")
    assert hashlib.sha256(data).digest() == hashlib.sha256(BODY).digest()
    assert figures["lost"] == 0
    lossy, data, figures = await one_download("5%")
    assert hashlib.sha256(data).digest() == hashlib.sha256(BODY).digest()
    # About 690 packets at 5 %: dozens lost, every one repaired late.
    assert figures["lost"] >= 10
    assert figures["stalled_us"] > 0
    # At 20 ms RTT and 5 % loss a CUBIC sender manages about 3 Mbit/s (Mathis), against
    # 8 Mbit/s without loss.
    assert lossy > 1.3 * clean, (clean, lossy)


@pytest.mark.timeout(120)
async def test_the_same_seed_loses_the_same_packets():
    _, first, one = await one_download("3%", seed=42)
    _, second, again = await one_download("3%", seed=42)
    assert first == second == BODY
    assert one["lost"] == again["lost"] > 0


@pytest.mark.timeout(60)
async def test_loss_figures_are_in_the_snapshot_while_the_connection_is_open():
    limits = Limits().with_both({**PATH, "loss": "5%", "rate": "2Mbit"})
    async with (
        Server(source(BODY, wait_for_close=False)) as server,
        running(Engine([Route((HOST, 0), server.address)], limits, seed=3)) as engine,
    ):
        task = asyncio.ensure_future(download(engine.addresses[0]))

        def lost() -> int:
            conns = engine.snapshot(connections=True).connections or ()
            return sum(c.downstream.lost or 0 for c in conns)

        await wait_until(lambda: lost() > 0, timeout=30, what="a loss counted")
        snapshot = engine.snapshot(connections=True)
        down = snapshot.connections[0].downstream if snapshot.connections else None
        assert down is not None and down.timeouts is not None and down.stalled_us is not None
        assert snapshot.downstream.lost is not None and snapshot.downstream.lost > 0
        assert any(e.kind == "seed" and "3" in e.message for e in snapshot.events)
        _, data = await task
        assert data == BODY
