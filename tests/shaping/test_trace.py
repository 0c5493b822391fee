"""A link driven by a capacity trace, on a fake clock in microseconds: each opportunity
carries 1500 bytes, the trace loops with the period of its last line, idle opportunities
are lost, and switching live between a rate and a trace loses and reorders nothing."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from shaper.model.limits import DirectionLimits
from shaper.model.traces import PACKET_BYTES, parse_trace
from shaper.shaping.bottleneck import Bottleneck, Chunk
from shaper.shaping.link import TraceClock

MS = 1000
TIMES = (1, 1, 1, 5, 5, 9, 10)  # 7 opportunities in a period of 10 ms


class Sink:
    """A flow as the bottleneck sees it: records what departed, and when."""

    def __init__(self) -> None:
        self.departed_at: list[tuple[float, int, bytes]] = []

    def departed(self, depart: float, chunk: Chunk[Sink]) -> None:
        assert chunk.data is not None
        self.departed_at.append((depart, chunk.size, bytes(chunk.data)))


def traced(times: tuple[int, ...] = TIMES, buffer: int = 64 * 1024) -> DirectionLimits:
    text = "".join(f"{t}\n" for t in times)
    trace = parse_trace(text, "test")
    return DirectionLimits(rate=trace.mean_rate, trace=trace, buffer=buffer)


def keep_full(link: Bottleneck[Sink], flow: Sink, start: float, until: float) -> bytes:
    """Keep the queue topped up from `start` and run the link to `until`; returns the
    bytes put in, in order."""
    sent = bytearray()
    now = start
    counter = 0
    while now <= until:
        room = link.room_for(flow)
        if room:
            data = bytes((counter + i) % 251 for i in range(room))
            counter += room
            sent += data
            link.enqueue(now, Chunk(flow, memoryview(data), room))
        deadline = link.next_deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        if now > until:
            break
        link.advance(now)
    return bytes(sent)


def opportunities_by(t: float, times: tuple[int, ...], origin: float = 0.0) -> int:
    """Opportunities at or before `t` (looping)."""
    period = times[-1] * MS
    count = 0
    k = 0
    while origin + k * period <= t:
        count += sum(1 for x in times if origin + k * period + x * MS <= t)
        k += 1
    return count


def test_each_opportunity_carries_one_packet_and_the_trace_loops():
    clock = TraceClock(TIMES, origin=0.0)
    got = [clock.send(0.0, PACKET_BYTES) for _ in range(3 * len(TIMES))]
    expected = [(k * 10 + t) * MS for k in range(3) for t in TIMES]
    assert got == expected


def test_a_busy_trace_link_delivers_n_packets_per_period():
    link: Bottleneck[Sink] = Bottleneck(traced(), now=0.0)
    flow = Sink()
    keep_full(link, flow, 0.0, 50 * MS)
    delivered = 0
    by_period: dict[int, int] = {}
    for depart, size, _ in flow.departed_at:
        delivered += size
        # Never more than the opportunities so far allow.
        assert delivered <= opportunities_by(depart, TIMES) * PACKET_BYTES
        by_period[int((depart - 1) // (10 * MS))] = delivered
    # Saturated, it uses every opportunity: after k periods, k × 7 × 1500 bytes, give or
    # take the slice that straddles the period's end.
    slice_bytes = max(size for _, size, _ in flow.departed_at)
    for k in range(1, 5):
        assert 7 * PACKET_BYTES * k - slice_bytes <= by_period[k - 1] <= 7 * PACKET_BYTES * k


def test_opportunities_that_find_nothing_queued_are_lost():
    clock = TraceClock((1, 2, 3, 50), origin=0.0)
    assert clock.send(0.0, PACKET_BYTES) == 1 * MS
    # Ready at 4 ms: 2 ms and 3 ms went by unused; the next chance is at 50 ms.
    assert clock.send(4 * MS, PACKET_BYTES) == 50 * MS
    # After a long idle time the schedule is where the clock says, not where it stopped.
    assert clock.send(1001.5 * MS, PACKET_BYTES) == 1002 * MS  # 20 periods on, then 2 ms


def test_a_part_used_opportunity_serves_the_next_packet_only_if_it_was_waiting():
    clock = TraceClock((1, 2, 3, 4), origin=0.0)
    assert clock.send(0.0, 100) == 1 * MS
    assert clock.send(0.5 * MS, 1400) == 1 * MS  # there already: shares the opportunity
    assert clock.send(0.5 * MS, 1) == 2 * MS  # that one is full
    assert clock.send(2.5 * MS, 10) == 3 * MS  # the rest of 2 ms passed with nothing waiting


def test_a_trace_starts_when_it_is_applied():
    link: Bottleneck[Sink] = Bottleneck(traced((5, 10)), now=123 * MS)
    flow = Sink()
    link.enqueue(123 * MS, Chunk(flow, memoryview(b"x" * 1000), 1000))
    link.advance(1e12)
    assert flow.departed_at[0][0] == 128 * MS


def test_the_mean_rate_stands_for_the_trace_where_a_number_is_needed():
    limits = traced()
    assert limits.rate == 7 * PACKET_BYTES * 8 * 100  # 7 packets per 10 ms
    assert limits.shaped
    assert limits.to_dict()["rate"] == "trace:test"
    assert limits.to_dict()["trace_rate"] == "8.4Mbit"


def test_stall_then_resume_on_a_trace_link_loses_nothing():
    limits = traced()
    link: Bottleneck[Sink] = Bottleneck(limits, now=0.0)
    flow = Sink()
    data = bytes(range(256)) * 40
    link.enqueue(0.0, Chunk(flow, memoryview(data), len(data)))
    link.set_limits(2 * MS, dataclasses.replace(limits, stall=True))
    link.advance(500 * MS)
    link.set_limits(500 * MS, limits)
    link.advance(10_000 * MS)
    assert b"".join(d for _, _, d in flow.departed_at) == data
    # The first slice left before the stall; nothing else left during it.
    assert all(at >= 500 * MS for at, _, _ in flow.departed_at[1:])


RATE = DirectionLimits(rate=4_000_000, buffer=64 * 1024)


@settings(max_examples=60, deadline=None)
@given(
    switches=st.lists(
        st.tuples(st.floats(min_value=0.1, max_value=30.0), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_switching_live_between_a_rate_and_a_trace_loses_and_reorders_nothing(switches):
    limits_of = {False: RATE, True: traced((1, 3, 3, 8, 12, 20))}
    link: Bottleneck[Sink] = Bottleneck(RATE, now=0.0)
    flow = Sink()
    sent = bytearray()
    now = 0.0
    for gap_ms, use_trace in switches:
        until = now + gap_ms * MS
        sent += keep_full(link, flow, now, until)
        now = until
        link.set_limits(now, limits_of[use_trace])
    # Let everything out.
    link.set_limits(now, RATE)
    link.advance(now + 10_000 * MS)
    out = b"".join(d for _, _, d in flow.departed_at)
    assert out == bytes(sent)
    times = [at for at, _, _ in flow.departed_at]
    assert times == sorted(times)
    assert link.queued == 0 and link.empty


def test_after_a_switch_to_a_trace_the_trace_sets_the_pace():
    limits = traced((2, 4, 6, 8, 10))  # one packet every 2 ms: 6 Mbit/s
    link: Bottleneck[Sink] = Bottleneck(DirectionLimits(rate=100_000_000), now=0.0)
    flow = Sink()
    keep_full(link, flow, 0.0, 10 * MS)
    link.set_limits(10 * MS, limits)
    before = sum(size for at, size, _ in flow.departed_at if at <= 10 * MS)
    keep_full(link, flow, 10 * MS, 110 * MS)
    after = sum(size for at, size, _ in flow.departed_at if 10 * MS < at <= 110 * MS)
    # 100 ms from the switch: 50 opportunities, plus the slice that was on the fast link
    # at the switch (it departs whole when the rest of it has gone at the trace's pace).
    straddling = max(size for _, size, _ in flow.departed_at)
    assert 49 * PACKET_BYTES <= after <= 50 * PACKET_BYTES + straddling
    assert after - straddling <= 50 * PACKET_BYTES
    assert before > 60_000  # the fast link did run first (125 KB in 10 ms, less a slice)
