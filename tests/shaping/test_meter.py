"""The rate meter, with a fake clock: smoothing, decay, and what it shows after rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shaper.shaping.meter import RESTING_RATE, RateMeter


def test_a_steady_flow_reads_its_rate():
    meter = RateMeter(half_life=0.5)
    for tick in range(1, 501):  # 1,000 bytes every 10 ms for 5 s (10 half-lives)
        meter.add(tick * 0.01, 1000)
        value = meter.value(tick * 0.01)
    assert value == pytest.approx(100_000, rel=0.01)


def test_with_nothing_moving_the_rate_halves_every_half_life():
    meter = RateMeter(half_life=0.5)
    for tick in range(1, 101):
        meter.add(tick * 0.01, 1000)
        meter.value(tick * 0.01)
    start = meter.value(1.0)
    assert meter.value(1.5) == pytest.approx(start / 2, rel=1e-6)
    assert meter.value(2.0) == pytest.approx(start / 4, rel=1e-6)


@given(
    reads=st.lists(st.floats(min_value=0.0, max_value=100.0), max_size=20),
    burst_after=st.floats(min_value=100.0, max_value=200.0),
    nbytes=st.integers(min_value=1, max_value=10**7),
    read_after=st.floats(min_value=0.001, max_value=5.0),
)
def test_after_rest_what_it_shows_does_not_depend_on_how_often_it_was_read(
    reads, burst_after, nbytes, read_after
):
    """Once a meter reads as at rest it may go unread (a kept snapshot skips it): the first
    burst after that reads the same however many times, and whenever, it was read since."""

    def shown(read_times: list[float]) -> float:
        meter = RateMeter(half_life=0.5)
        meter.add(0.0, 50_000)
        now = 0.0
        while now == 0.0 or meter.rate >= RESTING_RATE:  # read 5 times a second until rest
            now += 0.2
            meter.value(now)
        rested = now
        for at in sorted(read_times):
            meter.value(rested + at)
        meter.add(rested + burst_after, nbytes)
        return meter.value(rested + burst_after + read_after)

    assert shown(reads) == pytest.approx(shown([]), rel=1e-9)
