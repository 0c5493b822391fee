"""The sans-IO pipe model, driven by a fake clock in microseconds."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from shaper.model.limits import DirectionLimits
from shaper.shaping.delay import DelayLine
from shaper.shaping.jitter import Jitter
from shaper.shaping.link import LinkClock
from shaper.shaping.pipe_model import MIN_SLICE, PipeModel, slice_size

MS = 1000
S = 1_000_000


def run_until_empty(model: PipeModel, now: float, log: list, step_limit: int = 1_000_000) -> float:
    """Follow next_deadline() like the I/O layer's timer would, recording deliveries."""
    for _ in range(step_limit):
        deadline = model.next_deadline()
        if deadline is None:
            return now
        now = max(now, deadline)
        for chunk in model.release(now):
            log.append((now, bytes(chunk)))
    raise AssertionError("model did not drain")


def test_link_paces_at_rate():
    link = LinkClock(rate=8_000_000)  # 1 MB/s
    first = link.send(link.start_time(0), 1000)
    second = link.send(first, 1000)
    assert first == 1 * MS
    assert second == 2 * MS


def test_link_burst_lets_an_idle_link_run_ahead_by_burst_bytes():
    link = LinkClock(rate=8_000_000, burst=10_000)
    link.send(link.start_time(0), 1000)
    # After a long idle, a 10 kB burst departs no later than "now".
    now = 10 * S
    done = link.send(link.start_time(now), 10_000)
    assert done == now
    later = link.send(link.start_time(now), 1000)
    assert later == now + 1 * MS


def test_delay_line_never_reorders_under_negative_jitter():
    line = DelayLine(latency=10 * MS)
    first = line.push(0, memoryview(b"a"), extra=+5 * MS)
    second = line.push(1, memoryview(b"b"), extra=-5 * MS)
    assert second >= first


def test_delay_line_latency_change_retimes_bytes_in_flight():
    line = DelayLine(latency=500 * MS)
    line.push(0, memoryview(b"x"))
    line.set_latency(10 * MS)
    assert line.next_at == 10 * MS


def test_jitter_distributions_stay_in_range():
    uniform = Jitter(5 * MS, "uniform", seed=1)
    normal = Jitter(5 * MS, "normal", seed=1)
    samples_u = [uniform.sample() for _ in range(2000)]
    samples_n = [normal.sample() for _ in range(2000)]
    assert all(-5 * MS <= s <= 5 * MS for s in samples_u)
    assert all(-15 * MS <= s <= 15 * MS for s in samples_n)
    # Normal samples cluster: most within one sigma.
    assert sum(abs(s) <= 5 * MS for s in samples_n) > 1200


def test_unshaped_model_delivers_at_once():
    model = PipeModel(DirectionLimits())
    model.feed(0, b"hello")
    assert [bytes(c) for c in model.release(0)] == [b"hello"]
    assert model.empty


def test_latency_delays_delivery_by_exactly_the_latency():
    model = PipeModel(DirectionLimits(latency=20 * MS))
    model.feed(100, b"ping")
    assert model.release(100 + 20 * MS - 1) == []
    assert model.next_deadline() == 100 + 20 * MS
    assert [bytes(c) for c in model.release(100 + 20 * MS)] == [b"ping"]


def test_rate_paces_delivery():
    model = PipeModel(DirectionLimits(rate=1_000_000))  # 125 kB/s
    model.feed(0, bytes(125_000))
    log: list = []
    end = run_until_empty(model, 0, log)
    assert sum(len(c) for _, c in log) == 125_000
    assert end == 1 * S


def test_queue_room_is_the_bound_and_counts_the_slice_on_the_link():
    model = PipeModel(DirectionLimits(rate=8_000, buffer=1000))
    assert model.room == 1000
    model.feed(0, bytes(600))
    assert model.queued == 600
    assert model.room == 400
    model.feed(0, bytes(400))
    assert model.room == 0


def test_shrinking_the_buffer_below_occupancy_drops_nothing():
    model = PipeModel(DirectionLimits(rate=80_000, buffer=10_000))
    model.feed(0, bytes(range(250)) * 40)
    model.set_limits(0, dataclasses.replace(model.limits, buffer=100))
    assert model.room == 0
    assert model.queued == 10_000
    log: list = []
    run_until_empty(model, 0, log)
    assert b"".join(c for _, c in log) == bytes(range(250)) * 40
    assert model.room == 100


def test_sink_blocked_holds_everything_and_resumes_in_order():
    model = PipeModel(DirectionLimits(latency=5 * MS))
    model.feed(0, b"abc")
    model.set_sink_blocked(1 * MS, True)
    assert model.release(10 * MS) == []
    assert model.next_deadline() is None
    model.set_sink_blocked(20 * MS, False)
    assert [bytes(c) for c in model.release(20 * MS)] == [b"abc"]


def test_stall_releases_nothing_from_the_link_until_cleared():
    model = PipeModel(DirectionLimits(rate=8_000_000, stall=True))
    model.feed(0, bytes(5000))
    assert model.next_deadline() is None
    assert model.release(1 * S) == []
    assert model.queued == 5000
    model.set_limits(1 * S, dataclasses.replace(model.limits, stall=False))
    log: list = []
    run_until_empty(model, 1 * S, log)
    assert sum(len(c) for _, c in log) == 5000
    assert log[0][0] >= 1 * S  # nothing went out while stalled


def test_rate_change_applies_to_the_slice_already_on_the_link():
    slow = DirectionLimits(rate=1000)  # 125 B/s: one MIN_SLICE takes half a second
    model = PipeModel(slow)
    model.feed(0, bytes(MIN_SLICE))
    assert model.next_deadline() == MIN_SLICE * 8 * S / 1000
    model.set_limits(10 * MS, dataclasses.replace(slow, rate=1_000_000_000))
    assert model.next_deadline() <= 11 * MS


def test_slice_size_follows_rate_within_bounds():
    assert slice_size(64_000) == MIN_SLICE
    assert slice_size(100_000_000) == 50_000
    assert slice_size(10**12) == 128 * 1024
    assert slice_size(0) >= 1024 * 1024


limits_strategy = st.builds(
    DirectionLimits,
    rate=st.sampled_from([0, 64_000, 1_000_000, 100_000_000]),
    burst=st.sampled_from([0, 1500, 64_000]),
    latency=st.integers(0, 200 * MS),
    jitter=st.integers(0, 50 * MS),
    jitter_distribution=st.sampled_from(["uniform", "normal"]),
    buffer=st.integers(1, 200_000),
)

operation = st.one_of(
    st.tuples(st.just("feed"), st.integers(1, 50_000)),
    st.tuples(st.just("advance"), st.integers(0, 300 * MS)),
    st.tuples(st.just("block"), st.booleans()),
    st.tuples(st.just("limits"), limits_strategy),
)


@settings(max_examples=300, deadline=None)
@given(start=limits_strategy, ops=st.lists(operation, max_size=40))
def test_properties_order_kept_nothing_lost_bound_held(start, ops):
    """Whatever is fed, changed or blocked: bytes come out once, in order, and the queue
    never holds more than its bound."""
    model = PipeModel(start, seed=7)
    now = 0.0
    sent = bytearray()
    received = bytearray()
    counter = 0
    blocked = False
    for op, arg in ops:
        if op == "feed":
            size = min(arg, model.room)
            if size == 0:
                continue
            data = bytes((counter + i) % 251 for i in range(size))
            counter += size
            sent += data
            model.feed(now, data)
            # Reading only what `room` allows keeps the queue within its bound.
            assert model.queued <= model.limits.buffer
        elif op == "advance":
            now += arg
        elif op == "block":
            blocked = arg
            model.set_sink_blocked(now, arg)
        else:
            model.set_limits(now, arg)
        for chunk in model.release(now):
            received += chunk
        assert bytes(received) == bytes(sent[: len(received)])
    if blocked:
        model.set_sink_blocked(now, False)
    model.set_limits(now, dataclasses.replace(model.limits, stall=False))
    while True:
        deadline = model.next_deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        received += b"".join(bytes(c) for c in model.release(now))
    assert bytes(received) == bytes(sent)
    assert model.empty


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([64_000, 1_000_000, 100_000_000, 1_000_000_000]),
    size=st.integers(10_000, 2_000_000),
    latency=st.integers(0, 100 * MS),
)
def test_property_rate_bound_held_and_delivery_after_latency(rate, size, latency):
    """A backlogged link delivers no faster than its rate, and nothing arrives before
    fed time + latency."""
    limits = DirectionLimits(rate=rate, latency=latency, buffer=size)
    model = PipeModel(limits)
    model.feed(0, bytes(size))
    log: list = []
    run_until_empty(model, 0, log)
    first_time = log[0][0]
    last_time = log[-1][0]
    assert first_time >= latency
    serialization = size * 8 * S / rate
    # The last byte cannot leave before the whole payload has been serialized.
    assert last_time >= latency + serialization - 1e-6
    # And the link is not slower than its rate by more than one slice.
    assert last_time <= latency + serialization + slice_size(rate) * 8 * S / rate + 1
