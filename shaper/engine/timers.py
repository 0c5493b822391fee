"""Timers for the pipes, precise to tens of microseconds.

asyncio's own timers wake the loop through epoll_wait, whose timeout is in
whole milliseconds rounded up: a timer fires 0-1 ms late, 0.5 ms on average,
which alone would double the error budget of a 1 ms latency. On Linux a
timerfd armed at the absolute deadline wakes the loop within microseconds, so
the pipes schedule through one timerfd per engine and a heap of deadlines.
Elsewhere the loop's call_at serves.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
from collections.abc import Callable

CLOCK_MONOTONIC = 1  # the clock behind loop.time() (time.monotonic)
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
        return libc
    except (OSError, AttributeError):
        return None


class Timer:
    """A scheduled callback; `cancel()` makes it a no-op."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]):
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class LoopTimers:
    """Fallback: the event loop's own timers."""

    # Fire this much before the deadline: epoll rounds the wait up to a whole
    # millisecond, so this centres the error instead of making it all late.
    early = 0.0005

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self.loop.call_at(when, callback)

    def close(self) -> None:
        pass


# Waking a process that has slept for a while costs 0.1-0.3 ms on a virtual
# machine, on top of the timer itself. So the timerfd fires this much before
# the deadline, and the last stretch is a busy wait: but only within a small
# CPU budget, so that a busy engine (thousands of timers a second) never spins
# and a mostly idle one (a latency-shaped request/response) is exact.
SPIN_AHEAD = 0.0004
# A saturated engine has more timers due than it can run; one batch runs for at most this
# long (the clock read every BATCH_CHECK timers), then the loop serves its sockets and the
# control API before the rest. Unbounded, 1,000 connections on a link each had batches so
# long that GET /v1/stats took 0.8-1.7 s (80-90 ms bounded); 1,000 on one shared link used
# 0.93 of it at 100 % CPU, and 0.99-1.00 at 80 % bounded (its reads come in time).
BATCH_SECONDS = 0.002
BATCH_CHECK = 16
SPIN_SHARE = 0.025  # at most this fraction of wall time spent spinning
SPIN_BURST = 0.01  # seconds of spin credit that can build up


class TimerFdTimers:
    """A heap of deadlines behind one timerfd watched by the loop."""

    early = 0.0

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL):
        self.loop = loop
        self._libc = libc
        fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._armed_at: float | None = None
        self._spec = _Itimerspec()
        self._spin_credit = SPIN_BURST
        self._credit_at = loop.time()
        loop.add_reader(fd, self._expired)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        if self._armed_at is None or when < self._armed_at:
            self._arm(when)
        return timer

    def _arm(self, when: float) -> None:
        self._armed_at = when
        # The credit accrues with time, not only when a spin is considered: an engine with
        # one deadline at a time (a request, its answer) must earn it back too, or after
        # its first 10 ms of spinning every timer would fire late.
        self._refresh(self.loop.time())
        if self._spin_credit >= SPIN_AHEAD:
            when -= SPIN_AHEAD
        # A deadline already past (or zero) would disarm the timerfd: keep it positive.
        seconds = int(when)
        nanos = int((when - seconds) * 1e9)
        if seconds <= 0 and nanos <= 0:
            nanos = 1
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = nanos
        self._libc.timerfd_settime(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None)

    def _refresh(self, now: float) -> None:
        self._spin_credit = min(
            SPIN_BURST, self._spin_credit + (now - self._credit_at) * SPIN_SHARE
        )
        self._credit_at = now

    def _may_spin(self, now: float, wait: float) -> bool:
        self._refresh(now)
        if wait > self._spin_credit:
            return False
        self._spin_credit -= wait
        return True

    def _expired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass
        # While the batch runs, the timers it arms do not touch the timerfd (call_at sees
        # an earlier arming): it is armed once, at the end, for the earliest deadline. A
        # syscall per timer armed was 2 % of the engine at 1,000 connections.
        self._armed_at = float("-inf")
        heap = self._heap
        clock = self.loop.time
        while True:
            now = clock()
            # Only the timers armed before this pass: one the batch arms for a time already
            # past waits for the next turn of the loop. A saturated engine (1,000 shaped
            # connections) always has such a timer, and running them at once kept the loop
            # in here for a second at a time, its sockets and control API unserved.
            limit = next(self._order)
            stop = now + BATCH_SECONDS
            ran = 0
            while heap and heap[0][0] <= now and heap[0][1] < limit:
                _, _, timer = heapq.heappop(heap)
                if not timer.cancelled:
                    self._run(timer)
                    ran += 1
                    if ran % BATCH_CHECK == 0 and clock() > stop:
                        break
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            if not heap:
                self._armed_at = None
                return
            head = heap[0][0]
            if head <= now or head - now > SPIN_AHEAD or not self._may_spin(now, head - now):
                break
            while clock() < head:
                pass
        self._arm(heap[0][0])

    def _run(self, timer: Timer) -> None:
        try:
            timer.callback()
        except Exception as exc:  # one pipe's failure must not stop the others
            self.loop.call_exception_handler({"message": "pipe timer failed", "exception": exc})

    def close(self) -> None:
        if self._fd >= 0:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            self._heap.clear()


PR_SET_TIMERSLACK = 29


def make_timers(loop: asyncio.AbstractEventLoop) -> TimerFdTimers | LoopTimers:
    libc = _libc()
    if libc is not None:
        # The kernel may defer a sleeping process's timers by its timer slack
        # (50 us by default) to batch wake-ups; a latency emulator wants none.
        libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0)
    if libc is not None and os.environ.get("SHAPER_LOOP_TIMERS") != "1":
        try:
            return TimerFdTimers(loop, libc)
        except (OSError, NotImplementedError):
            pass
    return LoopTimers(loop)


class Alarm:
    """One wake-up for the earliest of the deadlines it is given: what a pipe or a link
    keeps for its model's next event. Arming for a later time than the one armed changes
    nothing; arming earlier moves it."""

    __slots__ = ("_timers", "_callback", "_handle", "_at")

    def __init__(self, timers: TimerFdTimers | LoopTimers, callback: Callable[[], None]):
        self._timers = timers
        self._callback = callback
        self._handle: asyncio.TimerHandle | Timer | None = None
        self._at = 0.0

    def arm(self, deadline_us: float | None) -> None:
        if deadline_us is None:
            return
        when = deadline_us / 1_000_000 - self._timers.early
        if self._handle is not None:
            if self._at <= when:
                return  # an earlier (or same) wake-up is already armed
            self._handle.cancel()
        self._at = when
        self._handle = self._timers.call_at(when, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
