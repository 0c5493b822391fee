"""Does the forwarder do what its model says? Measured through real sockets made inside
the two namespaces (this process enters them with setns; the forwarder is its own):

- RTT of small UDP datagrams vs 2 x delay + serialization both ways;
- a UDP burst larger than the queue: the queue never exceeds its bound, the excess is
  dropped, every accepted datagram arrives, in order;
- a CUBIC bulk transfer: the delivered rate at the link (IP bytes) and the goodput at
  the receiver, over the steady part, vs the rate;
- the kernel's own counters of both TUN devices (`ip -s link`) vs the forwarder's."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
import time

from bench.common import cpu_seconds, median, percentile
from bench.fidelity import netns, server
from bench.fidelity.forwarder import CLIENT_ADDR, SERVER_ADDR, Forwarder, forwarder
from bench.fidelity.link import Shape

RATE = 20_000_000  # the highest rate of the cases, where the forwarder is busiest
DELAY = 0.050
QUEUE = 256 * 1024
UDP_PORT = 9009
TCP_PORT = 9010
IP_UDP = 28  # IPv4 + UDP headers
PAYLOAD_FRACTION = 1448 / 1500  # TCP payload per full packet (IPv4, TCP, timestamps)


def _udp(ns: str, addr: str, port: int) -> socket.socket:
    with netns.entered(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, port))
    return sock


def _echo(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(2048)
        except TimeoutError:
            continue
        sock.sendto(data, peer)


def rtt(pair: netns.Pair, count: int, shape: Shape) -> dict:
    size = 64
    ser = (size + IP_UDP) * 8 / shape.rate_bps if shape.rate_bps else 0.0
    expected = 2 * shape.delay_s + 2 * ser
    srv = _udp(pair.server, SERVER_ADDR, UDP_PORT)
    cli = _udp(pair.client, CLIENT_ADDR, 0)
    cli.settimeout(2.0)
    stop = threading.Event()
    echo = threading.Thread(target=_echo, args=(srv, stop), daemon=True)
    echo.start()
    errors = []
    try:
        for i in range(count + 3):
            start = time.perf_counter()
            cli.sendto(struct.pack("!I", i).ljust(size, b"."), (SERVER_ADDR, UDP_PORT))
            cli.recvfrom(2048)
            if i >= 3:  # the first ones warm up ARP-free paths and caches
                errors.append((time.perf_counter() - start - expected) * 1000)
            time.sleep(0.01)
    finally:
        stop.set()
        echo.join()
        srv.close()
        cli.close()
    return {
        "samples": count,
        "expected_ms": expected * 1000,
        "error_ms_p50": median(errors),
        "error_ms_p99": percentile(errors, 99),
        "error_ms_max": max(errors),
        "error_ms_min": min(errors),
    }


def burst(pair: netns.Pair, fw: Forwarder, count: int = 400, size: int = 1400) -> dict:
    before = fw.wait_idle()["up"]
    srv = _udp(pair.server, SERVER_ADDR, UDP_PORT)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    srv.settimeout(1.0)
    cli = _udp(pair.client, CLIENT_ADDR, 0)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    try:
        for i in range(count):
            cli.sendto(struct.pack("!I", i).ljust(size, b"."), (SERVER_ADDR, UDP_PORT))
        got = []
        try:
            while True:
                got.append(struct.unpack("!I", srv.recv(2048)[:4])[0])
        except TimeoutError:
            pass
    finally:
        srv.close()
        cli.close()
    after = fw.wait_idle()["up"]
    return {
        "sent": count,
        "packet_bytes": size + IP_UDP,
        "queue_room_packets": QUEUE // (size + IP_UDP),
        "arrived": after["arrived"] - before["arrived"],
        "dropped": after["dropped"] - before["dropped"],
        "received": len(got),
        "in_order": got == sorted(got),
        "max_queued_bytes": after["max_queued_bytes"],
        "queue_bytes": QUEUE,
    }


def bulk(pair: netns.Pair, fw: Forwarder, seconds: float, warmup: float) -> dict:
    with netns.entered(pair.server):
        lsock = socket.socket()
    lsock.setsockopt(socket.IPPROTO_TCP, server.TCP_CONGESTION, server.CC)
    lsock.bind((SERVER_ADDR, TCP_PORT))
    lsock.listen(1)
    with netns.entered(pair.client):
        rsock = socket.socket()
    # A receive window between the BDP (250 KB) and BDP + queue (512 KB): the link stays
    # busy and the queue never overflows. With an autotuned window CUBIC overflows the
    # queue, and a cwnd of data waits out-of-order behind each loss; a goodput window
    # edge that falls in such a hole was off by 5 %.
    rsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 320 * 1024)
    rsock.settimeout(10.0)
    rsock.connect((SERVER_ADDR, TCP_PORT))
    ssock, _ = lsock.accept()
    lsock.close()
    cc = server.congestion_control(ssock)
    stop = threading.Event()

    def send() -> None:
        block = bytes(64 * 1024)
        try:
            while not stop.is_set():
                ssock.sendall(block)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    start = time.monotonic()
    sender.start()
    buf = bytearray(256 * 1024)
    total = 0
    mark = None
    cpu0 = cpu_seconds(fw.proc.pid)
    try:
        while True:
            now = time.monotonic()
            if mark is None and now - start >= warmup:
                mark = (now, total, fw.stats())
            if now - start >= seconds:
                break
            total += rsock.recv_into(buf)
        end = (time.monotonic(), total, fw.stats())
    finally:
        stop.set()
        ssock.close()
        rsock.close()
        sender.join()
    cpu = cpu_seconds(fw.proc.pid) - cpu0
    assert mark is not None
    span = end[0] - mark[0]
    link_span = end[2]["now"] - mark[2]["now"]
    link_bits = (end[2]["down"]["delivered_bytes"] - mark[2]["down"]["delivered_bytes"]) * 8
    goodput = (end[1] - mark[1]) * 8 / span
    fw.wait_idle()
    return {
        "cc": cc,
        "window_s": span,
        "link_rate_ratio": link_bits / link_span / RATE,
        "goodput_ratio": goodput / (RATE * PAYLOAD_FRACTION),
        "goodput_bps": goodput,
        "drops_down": end[2]["down"]["dropped"] - mark[2]["down"]["dropped"],
        "forwarder_cpu": cpu / (time.monotonic() - start),
        "late_ms_p50": end[2]["down"]["late_ms_p50"],
        "late_ms_p99": end[2]["down"]["late_ms_p99"],
    }


def kernel_counters(ns: str, dev: str) -> dict:
    out = subprocess.run(
        ["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev],
        check=True,
        capture_output=True,
        text=True,
    )
    s = json.loads(out.stdout)[0]["stats64"]
    return {
        "rx_packets": s["rx"]["packets"],
        "tx_packets": s["tx"]["packets"],
        "tx_dropped": s["tx"]["dropped"],
        "rx_dropped": s["rx"]["dropped"],
    }


def counters(pair: netns.Pair, fw: Forwarder) -> dict:
    """The kernel sends into a TUN device (tx) what the forwarder reads, and receives
    from it (rx) what the forwarder writes."""
    st = fw.wait_idle()
    client = kernel_counters(pair.client, fw.client_dev)
    srv = kernel_counters(pair.server, fw.server_dev)
    up, down = st["up"], st["down"]
    return {
        "client_dev": client,
        "server_dev": srv,
        "forwarder": {
            d: {k: st[d][k] for k in ("arrived", "dropped", "delivered", "max_packet")}
            for d in ("up", "down")
        },
        "consistent": (
            client["tx_packets"] == up["arrived"]
            and srv["rx_packets"] == up["delivered"] - up["write_errors"]
            and srv["tx_packets"] == down["arrived"]
            and client["rx_packets"] == down["delivered"] - down["write_errors"]
            and client["tx_dropped"] == srv["tx_dropped"] == 0
        ),
        "max_packet": max(up["max_packet"], down["max_packet"]),
    }


def measure(pair: netns.Pair, quick: bool) -> dict:
    pings = 20 if quick else 100
    # The floor: the same hop with no delay and no rate, i.e. what the forwarder's two
    # wake-ups, the echo thread and the sockets cost by themselves.
    bare = Shape(0, 0.0, QUEUE)
    with forwarder(pair.client, pair.server, bare, bare):
        floor = rtt(pair, pings, bare)
    shape = Shape(RATE, DELAY, QUEUE)
    with forwarder(pair.client, pair.server, shape, shape) as fw:
        result = {
            "shape": shape.as_dict(),
            "rtt_floor": floor,
            "rtt": rtt(pair, pings, shape),
            "burst": burst(pair, fw),
            "bulk": bulk(pair, fw, seconds=3.0 if quick else 6.0, warmup=1.5 if quick else 2.0),
        }
        result["counters"] = counters(pair, fw)
    return result


def summary(st: dict) -> list[str]:
    r, b, k, c = st["rtt"], st["bulk"], st["burst"], st["counters"]
    f = st["rtt_floor"]
    return [
        f"RTT error vs {r['expected_ms']:.2f} ms (2 x {st['shape']['delay_s'] * 1000:.0f} ms "
        f"+ serialization): p50 {r['error_ms_p50']:+.2f} / p99 {r['error_ms_p99']:+.2f} / "
        f"max {r['error_ms_max']:+.2f} ms ({r['samples']} UDP pings); the same hop with no "
        f"delay or rate: p50 {f['error_ms_p50']:.2f} / p99 {f['error_ms_p99']:.2f} ms",
        f"bulk {b['cc']} at {RATE / 1e6:.0f} Mbit/s: link rate ÷ target "
        f"{b['link_rate_ratio']:.4f}, "
        f"goodput ÷ (rate × 1448/1500) {b['goodput_ratio']:.4f} over {b['window_s']:.1f} s; "
        f"{b['drops_down']} drops; delivery lateness p50 {b['late_ms_p50']:.2f} / p99 "
        f"{b['late_ms_p99']:.2f} ms; forwarder CPU {b['forwarder_cpu']:.0%}",
        f"UDP burst of {k['sent']} × {k['packet_bytes']} B into a {k['queue_bytes']} B queue "
        f"(room for {k['queue_room_packets']}): {k['dropped']} dropped, {k['received']} received, "
        f"in order: {k['in_order']}, max queued {k['max_queued_bytes']} B",
        f"ip -s link vs forwarder counters consistent: {c['consistent']}; largest packet "
        f"{c['max_packet']} B (MTU 1500: no GSO)",
    ]
