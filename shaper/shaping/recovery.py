"""What the emulated sender does about a lost packet: it repairs it, late.

The proxy cannot lose a byte: both real TCPs would see a hole that no one repairs. So a
packet the path loses stays in the byte stream and is delivered when the emulated sender's
retransmission would have arrived, with everything behind it waiting (head-of-line
blocking; nothing overtakes, nothing is reordered). For one direction of one connection,
this object keeps the holes (lost packets not yet repaired), decides how and when each is
repaired, and tells the window, as Linux's sender would learn it:

- fast retransmit: once three packets sent after the hole have reached the receiver, their
  duplicate acknowledgements reach the sender one reverse latency later; it cuts its
  window (`on_congestion`, CUBIC's 0.7) and retransmits. The retransmission waits in the
  shared queue behind what is there, crosses the link and the wire: it arrives about one
  round trip after the lost packet would have.
- retransmission timeout: with fewer than three packets behind the hole (a loss at the
  tail of a burst, a small window) or a lost retransmission, the sender's timer fires:
  Linux's RTO (at least 200 ms, about srtt + 4 rttvar, restarted by each ack of new data,
  doubling on each timeout without a fresh RTT sample). The window falls to one segment
  (`on_timeout`) and slow start begins again.

A lost SYN or SYN-ACK is resent after Linux's initial 1 s timeout (`control_lost`); lost
acknowledgements are ack_loss.py's.

Times are microseconds, offsets are byte offsets of the stream, supplied by the flow.

Where this departs from Linux: no SACK scoreboard, RACK, tail loss probe or F-RTO; a
retransmission costs no link time of its own (at 1 % loss, 1 % of the link); after a
timeout every hole still open is retransmitted at once rather than one per round trip;
the three later packets are counted per slice on the link (a slice's packets arrive
together).
"""

from __future__ import annotations

from collections import deque

from shaper.shaping.loss import LossModel
from shaper.shaping.window import MSS, SenderWindow

DUPACK_THRESHOLD = 3  # Linux tcp_reordering: three duplicate acks mean a loss
# The packets sent before recovery starts: one per duplicate ack before the deciding one,
# and one for the ack of new data that usually comes with them in slow start.
LIMITED_TRANSMIT = DUPACK_THRESHOLD
SYN_TIMEOUT_US = 1_000_000.0  # Linux TCP_TIMEOUT_INIT: a lost SYN or SYN-ACK waits 1 s


class Hole:
    """A run of lost packets, [start, end) of the stream."""

    __slots__ = (
        "start",
        "end",
        "due",
        "later",
        "detect_at",
        "rto_at",
        "sent",
        "arrives",
        "probed",
    )

    def __init__(self, start: int, end: int, due: float):
        self.start = start
        self.end = end
        self.due = due  # when the lost bytes would have arrived
        self.later = 0  # packets sent after it that reached the receiver
        self.detect_at: float | None = None  # when the third duplicate ack reaches the sender
        self.rto_at: float | None = None  # after a retransmission: its own timeout
        self.sent = False  # a retransmission is under way (not lost)
        self.arrives: float | None = None  # when the retransmission reaches the receiver
        self.probed = False  # a tail loss probe went out for it


class Recovery:
    __slots__ = (
        "loss",
        "retransmits",
        "mss",
        "holes",
        "lost",
        "timeouts",
        "probes",
        "delay_us",
        "stalled_us",
        "_stall_end",
        "_rearmed",
        "_control_tries",
        "_departed_to",
    )

    def __init__(self, loss: LossModel, mss: int = MSS, retransmits: LossModel | None = None):
        self.loss = loss
        # Retransmissions draw from a stream of their own, so the packets first lost depend
        # only on the seed and their place in the stream, not on when repairs happen.
        self.retransmits = retransmits if retransmits is not None else loss
        self.mss = mss
        self.holes: deque[Hole] = deque()
        # Totals, for the stats.
        self.lost = 0  # packets lost (first transmissions and retransmissions)
        self.timeouts = 0  # retransmission timeouts
        self.probes = 0  # tail loss probes
        self.delay_us = 0.0  # late delivery the losses added, summed over the holes
        self.stalled_us = 0.0  # time delivery was held by a hole (overlaps counted once)
        self._stall_end = float("-inf")
        self._rearmed = float("-inf")  # the last retransmission restarted the timer
        self._control_tries = 0  # handshake packets lost in a row
        self._departed_to = 0  # stream offset past the last byte that left the link

    @property
    def active(self) -> bool:
        return self.loss.active or bool(self.holes)

    # -- inputs ----------------------------------------------------------------------

    def departed(
        self, start: int, size: int, arrive: float, ack_latency: float, reorder_us: float = 0.0
    ) -> None:
        """`size` bytes at stream offset `start` left the link; they reach the receiver at
        `arrive`. Count them toward the holes before them, and draw their own losses.
        `reorder_us`: RACK's reordering window (Linux: min_rtt / 4 outside recovery, 0
        in it), how long after a later packet's SACK a hole counts as lost.

        Packets are the stream cut every `mss` bytes; a packet departs with the slice in
        which it starts (a slice rarely ends on a packet boundary)."""
        mss = self.mss
        self._departed_to = max(self._departed_to, start + size)
        first = -(-start // mss)
        packets = -(-(start + size) // mss) - first
        lost = self.loss.draw(packets) if packets and self.loss.active else []
        if self.holes:
            behind = packets - len(lost)
            if behind:
                for hole in self.holes:
                    if hole.later < DUPACK_THRESHOLD and not hole.sent and hole.rto_at is None:
                        self._count_later(hole, behind, arrive + ack_latency, reorder_us)
        if not lost:
            return
        self.lost += len(lost)
        run: Hole | None = None
        for index in lost:
            begin = (first + index) * mss
            if run is not None and run.end == begin:
                run.end = begin + mss  # a burst: one hole, retransmitted back to back
            else:
                run = Hole(begin, begin + mss, arrive)
                self.holes.append(run)
            # Packets of this slice behind the hole arrive with it: they count for it now.
            behind = packets - 1 - index - sum(1 for i in lost if i > index)
            run.later = 0
            run.detect_at = None
            if behind:
                self._count_later(run, behind, arrive + ack_latency, reorder_us)

    @staticmethod
    def _count_later(hole: Hole, packets: int, acked_at: float, reorder_us: float) -> None:
        """`packets` sent after `hole` reached the receiver; their (duplicate, SACKing)
        acks reach the sender at `acked_at`. Linux marks the hole lost at the third
        (tcp_reordering), or with RACK once a later packet is sacked and the reordering
        window has passed, whichever comes first."""
        rack = acked_at + reorder_us
        if hole.detect_at is None or rack < hole.detect_at:
            hole.detect_at = rack
        hole.later += packets
        if hole.later >= DUPACK_THRESHOLD and acked_at < hole.detect_at:
            hole.detect_at = acked_at

    def advance(self, now: float, window: SenderWindow, path_us: float) -> None:
        """Run the sender's recovery up to `now`: detect losses, retransmit, time out.
        `path_us`: how long a retransmission sent now takes to reach the receiver (the
        shared queue's wait, its own serialization, the latency)."""
        for hole in self.holes:
            if hole.sent:
                continue
            if hole.rto_at is None and hole.detect_at is not None and hole.detect_at <= now:
                at = hole.detect_at
                # Linux sends a new packet on each of the duplicate acks before the one
                # that starts recovery (limited transmit, and the room each SACK frees),
                # so its recovery point lies that far beyond: a loss among those packets
                # is part of this episode. Here the packets of a slice arrive together,
                # which leaves the emulated sender no time to send them first.
                window.on_congestion(at, hole.start, reach=LIMITED_TRANSMIT * self.mss)
                self._retransmit(hole, at, window, path_us)
        head = self._first_unsent()
        if head is None:
            return
        timeout = self._timeout_at(head, window)
        probe = self._probe_at(head, window)
        # At the same time, the probe: Linux caps the probe's timer at the RTO, and a
        # probe is what that timer sends.
        if probe is not None and probe <= now and (timeout is None or probe <= timeout):
            self._probe(head, probe, window, path_us)
            return
        if timeout is None or timeout > now:
            return
        window.on_timeout(timeout)
        self.timeouts += 1
        for hole in self.holes:
            if not hole.sent:
                self._retransmit(hole, timeout, window, path_us)

    def repaired(self, now: float) -> Hole | None:
        """The first hole, if its retransmission has arrived by `now` (and forget it)."""
        if not self.holes:
            return None
        hole = self.holes[0]
        if hole.arrives is None or hole.arrives > now:
            return None
        self.holes.popleft()
        self.delay_us += max(0.0, hole.arrives - hole.due)
        self.stalled_us += max(0.0, hole.arrives - max(hole.due, self._stall_end))
        self._stall_end = max(self._stall_end, hole.arrives)
        return hole

    def next_deadline(self, window: SenderWindow | None) -> float | None:
        """The next time something happens: a detection, a timeout, an arrival."""
        # Only the first hole's retransmission releases bytes; a later one's arrival
        # matters once that hole is first.
        deadline = self.holes[0].arrives if self.holes else None
        for hole in self.holes:
            at = None if hole.sent or hole.rto_at is not None else hole.detect_at
            if at is not None and (deadline is None or at < deadline):
                deadline = at
        head = self._first_unsent()
        if head is not None and window is not None:
            timeout = self._timeout_at(head, window)
            if timeout is not None and (deadline is None or timeout < deadline):
                deadline = timeout
            probe = self._probe_at(head, window)
            if probe is not None and (deadline is None or probe < deadline):
                deadline = probe
        return deadline

    def control_lost(self) -> float | None:
        """Is a handshake packet (SYN, SYN-ACK) sent now lost? If so, how long until it is
        sent again: Linux's initial 1 s timeout, doubling per loss in a row."""
        if not self.loss.active or not self.loss.draw(1):
            self._control_tries = 0
            return None
        wait = SYN_TIMEOUT_US * 2**self._control_tries
        self._control_tries += 1
        self.lost += 1
        self.timeouts += 1
        self.delay_us += wait
        self.stalled_us += wait
        return wait

    def configure(self, probability: float, burst: float) -> None:
        self.loss.configure(probability, burst)
        if self.retransmits is not self.loss:
            self.retransmits.configure(probability, burst)

    def forget(self) -> None:
        """The sender is gone (tcp mode changed): every hole counts as repaired now."""
        self.holes.clear()

    # -- internals -------------------------------------------------------------------

    def _first_unsent(self) -> Hole | None:
        for hole in self.holes:
            if not hole.sent:
                return hole
        return None

    def _probe_at(self, hole: Hole, window: SenderWindow) -> float | None:
        """A hole nothing has revealed (no later packet sacked): when the tail loss probe
        would go out for it, once; None if none would."""
        if hole.probed or hole.detect_at is not None or hole.rto_at is not None:
            return None
        return window.probe_at

    def _probe(self, hole: Hole, at: float, window: SenderWindow, path_us: float) -> None:
        """Linux's tail loss probe: the last segment sent goes again. If that is the lost
        one, the probe repairs it (and the sender cuts its window when it learns so);
        otherwise the probe's SACK reveals the hole about one round trip later and fast
        recovery takes over. Either way no timeout, no fall to one segment."""
        hole.probed = True
        self.probes += 1
        if hole.end >= self._departed_to:
            window.on_congestion(at, hole.start)
            self._retransmit(hole, at, window, path_us)
        else:
            hole.detect_at = at + (window.srtt_us or path_us)

    def _timeout_at(self, hole: Hole, window: SenderWindow) -> float | None:
        if hole.rto_at is not None:
            return hole.rto_at
        timeout = window.timeout_at
        if timeout is None:
            return None
        # Linux restarts the timer when it retransmits: a hole behind one being repaired
        # times out one RTO after that retransmission at the earliest.
        return max(timeout, self._rearmed + window.rto_us)

    def _retransmit(self, hole: Hole, at: float, window: SenderWindow, path_us: float) -> None:
        packets = -(-(hole.end - hole.start) // self.mss)
        if self.loss.active and self.retransmits.draw(packets):
            # The retransmission is lost as well: only the timer can find that out here
            # (Linux restarts it when it retransmits the first hole).
            self.lost += 1
            hole.rto_at = at + window.rto_us
            hole.sent = False
            return
        hole.sent = True
        hole.arrives = at + path_us
        self._rearmed = max(self._rearmed, at)
