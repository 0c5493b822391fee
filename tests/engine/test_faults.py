"""Each fault, through a real engine on 127.0.0.1: what the client and the server see."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import HOST, Server, digest, echo, pattern, running, source, wait_until

from shaper.engine.engine import Engine
from shaper.faults import fault_from_dict
from shaper.model.limits import Limits
from shaper.model.routes import Route

SHAPED = {"rate": "20Mbit", "latency": "5ms", "buffer": "64KiB"}
LIMITS = [{}, SHAPED]
IDS = ["unshaped", "shaped"]


def engine_for(server: Server, limits: dict, *faults: dict, seed: int = 7) -> Engine:
    return Engine(
        [Route((HOST, 0), server.address, name="main")],
        Limits().with_both(limits),
        seed=seed,
        faults=[fault_from_dict(f) for f in faults],
    )


async def read_all(reader: asyncio.StreamReader, timeout: float = 10) -> tuple[bytes, str]:
    """Everything until the end, and how it ended: 'eof' or 'reset'."""
    data = bytearray()
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), timeout):
            data += chunk
        return bytes(data), "eof"
    except ConnectionResetError:
        return bytes(data), "reset"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", LIMITS, ids=IDS)
async def test_limit_data_delivers_exactly_that_many_bytes_then_closes(limits):
    payload = pattern(300_000)
    async with (
        Server(source(payload)) as server,
        running(engine_for(server, limits, {"type": "limit_data", "bytes": "100000"})) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        data, ending = await read_all(reader)
        writer.close()
        assert ending == "eof"
        assert data == payload[:100_000]
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["bytes_downstream"] == 100_000
        assert engine.fault_runner.fired["limit_data"] == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", LIMITS, ids=IDS)
async def test_reset_peer_resets_both_legs_after_the_first_byte(limits):
    server_saw: asyncio.Future = asyncio.get_running_loop().create_future()

    async def reader_handler(reader, writer):
        try:
            while await reader.read(65536):
                pass
            server_saw.set_result("eof")
        except ConnectionResetError:
            server_saw.set_result("reset")

    fault = {"type": "reset_peer", "after": "300ms"}
    async with (
        Server(reader_handler) as server,
        running(engine_for(server, limits, fault)) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        await asyncio.sleep(0.5)  # no byte yet: the clock has not started
        assert engine.connections, "reset before the first byte"
        started = time.monotonic()
        writer.write(b"hello")
        _, ending = await read_all(reader)
        took = time.monotonic() - started
        assert ending == "reset"
        assert 0.25 < took < 3, took
        assert await asyncio.wait_for(server_saw, 5) == "reset"
        assert engine.totals["resets"] == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", LIMITS, ids=IDS)
async def test_timeout_holds_bytes_and_removing_it_releases_them_in_order(limits):
    payload = pattern(200_000, seed=3)
    async with (
        Server(echo) as server,
        running(engine_for(server, limits, {"name": "cut", "type": "timeout"})) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        writer.write(payload)
        writer.write_eof()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.5)  # held: nothing comes back
        [conn] = engine.connections.values()
        assert conn.upstream.state() == "held"
        assert conn.faults == ("cut",)
        # Bounded: the proxy holds at most its queue; the rest waits in the kernels.
        assert conn.upstream.flow.queued + conn.upstream.flow.stuck <= 200_000
        engine.remove_fault("cut")
        data, ending = await read_all(reader)
        assert ending == "eof"
        assert digest(data) == digest(payload)
        assert conn.faults == ()


@pytest.mark.timeout(30)
async def test_timeout_with_after_closes_the_connection():
    async with (
        Server(echo) as server,
        running(engine_for(server, {}, {"type": "timeout", "after": "400ms"})) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        started = time.monotonic()
        writer.write(b"ping")
        data, ending = await read_all(reader)
        assert (data, ending) == (b"", "eof")
        assert 0.3 < time.monotonic() - started < 3


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", LIMITS, ids=IDS)
async def test_slicer_delivers_small_pieces_with_gaps(limits):
    payload = pattern(2_000, seed=4)
    fault = {"type": "slicer", "average_size": "100", "size_variation": "50", "delay": "20ms"}
    async with (
        Server(source(payload)) as server,
        running(engine_for(server, limits, fault)) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        pieces, stamps = [], []
        while chunk := await asyncio.wait_for(reader.read(65536), 10):
            pieces.append(chunk)
            stamps.append(time.monotonic())
        writer.close()
        assert b"".join(pieces) == payload
        assert len(pieces) >= 10, [len(p) for p in pieces]  # ~20 pieces of 50-150 B
        assert max(len(p) for p in pieces) <= 150 * 2  # a read may join two pieces at most
        assert stamps[-1] - stamps[0] > 0.15


@pytest.mark.timeout(30)
async def test_slow_close_delays_the_fin_not_the_bytes():
    payload = pattern(10_000)
    async with (
        Server(source(payload)) as server,
        running(engine_for(server, {}, {"type": "slow_close", "delay": "600ms"})) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        data = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
        got_bytes = time.monotonic()
        assert data == payload
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert time.monotonic() - got_bytes > 0.45
        writer.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["reset", "close"])
async def test_refuse_turns_new_clients_away_and_never_dials(mode):
    async with (
        Server(echo) as server,
        running(engine_for(server, {}, {"type": "refuse", "mode": mode})) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        writer.write(b"anyone?")
        data, ending = await read_all(reader)
        assert data == b""
        assert ending == ("reset" if mode == "reset" else "eof")
        await asyncio.sleep(0.1)
        assert server.handled == 0 and not server.writers
        assert not engine.connections
        assert engine.fault_runner.fired["refuse"] == 1


@pytest.mark.timeout(30)
async def test_connect_delay_waits_before_dialing():
    async with (
        Server(echo) as server,
        running(engine_for(server, {}, {"type": "connect_delay", "delay": "500ms"})) as engine,
    ):
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        assert time.monotonic() - started > 0.45
        writer.close()


@pytest.mark.timeout(60)
async def test_toxicity_picks_the_same_connections_for_a_seed_and_zero_touches_none():
    async def picks(seed: int, toxicity: float) -> list[int]:
        fault = {"type": "reset_peer", "toxicity": toxicity}
        async with (
            Server(echo) as server,
            running(engine_for(server, {}, fault, seed=seed)) as engine,
        ):
            touched = []
            for n in range(1, 21):
                reader, writer = await asyncio.open_connection(*engine.addresses[0])
                writer.write(b"x")
                try:
                    echoed = await asyncio.wait_for(reader.readexactly(1), 2)
                    assert echoed == b"x"
                except (ConnectionResetError, asyncio.IncompleteReadError):
                    touched.append(n)
                writer.close()
            return touched

    first = await picks(11, 0.4)
    assert first == await picks(11, 0.4)
    assert 2 <= len(first) <= 16  # 20 draws at 0.4
    assert first != await picks(12, 0.4)
    assert await picks(11, 0.0) == []
    assert len(await picks(11, 1.0)) == 20


@pytest.mark.timeout(30)
async def test_a_fault_on_a_route_touches_only_that_routes_connections():
    fault = fault_from_dict({"type": "refuse", "route": "db"})
    async with Server(echo) as server:
        engine = Engine(
            [
                Route((HOST, 0), server.address, name="web"),
                Route((HOST, 0), server.address, name="db"),
            ],
            faults=[fault],
        )
        async with running(engine):
            web, db = engine.addresses
            reader, writer = await asyncio.open_connection(*web)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            writer.close()
            reader, writer = await asyncio.open_connection(*db)
            assert await read_all(reader) == (b"", "reset")
            writer.close()
