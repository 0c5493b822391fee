"""Round-trip time as the emulated sender sees it: smoothed RTT, variance, RTO, min RTT.

This follows Linux (tcp_rtt_estimator, tcp_set_rto, win_minmax), which is
RFC 6298 with two twists that change the numbers a user sees:

- the variance term of the RTO is the largest deviation seen in the last round
  trip, never less than the minimum RTO (200 ms). So RTO >= srtt + 200 ms: a
  40 ms path has an RTO of about 240 ms, not 200 ms.
- when a sample is below the smoothed RTT, the deviation moves with a gain of
  1/32 instead of 1/4, so a falling RTT does not inflate the RTO.

Times are microseconds (floats). Sequence numbers are byte offsets supplied by
the caller: a variance round ends once everything sent at its start is acked.
"""

from __future__ import annotations

RTO_MIN_US = 200_000.0  # Linux TCP_RTO_MIN
RTO_MAX_US = 120_000_000.0  # Linux TCP_RTO_MAX
RTO_INITIAL_US = 1_000_000.0  # Linux TCP_TIMEOUT_INIT (RFC 6298 §2.1)
MIN_RTT_WINDOW_US = 300_000_000.0  # Linux net.ipv4.tcp_min_rtt_wlen default: 300 s


class WindowedMin:
    """The minimum of the samples seen in the last `window` microseconds.

    Kathleen Nichols' three-slot filter (as in Linux lib/win_minmax.c): it keeps
    the best sample and two fallbacks from later sub-windows, so when the best
    one ages out the next best of the window takes over without storing every
    sample. Exact when samples are monotone; within a quarter window otherwise.
    """

    __slots__ = ("window", "_slots")

    def __init__(self, window: float):
        self.window = window
        self._slots: list[tuple[float, float]] = []  # (time, value), best first

    @property
    def value(self) -> float | None:
        return self._slots[0][1] if self._slots else None

    def update(self, now: float, sample: float) -> float:
        fresh = (now, sample)
        slots = self._slots
        if not slots or sample <= slots[0][1] or now - slots[2][0] > self.window:
            # A new minimum, or even the newest fallback is too old: start over.
            self._slots = [fresh, fresh, fresh]
            return sample
        if sample <= slots[1][1]:
            slots[1] = slots[2] = fresh
        elif sample <= slots[2][1]:
            slots[2] = fresh
        age = now - slots[0][0]
        if age > self.window:
            # The best sample expired: promote the fallbacks (twice if needed).
            slots[0], slots[1], slots[2] = slots[1], slots[2], fresh
            if now - slots[0][0] > self.window:
                slots[0], slots[1], slots[2] = slots[1], slots[2], fresh
        elif slots[1][0] == slots[0][0] and age > self.window / 4:
            # A quarter window passed with no second choice: take one from now on.
            slots[1] = slots[2] = fresh
        elif slots[2][0] == slots[1][0] and age > self.window / 2:
            slots[2] = fresh
        return slots[0][1]


class RttEstimator:
    """srtt, the deviation terms and the RTO (without backoff; the window applies that)."""

    __slots__ = ("rto_min", "srtt", "mdev", "mdev_max", "rttvar", "_round_end", "min_rtt")

    def __init__(self, rto_min: float = RTO_MIN_US):
        self.rto_min = rto_min
        self.srtt: float | None = None
        self.mdev = 0.0  # mean deviation, times 4 (Linux mdev_us): the RTO's 4 * RTTVAR
        self.mdev_max = 0.0  # largest mdev in the current round, floored at rto_min
        self.rttvar = 0.0  # what the RTO adds to srtt
        self._round_end = 0  # byte offset that ends the variance round (Linux rtt_seq)
        self.min_rtt = WindowedMin(MIN_RTT_WINDOW_US)

    @property
    def rto(self) -> float:
        if self.srtt is None:
            return RTO_INITIAL_US
        return min(RTO_MAX_US, self.srtt + self.rttvar)

    def sample(self, now: float, rtt: float, acked_to: int, sent_to: int) -> None:
        """Take one RTT sample. `acked_to`/`sent_to`: bytes acked/sent so far."""
        rtt = max(1.0, float(rtt))  # a zero sample would stall the estimator, as in Linux
        self.min_rtt.update(now, rtt)
        if self.srtt is None:
            # The first sample stands for the RTT; the deviation is half of it,
            # so the first RTO is 3 * rtt (or rtt + 200 ms if larger).
            self.srtt = rtt
            self.mdev = 2 * rtt
            self.rttvar = max(self.mdev, self.rto_min)
            self.mdev_max = self.rttvar
            self._round_end = sent_to
            return
        error = rtt - self.srtt
        self.srtt += error / 8
        if error < 0:
            step = -error - self.mdev / 4
            if step > 0:
                step /= 8  # a falling RTT raises the deviation 8 times more gently
        else:
            step = error - self.mdev / 4
        self.mdev += step
        if self.mdev > self.mdev_max:
            self.mdev_max = self.mdev
            self.rttvar = max(self.rttvar, self.mdev_max)
        if acked_to > self._round_end:
            # Once per round trip, let rttvar decay a quarter of the way toward
            # the largest deviation of the round that just ended.
            if self.mdev_max < self.rttvar:
                self.rttvar -= (self.rttvar - self.mdev_max) / 4
            self._round_end = sent_to
            self.mdev_max = self.rto_min
