"""One direction of one connection on the emulated path: what it has in the shared
queue, its wire, and, with `tcp = emulated`, the window of the sender it plays.

The proxy terminates TCP on both sides, so neither real TCP sees the emulated delay.
With the emulated TCP a flow admits bytes only while its sender's window has room: a
byte is in flight from when it is read until its acknowledgement comes back, one
reverse latency after the receiver's kernel took it. The real sender therefore sees the
window of a sender across the path: 10 segments at first, doubling per round trip in
slow start, CUBIC after it. With `tcp = off` a flow holds at most `buffer` bytes that
its sink has not taken (the bound of the old private pipe).

Feeding it (times are microseconds, from the caller):

- `room(now)`, then `feed(now, data)` for what the source gave;
- `release(now)`: bytes due at the sink, in order (control packets run their callback);
- `acknowledge(now, peer_taken)`: when `peer_check_due(now)`, with a function giving the
  count of bytes the receiver's kernel has taken in total (written less what the
  sink's buffers still hold);
- `next_deadline()`: when to call release/acknowledge next.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from shaper.model.limits import DirectionLimits
from shaper.shaping.ack_loss import AckLoss
from shaper.shaping.bottleneck import Bottleneck, Chunk
from shaper.shaping.delay import EMPTY, DelayLine
from shaper.shaping.jitter import Jitter
from shaper.shaping.loss import LossModel
from shaper.shaping.recovery import Hole, Recovery
from shaper.shaping.window import MSS, SenderWindow

# A receiver that has not taken delivered bytes is asked again after this long, doubling
# while it takes nothing: a slow reader costs a few ioctls a second, not a thousand.
POLL_MIN_US = 1000.0
POLL_MAX_US = 32000.0


class _Released:
    """Bytes written to the sink and not yet acknowledged, awaiting the receiver."""

    __slots__ = ("end", "at", "check_at", "polls")

    def __init__(self, end: int, at: float, check_at: float):
        self.end = end  # stream offset after these bytes
        self.at = at  # when they were written
        self.check_at = check_at  # when to see whether the receiver took them
        self.polls = 0


class Flow:
    # Slotted, as is every object of shaping made per connection or per direction (its
    # wire, window, meters, loss models...): an instance dict is ~100 bytes plus 8-16 a
    # field, and 1,000 idle connections cost the engine 4.5 KB each less without them.
    __slots__ = (
        "link",
        "limits",
        "wire",
        "seed",
        "jitter",
        "recovery",
        "window",
        "is_open",
        "control_sent_at",
        "queued",
        "stuck",
        "_next_due",
        "sink_blocked",
        "reverse_latency",
        "bytes_in",
        "bytes_out",
        "detached",
        "_sent",
        "_sent_log",
        "_written",
        "_released",
        "_acks",
        "_acked",
        "_sacks",
        "_sacked",
        "_loss_reported_at",
        "_loss_seq",
        "_left",
        "ack_loss",
        "_held",
    )

    def __init__(
        self,
        link: Bottleneck[Flow],
        limits: DirectionLimits,
        now: float = 0.0,
        *,
        seed: int | str | None = None,
        opened: bool = True,
    ):
        self.link = link
        link.flows += 1
        self.limits = limits
        self.wire = DelayLine(limits.latency)
        # Each random stream derives from the seed: the same seed, the same draws.
        self.seed = seed
        self.jitter = Jitter(limits.jitter, limits.jitter_distribution, seed, stream="jitter")
        self.recovery: Recovery | None = None  # made when loss is first set
        self.window: SenderWindow | None = SenderWindow(now) if _emulated(limits) else None
        self.is_open = opened  # False until the emulated handshake lets bytes through
        self.control_sent_at: float | None = None  # the last SYN, SYN-ACK or ACK sent
        self.queued = 0  # this flow's bytes in the shared queue, slice on the link included
        self.stuck = 0  # bytes due at the sink that it could not take yet
        self._next_due: float | None = None  # when more bytes come due at a blocked sink
        self.sink_blocked = False
        self.reverse_latency = 0.0  # where the acknowledgements travel back
        self.bytes_in = 0
        self.bytes_out = 0
        self.detached = False
        self._sent = 0  # stream offset admitted
        # The three queues of the emulated sender are made at their first entry and dropped
        # once empty again (None meanwhile; see _drop_empty_queues): an empty deque is 760
        # bytes, and a direction that never carries data (the upload of a download) had six
        # of them per connection, an idle one as many.
        self._sent_log: deque[tuple[int, float]] | None = None  # (end offset, when admitted)
        self._written = 0  # stream offset released to the sink
        self._released: deque[_Released] | None = None
        self._acks: deque[tuple[float, int]] | None = None  # (when it arrives, end offset)
        self._acked = 0
        # Bytes that reached the receiver behind a lost packet: (when their SACK reaches
        # the sender, start, end), then, once applied, [start, end) not yet acked.
        # Made at their first entry and dropped when empty, as the queues above.
        self._sacks: deque[tuple[float, int, int]] | None = None
        self._sacked: deque[list[int]] | None = None
        self._loss_reported_at: float | None = None  # when the sender learns of a drop
        self._loss_seq = 0  # the offset of the byte the queue refused
        self._left = 0  # stream offset of the bytes that left the link
        self.ack_loss: AckLoss | None = None  # acks lost on the way back (set_ack_loss)
        self._held = False  # the wire's head waits for a lost packet's retransmission
        self._configure_loss(limits)

    # -- state -------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        """Nothing queued or on the wire (acknowledgements may still be on their way)."""
        return self.queued == 0 and not self.wire

    @property
    def on_wire(self) -> int:
        return self.wire.size

    @property
    def in_flight(self) -> int:
        return self.window.in_flight if self.window is not None else 0

    def own_room(self) -> int:
        """What this flow may admit whatever the shared queue holds: the window's room,
        or (tcp off) its bound less what it holds that the sink has not taken."""
        if not self.is_open:
            return 0
        if self.window is not None:
            return self.window.room()
        # With no rate either, nothing else bounds the wire (rate x latency is unbounded):
        # what is on it counts against the bound. Uncounted, a 1 s latency in front of a
        # reader that never read took 144 MB from a fast sender.
        # (The stuck bytes are on the wire too: counted once.)
        held = self.stuck if self.limits.rate else max(self.stuck, self.wire.size)
        return max(0, self.limits.buffer - self.queued - held)

    def room(self) -> int:
        return min(self.own_room(), self.link.room_for(self))

    def want(self) -> bool:
        """The reader pauses for lack of room. When the shared queue, not the flow's own
        bound, is the limit, the flow joins the line for room; True when it just joined
        (a sender with data to send would have seen a drop: see `refused`)."""
        if self.own_room() > 0 and self.link.room_for(self) == 0:
            return self.link.wait(self)
        return False

    @property
    def receiver_slow(self) -> bool:
        """Released bytes the receiver has not taken when their acknowledgement was due:
        a slow reader holds the window."""
        released = self._released
        return bool(released) and released is not None and released[0].polls > 0

    def refused(self, now: float) -> None:
        """The sender had a packet for a full queue: a real router drops it there, and the
        sender cuts its window (CUBIC's decrease, once per round trip) when it learns of
        the loss: once the packets behind the lost one have crossed the queue and the
        path, and their duplicate acknowledgements have come back. Until then it sends
        on as before (in slow start, its window still doubling), as a real one does."""
        window = self.window
        if window is None:
            return
        window.on_refused(now)
        if self._loss_reported_at is None:
            rate = self.link.limits.rate
            drain = self.link.queued * 8 * 1_000_000 / rate if rate else 0.0
            self._loss_reported_at = now + drain + self.limits.latency + self.reverse_latency
            self._loss_seq = window.sent_bytes

    def peer_check_due(self, now: float) -> bool:
        released = self._released
        return bool(released) and released is not None and released[0].check_at <= now

    def next_deadline(self) -> float | None:
        deadline = None
        head = self.wire.head
        recovery = self.recovery
        if recovery is not None and recovery.holes:
            deadline = recovery.next_deadline(self.window)
        if head is not None:
            if self._held and head.on_arrival is None:
                pass  # waits for a retransmission: the recovery's deadline above
            elif head.on_arrival is not None or not self.sink_blocked:
                deadline = head.deliver if deadline is None else min(deadline, head.deliver)
            elif self._next_due is not None:
                # Held at a blocked sink: wake when the next bytes arrive there, to count
                # them as held (they then count against the bound without the window).
                due = self._next_due
                deadline = due if deadline is None else min(deadline, due)
        if self._released:
            check = self._released[0].check_at
            deadline = check if deadline is None else min(deadline, check)
        if self._acks:
            ack = self._acks[0][0]
            deadline = ack if deadline is None else min(deadline, ack)
        if self._sacks:
            sack = self._sacks[0][0]
            deadline = sack if deadline is None else min(deadline, sack)
        loss = self._loss_reported_at
        if loss is not None:
            deadline = loss if deadline is None else min(deadline, loss)
        if self.ack_loss is not None and (lost := self.ack_loss.timeout_at) is not None:
            deadline = lost if deadline is None else min(deadline, lost)
        return deadline

    # -- inputs ------------------------------------------------------------------------

    def feed(self, now: float, data: bytes | memoryview) -> list[Flow]:
        """Bytes read from the source. Returns the flows whose wire got bytes meanwhile."""
        nbytes = len(data)
        self.bytes_in += nbytes
        self.queued += nbytes
        if self.window is not None:
            self.window.on_send(now, nbytes)
            self._sent += nbytes
            log = self._sent_log
            if log is None:
                log = self._sent_log = deque()
            log.append((self._sent, now))
        return self.link.enqueue(now, Chunk(self, memoryview(data), nbytes))

    def send_control(
        self, now: float, size: int, on_arrival: Callable[[float], None]
    ) -> list[Flow]:
        """A packet without payload (SYN, SYN-ACK, ACK) that waits its turn on the link
        and the wire like any other, then calls `on_arrival(time)` at the far end."""
        self.control_sent_at = now
        self.queued += size
        return self.link.enqueue(now, Chunk(self, None, size, on_arrival))

    def open(self) -> None:
        self.is_open = True

    def departed(self, depart: float, chunk: Chunk[Flow]) -> None:
        """Called by the link: `chunk` has been serialized and is on the wire."""
        self.queued -= chunk.size
        if chunk.data is None:
            self.wire.push(depart, EMPTY, self.jitter.sample(), chunk.on_arrival)
            return
        arrive = self.wire.push(depart, chunk.data, self.jitter.sample())
        if self.recovery is not None and self.window is not None:  # no sender, no repair
            window = self.window
            # RACK's reordering window: min_rtt / 4, none once in recovery (Linux, with
            # no reordering seen on the path: and the emulated path reorders nothing).
            reorder = 0.0 if window.in_recovery else (window.min_rtt_us or 0.0) / 4
            self.recovery.departed(self._left, chunk.size, arrive, self.reverse_latency, reorder)
            if self.recovery.holes:
                self._sack_behind_holes(
                    self.recovery.holes, self._left, self._left + chunk.size, arrive
                )
        self._left += chunk.size

    def set_sink_blocked(self, now: float, blocked: bool) -> None:
        self.sink_blocked = blocked
        if not blocked:
            self.stuck = 0

    def set_limits(self, now: float, limits: DirectionLimits) -> None:
        """Latency, jitter and the TCP mode of this flow; nothing on the wire is dropped or
        reordered. (Rate, burst, buffer and stall are the link's.)"""
        old = self.limits
        self.limits = limits
        self.jitter.amount = limits.jitter
        self.jitter.distribution = limits.jitter_distribution
        if limits.latency != old.latency:
            self.wire.set_latency(limits.latency)
        if (limits.loss, limits.loss_burst) != (old.loss, old.loss_burst):
            self._configure_loss(limits)
        if _emulated(limits) != _emulated(old):
            # A fresh sender: bytes already under way are not counted against it.
            self.window = SenderWindow(now) if _emulated(limits) else None
            self._sent_log = self._released = self._acks = None
            self._sacks = self._sacked = None
            self._sent = self._acked = self._written
            self._loss_reported_at = None
            if self.ack_loss is not None:
                self.ack_loss.timeout_at = None
            self.is_open = True
            if self.recovery is not None:
                self.recovery.forget()  # no sender left to repair them: they go now
                self._held = False

    def move_to(self, link: Bottleneck[Flow]) -> None:
        """Go through another link from now on; the caller waits until nothing of this flow
        is queued in the old one (bytes on two links could leave out of order)."""
        if self.queued:
            raise ValueError("a flow moves to another link only once its queue has drained")
        self.link.leave(self)
        self.link.flows -= 1
        self.link = link
        link.flows += 1

    def detach(self) -> None:
        """The connection is gone: stop waiting for the link."""
        if not self.detached:
            self.detached = True
            self.link.leave(self)
            self.link.flows -= 1

    # -- outputs -----------------------------------------------------------------------

    def release(self, now: float) -> list[memoryview]:
        """Everything due at `now`, in order, for the caller to write to the sink."""
        out: list[memoryview] = []
        wire = self.wire
        released = 0
        recovery = self.recovery
        self._held = False
        if recovery is not None:
            # Repaired holes go at once, even behind a blocked sink: what they held is then
            # only waiting for its turn, and a past repair is no deadline to wake for.
            while recovery.repaired(now) is not None:
                pass
        while True:
            head = wire.head
            if head is None or head.deliver > now:
                break
            if head.on_arrival is not None:  # a control packet: the kernel takes it
                wire.pop()
                head.on_arrival(head.deliver)
                continue
            if self.sink_blocked:
                break
            if recovery is not None and recovery.holes:
                offset = self._written + released
                hole = recovery.holes[0]
                if offset + len(head.data) > hole.start:
                    before = hole.start - offset
                    if before > 0:  # what precedes the hole goes; the rest waits
                        out.append(wire.take(before))
                        released += before
                    self._held = True
                    break
            data = wire.pop().data
            out.append(data)
            released += len(data)
        if released:
            self.bytes_out += released
            self._written += released
            if self.window is not None:
                # Checked at once: a receiver with room takes the bytes as they are written,
                # and their ack is then due one reverse latency later, with no check of
                # its own (one timer event per slice, not two).
                if self._released is None:
                    self._released = deque()
                self._released.append(_Released(self._written, now, now))
        if self.sink_blocked:
            self.stuck, self._next_due = wire.due(now)
        else:
            self.stuck, self._next_due = 0, None
        return out

    def acknowledge(self, now: float, peer_taken: Callable[[], int]) -> None:
        """Acknowledgements: check whether the receiver took what was released (when a
        check is due; `peer_taken()` is asked at most once), and apply those that have
        arrived by `now`."""
        if self.window is None:
            return
        if self.peer_check_due(now):
            self._check_peer(now, peer_taken())
        if self._sacks:
            self._apply_sacks(now)
        acks = self._acks
        while acks and acks[0][0] <= now:
            _, end = acks.popleft()
            self._ack(now, end)
        recovery = self.recovery
        if recovery is not None and recovery.holes:
            recovery.advance(now, self.window, self._retransmit_path_us())
        ack_loss = self.ack_loss
        if ack_loss is not None and ack_loss.timeout_at is not None and ack_loss.timeout_at <= now:
            self._ack_later(ack_loss.expire(self.window, 2 * self.reverse_latency))
        loss = self._loss_reported_at
        if loss is not None and loss <= now:
            self._loss_reported_at = None
            self.window.on_congestion(loss, self._loss_seq)
        self._drop_empty_queues()

    def _drop_empty_queues(self) -> None:
        """Forget the sender's queues that emptied (the next entry makes a new one). Done
        here, once every acknowledgement due is applied, and not where entries leave: the
        loops that pop them hold them by a local name, and must see what is added meanwhile."""
        if not self._sent_log:
            self._sent_log = None
        if not self._released:
            self._released = None
        if not self._acks:
            self._acks = None
        if not self._sacks:
            self._sacks = None
        if not self._sacked:
            self._sacked = None

    # -- loss ---------------------------------------------------------------------------

    def _configure_loss(self, limits: DirectionLimits) -> None:
        if self.recovery is None:
            if not limits.loss:
                return
            self.recovery = self._new_recovery(limits.loss, limits.loss_burst)
        else:
            self.recovery.configure(limits.loss, limits.loss_burst)

    def _new_recovery(self, probability: float, burst: float) -> Recovery:
        seed = self.seed

        def stream(name: str) -> LossModel:
            return LossModel(probability, burst, None if seed is None else f"{seed}/{name}")

        return Recovery(stream("loss"), retransmits=stream("retransmit"))

    def set_ack_loss(self, probability: float, burst: float) -> None:
        """The loss of the path the acknowledgements take back (the other direction's)."""
        if self.ack_loss is not None:
            self.ack_loss.configure(probability, burst)
        elif probability:
            seed = None if self.seed is None else f"{self.seed}/ack-loss"
            self.ack_loss = AckLoss(probability, burst, seed)

    def _retransmit_path_us(self) -> float:
        """How long a retransmission sent now takes to reach the receiver: behind what
        the shared queue holds, its own serialization, then the wire."""
        rate = self.link.limits.rate
        serialize = (self.link.queued + MSS) * 8 * 1_000_000 / rate if rate else 0.0
        return serialize + self.limits.latency

    # -- internals ---------------------------------------------------------------------

    def _sack_behind_holes(self, holes: deque[Hole], start: int, end: int, arrive: float) -> None:
        """Of [start, end), arriving at `arrive`: what lies behind the first of `holes`
        (in stream order) and in none is sacked one reverse latency later."""
        if holes[0].start >= end:
            return
        at = arrive + self.reverse_latency
        pos = max(start, holes[0].start)
        for hole in holes:
            if hole.end <= pos:
                continue
            if hole.start >= end:
                break
            if hole.start > pos:
                self._sack_later((at, pos, hole.start))
            pos = max(pos, hole.end)
        if pos < end:
            self._sack_later((at, pos, end))

    def _sack_later(self, sack: tuple[float, int, int]) -> None:
        if self._sacks is None:
            self._sacks = deque()
        self._sacks.append(sack)

    def _apply_sacks(self, now: float) -> None:
        sacks, window = self._sacks, self.window
        if sacks is None:
            return
        while sacks and sacks[0][0] <= now:
            _, start, end = sacks.popleft()
            start = max(start, self._acked)
            if window is None or end <= start:
                continue
            size = min(end - start, window.in_flight)
            window.on_sack(now, size)
            if self._sacked is None:
                self._sacked = deque()
            self._sacked.append([start, start + size])

    def _sacked_below(self, end: int) -> int:
        """Sacked bytes the cumulative ack up to `end` now covers (and forget them)."""
        covered = 0
        sacked = self._sacked
        if sacked is None:
            return 0
        while sacked and sacked[0][0] < end:
            head = sacked[0]
            start = max(head[0], self._acked)
            if head[1] <= end:
                covered += max(0, head[1] - start)
                sacked.popleft()
            else:
                covered += max(0, end - start)
                head[0] = end
                break
        return covered

    def _check_peer(self, now: float, taken: int) -> None:
        released = self._released
        while released and released[0].check_at <= now:
            head = released[0]
            if taken < head.end:
                if taken > self._acked_or_pending():
                    self._schedule_ack(head, now, taken)  # part of it taken
                head.polls += 1
                head.check_at = now + min(POLL_MAX_US, POLL_MIN_US * 2 ** (head.polls - 1))
                return
            released.popleft()
            self._schedule_ack(head, now, head.end)

    def _acked_or_pending(self) -> int:
        if self._acks:
            return self._acks[-1][1]
        lost = self.ack_loss
        return lost.end if lost is not None and lost.timeout_at is not None else self._acked

    def _schedule_ack(self, entry: _Released, now: float, end: int) -> None:
        # Taken when first checked: the receiver took the bytes as they were written (the
        # check is one reverse latency later, when their ack arrives). Found later: taken
        # since the last poll; the ack starts back now.
        taken_at = entry.at if entry.polls == 0 else now
        arrives = taken_at + self.reverse_latency
        lost = self.ack_loss
        window = self.window
        if (
            lost is not None
            and lost.active
            and window is not None
            and lost.drop(now, end, self._acked_or_pending(), window)
        ):
            return  # covered by a later group, or the sender times out
        if arrives <= now and not self._acks:
            self._ack(now, end)
        else:
            self._ack_later((max(arrives, now), end))

    def _ack_later(self, ack: tuple[float, int]) -> None:
        if self._acks is None:
            self._acks = deque()
        self._acks.append(ack)

    def _ack(self, now: float, end: int) -> None:
        window = self.window
        count = end - self._acked
        if window is None or count <= 0:
            return
        log = self._sent_log
        # The RTT of the oldest byte acknowledged: the first admission not wholly acked.
        rtt = None
        while log and log[0][0] <= self._acked:
            log.popleft()
        if log:
            rtt = max(0.0, now - log[0][1])
        while log and log[0][0] <= end:
            log.popleft()
        sacked = min(self._sacked_below(end), window.sacked_out)
        self._acked = end
        window.on_ack(now, min(count - sacked, window.in_flight), rtt, sacked)


def _emulated(limits: DirectionLimits) -> bool:
    # Unshaped, there is no path to emulate a sender across: bytes pass straight through.
    return limits.tcp == "emulated" and limits.shaped
