"""Real traffic through each Toxiproxy toxic, made with toxiproxy-python, checked for what a
client of the proxy observes. Timed bounds are generous: the machine is shared."""

from __future__ import annotations

import socket
import time

import pytest
from toxiproxy import Toxiproxy
from toxiproxy_server import (
    Upstream,
    connect,
    echo,
    read_all,
    roundtrip,
    sender,
    toxiproxy_server,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server():
    with toxiproxy_server("-seed", "11") as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(server):
    yield
    server.clean()


@pytest.fixture
def toxi(server):
    client = Toxiproxy()
    client.update_api_consumer(*server.api)
    return client


@pytest.fixture
def echoing(toxi):
    with Upstream(echo) as upstream:
        yield toxi.create(upstream=upstream.upstream, name="echo")


def test_an_untoxiced_proxy_is_a_plain_relay(echoing):
    with connect(echoing.listen) as sock:
        # No emulated handshake or window: a first exchange is as fast as a later one.
        assert roundtrip(sock, b"x" * 100_000) < 1.0


def test_latency_adds_its_delay_per_direction_and_applies_to_open_connections(echoing):
    with connect(echoing.listen) as sock:
        before = roundtrip(sock, b"ping")
        echoing.add_toxic(type="latency", attributes={"latency": 300})
        echoing.add_toxic(type="latency", stream="upstream", attributes={"latency": 200})
        delayed = roundtrip(sock, b"ping")
        assert delayed >= 0.49, delayed  # 300 ms down + 200 ms up, on the open connection
        assert delayed < before + 2.0
        echoing.destroy_toxic("latency_upstream")
        echoing.destroy_toxic("latency_downstream")
        assert roundtrip(sock, b"ping") < 0.25


def test_jitter_varies_the_delay_around_the_latency(echoing):
    echoing.add_toxic(type="latency", attributes={"latency": 100, "jitter": 80})
    with connect(echoing.listen) as sock:
        times = [roundtrip(sock, b"j") for _ in range(8)]
    assert all(0.015 <= t < 1.5 for t in times), times
    assert max(times) - min(times) > 0.02, times


def test_bandwidth_paces_each_connection_at_its_rate(toxi):
    payload = b"b" * 300_000
    with Upstream(sender(payload)) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="slow")
        proxy.add_toxic(type="bandwidth", attributes={"rate": 300})  # 300 KB/s
        start = time.monotonic()
        with connect(proxy.listen) as one, connect(proxy.listen) as two:
            got_one, _ = read_all(one)
            got_two, _ = read_all(two)
        took = time.monotonic() - start
    assert got_one == payload and got_two == payload
    # Each connection gets the rate of its own (Toxiproxy's per-connection pacing): two
    # 300 KB transfers at 300 KB/s take about one second together, not two.
    assert 0.8 <= took < 1.8, took


def test_bandwidth_of_zero_stalls_until_removed(toxi):
    with Upstream(sender(b"held")) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="stalled")
        proxy.add_toxic(type="bandwidth", attributes={"rate": 0})
        with connect(proxy.listen) as sock:
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(10)
            proxy.destroy_toxic("bandwidth_downstream")
            sock.settimeout(10)
            assert read_all(sock)[0] == b"held"


def test_timeout_of_zero_holds_the_stream_and_the_connection_open(echoing):
    echoing.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    with connect(echoing.listen) as sock:
        sock.sendall(b"lost?")
        sock.settimeout(0.6)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # neither data nor a close
        echoing.destroy_toxic("timeout_upstream")
        sock.settimeout(10)
        assert sock.recv(10) == b"lost?"  # held, not dropped (Toxiproxy drops it)


def test_timeout_closes_the_connection_after_its_delay(echoing):
    echoing.add_toxic(type="timeout", attributes={"timeout": 400})
    with connect(echoing.listen) as sock:
        start = time.monotonic()
        sock.sendall(b"x")
        sock.settimeout(10)
        try:
            data = sock.recv(10)
        except ConnectionResetError:
            data = b""
        took = time.monotonic() - start
    assert data == b""
    assert 0.35 <= took < 3.0, took


def test_reset_peer_resets_the_client(echoing):
    echoing.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 0})
    with connect(echoing.listen) as sock:
        sock.sendall(b"boom")
        sock.settimeout(10)
        with pytest.raises(ConnectionResetError):
            while sock.recv(10):
                pass


def test_reset_peer_waits_its_timeout(echoing):
    echoing.add_toxic(type="reset_peer", attributes={"timeout": 400})
    with connect(echoing.listen) as sock:
        start = time.monotonic()
        assert roundtrip(sock, b"first") < 0.35  # relayed until the reset
        sock.settimeout(10)
        with pytest.raises(ConnectionResetError):
            while sock.recv(10):
                pass
        assert time.monotonic() - start >= 0.35


def test_toxicity_zero_never_resets(echoing):
    echoing.add_toxic(type="reset_peer", toxicity=0.0, attributes={"timeout": 0})
    for _ in range(5):
        with connect(echoing.listen) as sock:
            roundtrip(sock, b"safe")


def test_limit_data_closes_after_exactly_its_bytes(toxi):
    payload = bytes(range(256)) * 40  # 10240 B
    with Upstream(sender(payload)) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="capped")
        proxy.add_toxic(type="limit_data", attributes={"bytes": 1000})
        with connect(proxy.listen) as sock:
            got, _ = read_all(sock)
    assert got == payload[:1000]


def test_slicer_delivers_small_pieces_apart(toxi):
    payload = b"s" * 200
    with Upstream(sender(payload)) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="sliced")
        proxy.add_toxic(
            type="slicer", attributes={"average_size": 20, "size_variation": 5, "delay": 30_000}
        )
        with connect(proxy.listen) as sock:
            got, reads = read_all(sock)
    assert got == payload
    assert max(size for _, size in reads) <= 25, reads
    assert len(reads) >= 8, reads
    assert reads[-1][0] - reads[0][0] >= 0.15, reads  # 30 ms between pieces


def test_slow_close_delays_the_close_not_the_data(toxi):
    with Upstream(sender(b"bye")) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="lingering")
        proxy.add_toxic(type="slow_close", attributes={"delay": 600})
        with connect(proxy.listen) as sock:
            start = time.monotonic()
            got, reads = read_all(sock)
            closed = time.monotonic() - start
    assert got == b"bye"
    assert reads[0][0] < 0.4, reads
    assert closed >= 0.55, closed


def test_a_partly_toxic_latency_touches_some_connections_not_others(echoing):
    echoing.add_toxic(type="latency", toxicity=0.5, attributes={"latency": 300})
    times = []
    for _ in range(16):
        with connect(echoing.listen) as sock:
            times.append(roundtrip(sock, b"?"))
    slow = [t for t in times if t >= 0.28]
    fast = [t for t in times if t < 0.2]
    assert slow and fast, times
    assert len(slow) + len(fast) == len(times), times


def test_half_close_is_forwarded(echoing):
    with connect(echoing.listen) as sock:
        sock.sendall(b"half")
        sock.shutdown(socket.SHUT_WR)
        got, _ = read_all(sock)
    assert got == b"half"


def test_memory_stays_bounded_behind_a_latency_toxic(toxi):
    # A fast sender and a client that never reads, behind a 1 s latency: Toxiproxy takes
    # 38.5 MB; shaper took 144 MB before the wire counted against the bound.
    sent = [0]

    def flood(conn: socket.socket) -> None:
        block = bytes(262144)
        conn.settimeout(8)
        while True:
            sent[0] += conn.send(block)

    with Upstream(flood) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="flooded")
        proxy.add_toxic(type="latency", attributes={"latency": 1000})
        with connect(proxy.listen) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            time.sleep(3)
            held = sent[0]
            time.sleep(1)
            later = sent[0]
    # The route's bound (4 MiB), the kernel's buffers on both legs and the sender's own:
    # 13.6 MB measured, far below either figure, and no longer growing.
    assert 4_000_000 < held < 30_000_000, held
    assert later - held < 1_000_000, (held, later)


def test_removing_toxics_under_traffic_never_blocks_the_api(server, toxi):
    payload = bytes(range(256)) * 4096  # 1 MiB
    with Upstream(sender(payload)) as upstream:
        proxy = toxi.create(upstream=upstream.upstream, name="busy")
        for toxic in (
            {"type": "bandwidth", "attributes": {"rate": 100}},
            {"type": "slicer", "attributes": {"average_size": 100, "delay": 1000}},
            {"type": "latency", "attributes": {"latency": 200}},
            {"type": "timeout", "stream": "upstream"},
        ):
            proxy.add_toxic(**toxic)
        with connect(proxy.listen) as sock:
            sock.settimeout(10)
            first = sock.recv(65536)
            assert first  # bytes are moving through every toxic at once
            for name in (
                "slicer_downstream",
                "bandwidth_downstream",
                "latency_downstream",
                "timeout_upstream",
            ):
                start = time.monotonic()
                status, _ = server.request("DELETE", f"/proxies/busy/toxics/{name}")
                assert status == 204 and time.monotonic() - start < 1.0, name
            rest, _ = read_all(sock)
    assert first + rest == payload  # nothing lost, duplicated or reordered
