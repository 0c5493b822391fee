"""The emulated sender's congestion window for one direction of one connection.

The proxy terminates TCP, so the real sender never sees the emulated path. This
object plays the sender Linux would be on that path (CUBIC with HyStart, as in
net/ipv4/tcp_cubic.c, tcp_input.c and tcp_output.c of Linux 6.x) and says how
many bytes may be in flight on it. It is sans-IO: the caller tells it, with
the time in microseconds, when bytes enter the path (`on_send`), when they are
acknowledged (`on_ack`), and when the path would have dropped some
(`on_congestion`) or the sender's retransmission timer would have fired
(`on_timeout`); it answers with `room()`.

Windows are whole segments inside (`mss` bytes each), as in Linux, because
slow start, HyStart and CUBIC are tuned in segments; the interface is bytes.

Feeding it:

- `on_send` for every byte admitted to the path, when it is admitted. The
  window never refuses: the caller keeps in_flight within cwnd by asking
  `room()` first (sending past it just leaves room() at 0).
- `on_ack` when the ack for delivered bytes would reach the sender (delivery
  plus the reverse latency), with the RTT of the oldest byte it covers. Acks
  may be grouped (one event per delivered slice): slow start and CUBIC count
  acked segments, so grouping does not change the growth per round trip, and
  HyStart reads an event of k segments as k acks (see hystart.py). Acking more
  than is in flight is a caller bug and raises ValueError.
- `on_congestion` for every packet the path would lose, including each one the
  shared queue refuses during a recovery: those cause no second cut, but tell
  the window it is in use. A flow held back without a signal looks
  application-limited, and Linux (RFC 2861) then decays its window.
- `on_timeout` only if the emulation decides the retransmission timer fired;
  `timeout_at` says when Linux's would.

Where this differs from Linux, on purpose:

- a cut is immediate (cwnd = ssthresh), not spread over the recovery by PRR;
  recovery ends when everything sent before the cut is acked.
- no loss, SACK, RACK, TLP, F-RTO or undo: the emulated path delivers every
  byte; a "loss" is only the window's reaction to one.
- time is the caller's microseconds, not jiffies; CUBIC's cube root is exact,
  not Linux's table plus one Newton step (0.2 % error).
- cwnd-limited means less than one MSS of room left (Linux: packets in flight
  >= cwnd); partial acks carry their bytes to the next ack.
- CUBIC's epoch shift after idle counts from when the flight emptied, not from
  the last send (see on_send); HyStart reads grouped acks per segment.
"""

from __future__ import annotations

from shaper.shaping.cubic import Cubic
from shaper.shaping.hystart import HyStart
from shaper.shaping.rtt import RTO_MAX_US, RttEstimator

SLOW_START = "slow-start"
CONGESTION_AVOIDANCE = "congestion-avoidance"
RECOVERY = "recovery"
RESTART_AFTER_IDLE = "restart-after-idle"
PHASES = (SLOW_START, CONGESTION_AVOIDANCE, RECOVERY, RESTART_AFTER_IDLE)

MSS = 1448  # a 1500-byte Ethernet packet less IP, TCP and timestamp headers
INITIAL_SEGMENTS = 10  # RFC 6928, Linux TCP_INIT_CWND

# Linux's TCP_INFINITE_SSTHRESH: "no threshold yet" compares as a number.
_INFINITE = 0x7FFFFFFF
# Linux's pacing rate, which sizes HyStart's aggregation cushion: 2x cwnd/srtt
# early in slow start, 1.2x after (tcp_pacing_ss_ratio, tcp_pacing_ca_ratio).
_PACING_SS_RATIO = 2.0
_PACING_CA_RATIO = 1.2

# Linux tcp_schedule_loss_probe: the probe timeout beyond 2 srtt.
TLP_ONE_PACKET_EXTRA_US = 200_000.0  # TCP_RTO_MIN, for a delayed ack of a lone packet
TLP_EXTRA_US = 2_000.0  # TCP_TIMEOUT_MIN, 2 jiffies

# Congestion states (Linux icsk_ca_state, the ones that matter here).
_OPEN = "open"
_RECOVERY = "recovery"  # after on_congestion: cwnd held at ssthresh until the recovery point
_LOSS = "loss"  # after on_timeout: slow start from one segment until the recovery point


class SenderWindow:
    """Linux's default sender (CUBIC) on the emulated path, in bytes and microseconds."""

    __slots__ = (
        "mss",
        "initial_segments",
        "slow_start_after_idle",
        "in_flight",
        "sent_bytes",
        "acked_bytes",
        "sacked_out",
        "_cwnd",
        "_ssthresh",
        "_cwnd_cnt",
        "_ack_remainder",
        "_rtt",
        "_backoff",
        "_timer_base",
        "_cubic",
        "_use_hystart",
        "_hystart",
        "_state",
        "_recovery_point",
        "_pending_reduction",
        "_acked_since_timeout",
        "_restart_from",
        "_is_cwnd_limited",
        "_max_packets_out",
        "_cwnd_usage_seq",
        "_cwnd_used",
        "_cwnd_stamp",
        "_last_send",
        "_emptied_at",
    )

    def __init__(
        self,
        now: float = 0.0,
        *,
        mss: int = MSS,
        initial_segments: int = INITIAL_SEGMENTS,
        slow_start_after_idle: bool = True,
        hystart: bool = True,
    ):
        if mss < 1 or initial_segments < 1:
            raise ValueError("mss and initial_segments must be at least 1")
        self.mss = mss
        self.initial_segments = initial_segments
        self.slow_start_after_idle = slow_start_after_idle
        self.in_flight = 0  # bytes sent and not yet acknowledged
        self.sent_bytes = 0  # bytes that ever entered the path (Linux snd_nxt)
        self.acked_bytes = 0  # bytes acknowledged (Linux snd_una)
        self.sacked_out = 0  # bytes sacked, not yet acknowledged (not in flight)
        self._cwnd = initial_segments  # segments
        self._ssthresh = _INFINITE  # segments
        self._cwnd_cnt = 0  # acked segments toward the next +1 in avoidance
        self._ack_remainder = 0  # acked bytes short of a whole segment
        self._rtt = RttEstimator()
        self._backoff = 0  # timeouts since the last RTT sample
        self._timer_base = now  # the retransmission timer runs from here
        self._cubic = Cubic()
        self._use_hystart = hystart
        self._hystart = HyStart(now, 0) if hystart else None
        self._state = _OPEN
        self._recovery_point = 0  # recovery ends once this byte offset is acked
        self._pending_reduction = False  # a loss of data sent during recovery
        self._acked_since_timeout = True
        self._restart_from: int | None = None  # cwnd before an idle restart, while regrowing
        # Window validation (Linux tcp_cwnd_validate): was the last window used?
        self._is_cwnd_limited = False
        self._max_packets_out = 0
        self._cwnd_usage_seq = 0
        self._cwnd_used = 0  # most packets in flight while not cwnd-limited
        self._cwnd_stamp = now  # when the window was last fully used or changed
        self._last_send = now
        self._emptied_at = now  # when the last ack emptied the flight

    # -- what the caller reads ---------------------------------------------------

    @property
    def cwnd(self) -> int:
        return self._cwnd * self.mss

    @property
    def cwnd_segments(self) -> int:
        return self._cwnd

    @property
    def ssthresh(self) -> int | None:
        return None if self._ssthresh >= _INFINITE else self._ssthresh * self.mss

    def room(self) -> int:
        """Bytes the sender may send now."""
        return max(0, self.cwnd - self.in_flight)

    @property
    def phase(self) -> str:
        """For display. "recovery" covers both the reduction after a congestion signal
        and the slow start from one segment after a timeout, until the data that was
        in flight then is acked. "restart-after-idle" lasts while the window regrows
        in slow start toward the size it had before the idle restart."""
        if self._state != _OPEN:
            return RECOVERY
        if self._restart_from is not None:
            return RESTART_AFTER_IDLE
        return SLOW_START if self._in_slow_start() else CONGESTION_AVOIDANCE

    @property
    def rto_us(self) -> float:
        """The retransmission timeout, doubled per timeout since the last RTT sample."""
        return min(RTO_MAX_US, self._rtt.rto * 2 ** min(self._backoff, 32))

    @property
    def srtt_us(self) -> float | None:
        return self._rtt.srtt

    @property
    def min_rtt_us(self) -> float | None:
        return self._rtt.min_rtt.value

    @property
    def timeout_at(self) -> float | None:
        """When the emulated sender's retransmission timer would fire (None: nothing
        in flight). Linux restarts it on every ack that acknowledges new data."""
        if self.in_flight == 0:
            return None
        return self._timer_base + self.rto_us

    @property
    def probe_at(self) -> float | None:
        """When Linux's tail loss probe would fire (None: none is armed). It is armed
        outside recovery once an RTT is known, from the last send or ack of new data:
        2 srtt, plus 200 ms when one packet is out (the receiver's delayed ack may hold
        the answer), 2 ms otherwise; never after the RTO."""
        srtt = self._rtt.srtt
        if srtt is None or self._state != _OPEN or self.in_flight == 0:
            return None
        packets = -(-(self.in_flight + self.sacked_out) // self.mss)
        pto = 2 * srtt + (TLP_ONE_PACKET_EXTRA_US if packets == 1 else TLP_EXTRA_US)
        base = max(self._last_send, self._timer_base)
        timeout = self.timeout_at
        at = base + pto
        return at if timeout is None else min(at, timeout)

    @property
    def in_recovery(self) -> bool:
        """After a congestion signal or a timeout, until the recovery point is acked."""
        return self._state != _OPEN

    def snapshot(self) -> dict[str, int | float | str | None]:
        return {
            "cwnd": self.cwnd,
            "ssthresh": self.ssthresh,
            "in_flight": self.in_flight,
            "phase": self.phase,
            "srtt_us": self.srtt_us,
            "min_rtt_us": self.min_rtt_us,
            "rto_us": self.rto_us,
        }

    # -- events ------------------------------------------------------------------

    def on_send(self, now: float, nbytes: int) -> None:
        """`nbytes` entered the emulated path. After an idle period longer than the
        RTO (nothing in flight), the window first shrinks as Linux's does."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        if nbytes == 0:
            return
        if self.in_flight == 0:
            idle = now - self._last_send
            if self.slow_start_after_idle and idle > self.rto_us:
                self._restart(now, idle)
            # Linux shifts the CUBIC epoch by the time since the last send. Here a
            # grouped ack can empty the flight of a busy sender every round, which
            # would freeze the curve by one RTT per round; count only the time the
            # flight was really empty.
            self._cubic.on_tx_start(now, now - max(self._last_send, self._emptied_at))
            self._timer_base = now
        self.in_flight += nbytes
        self.sent_bytes += nbytes
        self._last_send = now
        # Less than one segment of room left: the window, not the data, limits.
        self._validate(now, limited=self.in_flight + self.mss > self.cwnd)

    def handshake_rtt(self, now: float, rtt_us: float) -> None:
        """The SYN (or SYN-ACK) and its answer: Linux's first RTT sample, taken before any
        data. With it, a loss in the first window times out after about 3 RTT (270 ms at
        a 70 ms RTT, ss shows rto:272 there) rather than after the initial 1 s. A resent
        SYN gives no sample (Karn): the caller leaves this out then."""
        if rtt_us < 0:
            raise ValueError("rtt_us must not be negative")
        if self._rtt.srtt is None:
            self._rtt.sample(now, rtt_us, self.acked_bytes, self.sent_bytes)

    def on_sack(self, now: float, nbytes: int) -> None:
        """`nbytes` sent after a lost packet reached the receiver, and its SACK blocks tell
        the sender: they leave the bytes in flight (Linux's pipe no longer counts sacked
        packets), so the sender keeps sending while the hole is repaired instead of
        stalling for a round trip. They stay unacknowledged (acked_bytes, the timer)
        until the cumulative ack covers them: `on_ack(..., sacked=...)`."""
        if nbytes < 0 or nbytes > self.in_flight:
            raise ValueError(f"sacked {nbytes} bytes with {self.in_flight} in flight")
        self.in_flight -= nbytes
        self.sacked_out += nbytes

    def on_ack(self, now: float, nbytes: int, rtt_us: float | None, sacked: int = 0) -> None:
        """`nbytes` still in flight were acknowledged, and with them `sacked` bytes that
        were sacked before (they were delivered then: no growth on them now, as Linux
        grows on what an ack newly delivers); `rtt_us` is the RTT of the oldest of them."""
        if nbytes < 0 or nbytes > self.in_flight:
            raise ValueError(f"acked {nbytes} bytes with {self.in_flight} in flight")
        if sacked < 0 or sacked > self.sacked_out:
            raise ValueError(f"acked {sacked} sacked bytes with {self.sacked_out} sacked")
        if rtt_us is not None and rtt_us < 0:
            raise ValueError("rtt_us must not be negative")
        if nbytes == 0 and sacked == 0:
            return  # a duplicate ack: nothing new delivered, nothing to grow on
        self.in_flight -= nbytes
        self.sacked_out -= sacked
        self.acked_bytes += nbytes + sacked
        if self.in_flight == 0:
            self._emptied_at = now
        segments = self._acked_segments(nbytes)
        self._timer_base = now
        self._acked_since_timeout = True
        if rtt_us is not None:
            self._rtt.sample(now, rtt_us, self.acked_bytes, self.sent_bytes)
            self._backoff = 0  # RFC 6298 §5.7: a fresh sample ends the backoff
            self._hystart_sample(now, rtt_us, segments)
        if self._state != _OPEN and self.acked_bytes >= self._recovery_point:
            self._end_recovery(now)
        if self._state != _RECOVERY and segments:
            self._grow(now, segments)
        if self._restart_from is not None and (
            self._cwnd >= self._restart_from or not self._in_slow_start()
        ):
            self._restart_from = None

    def on_congestion(self, now: float, seq: int | None = None, reach: int = 0) -> None:
        """The path would drop data at byte offset `seq` (default: the next byte to be
        sent, i.e. a packet being admitted now would overflow the queue; the window
        then counts as fully used, since a real sender would have sent that packet).

        Outside recovery the window is cut at once (ssthresh = 0.7 cwnd, cwnd =
        ssthresh) and recovery lasts until everything sent so far is acked. A signal
        during recovery for data sent before the cut is part of the same episode and
        ignored; one for data sent after it cuts again when this recovery ends, as
        Linux would on finding the later loss. Linux learns of a loss about one RTT
        after it happens; a caller that wants that lag calls this when the sender
        would notice, with `seq` of the lost byte. `reach`: bytes beyond what was sent
        that the episode covers too (what the sender would have sent by the time it
        entered recovery, see recovery.py).
        """
        if seq is None:
            # The packet is held back, not sent: a real sender would have sent it
            # (and lost it), so this window counts as used. Otherwise a flow the
            # queue refuses would look application-limited, stop growing and decay.
            self._validate(now, limited=True)
            seq = self.sent_bytes
        if seq < self.acked_bytes:
            return  # already delivered: a stale report
        if self._state != _OPEN:
            if seq > self._recovery_point:
                self._pending_reduction = True
            return
        self._reduce(now, reach)

    def on_refused(self, now: float) -> None:
        """A packet of this sender was held back at a full queue (its loss is reported
        later, with `on_congestion(when, seq)`): the window counts as used, as it would
        for a sender that sent the packet. Otherwise a flow the queue refuses would look
        application-limited, stop growing and decay."""
        self._validate(now, limited=True)

    def on_timeout(self, now: float) -> None:
        """The retransmission timer fired: cwnd falls to one segment, the RTO doubles.

        ssthresh is cut only if no cut was made for the data in flight already
        (not again during a recovery, nor on a repeated timeout with no ack in
        between), as Linux's tcp_enter_loss. CUBIC and HyStart start over.
        Bytes in flight stay in flight: the caller still acks them as they arrive.
        """
        if self._state == _OPEN or (self._state == _LOSS and self._acked_since_timeout):
            self._ssthresh = self._cubic.recalc_ssthresh(self._cwnd)
        self._cwnd = 1
        self._cwnd_cnt = 0
        self._cwnd_stamp = now
        self._cubic.reset()
        if self._use_hystart:
            self._hystart = HyStart(now, self.sent_bytes)
        self._state = _LOSS
        self._recovery_point = self.sent_bytes
        self._pending_reduction = False
        self._acked_since_timeout = False
        self._restart_from = None
        self._backoff += 1
        self._timer_base = now

    # -- internals -----------------------------------------------------------------

    def _in_slow_start(self) -> bool:
        return self._cwnd < self._ssthresh

    def _packets_out(self) -> int:
        return -(-self.in_flight // self.mss)

    def _acked_segments(self, nbytes: int) -> int:
        """Byte counting: whole segments acked, the rest carried to the next ack.
        When the flight empties, a partial tail counts as the packet it was."""
        segments, self._ack_remainder = divmod(self._ack_remainder + nbytes, self.mss)
        if self.in_flight == 0 and self._ack_remainder:
            segments += 1
            self._ack_remainder = 0
        return segments

    def _cwnd_limited(self) -> bool:
        """Linux tcp_is_cwnd_limited: did the last window use the window?"""
        if self._is_cwnd_limited:
            return True
        # In slow start, growth to twice what was in flight is justified.
        return self._in_slow_start() and self._cwnd < 2 * self._max_packets_out

    def _validate(self, now: float, limited: bool) -> None:
        """Remember whether this window was filled (Linux tcp_cwnd_validate)."""
        packets = self._packets_out()
        if (
            self.acked_bytes >= self._cwnd_usage_seq
            or limited
            or (not self._is_cwnd_limited and packets > self._max_packets_out)
        ):
            self._is_cwnd_limited = limited
            self._max_packets_out = packets
            self._cwnd_usage_seq = self.sent_bytes
        if self._cwnd_limited():
            self._cwnd_used = 0
            self._cwnd_stamp = now
            return
        self._cwnd_used = max(self._cwnd_used, packets)
        if self.slow_start_after_idle and now - self._cwnd_stamp >= self.rto_us:
            self._application_limited(now)

    def _application_limited(self, now: float) -> None:
        """RFC 2861 (Linux tcp_cwnd_application_limited): a window unused for an RTO
        decays halfway toward what was used (never below the initial window)."""
        if self._state == _OPEN:
            used = max(self._cwnd_used, self.initial_segments)
            if used < self._cwnd:
                self._ssthresh = self._current_ssthresh()
                self._cwnd = (self._cwnd + used) // 2
            self._cwnd_used = 0
        self._cwnd_stamp = now

    def _current_ssthresh(self) -> int:
        """Linux tcp_current_ssthresh: outside a reduction, at least 3/4 of cwnd, so
        a later slow start climbs back close to where this window was."""
        if self._state == _RECOVERY:
            return self._ssthresh
        return max(self._ssthresh, (self._cwnd >> 1) + (self._cwnd >> 2))

    def _restart(self, now: float, idle: float) -> None:
        """Linux tcp_cwnd_restart: halve cwnd per RTO idle, down to the initial window."""
        floor = min(self.initial_segments, self._cwnd)
        self._ssthresh = self._current_ssthresh()
        cwnd = self._cwnd
        rto = self.rto_us
        idle -= rto
        while idle > 0 and cwnd > floor:
            cwnd >>= 1
            idle -= rto
        cwnd = max(cwnd, floor)
        if cwnd < self._cwnd:
            self._restart_from = self._cwnd
        self._cwnd = cwnd
        self._cwnd_stamp = now
        self._cwnd_used = 0

    def _pacing_rate(self) -> float | None:
        """Bytes per second Linux would pace at (it sizes HyStart's cushion only)."""
        srtt = self._rtt.srtt
        if not srtt:
            return None
        ratio = _PACING_SS_RATIO if self._cwnd < self._ssthresh / 2 else _PACING_CA_RATIO
        return ratio * self.mss * max(self._cwnd, self._packets_out()) * 1_000_000 / srtt

    def _hystart_sample(self, now: float, rtt: float, segments: int) -> None:
        """Linux cubictcp_acked: feed CUBIC's delay_min and, in slow start, HyStart."""
        if not self._cubic.sample_delay(now, rtt):
            return
        hystart = self._hystart
        if hystart is None or hystart.found or not self._in_slow_start():
            return
        if hystart.update(
            now,
            acked_to=self.acked_bytes,
            sent_to=self.sent_bytes,
            cwnd=self._cwnd,
            rtt=max(1.0, rtt),
            delay_min=self._cubic.delay_min,
            segments=segments,
            pacing_rate=self._pacing_rate(),
        ):
            self._ssthresh = self._cwnd

    def _grow(self, now: float, segments: int) -> None:
        """Linux cubictcp_cong_avoid."""
        if not self._cwnd_limited():
            return
        if self._in_slow_start():
            # Slow start: +1 segment per segment acked, up to ssthresh; what is
            # left of this ack counts toward avoidance.
            grown = min(self._cwnd + segments, self._ssthresh)
            segments -= grown - self._cwnd
            self._cwnd = grown
            if not segments:
                return
        cnt = self._cubic.update(now, self._cwnd, segments)
        # +1 segment per `cnt` acked segments (Linux tcp_cong_avoid_ai).
        if self._cwnd_cnt >= cnt:
            self._cwnd_cnt = 0
            self._cwnd += 1
        self._cwnd_cnt += segments
        if self._cwnd_cnt >= cnt:
            steps = self._cwnd_cnt // cnt
            self._cwnd_cnt -= steps * cnt
            self._cwnd += steps

    def _reduce(self, now: float, reach: int = 0) -> None:
        """Enter recovery: the multiplicative decrease, once for this flight."""
        self._ssthresh = self._cubic.recalc_ssthresh(self._cwnd)
        # Linux lowers cwnd gradually over the recovery (PRR) and ends at ssthresh;
        # here it drops at once. Never raised: a 1-segment window stays 1 for now.
        self._cwnd = min(self._cwnd, self._ssthresh)
        self._cwnd_cnt = 0
        self._cwnd_stamp = now
        self._state = _RECOVERY
        self._recovery_point = self.sent_bytes + reach
        self._pending_reduction = False
        self._restart_from = None

    def _end_recovery(self, now: float) -> None:
        if self._state == _RECOVERY:
            self._cwnd = self._ssthresh
            self._cwnd_stamp = now
        self._state = _OPEN
        if self._pending_reduction:
            # Data sent during the recovery was lost too: a new episode, cut again.
            self._reduce(now)
