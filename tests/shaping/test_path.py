"""The path, sans-IO, on a fake clock in microseconds: the bottleneck that flows share,
each flow's wire and (with tcp = emulated) its sender's window and acknowledgements."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from shaper.model.limits import DirectionLimits
from shaper.shaping.bottleneck import MIN_SLICE, Bottleneck, slice_size
from shaper.shaping.flow import Flow
from shaper.shaping.window import MSS

MS = 1000
S = 1_000_000
PACED = DirectionLimits(tcp="off")  # raw pacing: no emulated sender


class Path:
    """One direction: a bottleneck, flows on it, and receivers that take what arrives at
    once (unless blocked) and whose acknowledgements the flows read back."""

    def __init__(self, limits: DirectionLimits, flows: int = 1, reverse_latency: float = 0):
        self.link = Bottleneck(limits)
        self.flows = [Flow(self.link, limits, seed=i) for i in range(flows)]
        for flow in self.flows:
            flow.reverse_latency = reverse_latency
        self.received = {id(f): bytearray() for f in self.flows}
        self.log: list[tuple[float, int, int]] = []  # (time, flow index, bytes)
        self.taking = {id(f): True for f in self.flows}  # does its receiver take bytes?
        self.taken = {id(f): 0 for f in self.flows}
        self.offered: list[Flow] = []
        self.link.on_room = self.offered.append

    @property
    def flow(self) -> Flow:
        return self.flows[0]

    def step(self, now: float) -> None:
        self.link.advance(now)
        for index, flow in enumerate(self.flows):
            for chunk in flow.release(now):
                self.received[id(flow)] += chunk
                self.log.append((now, index, len(chunk)))
            if self.taking[id(flow)]:
                self.taken[id(flow)] = flow.bytes_out
            flow.acknowledge(now, lambda f=flow: self.taken[id(f)])

    def next_deadline(self) -> float | None:
        deadlines = [d for d in [self.link.next_deadline()] if d is not None]
        deadlines += [d for f in self.flows if (d := f.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def run(self, now: float, until: float | None = None, steps: int = 1_000_000) -> float:
        """Follow the deadlines as the I/O layer's timers would; returns the last time."""
        for _ in range(steps):
            deadline = self.next_deadline()
            if deadline is None or (until is not None and deadline > until):
                return now if until is None else until
            now = max(now, deadline)
            self.step(now)
        raise AssertionError("the path did not settle")


# -- one flow, raw pacing: what the private pipe always did ------------------------------


def test_unshaped_flow_delivers_at_once():
    path = Path(PACED)
    path.flow.feed(0, b"hello")
    path.step(0)
    assert path.received[id(path.flow)] == b"hello"
    assert path.flow.empty


def test_latency_delays_delivery_by_exactly_the_latency():
    path = Path(dataclasses.replace(PACED, latency=20 * MS))
    path.flow.feed(100, b"ping")
    path.step(100 + 20 * MS - 1)
    assert path.received[id(path.flow)] == b""
    assert path.next_deadline() == 100 + 20 * MS
    path.step(100 + 20 * MS)
    assert path.received[id(path.flow)] == b"ping"


def test_rate_paces_delivery():
    path = Path(dataclasses.replace(PACED, rate=1_000_000))  # 125 kB/s
    path.flow.feed(0, bytes(125_000))
    assert path.run(0) == 1 * S
    assert len(path.received[id(path.flow)]) == 125_000


def test_room_is_the_bound_and_counts_the_slice_on_the_link():
    path = Path(dataclasses.replace(PACED, rate=8_000, buffer=1000))
    assert path.flow.room() == 1000
    path.flow.feed(0, bytes(600))
    assert path.link.queued == path.flow.queued == 600
    assert path.flow.room() == 400
    path.flow.feed(0, bytes(400))
    assert path.flow.room() == 0


def test_shrinking_the_buffer_below_occupancy_drops_nothing():
    limits = dataclasses.replace(PACED, rate=80_000, buffer=10_000)
    path = Path(limits)
    path.flow.feed(0, bytes(range(250)) * 40)
    smaller = dataclasses.replace(limits, buffer=100)
    path.link.set_limits(0, smaller)
    path.flow.set_limits(0, smaller)
    assert path.flow.room() == 0
    assert path.link.queued == 10_000
    path.run(0)
    assert path.received[id(path.flow)] == bytes(range(250)) * 40
    assert path.flow.room() == 100


def test_a_blocked_sink_holds_its_bytes_at_its_door_against_the_bound():
    limits = dataclasses.replace(PACED, latency=5 * MS, buffer=1000)
    path = Path(limits)
    path.flow.feed(0, b"abc")
    path.flow.set_sink_blocked(1 * MS, True)
    path.step(10 * MS)
    assert path.received[id(path.flow)] == b""
    assert path.flow.stuck == 3 and path.flow.room() == 997
    assert path.next_deadline() is None
    path.flow.set_sink_blocked(20 * MS, False)
    path.step(20 * MS)
    assert path.received[id(path.flow)] == b"abc"
    assert path.flow.stuck == 0


def test_stall_releases_nothing_from_the_link_until_cleared():
    limits = dataclasses.replace(PACED, rate=8_000_000, stall=True)
    path = Path(limits)
    path.flow.feed(0, bytes(5000))
    assert path.next_deadline() is None
    path.step(1 * S)
    assert path.received[id(path.flow)] == b""
    path.link.set_limits(1 * S, dataclasses.replace(limits, stall=False))
    path.run(1 * S)
    assert len(path.received[id(path.flow)]) == 5000
    assert path.log[0][0] >= 1 * S  # nothing went out while stalled


def test_rate_change_applies_to_the_slice_already_on_the_link():
    slow = dataclasses.replace(PACED, rate=1000)  # 125 B/s: one MIN_SLICE takes half a second
    path = Path(slow)
    path.flow.feed(0, bytes(MIN_SLICE))
    assert path.link.next_deadline() == MIN_SLICE * 8 * S / 1000
    path.link.set_limits(10 * MS, dataclasses.replace(slow, rate=1_000_000_000))
    assert path.link.next_deadline() <= 11 * MS


def test_slice_size_follows_rate_within_bounds():
    assert slice_size(64_000) == MIN_SLICE
    assert slice_size(100_000_000) == 50_000
    assert slice_size(10**12) == 128 * 1024
    assert slice_size(0) >= 1024 * 1024


# -- the shared bottleneck ----------------------------------------------------------------


def test_two_flows_share_the_rate():
    path = Path(dataclasses.replace(PACED, rate=1_000_000, buffer=1_000_000), flows=2)
    for _ in range(25):  # reads of 2,500 bytes from each sender, as they come
        for flow in path.flows:
            flow.feed(0, bytes(2500))
    end = path.run(0)
    # 125 kB at 125 kB/s: one second for both together, not half a second each.
    assert end == 1 * S
    halfway = [sum(n for t, i, n in path.log if t <= 0.5 * S and i == k) for k in (0, 1)]
    assert abs(halfway[0] - halfway[1]) <= 2500  # first come, first served, in turn


def test_the_shared_queue_bounds_all_flows_together():
    path = Path(dataclasses.replace(PACED, rate=8_000, buffer=3000), flows=2)
    a, b = path.flows
    a.feed(0, bytes(2000))
    assert b.room() == 1000  # one queue: what a holds is room b does not have
    b.feed(0, bytes(1000))
    assert a.room() == b.room() == 0


def test_room_that_frees_goes_to_the_flow_that_waited_longest():
    path = Path(dataclasses.replace(PACED, rate=8_000_000, buffer=MIN_SLICE * 2), flows=3)
    a, b, c = path.flows
    a.feed(0, bytes(MIN_SLICE * 2))
    assert b.want() and c.want()  # both join the line, b first
    assert not b.want()  # joining twice changes nothing
    path.step(path.link.next_deadline())  # one slice leaves
    assert path.offered == [b]
    assert c.room() == 0 and b.room() == MIN_SLICE
    b.feed(path.link.next_deadline() or 0, bytes(100))  # b is served ...
    assert path.offered[-1] is c  # ... and the rest of the room is offered to c
    assert c.room() > 0


def test_a_flow_leaving_the_line_passes_the_room_on():
    path = Path(dataclasses.replace(PACED, rate=8_000_000, buffer=MIN_SLICE), flows=3)
    a, b, c = path.flows
    a.feed(0, bytes(MIN_SLICE))
    b.want()
    c.want()
    path.step(path.link.next_deadline())
    assert path.offered == [b]
    b.detach()
    assert path.offered == [b, c] and c.room() == MIN_SLICE


def test_a_blocked_receiver_does_not_hold_the_shared_link():
    path = Path(dataclasses.replace(PACED, rate=1_000_000, buffer=100_000), flows=2)
    a, b = path.flows
    a.set_sink_blocked(0, True)
    a.feed(0, bytes(20_000))
    b.feed(0, bytes(20_000))
    path.run(0)
    assert len(path.received[id(b)]) == 20_000  # b got through a's backlog
    assert a.stuck == 20_000 and a.empty is False


# -- control packets -----------------------------------------------------------------------


def test_a_control_packet_queues_like_data_and_arrives_in_order():
    limits = dataclasses.replace(PACED, rate=8_000, latency=10 * MS)  # 1 byte per ms
    path = Path(limits)
    arrivals: list[float] = []
    path.flow.feed(0, bytes(100))
    path.flow.send_control(0, 60, arrivals.append)
    path.run(0)
    # Behind 100 bytes (100 ms on the link), 60 more of its own, then the latency.
    assert arrivals == [160 * MS + 10 * MS]
    assert path.flow.empty


def test_a_closed_flow_admits_nothing_until_opened():
    path = Path(DirectionLimits(latency=10 * MS))
    flow = Flow(path.link, DirectionLimits(latency=10 * MS), opened=False)
    assert flow.room() == 0 and not flow.want()
    flow.open()
    assert flow.room() == 10 * MSS


# -- the emulated sender ---------------------------------------------------------------


def admitted_per_round(rounds: int, latency: float = 50 * MS) -> list[int]:
    """A backlogged sender on a fast link with `latency` each way: bytes admitted in
    each round trip."""
    limits = DirectionLimits(rate=1_000_000_000, latency=int(latency), buffer=10_000_000)
    path = Path(limits, reverse_latency=latency)
    per_round = []
    now = 0.0
    for _ in range(rounds):
        admitted = 0
        while (room := path.flow.room()) > 0:
            path.flow.feed(now, bytes(room))
            admitted += room
        per_round.append(admitted)
        # The acks of this round arrive one round trip (and a few microseconds) later.
        now = path.run(now, until=now + 2 * latency + MS)
    return per_round


def test_the_window_starts_at_ten_segments_and_doubles_per_round_trip():
    assert admitted_per_round(4) == [10 * MSS, 20 * MSS, 40 * MSS, 80 * MSS]


def test_an_acknowledgement_waits_for_the_receiver_to_take_the_bytes():
    limits = DirectionLimits(latency=20 * MS)
    path = Path(limits, reverse_latency=20 * MS)
    flow = path.flow
    path.taking[id(flow)] = False  # a receiver that reads nothing
    flow.feed(0, bytes(flow.room()))
    path.run(0, until=1 * S)
    assert len(path.received[id(flow)]) == 10 * MSS  # delivered to its socket ...
    assert flow.room() == 0 and flow.in_flight == 10 * MSS  # ... but never acknowledged
    assert flow.receiver_slow
    path.taking[id(flow)] = True
    took_at = 1 * S
    path.run(took_at, until=2 * S)
    assert flow.in_flight == 0 and not flow.receiver_slow
    # The ack left when a poll found the bytes taken (polls back off to 32 ms), and came
    # back one reverse latency later.
    assert flow.window is not None and flow.window.srtt_us is not None


def test_tcp_off_has_no_window_and_unshaped_needs_none():
    assert Flow(Bottleneck(PACED), dataclasses.replace(PACED, latency=MS)).window is None
    assert Flow(Bottleneck(DirectionLimits()), DirectionLimits()).window is None


def test_turning_the_emulation_off_and_on_loses_nothing():
    limits = DirectionLimits(rate=1_000_000, latency=10 * MS)
    path = Path(limits, reverse_latency=10 * MS)
    sent = bytes(range(256)) * 100
    offset = 0
    now = 0.0
    for change in ("off", "emulated", "off", "emulated"):
        room = min(path.flow.room(), len(sent) - offset)
        path.flow.feed(now, sent[offset : offset + room])
        offset += room
        now = path.run(now, until=now + 30 * MS)
        path.flow.set_limits(now, dataclasses.replace(limits, tcp=change))
    while offset < len(sent):
        room = min(path.flow.room(), len(sent) - offset)
        path.flow.feed(now, sent[offset : offset + room])
        offset += room
        now = path.run(now, until=now + 30 * MS)
    path.run(now)
    assert path.received[id(path.flow)] == sent


# -- properties ----------------------------------------------------------------------------

limits_strategy = st.builds(
    DirectionLimits,
    rate=st.sampled_from([0, 64_000, 1_000_000, 100_000_000]),
    burst=st.sampled_from([0, 1500, 64_000]),
    latency=st.integers(0, 200 * MS),
    jitter=st.integers(0, 50 * MS),
    jitter_distribution=st.sampled_from(["uniform", "normal"]),
    buffer=st.integers(1, 200_000),
    tcp=st.sampled_from(["emulated", "off"]),
)

operation = st.one_of(
    st.tuples(st.just("feed"), st.integers(0, 2), st.integers(1, 50_000)),
    st.tuples(st.just("advance"), st.just(0), st.integers(0, 300 * MS)),
    st.tuples(st.just("block"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("take"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("limits"), st.integers(0, 2), limits_strategy),
)


@settings(max_examples=300, deadline=None)
@given(start=limits_strategy, ops=st.lists(operation, max_size=40))
def test_properties_every_byte_once_in_order_and_the_bounds_held(start, ops):
    """Three flows on one link; whatever is fed, changed, blocked or left unread: each
    flow's bytes come out once, in order; the shared queue holds no more than its bound
    (unless a shrink left it over); and a flow without the window holds no more than its
    own bound at its sink."""
    path = Path(start, flows=3, reverse_latency=start.latency)
    sent = {id(f): bytearray() for f in path.flows}
    counter = 0
    now = 0.0
    shrunk = False
    for op, index, arg in ops:
        flow = path.flows[index]
        if op == "feed":
            size = min(arg, flow.room())
            if size:
                data = bytes((counter + i) % 251 for i in range(size))
                counter += size
                sent[id(flow)] += data
                flow.feed(now, data)
                if not shrunk:
                    assert path.link.queued <= path.link.limits.buffer
                if flow.window is None:
                    assert flow.queued + flow.stuck <= flow.limits.buffer
        elif op == "advance":
            now += arg
        elif op == "block":
            flow.set_sink_blocked(now, arg)
        elif op == "take":
            path.taking[id(flow)] = arg
        else:
            shrunk = shrunk or arg.buffer < path.link.queued
            path.link.set_limits(now, arg)
            for each in path.flows:
                each.set_limits(now, arg)
        path.step(now)
        for each in path.flows:
            got = path.received[id(each)]
            assert bytes(got) == bytes(sent[id(each)][: len(got)])
    unstalled = dataclasses.replace(path.link.limits, stall=False)
    path.link.set_limits(now, unstalled)
    for flow in path.flows:
        flow.set_sink_blocked(now, False)
        path.taking[id(flow)] = True
    path.run(now)
    for flow in path.flows:
        assert path.received[id(flow)] == sent[id(flow)]
        assert flow.empty
        assert flow.in_flight == 0  # every byte acknowledged in the end


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([64_000, 1_000_000, 100_000_000, 1_000_000_000]),
    size=st.integers(10_000, 2_000_000),
    latency=st.integers(0, 100 * MS),
)
def test_property_rate_bound_held_and_delivery_after_latency(rate, size, latency):
    """A backlogged link delivers no faster than its rate, and nothing arrives before
    fed time + latency."""
    path = Path(DirectionLimits(rate=rate, latency=latency, buffer=size, tcp="off"))
    path.flow.feed(0, bytes(size))
    path.run(0)
    first_time, last_time = path.log[0][0], path.log[-1][0]
    assert first_time >= latency
    serialization = size * 8 * S / rate
    # The last byte cannot leave before the whole payload has been serialized.
    assert last_time >= latency + serialization - 1e-6
    # And the link is not slower than its rate by more than one slice.
    assert last_time <= latency + serialization + slice_size(rate) * 8 * S / rate + 1
