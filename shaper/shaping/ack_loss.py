"""Acknowledgements lost on their way back, for one direction's emulated sender.

Acks travel the other direction's path and are lost at its `loss`. The receiver acks every
second segment (delayed acks), and acks are cumulative: a group of acks is lost only when
every one of them is, and then the next group that arrives covers it, at no cost. When no
group follows (the last acks of a response), the sender never hears that its data
arrived: its retransmission timer fires, it retransmits, and the receiver's ack for the
retransmission comes back a round trip later. The data itself was delivered on time.

Times are microseconds; offsets are byte offsets of the stream, supplied by the flow.
"""

from __future__ import annotations

from shaper.shaping.loss import LossModel
from shaper.shaping.window import MSS, SenderWindow


class AckLoss:
    __slots__ = ("model", "timeout_at", "end", "lost", "timeouts")

    def __init__(self, probability: float, burst: float, seed: str | None):
        self.model = LossModel(probability, burst, seed)
        self.timeout_at: float | None = None  # a lost group waits for the sender's timer
        self.end = 0  # the offset the lost group would have acknowledged
        self.lost = 0  # acks lost
        self.timeouts = 0  # timeouts they caused

    @property
    def active(self) -> bool:
        return self.model.active

    def configure(self, probability: float, burst: float) -> None:
        self.model.configure(probability, burst)

    def drop(self, now: float, end: int, pending: int, window: SenderWindow) -> bool:
        """Is the group of acks from `pending` up to `end` lost? If so, it waits for the
        sender's timer (`timeout_at`) unless a later group arrives first."""
        acks = max(1, -(-(end - pending) // MSS) // 2)
        if len(self.model.draw(acks)) < acks:
            self.timeout_at = None  # this one arrives and covers any lost before it
            return False
        timeout = window.timeout_at
        self.timeout_at = max(now, timeout if timeout is not None else now)
        self.end = end
        self.lost += acks
        return True

    def expire(self, window: SenderWindow, round_trip: float) -> tuple[float, int]:
        """The sender's timer fired for a lost group: it times out and retransmits; returns
        when the ack for the retransmission arrives, and the offset it acknowledges."""
        at = self.timeout_at if self.timeout_at is not None else 0.0
        self.timeout_at = None
        window.on_timeout(at)
        self.timeouts += 1
        return at + (window.srtt_us or round_trip), self.end
