"""Bytes on the wire of an unpaced flow (tcp off, no rate) count against its bound, on a
fake clock: nothing else limits them, and a fast sender behind a long latency would
otherwise fill memory for the whole latency (144 MB for 1 s, measured through a real
proxy)."""

from __future__ import annotations

from shaper.model.limits import DirectionLimits
from shaper.shaping.bottleneck import Bottleneck
from shaper.shaping.flow import Flow

MS = 1000
S = 1_000_000


def flow_on(limits: DirectionLimits) -> tuple[Bottleneck, Flow]:
    link = Bottleneck(limits)
    return link, Flow(link, limits, seed=0)


def run(link: Bottleneck, flow: Flow, until: float) -> bytes:
    """Follow the deadlines as the I/O layer's timers would, taking every byte delivered."""
    received = bytearray()
    now = 0.0
    for _ in range(100_000):
        link.advance(now)
        for chunk in flow.release(now):
            received += chunk
        deadlines = [d for d in (link.next_deadline(), flow.next_deadline()) if d is not None]
        if not deadlines or min(deadlines) > until:
            return bytes(received)
        now = max(now, min(deadlines))
    raise AssertionError("the flow never settled")


def test_an_unpaced_wire_counts_against_the_bound_until_it_delivers():
    link, flow = flow_on(DirectionLimits(tcp="off", latency=1 * S, buffer=1000))
    flow.feed(0, bytes(1000))
    assert run(link, flow, until=10 * MS) == b""
    assert flow.on_wire == 1000 and flow.queued == 0
    assert flow.room() == 0  # the sender blocks while its bytes wait out the latency
    assert run(link, flow, until=2 * S) == bytes(1000)
    assert flow.room() == 1000


def test_a_paced_wire_stays_outside_the_bound():
    # With a rate, rate x latency bounds the wire already; counting it would cap the rate.
    limits = DirectionLimits(tcp="off", rate=8_000_000_000, latency=1 * S, buffer=1000)
    link, flow = flow_on(limits)
    flow.feed(0, bytes(1000))
    run(link, flow, until=10 * MS)
    assert flow.on_wire == 1000
    assert flow.room() == 1000
