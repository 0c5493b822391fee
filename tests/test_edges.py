"""Connection edges through the engine on real loopback sockets.

Half-close both ways, resets crossing from one leg to the other, an upstream
that refuses or never answers, clients that send garbage and vanish, live
limit changes taking effect at once, IPv6, and several routes in one engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from waiting import wait_until

from shaper.limits import Limits
from shaper.proxy import Engine, Route

HOST = "127.0.0.1"


# -- helpers -----------------------------------------------------------------------


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def set_reset_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (unless the peer has already ended the connection)."""
    if not writer.transport.is_closing():
        set_reset_on_close(writer)
    writer.transport.abort()


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while chunk := await reader.read(65536):
        parts.append(chunk)
    return b"".join(parts)


class Server:
    """An asyncio TCP server running `handler`, which keeps track of its connections."""

    def __init__(self, handler, host: str = HOST):
        self.handler = handler
        self.host = host
        self.writers: set[asyncio.StreamWriter] = set()
        self.errors: list[BaseException] = []
        self.handled = 0
        self.server: asyncio.AbstractServer | None = None

    async def _handle(self, reader, writer) -> None:
        self.writers.add(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # peers in these tests reset on purpose; the tests check what they expect
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.handled += 1
            writer.close()
            self.writers.discard(writer)

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._handle, self.host, 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    @property
    def address(self) -> tuple[str, int]:
        return self.server.sockets[0].getsockname()[:2]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[Engine]:
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def echo_roundtrip(address: tuple[str, int], payload: bytes, timeout: float = 10) -> bytes:
    async def run() -> bytes:
        reader, writer = await asyncio.open_connection(*address)
        try:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            return await read_to_end(reader)
        finally:
            writer.close()

    return await asyncio.wait_for(run(), timeout)


def kinds(engine: Engine) -> list[str]:
    return [event.kind for event in engine.events]


SHAPED = {"rate": "20Mbit", "latency": "10ms", "jitter": "2ms", "buffer": "32KiB"}


# -- half-close ----------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_client_half_close_still_receives_the_reply(limits):
    """The client shuts down writing; the server sees EOF, then replies; the reply arrives."""
    request = random.Random(1).randbytes(300_000)
    reply_body = random.Random(2).randbytes(200_000)

    async def handler(reader, writer):
        got = await read_to_end(reader)  # returns only once the client's EOF came through
        writer.write(digest(got).encode() + b"\n" + reply_body)
        await writer.drain()

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):

        async def client() -> bytes:
            reader, writer = await asyncio.open_connection(*engine.addresses[0])
            try:
                writer.write(request)
                await writer.drain()
                writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
                return await read_to_end(reader)
            finally:
                writer.close()

        reply = await asyncio.wait_for(client(), 20)
        assert reply == digest(request).encode() + b"\n" + reply_body
        assert server.errors == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_server_half_close_client_still_sends(limits):
    """The server shuts down writing first; the client reads to EOF, then still sends."""
    greeting = random.Random(3).randbytes(250_000)
    answer = random.Random(4).randbytes(180_000)
    received: list[bytes] = []

    async def handler(reader, writer):
        writer.write(greeting)
        await writer.drain()
        writer.write_eof()
        received.append(await read_to_end(reader))

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):

        async def client() -> bytes:
            reader, writer = await asyncio.open_connection(*engine.addresses[0])
            try:
                got = await read_to_end(reader)
                # Downstream is half-closed now; upstream still flows.
                [conn] = engine.snapshot(connections=True).connections
                assert conn.downstream.state == "half-closed"
                assert conn.upstream.state != "closed"
                writer.write(answer)
                await writer.drain()
                writer.write_eof()
                assert await reader.read() == b""
                return got
            finally:
                writer.close()

        got = await asyncio.wait_for(client(), 20)
        assert got == greeting
        await wait_until(lambda: received, 10, "the server to read the client's answer")
        assert received == [answer]
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["resets"] == 0
        assert server.errors == []


# -- resets --------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_client_reset_becomes_a_reset_on_the_server(limits):
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(reader, writer):
        try:
            while await reader.read(65536):
                pass
            outcome.set_result("eof")
        except ConnectionResetError as exc:
            outcome.set_result(exc)

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        writer.write(random.Random(5).randbytes(100_000))  # some of it still queued when shaped
        await writer.drain()
        await wait_until(lambda: engine.connections, 5, "the connection")
        [conn] = engine.connections.values()
        await wait_until(lambda: conn.state == "open", 5, "the upstream leg")
        await wait_until(lambda: conn.upstream.model.bytes_out > 0, 5, "bytes to reach upstream")
        reset(writer)
        result = await asyncio.wait_for(outcome, 5)
        assert isinstance(result, ConnectionResetError), f"server saw {result!r}, not a reset"
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["resets"] == 1
        assert "reset" in kinds(engine)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_server_reset_becomes_a_reset_on_the_client(limits):
    async def handler(reader, writer):
        writer.write(random.Random(6).randbytes(100_000))
        await writer.drain()
        await reader.readexactly(5)
        reset(writer)

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        try:
            await reader.readexactly(1000)  # the upstream leg is up and bytes flow
            writer.write(b"reset")
            await writer.drain()

            async def read_until_error():
                while await reader.read(65536):
                    pass
                return "eof"

            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(read_until_error(), 5)
        finally:
            writer.close()
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["resets"] == 1
        assert "reset" in kinds(engine)


# -- upstream that refuses or never answers -------------------------------------------


@contextlib.contextmanager
def refusing_address():
    """A loopback port that is bound but not listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind((HOST, 0))
    try:
        yield sock.getsockname()[:2]
    finally:
        sock.close()


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


# -- hostile peers -------------------------------------------------------------------


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


# -- live limit changes --------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("latency", ["0ms", "20ms"])
async def test_live_changes_apply_within_50ms(latency):
    """Stall a direction mid-transfer: bytes_out stops within 50 ms. Unstall: it resumes.
    Change the rate: the new rate is what flows."""
    loop = asyncio.get_running_loop()
    stop_sending = asyncio.Event()
    sent = bytearray()

    async def source(reader, writer):
        rng = random.Random(10)
        while not stop_sending.is_set():
            block = rng.randbytes(32 * 1024)
            sent.extend(block)
            writer.write(block)
            await writer.drain()
        writer.write_eof()

    limits = Limits().patched({"downstream": {"rate": "16Mbit", "latency": latency}})
    async with (
        Server(source) as server,
        running(Engine([Route((HOST, 0), server.address)], limits)) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        received = bytearray()

        async def sink():
            while chunk := await reader.read(65536):
                received.extend(chunk)

        sink_task = asyncio.create_task(sink())
        try:
            await wait_until(lambda: engine.connections, 5, "the connection")
            [conn] = engine.connections.values()

            def out() -> int:
                return conn.downstream.model.bytes_out

            await wait_until(lambda: out() > 200_000, 10, "the transfer to get going")

            engine.patch_limits({"downstream": {"stall": True}})
            await asyncio.sleep(0.05)
            at_50ms = out()
            await asyncio.sleep(0.4)
            assert out() == at_50ms, "bytes kept leaving more than 50 ms after the stall"
            assert conn.downstream.state() == "stalled"
            assert engine.snapshot().downstream.state == "stalled"

            before = out()
            engine.patch_limits({"downstream": {"stall": False}})
            await asyncio.sleep(0.05 + 0.02)  # the first slice departs after its own 4 ms
            assert out() > before, "nothing moved 50 ms after the stall was lifted"

            # Rate changes: what flows in the next half second follows the new rate.
            for rate, per_second in (("4Mbit", 500_000), ("40Mbit", 5_000_000)):
                engine.patch_limits({"downstream": {"rate": rate}})
                await asyncio.sleep(0.05)
                start, t0 = out(), loop.time()
                await asyncio.sleep(0.5)
                measured = (out() - start) / (loop.time() - t0)
                assert 0.5 * per_second <= measured <= 1.5 * per_second, (
                    f"{rate}: {measured:.0f} B/s after the change"
                )

            # A buffer shrink below occupancy: reading stops at once, nothing is dropped.
            engine.patch_limits({"downstream": {"rate": "1Mbit"}})
            await wait_until(lambda: conn.downstream.model.queued > 10_000, 5, "the queue to fill")
            engine.patch_limits({"downstream": {"buffer": "1KiB"}})
            assert conn.downstream.model.room == 0
            assert not conn.downstream.reading
            engine.patch_limits({"downstream": {"rate": "off", "buffer": "256KiB"}})

            stop_sending.set()
            await asyncio.wait_for(sink_task, 20)
            assert received == sent
        finally:
            sink_task.cancel()
            writer.close()


# -- IPv6 ----------------------------------------------------------------------------


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.timeout(30)
async def test_ipv6_listen_and_upstream():
    if not ipv6_loopback():
        pytest.skip("this host has no IPv6 loopback (::1 cannot be bound)")
    async with (
        Server(echo, host="::1") as server,
        running(
            Engine(
                [
                    Route(("::1", 0), ("::1", server.address[1])),
                    Route((HOST, 0), ("::1", server.address[1])),
                ],
                Limits().with_both({"latency": "2ms"}),
            )
        ) as engine,
    ):
        v6_route, v4_route = engine.addresses
        assert v6_route[0] == "::1"
        assert engine.describe_routes()[0] == f"[::1]:{v6_route[1]} -> [::1]:{server.address[1]}"
        payload = random.Random(11).randbytes(400_000)
        assert await echo_roundtrip(v6_route, payload) == payload
        assert await echo_roundtrip(v4_route, payload) == payload

        reader, writer = await asyncio.open_connection(*v6_route)
        try:
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            [conn] = engine.snapshot(connections=True).connections
            assert conn.client.startswith("[::1]:")
            assert conn.server == f"[::1]:{server.address[1]}"
        finally:
            writer.close()


@pytest.mark.timeout(30)
async def test_upstream_given_by_hostname():
    async with (
        Server(echo) as server,
        running(
            Engine([Route(("localhost", 0), ("localhost", server.address[1]))], Limits())
        ) as engine,
    ):
        payload = random.Random(12).randbytes(100_000)
        assert await echo_roundtrip(engine.addresses[0], payload) == payload


# -- several routes ------------------------------------------------------------------


async def echo_rtt(reader, writer) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"ping")
    await asyncio.wait_for(reader.readexactly(4), 5)
    return loop.time() - started


@pytest.mark.timeout(30)
async def test_several_routes_share_the_engine_limits():
    async with (
        Server(echo) as first,
        Server(echo) as second,
        running(
            Engine(
                [Route((HOST, 0), first.address), Route((HOST, 0), second.address)],
                Limits().with_both({"latency": "60ms"}),
            )
        ) as engine,
    ):
        assert len(set(engine.addresses)) == 2
        legs = [await asyncio.open_connection(*address) for address in engine.addresses]
        try:
            # 60 ms each way on both routes: at least 120 ms per round trip.
            for reader, writer in legs:
                assert await echo_rtt(reader, writer) >= 0.115
            conns = list(engine.connections.values())
            assert len(conns) == 2
            for conn in conns:
                assert engine.connection_limits(conn.id) == engine.limits

            # One live change reaches both routes' open connections.
            engine.patch_limits({"upstream": {"latency": "0ms"}, "downstream": {"latency": "0ms"}})
            for conn in conns:
                assert engine.connection_limits(conn.id) == engine.limits
            for reader, writer in legs:
                assert await echo_rtt(reader, writer) < 0.06

            # A per-connection override affects only that connection.
            engine.set_connection_limits(conns[0].id, Limits().with_both({"latency": "60ms"}))
            rtts = [await echo_rtt(reader, writer) for reader, writer in legs]
            assert rtts[0] >= 0.115 and rtts[1] < 0.06
            engine.patch_limits({"upstream": {"rate": "1Mbit"}})
            assert engine.connection_limits(conns[0].id).upstream.rate == 0
            assert engine.connection_limits(conns[1].id).upstream.rate == 1_000_000
        finally:
            for _, writer in legs:
                writer.close()


@pytest.mark.timeout(30)
async def test_connection_route_names_the_bound_listen_port():
    """A listener on port 0 gets a real port; connection stats name that port, as the
    engine's own route list does."""
    async with (
        Server(echo) as first,
        Server(echo) as second,
        running(
            Engine([Route((HOST, 0), first.address), Route((HOST, 0), second.address)], Limits())
        ) as engine,
    ):
        legs = [await asyncio.open_connection(*address) for address in engine.addresses]
        try:
            for reader, writer in legs:
                await echo_rtt(reader, writer)
            stats = engine.snapshot(connections=True)
            assert sorted(c.route for c in stats.connections) == sorted(engine.describe_routes())
        finally:
            for _, writer in legs:
                writer.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("direction", ["upstream", "downstream"])
async def test_reset_while_the_direction_is_stalled_and_backpressured(direction):
    """A client that resets while its bytes are held (stalled link, full queue, reading
    paused) still has its reset carried to the server, and the connection is dropped."""
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(reader, writer):
        if direction == "downstream":
            # Fill the stalled downstream: its queue fills and reading from us pauses.
            writer.write(random.Random(13).randbytes(4_000_000))
        try:
            while await reader.read(65536):
                pass
            outcome.set_result("eof")
        except ConnectionResetError as exc:
            outcome.set_result(exc)

    limits = Limits().patched({direction: {"stall": True, "buffer": "64KiB"}})
    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], limits)) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        await wait_until(lambda: engine.connections, 5, "the connection")
        [conn] = engine.connections.values()
        await wait_until(lambda: conn.state == "open", 5, "the upstream leg")
        pipe = conn.upstream if direction == "upstream" else conn.downstream
        if direction == "upstream":
            writer.write(random.Random(14).randbytes(4_000_000))
        await wait_until(lambda: not pipe.reading, 10, f"the {direction} queue to fill")
        reset(writer)
        result = await asyncio.wait_for(outcome, 5)
        assert isinstance(result, ConnectionResetError), f"server saw {result!r}, not a reset"
        await wait_until(lambda: not engine.connections, 5, "the connection to be dropped")


@pytest.mark.timeout(30)
async def test_stop_releases_the_sockets_of_a_connection_whose_receiver_does_not_read():
    async def handler(reader, writer):
        writer.write(random.Random(15).randbytes(8_000_000))
        await writer.drain()
        await reader.read()

    async with Server(handler) as server:
        # Small kernel buffers on the proxy's sockets, so bytes stay in its own write buffer.
        engine = Engine(
            [Route((HOST, 0), server.address)], Limits().with_both({"sockbuf": "16KiB"})
        )
        await engine.start()
        try:
            reader, writer = await asyncio.open_connection(*engine.addresses[0])
            await wait_until(lambda: engine.connections, 5, "the connection")
            [conn] = engine.connections.values()
            await wait_until(
                lambda: (
                    conn.downstream.sink_blocked
                    and conn.client.transport.get_write_buffer_size() > 0
                ),
                10,
                "the client leg to block with bytes in its write buffer",
            )
        finally:
            await asyncio.wait_for(engine.stop(), 5)
        try:
            await wait_until(
                lambda: conn.client.sock.fileno() == -1 and conn.server.sock.fileno() == -1,
                5,
                "the proxy's sockets to be closed",
            )
            assert not engine.connections
        finally:
            writer.transport.abort()
