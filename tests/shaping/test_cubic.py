"""CUBIC: the pure curve, the bookkeeping, and a window following the curve on a fake path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shaper.shaping.cubic import (
    BETA,
    BETA_SCALE,
    RENO_SCALE,
    C,
    Cubic,
    cubic_k,
    cubic_target,
    cubic_window,
)
from shaper.shaping.window import SenderWindow

MS = 1000
S = 1_000_000


def test_constants_are_linux_defaults():
    assert C == 41 * 10 / 1024 == pytest.approx(0.4, abs=0.001)
    beta = BETA / BETA_SCALE
    assert beta == pytest.approx(0.7, abs=0.001)
    assert RENO_SCALE == 15


def test_k_is_the_cube_root_of_the_gap_over_c():
    assert cubic_k(100, 70) == pytest.approx((30 / C) ** (1 / 3) * S)
    assert cubic_k(1000, 1000 * BETA // BETA_SCALE) == pytest.approx(
        (1000 * (1 - 0.7) / 0.4) ** (1 / 3) * S, rel=0.002
    )
    assert cubic_k(50, 60) == 0.0  # already above the old maximum


def test_curve_is_concave_then_plateau_then_convex():
    k = cubic_k(1000, 700)
    assert cubic_window(0, k, 1000) == pytest.approx(700)
    assert cubic_window(k, k, 1000) == 1000
    steps = [cubic_window(t, k, 1000) for t in range(0, int(2 * k), int(k / 10))]
    gains = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    assert all(g > 0 for g in gains)
    assert gains[:9] == sorted(gains[:9], reverse=True)  # concave: slowing toward W_max
    assert gains[11:] == sorted(gains[11:])  # convex: speeding up beyond it


@given(t=st.floats(0, 60 * S), k=st.floats(0, 20 * S), origin=st.integers(2, 100_000))
def test_integer_target_rounds_toward_the_origin(t, k, origin):
    exact = cubic_window(t, k, origin)
    target = cubic_target(t, k, origin)
    assert abs(target - exact) < 1 + 1e-6 * abs(exact)
    assert (origin <= target <= exact + 1e-6) or (exact - 1e-6 <= target <= origin)


def test_reduction_is_beta_with_fast_convergence():
    cubic = Cubic()
    assert cubic.recalc_ssthresh(100) == 70  # 100 * 717 // 1024
    assert cubic.last_max == 100
    # Dropping again below the old maximum: another flow is taking a share, so
    # the plateau goes to the midpoint of cwnd and cwnd * beta.
    assert cubic.recalc_ssthresh(80) == 56
    assert cubic.last_max == 80 * (1024 + 717) // 2048 == 68
    assert cubic.recalc_ssthresh(2) == 2
    assert cubic.recalc_ssthresh(1) == 2  # never below two segments


def test_first_epoch_grows_at_least_five_percent_per_round_trip():
    cubic = Cubic()  # no reduction yet: no W_max, so the curve starts flat at cwnd
    assert cubic.update(0, 100, 1) == 20


def test_idle_time_shifts_the_epoch_but_never_into_the_future():
    cubic = Cubic()
    cubic.update(1 * S, 100, 1)
    cubic.on_tx_start(3 * S, 0.5 * S)
    assert cubic.epoch_start == 1.5 * S
    cubic.on_tx_start(3 * S, 10 * S)
    assert cubic.epoch_start == 3 * S


def ack_clocked(window: SenderWindow, now: float, rtt: float, groups: int) -> float:
    """One round trip of a backlogged sender on a path with fixed RTT and ample
    bandwidth: the flight's acks return in `groups` events, each answered by sending
    what the window allows. Returns the time of the acks."""
    now += rtt
    flight = window.in_flight
    base = flight // groups
    for i in range(groups):
        part = base if i < groups - 1 else flight - base * (groups - 1)
        window.on_ack(now, part, rtt)
        window.on_send(now, window.room())
    return now


def grown_then_cut(rtt: float, segments: int, groups: int) -> tuple[SenderWindow, float, int]:
    window = SenderWindow(0, hystart=False)
    window.on_send(0, window.room())
    now = 0.0
    while window.cwnd_segments < segments:
        now = ack_clocked(window, now, rtt, groups)
    w_max = window.cwnd_segments
    window.on_congestion(now)
    return window, now, w_max


@pytest.mark.parametrize("groups", [1, 8, 64])
def test_window_follows_the_cubic_curve_after_a_reduction(groups):
    """A 1280-segment window on a 100 ms path, cut once: cwnd then tracks
    W(t) = C (t - K)^3 + W_max, aimed one min RTT ahead, through the concave
    part, the plateau and the convex part, however the acks are grouped."""
    rtt = 100 * MS
    window, now, w_max = grown_then_cut(rtt, 1000, groups)
    assert w_max == 1280
    assert window.cwnd_segments == 1280 * 717 // 1024
    now = ack_clocked(window, now, rtt, groups)  # the first ack opens the epoch
    epoch = now
    k = cubic_k(w_max, 1280 * 717 // 1024)
    assert k == pytest.approx((1280 * 0.3 / 0.4) ** (1 / 3) * S, rel=0.002)  # ~9.86 s
    errors = []
    while now - epoch < 2 * k:
        now = ack_clocked(window, now, rtt, groups)
        if now - epoch > 5 * rtt:
            expected = cubic_window(now - epoch + rtt, k, w_max)
            errors.append(window.cwnd_segments - expected)
    assert max(abs(e) for e in errors) <= 2.0
    assert window.phase == "congestion-avoidance"


def test_growth_per_round_slows_toward_w_max_then_speeds_up_beyond_it():
    rtt = 100 * MS
    window, now, w_max = grown_then_cut(rtt, 1000, 8)
    k = cubic_k(w_max, window.cwnd_segments)
    sizes = []
    start = now
    while now - start < 2 * k:
        now = ack_clocked(window, now, rtt, 8)
        sizes.append(window.cwnd_segments)
    per_second = [sizes[i + 10] - sizes[i] for i in range(0, len(sizes) - 10, 10)]
    plateau = int(k / S)  # the second in which the curve passes W_max
    assert per_second[0] > per_second[plateau // 2] > per_second[plateau]
    assert per_second[plateau] < per_second[-5] < per_second[-1]
    assert abs(sizes[int(k / rtt)] - w_max) <= 2


def test_short_path_grows_like_reno_not_slower():
    """On a 2 ms path with a 20-segment W_max the cubic curve would need K = 2.5 s
    (over 1000 round trips) to regain 6 segments; Reno would add about
    3 (1 - beta) / (1 + beta) = 0.53 segments per round trip, and CUBIC keeps pace."""
    rtt = 2 * MS
    window = SenderWindow(0, hystart=False, initial_segments=20)
    window.on_send(0, window.room())
    window.on_congestion(0)
    now = 0.0
    start_cwnd = window.cwnd_segments
    assert start_cwnd == 20 * 717 // 1024 == 14
    now = ack_clocked(window, now, rtt, 4)
    epoch = now
    for _ in range(100):
        now = ack_clocked(window, now, rtt, 4)
    gained = window.cwnd_segments - start_cwnd
    assert 0.45 * 100 <= gained <= 0.6 * 100
    k = cubic_k(20, start_cwnd)
    assert window.cwnd_segments > cubic_window(now - epoch + rtt, k, 20) + 30


@settings(max_examples=100, deadline=None)
@given(
    cwnd=st.integers(2, 5000),
    w_max=st.integers(0, 6000),
    acks=st.lists(st.tuples(st.floats(0, 200 * MS), st.integers(1, 64)), max_size=30),
)
def test_cnt_is_at_least_two_so_growth_is_at_most_half_per_ack(cwnd, w_max, acks):
    cubic = Cubic()
    cubic.last_max = w_max
    now = 0.0
    for gap, acked in acks:
        now += gap
        assert cubic.update(now, cwnd, acked) >= 2
