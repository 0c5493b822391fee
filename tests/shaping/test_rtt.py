"""The RTT estimator and RTO, and the windowed minimum, with a fake clock in microseconds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shaper.shaping.rtt import (
    MIN_RTT_WINDOW_US,
    RTO_INITIAL_US,
    RTO_MAX_US,
    RTO_MIN_US,
    RttEstimator,
    WindowedMin,
)

MS = 1000
S = 1_000_000


def feed(est: RttEstimator, samples: list[float], per_round: int = 1) -> None:
    """One sample per ack, `per_round` acks per round trip (so rttvar decays per round)."""
    sent = 0
    for i, rtt in enumerate(samples):
        if i % per_round == 0:
            sent += 10
        est.sample(i * MS, rtt, i + 1, sent)


def test_rto_is_one_second_before_any_sample():
    est = RttEstimator()
    assert est.srtt is None
    assert est.rto == RTO_INITIAL_US == 1 * S


def test_first_sample_gives_three_rtts_or_rtt_plus_the_minimum():
    short = RttEstimator()
    short.sample(0, 50 * MS, 1, 10)
    assert short.srtt == 50 * MS
    assert short.rto == 50 * MS + RTO_MIN_US  # 2 * 50 ms is below the 200 ms floor
    long = RttEstimator()
    long.sample(0, 300 * MS, 1, 10)
    assert long.rto == 900 * MS  # srtt + 2 * srtt


def test_rto_never_below_srtt_plus_200ms_on_a_steady_fast_path():
    est = RttEstimator()
    feed(est, [1 * MS] * 500)
    assert est.srtt == pytest.approx(1 * MS)
    assert est.rto == pytest.approx(1 * MS + RTO_MIN_US)
    assert est.rto >= RTO_MIN_US


def test_srtt_moves_an_eighth_of_the_way():
    est = RttEstimator()
    est.sample(0, 100 * MS, 1, 10)
    est.sample(1, 180 * MS, 2, 10)
    assert est.srtt == 110 * MS


def test_rto_tracks_srtt_plus_four_deviations_on_a_jittery_path():
    """Alternating 100/500 ms: the deviation term dominates the 200 ms floor. Linux's
    variant (largest deviation per round, gentler gain on decreases) stays close to
    RFC 6298's srtt + 4 * rttvar."""
    samples = [100 * MS, 500 * MS] * 100
    est = RttEstimator()
    feed(est, samples, per_round=4)
    srtt = var = None
    for rtt in samples:  # RFC 6298 §2, alpha 1/8, beta 1/4
        if srtt is None:
            srtt, var = rtt, rtt / 2
        else:
            var = 0.75 * var + 0.25 * abs(srtt - rtt)
            srtt = 0.875 * srtt + 0.125 * rtt
    assert est.srtt == pytest.approx(srtt, rel=0.05)
    assert est.rto == est.srtt + est.rttvar
    assert est.rttvar > RTO_MIN_US
    assert est.rto == pytest.approx(srtt + 4 * var, rel=0.05)


def test_falling_rtt_moves_the_deviation_eight_times_more_gently():
    est = RttEstimator()
    est.sample(0, 100 * MS, 1, 10)  # srtt 100 ms, mdev 200 ms
    before = est.mdev
    est.sample(1, 1.0, 2, 10)  # error -99.999 ms, beyond mdev/4 = 50 ms
    assert est.mdev == pytest.approx(before + (99.999 * MS - before / 4) / 8)


def test_rto_is_capped_at_120_seconds():
    est = RttEstimator()
    est.sample(0, 100 * S, 1, 10)
    assert est.rto == RTO_MAX_US == 120 * S


def test_rttvar_decays_once_per_round_toward_recent_deviation():
    est = RttEstimator()
    feed(est, [100 * MS, 400 * MS] * 5 + [200 * MS] * 400, per_round=10)
    # The path calmed down: the deviation term decays to its floor, RTO to srtt + 200 ms.
    assert est.rttvar == pytest.approx(RTO_MIN_US, rel=0.01)
    assert est.rto == pytest.approx(200 * MS + RTO_MIN_US, rel=0.01)


def test_windowed_min_forgets_a_minimum_older_than_the_window():
    win = WindowedMin(10 * S)
    assert win.value is None
    win.update(0, 50)
    win.update(4 * S, 70)
    win.update(8 * S, 90)
    assert win.value == 50
    # At 11 s the 50 has expired; the best sample of the last 10 s is 70 (from 4 s).
    assert win.update(11 * S, 100) == 70
    assert win.update(30 * S, 120) == 120  # everything expired: the new sample
    assert win.update(31 * S, 110) == 110  # a new minimum replaces at once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2 * S), st.floats(1, 1000 * MS)), min_size=1, max_size=60))
def test_windowed_min_is_within_the_window_and_no_larger_than_the_newest(steps):
    """The reported minimum is a sample taken within the window, and never larger
    than the newest sample; with a window longer than the run it is the exact min."""
    win = WindowedMin(3 * S)
    exact = WindowedMin(MIN_RTT_WINDOW_US)
    now = 0.0
    seen: list[tuple[float, float]] = []
    for gap, rtt in steps:
        now += gap
        seen.append((now, rtt))
        value = win.update(now, rtt)
        assert value <= rtt
        assert any(v == value and now - t <= 3 * S for t, v in seen)
        assert exact.update(now, rtt) == min(v for _, v in seen)
