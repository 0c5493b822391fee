"""The emulated sender's window, driven by a fake clock in microseconds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shaper.shaping.window import PHASES, SenderWindow

MS = 1000
S = 1_000_000
MSS = 1448


def full_round(window: SenderWindow, now: float, rtt: float, parts: list[int] | None = None):
    """Send all the window allows at `now`; its acks return one RTT later, split into
    `parts` (bytes; the rest in a last ack). Returns the time of the acks."""
    flight = window.room()
    window.on_send(now, flight)
    now += rtt
    left = flight
    for part in parts or []:
        part = min(part, left)
        if part:
            window.on_ack(now, part, rtt)
            left -= part
    if left:
        window.on_ack(now, left, rtt)
    return now


def grown(segments: int, rtt: float = 50 * MS, **kwargs) -> tuple[SenderWindow, float]:
    """A window grown in slow start to `segments` on a fixed-RTT path, nothing in flight."""
    window = SenderWindow(0, hystart=False, **kwargs)
    now = 0.0
    while window.cwnd_segments < segments:
        now = full_round(window, now, rtt)
    assert window.cwnd_segments == segments
    return window, now


# -- initial window and slow start ---------------------------------------------------


def test_initial_window_is_ten_segments():
    window = SenderWindow(5.0)
    assert window.cwnd == 10 * MSS == 14_480
    assert window.room() == 14_480
    assert window.ssthresh is None
    assert window.in_flight == 0
    assert window.phase == "slow-start"
    assert window.srtt_us is None and window.min_rtt_us is None
    assert window.rto_us == 1 * S
    assert window.timeout_at is None
    assert window.snapshot() == {
        "cwnd": 14_480,
        "ssthresh": None,
        "in_flight": 0,
        "phase": "slow-start",
        "srtt_us": None,
        "min_rtt_us": None,
        "rto_us": 1_000_000.0,
    }


def test_initial_window_and_mss_are_parameters():
    window = SenderWindow(mss=1000, initial_segments=4)
    assert window.cwnd == 4000
    with pytest.raises(ValueError):
        SenderWindow(mss=0)


def test_slow_start_doubles_per_round_trip_when_window_limited():
    window = SenderWindow(0)
    now = 0.0
    for doubling in range(1, 9):
        now = full_round(window, now, 40 * MS)
        assert window.cwnd_segments == 10 * 2**doubling
    assert window.phase == "slow-start"


@settings(max_examples=150, deadline=None)
@given(
    splits=st.lists(st.lists(st.integers(1, 60_000), max_size=30), min_size=7, max_size=7),
    spread=st.floats(0, 50),
)
def test_slow_start_doubles_whatever_the_ack_grouping(splits, spread):
    """Acks split at arbitrary byte boundaries, arriving together or up to 50 us
    apart: byte counting makes each round exactly double the window (with HyStart
    on: a flat RTT and no long ack train never end slow start)."""
    window = SenderWindow(0)
    now = 0.0
    for doubling, parts in enumerate(splits, start=1):
        flight = window.room()
        window.on_send(now, flight)
        now += 100 * MS
        left = flight
        for part in [*parts, flight]:
            part = min(part, left)
            if not part:
                break
            window.on_ack(now, part, 100 * MS)
            left -= part
            now += spread
        assert window.in_flight == 0
        assert window.cwnd_segments == 10 * 2**doubling


def test_application_limited_flow_keeps_its_window():
    """Request/response on an open connection: 1 KB per round trip for 500 round
    trips. Only a window that was used may grow, so it stays at 10 segments."""
    window = SenderWindow(0)
    now = 0.0
    for _ in range(500):
        window.on_send(now, 1000)
        now += 30 * MS
        window.on_ack(now, 1000, 30 * MS)
    assert window.cwnd_segments == 10
    assert window.phase == "slow-start"


def test_half_used_window_grows_in_slow_start_to_twice_what_is_used():
    """6 of 10 segments per round: slow start may grow to twice the flight (12), no
    further (Linux: cwnd < 2 * max_packets_out)."""
    window = SenderWindow(0)
    now = 0.0
    for _ in range(30):
        window.on_send(now, 6 * MSS)
        now += 30 * MS
        for _ in range(6):
            window.on_ack(now, MSS, 30 * MS)
    assert window.cwnd_segments == 12


def test_unused_window_decays_halfway_per_rto():
    """RFC 2861 as Linux: a 40-segment window the flow stops filling decays halfway
    toward the initial window once per RTO (250 ms here) of not being used."""
    window, now = grown(40)
    assert window.rto_us == 250 * MS
    sizes = [window.cwnd_segments]
    for _ in range(40):  # 2 s of 1 KB per 50 ms round trip
        window.on_send(now, 1000)
        now += 50 * MS
        window.on_ack(now, 1000, 50 * MS)
        if window.cwnd_segments != sizes[-1]:
            sizes.append(window.cwnd_segments)
    assert sizes == [40, 25, 17, 13, 11, 10]
    assert window.ssthresh is None
    disabled, now = grown(40, slow_start_after_idle=False)
    for _ in range(40):
        disabled.on_send(now, 1000)
        now += 50 * MS
        disabled.on_ack(now, 1000, 50 * MS)
    assert disabled.cwnd_segments == 40


# -- congestion --------------------------------------------------------------------


def test_congestion_cuts_to_seven_tenths_once_per_round_trip():
    window, now = grown(40)
    window.on_send(now, window.room())
    window.on_congestion(now)
    assert window.cwnd_segments == 40 * 717 // 1024 == 28
    assert window.ssthresh == 28 * MSS
    assert window.phase == "recovery"
    assert window.room() == 0  # 40 segments still in flight
    # More overflows within the same round trip: the same episode, no further cut.
    window.on_congestion(now + 1 * MS)
    window.on_ack(now + 50 * MS, 20 * MSS, 50 * MS)
    window.on_congestion(now + 50 * MS)
    assert window.cwnd_segments == 28
    # Everything sent before the cut is acked: recovery is over.
    window.on_ack(now + 50 * MS, 20 * MSS, 50 * MS)
    assert window.phase == "congestion-avoidance"
    assert window.cwnd_segments == 28
    # A signal in the next round trip cuts again (and W_max shrinks: fast convergence).
    window.on_send(now + 50 * MS, window.room())
    window.on_congestion(now + 60 * MS)
    assert window.cwnd_segments == 28 * 717 // 1024 == 19


def test_loss_of_data_sent_during_recovery_cuts_again_when_recovery_ends():
    window, now = grown(40)
    window.on_send(now, window.room())
    window.on_congestion(now)  # recovery until the 40 segments are acked
    now += 50 * MS
    window.on_ack(now, 20 * MSS, 50 * MS)
    window.on_send(now, window.room())  # 8 new segments, sent after the cut
    window.on_congestion(now)  # one of those would overflow: a new episode
    assert window.cwnd_segments == 28
    window.on_ack(now + 1 * MS, 20 * MSS, 50 * MS)
    assert window.phase == "recovery"
    assert window.cwnd_segments == 19


def test_late_report_of_a_loss_before_the_cut_is_ignored_and_stale_ones_too():
    window, now = grown(40)
    start = window.sent_bytes
    window.on_send(now, window.room())
    window.on_congestion(now + 50 * MS, seq=start + 5 * MSS)  # detected an RTT later
    assert window.cwnd_segments == 28
    window.on_congestion(now + 51 * MS, seq=start + 30 * MSS)  # also sent before the cut
    window.on_ack(now + 60 * MS, window.in_flight, 60 * MS)
    assert window.phase == "congestion-avoidance"
    after_recovery = window.cwnd_segments  # 28, or 29 with this ack's CUBIC growth
    assert after_recovery in (28, 29)
    window.on_congestion(now + 61 * MS, seq=start)  # long delivered: stale
    assert window.cwnd_segments == after_recovery


def test_congestion_never_raises_a_one_segment_window():
    window = SenderWindow(0)
    window.on_send(0, 10 * MSS)
    window.on_timeout(1 * S)
    window.on_ack(1.1 * S, 10 * MSS, None)  # the loss episode ends; cwnd grew to 7
    window.on_send(1.1 * S, window.room())
    window.on_congestion(1.1 * S)
    assert window.cwnd >= MSS
    assert window.ssthresh >= 2 * MSS


# -- timeouts and RTO ----------------------------------------------------------------


def test_timeout_drops_to_one_segment_and_doubles_the_rto():
    window = SenderWindow(0)
    window.on_send(0, 10 * MSS)
    assert window.timeout_at == 1 * S
    window.on_timeout(1 * S)
    assert window.cwnd == MSS
    assert window.ssthresh == 7 * MSS  # 10 * 0.7
    assert window.phase == "recovery"
    assert window.rto_us == 2 * S
    assert window.timeout_at == 3 * S
    window.on_timeout(3 * S)  # the same data again: ssthresh is not cut twice
    assert window.rto_us == 4 * S
    assert window.ssthresh == 7 * MSS
    window.on_ack(3.1 * S, 5 * MSS, 100 * MS)
    # A new sample ends the backoff; the RTO comes from it (100 ms + the 200 ms floor).
    assert window.rto_us == pytest.approx(300 * MS)
    assert window.cwnd_segments == 6  # slow start from 1
    window.on_timeout(4 * S)  # after progress, a new timeout is a new cut
    assert window.ssthresh == 4 * MSS  # 6 * 717 // 1024
    assert window.cwnd == MSS


def test_rto_backoff_stops_at_120_seconds():
    window = SenderWindow(0)
    window.on_send(0, 1000)
    for i in range(12):
        window.on_timeout(float(i))
    assert window.rto_us == 120 * S


def test_timeout_during_recovery_keeps_the_reduced_ssthresh():
    window, now = grown(40)
    window.on_send(now, window.room())
    window.on_congestion(now)
    window.on_timeout(now + 300 * MS)
    assert window.ssthresh == 28 * MSS
    assert window.cwnd == MSS


def test_timer_restarts_on_each_ack_of_new_data():
    window = SenderWindow(0)
    window.on_send(0, 10 * MSS)
    window.on_ack(40 * MS, 2 * MSS, 40 * MS)
    assert window.timeout_at == 40 * MS + window.rto_us
    window.on_ack(41 * MS, 8 * MSS, 41 * MS)
    assert window.timeout_at is None


def test_rtt_estimate_and_rto_are_exposed():
    window = SenderWindow(0)
    window.on_send(0, 5 * MSS)
    window.on_ack(20 * MS, MSS, 20 * MS)
    window.on_ack(25 * MS, MSS, 25 * MS)
    window.on_ack(26 * MS, MSS, None)  # no sample: nothing changes
    assert window.srtt_us == pytest.approx(20 * MS + 5 * MS / 8)
    assert window.min_rtt_us == 20 * MS
    assert window.rto_us >= 200 * MS
    snap = window.snapshot()
    assert snap["srtt_us"] == window.srtt_us and snap["rto_us"] == window.rto_us


# -- restart after idle ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idle_rtos", "expected"), [(0.9, 40), (1.5, 20), (2.5, 10), (3.5, 10), (50, 10)]
)
def test_idle_restart_halves_per_rto_down_to_the_initial_window(idle_rtos, expected):
    window, now = grown(40)  # RTO 250 ms; the last send was one RTT before `now`
    last_send = now - 50 * MS
    window.on_send(last_send + idle_rtos * 250 * MS, MSS)
    assert window.cwnd_segments == expected
    assert window.phase == ("slow-start" if expected == 40 else "restart-after-idle")
    assert window.ssthresh is None  # an infinite ssthresh stays infinite


def test_no_idle_restart_when_disabled_or_with_data_in_flight():
    window, now = grown(40, slow_start_after_idle=False)
    window.on_send(now + 10 * S, MSS)
    assert window.cwnd_segments == 40
    busy, now = grown(40)
    busy.on_send(now, busy.room() - MSS)
    busy.on_send(now + 10 * S, MSS)  # 39 segments still in flight: not idle
    assert busy.cwnd_segments == 40


def test_restart_keeps_ssthresh_high_and_regrows_to_it():
    """After a cut (ssthresh 28) and an idle of 3.5 RTO, cwnd restarts at 10 while
    ssthresh keeps max(28, 3/4 * 29); slow start brings it back to 28 in two rounds,
    where it leaves slow start and the restart is over."""
    window, now = grown(40)
    window.on_send(now, window.room())
    window.on_congestion(now)
    now += 50 * MS
    window.on_ack(now, window.in_flight, 50 * MS)
    # The ack that ends recovery already counts toward CUBIC: target 40 - 11 = 29.
    assert (window.cwnd_segments, window.phase) == (29, "congestion-avoidance")
    now += 3.5 * window.rto_us
    window.on_send(now, MSS)
    assert window.cwnd_segments == 10
    assert window.ssthresh == 28 * MSS
    assert window.phase == "restart-after-idle"
    now += 50 * MS
    window.on_ack(now, MSS, 50 * MS)
    now = full_round(window, now, 50 * MS)
    assert window.phase == "restart-after-idle"
    now = full_round(window, now, 50 * MS)
    # Slow start stopped at 28; the rest of that round's acks went to CUBIC.
    assert 28 <= window.cwnd_segments <= 28 + 22 // 2
    assert window.phase == "congestion-avoidance"


# -- caller errors ---------------------------------------------------------------------


def test_acking_more_than_in_flight_is_an_error():
    window = SenderWindow(0)
    window.on_send(0, 1000)
    with pytest.raises(ValueError):
        window.on_ack(1, 1001, None)
    with pytest.raises(ValueError):
        window.on_send(1, -1)
    with pytest.raises(ValueError):
        window.on_ack(1, 10, -5.0)
    window.on_ack(1, 0, None)  # nothing new acked: ignored
    assert window.in_flight == 1000


# -- properties under any sequence of events -----------------------------------------

events = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.floats(0, 1.5)),
        st.tuples(st.just("ack"), st.floats(0, 1), st.one_of(st.none(), st.floats(0, 2 * S))),
        st.tuples(st.just("wait"), st.floats(0, 3 * S)),
        st.tuples(st.just("congestion"), st.floats(0, 1.2)),
        st.tuples(st.just("timeout")),
    ),
    max_size=80,
)


def replay(window: SenderWindow, script) -> list[dict]:
    now = 0.0
    seen = []
    for step in script:
        kind = step[0]
        if kind == "send":
            window.on_send(now, int(max(window.room(), MSS) * step[1]))
        elif kind == "ack":
            window.on_ack(now, int(window.in_flight * step[1]), step[2])
        elif kind == "wait":
            now += step[1]
        elif kind == "congestion":
            seq = None if step[1] > 1 else int(window.sent_bytes * step[1])
            window.on_congestion(now, seq)
        else:
            window.on_timeout(now)
        seen.append(window.snapshot())
    return seen


@settings(max_examples=400, deadline=None)
@given(script=events, hystart=st.booleans(), idle=st.booleans())
def test_invariants_hold_under_any_sequence_of_events(script, hystart, idle):
    window = SenderWindow(0, hystart=hystart, slow_start_after_idle=idle)
    for snap in replay(window, script):
        assert snap["cwnd"] >= MSS
        assert snap["cwnd"] % MSS == 0
        assert snap["in_flight"] >= 0
        assert snap["ssthresh"] is None or snap["ssthresh"] >= 2 * MSS
        assert snap["phase"] in PHASES
        assert 200 * MS <= snap["rto_us"] <= 120 * S
    assert window.room() >= 0
    assert window.in_flight == window.sent_bytes - window.acked_bytes


@settings(max_examples=100, deadline=None)
@given(script=events)
def test_same_events_same_window(script):
    assert replay(SenderWindow(0), script) == replay(SenderWindow(0), script)
