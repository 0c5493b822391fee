"""CUBIC congestion avoidance (RFC 9438, as Linux net/ipv4/tcp_cubic.c runs it).

After a reduction the window follows W(t) = C (t - K)^3 + W_max: it climbs fast
back toward the size where the path last dropped (concave), lingers there, then
probes beyond it (convex). K is when the curve reaches W_max again. Windows are
counted in segments, as in Linux, because the constants are tuned for that.

The pure functions (`cubic_k`, `cubic_window`, `cubic_target`) carry the curve;
`Cubic` carries Linux's per-connection bookkeeping: the epoch, W_max with fast
convergence, the Reno estimate that keeps CUBIC at least as fast as Reno on
short paths, and `cnt`, the number of acked segments per +1 segment.
"""

from __future__ import annotations

US = 1_000_000.0

BIC_SCALE = 41  # Linux bic_scale; C = 41 * 10 / 1024
C = BIC_SCALE * 10 / 1024  # 0.400390625 segments per second^3 (RFC 9438: 0.4)
BETA_SCALE = 1024
BETA = 717  # multiplicative decrease 717/1024 = 0.7002
# Reno-estimate slope in Linux's integer form: 8 * (1 + beta) / 3 / (1 - beta) = 15.
# The estimate gains one segment per 15/8 * cwnd acked segments, i.e. about
# 3 (1 - beta) / (1 + beta) = 0.53 segments per round trip (RFC 9438 alpha).
RENO_SCALE = 8 * (BETA_SCALE + BETA) // 3 // (BETA_SCALE - BETA)

# Linux recomputes cnt at most once per jiffy, and not at all for 1/32 s while
# cwnd stays put; with HZ=1000 those are 1 ms and 31 ms.
RECOMPUTE_MIN_US = 1_000.0
UNCHANGED_HOLD_US = 31_000.0
# While no reduction has happened yet (no W_max), grow at least 5 % per round
# trip: at most 20 acked segments per +1.
FIRST_EPOCH_MAX_CNT = 20
# A fresh epoch's delay samples are not trusted for a second (they may still
# carry the queue of the episode that ended it).
DELAY_SAMPLE_HOLDOFF_US = 1_000_000.0


def cubic_k(w_max: float, cwnd: float) -> float:
    """Microseconds from the epoch start until the curve is back at `w_max`."""
    if w_max <= cwnd:
        return 0.0
    return ((w_max - cwnd) / C) ** (1 / 3) * US


def cubic_window(t_us: float, k_us: float, origin: float) -> float:
    """W(t) = C (t - K)^3 + origin, exactly, in segments (for plots and tests)."""
    return origin + C * ((t_us - k_us) / US) ** 3


def cubic_target(t_us: float, k_us: float, origin: int) -> int:
    """The curve in whole segments as Linux evaluates it: the cubic term rounded
    toward the origin, so the target never overshoots the exact curve."""
    offset = abs(t_us - k_us) / US
    delta = int(C * offset**3)
    return origin - delta if t_us < k_us else origin + delta


class Cubic:
    """Linux's struct bictcp, minus HyStart (see hystart.py)."""

    __slots__ = (
        "cnt",
        "last_max",
        "last_cwnd",
        "last_time",
        "origin",
        "k",
        "delay_min",
        "epoch_start",
        "ack_cnt",
        "reno_cwnd",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything, as Linux does on entering loss after a timeout."""
        self.cnt = 0  # acked segments per +1 segment of cwnd
        self.last_max = 0  # W_max: the window when the path last dropped (0: never)
        self.last_cwnd = 0
        self.last_time = float("-inf")
        self.origin = 0  # the plateau of the current curve
        self.k = 0.0  # microseconds from epoch start to the plateau
        self.delay_min = 0.0  # smallest RTT sample CUBIC trusts (0: none yet)
        self.epoch_start: float | None = None
        self.ack_cnt = 0  # segments acked in this epoch, for the Reno estimate
        self.reno_cwnd = 0  # the window a Reno sender would have now

    def recalc_ssthresh(self, cwnd: int) -> int:
        """The multiplicative decrease. Ends the epoch and remembers W_max."""
        self.epoch_start = None
        if cwnd < self.last_max:
            # Fast convergence: the path dropped before reaching the old W_max,
            # so another flow is probably taking a share; plateau lower and
            # release bandwidth sooner.
            self.last_max = cwnd * (BETA_SCALE + BETA) // (2 * BETA_SCALE)
        else:
            self.last_max = cwnd
        return max(cwnd * BETA // BETA_SCALE, 2)

    def sample_delay(self, now: float, rtt: float) -> bool:
        """Offer an RTT sample; False if it was ignored (the epoch is too young)."""
        if self.epoch_start is not None and now - self.epoch_start < DELAY_SAMPLE_HOLDOFF_US:
            return False
        rtt = max(1.0, float(rtt))
        if self.delay_min == 0 or rtt < self.delay_min:
            self.delay_min = rtt
        return True

    def on_tx_start(self, now: float, idle: float) -> None:
        """Sending resumes after `idle` microseconds with nothing in flight: shift the
        epoch so the idle time does not count as growth time on the curve."""
        if self.epoch_start is not None and idle > 0:
            self.epoch_start = min(now, self.epoch_start + idle)

    def update(self, now: float, cwnd: int, acked: int) -> int:
        """Account `acked` segments at window `cwnd` and return the new cnt."""
        self.ack_cnt += acked
        if self.last_cwnd == cwnd and now - self.last_time <= UNCHANGED_HOLD_US:
            return self.cnt
        if self.epoch_start is None or now - self.last_time >= RECOMPUTE_MIN_US:
            self._follow_curve(now, cwnd, acked)
        self._stay_reno_friendly(cwnd)
        # At most +1 per 2 acked segments: 1.5x per round trip at most.
        self.cnt = max(self.cnt, 2)
        return self.cnt

    def _follow_curve(self, now: float, cwnd: int, acked: int) -> None:
        self.last_cwnd = cwnd
        self.last_time = now
        if self.epoch_start is None:
            # The first growth after a reduction (or after slow start) opens an epoch.
            self.epoch_start = now
            self.ack_cnt = acked
            self.reno_cwnd = cwnd
            if self.last_max <= cwnd:
                self.k = 0.0
                self.origin = cwnd
            else:
                self.k = cubic_k(self.last_max, cwnd)
                self.origin = self.last_max
        # Aim where the curve will be one minimum RTT from now: by the time the
        # acks of this window return, cwnd should have got there.
        target = cubic_target(now - self.epoch_start + self.delay_min, self.k, self.origin)
        if target > cwnd:
            self.cnt = cwnd // (target - cwnd)
        else:
            self.cnt = 100 * cwnd  # at or above the curve: next to no growth
        if self.last_max == 0 and self.cnt > FIRST_EPOCH_MAX_CNT:
            self.cnt = FIRST_EPOCH_MAX_CNT

    def _stay_reno_friendly(self, cwnd: int) -> None:
        """Grow the Reno estimate with the acks, and if Reno would be ahead, grow at
        least as fast as it (RFC 9438 §4.3: the Reno-friendly region)."""
        per_segment = max(1, cwnd * RENO_SCALE >> 3)
        if self.ack_cnt > per_segment:
            steps = (self.ack_cnt - 1) // per_segment
            self.ack_cnt -= steps * per_segment
            self.reno_cwnd += steps
        if self.reno_cwnd > cwnd:
            self.cnt = min(self.cnt, cwnd // (self.reno_cwnd - cwnd))
