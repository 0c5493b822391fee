"""HyStart: leave slow start before the doubling overflows the bottleneck queue.

Linux's CUBIC runs both of its detectors (net/ipv4/tcp_cubic.c):

- ack train: the acks of one window come back spaced by the bottleneck. If a
  continuous train (gaps of at most 2 ms) lasts longer than half the minimum
  RTT, the window already fills the path, and the next doubling would only
  fill the queue.
- delay: once a round has given 8 RTT samples, if the smallest of them exceeds
  the minimum RTT by clamp(min_rtt / 8, 4 ms, 16 ms), a queue is building.

A round starts with the first ack beyond what was sent when the previous round
started. Either detector ends slow start with ssthresh = cwnd. Neither looks
while cwnd is below 16 segments.

Grouped acks. The path acks a slice at a time (one event may acknowledge the
segments of a 4 ms slice), where a real receiver would have sent an ack per
segment or two, spread over that time. Read literally, a 4 ms gap between
events breaks every train and a round of few events never reaches 8 samples.
So an event that acknowledges k segments counts as k acks: the train holds if
the gap is at most k * 2 ms (the per-segment spacing is within 2 ms), and the
event gives k delay samples (its segments left the link together, so they
share one RTT). With one segment per event this is exactly Linux.
"""

from __future__ import annotations

LOW_WINDOW = 16  # segments; Linux hystart_low_window
MIN_SAMPLES = 8  # RTT samples per round before the delay test; HYSTART_MIN_SAMPLES
DELAY_MIN_US = 4_000.0  # the delay threshold is min_rtt / 8 clamped to 4..16 ms
DELAY_MAX_US = 16_000.0
ACK_DELTA_US = 2_000.0  # largest gap between acks of one train; hystart_ack_delta_us
# Linux widens the train threshold by the time a 64 KB GSO burst takes at the
# pacing rate, at most 1 ms (hystart_ack_delay); below 2 Gbit/s that is 1 ms.
GSO_BURST_BYTES = 65_536
ACK_DELAY_MAX_US = 1_000.0


def delay_threshold(delay_min: float) -> float:
    """How far above the minimum RTT a round's RTT may rise before slow start ends."""
    return min(DELAY_MAX_US, max(DELAY_MIN_US, delay_min / 8))


def ack_delay(pacing_rate: float | None) -> float:
    """Linux's cushion for send/receive aggregation, in microseconds; bytes/s rate."""
    if not pacing_rate:
        return 0.0
    return min(ACK_DELAY_MAX_US, GSO_BURST_BYTES * 4 * 1_000_000 / pacing_rate)


class HyStart:
    __slots__ = ("found", "round_start", "last_ack", "end_seq", "curr_rtt", "sample_cnt")

    def __init__(self, now: float, sent_to: int):
        self.found = False  # an exit point was found: no more HyStart until reset
        self.new_round(now, sent_to)

    def new_round(self, now: float, sent_to: int) -> None:
        self.round_start = now
        self.last_ack = now
        self.end_seq = sent_to  # the round ends once an ack passes this byte offset
        self.curr_rtt = float("inf")  # smallest RTT sample of this round
        self.sample_cnt = 0

    def update(
        self,
        now: float,
        *,
        acked_to: int,
        sent_to: int,
        cwnd: int,
        rtt: float,
        delay_min: float,
        segments: int,
        pacing_rate: float | None,
    ) -> bool:
        """One ack event of `segments` segments with RTT `rtt`, in slow start.
        Returns True when slow start should end now."""
        if acked_to > self.end_seq:
            self.new_round(now, sent_to)
        if cwnd < LOW_WINDOW:
            return False
        segments = max(1, segments)
        found = False
        if now - self.last_ack <= ACK_DELTA_US * segments:
            self.last_ack = now
            # Without pacing (Linux's default qdiscs) the threshold is half of
            # min RTT plus the aggregation cushion.
            threshold = (delay_min + ack_delay(pacing_rate)) / 2
            if now - self.round_start > threshold:
                found = True
        self.curr_rtt = min(self.curr_rtt, rtt)
        # The first MIN_SAMPLES samples of a round only feed curr_rtt; each one
        # after that is a test.
        tested = self.sample_cnt + segments > MIN_SAMPLES
        self.sample_cnt = min(MIN_SAMPLES, self.sample_cnt + segments)
        if tested and self.curr_rtt > delay_min + delay_threshold(delay_min):
            found = True
        self.found = self.found or found
        return found
