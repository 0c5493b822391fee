"""A tiny packet-level path for window tests (not product code).

Flows share one drop-tail FIFO of `queue_bytes` in front of a link of `rate`
bits per second; every packet then takes `one_way_us` to the receiver, and its
ack as long back (acks never queue). Each flow is always backlogged: it sends
whole segments while its window has room. A packet that would overflow the
queue is not admitted; its flow gets `on_congestion` and retries when the link
frees a slot (the emulation never drops bytes, it delays them).

`jitter_us` adds a seeded random delay of up to that much to each ack (kept in
order per flow). Without it, a drop-tail queue fed by clocked flows has phase
effects (Floyd & Jacobson 1991): the same flow keeps drawing the overflows.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from shaper.shaping.window import SenderWindow

US = 1_000_000


@dataclass
class Flow:
    window: SenderWindow
    acks: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)
    cwnd_log: list[tuple[float, int]] = field(default_factory=list)  # (time, segments)
    blocked: bool = False
    started: bool = False
    last_ack_at: float = 0.0

    def acked_between(self, start: float, end: float) -> int:
        return sum(size for t, size in self.acks if start <= t < end)


class Bottleneck:
    def __init__(
        self,
        rate: int,
        queue_bytes: int,
        one_way_us: float,
        mss: int = 1448,
        jitter_us: float = 0.0,
        seed: int = 1,
    ):
        self.rate = rate
        self.capacity = queue_bytes
        self.one_way = one_way_us
        self.mss = mss
        self.jitter = jitter_us
        self._random = random.Random(seed)
        self.flows: list[Flow] = []
        self.queued = 0  # bytes waiting or on the link
        self.max_queued = 0
        self._queue: deque[tuple[Flow, int, float]] = deque()  # (flow, size, sent at)
        self._busy = False
        self._events: list[tuple[float, int, str, object]] = []
        self._order = 0
        self.now = 0.0

    def add_flow(self, start: float = 0.0, **window_args) -> Flow:
        flow = Flow(SenderWindow(start, mss=self.mss, **window_args))
        self.flows.append(flow)
        self._at(start, "start", flow)
        return flow

    def run(self, until: float) -> None:
        while self._events and self._events[0][0] <= until:
            self.now, _, kind, payload = heapq.heappop(self._events)
            if kind == "start":
                payload.started = True
                self._fill(payload)
            elif kind == "depart":
                self._depart()
            else:
                flow, size, sent = payload
                flow.window.on_ack(self.now, size, self.now - sent)
                flow.acks.append((self.now, size))
                flow.cwnd_log.append((self.now, flow.window.cwnd_segments))
                self._fill(flow)
        self.now = until

    def _at(self, when: float, kind: str, payload: object) -> None:
        self._order += 1
        heapq.heappush(self._events, (when, self._order, kind, payload))

    def _fill(self, flow: Flow) -> None:
        window = flow.window
        while window.room() > 0:
            size = min(self.mss, window.room())
            if self.queued + size > self.capacity:
                window.on_congestion(self.now)
                flow.blocked = True
                return
            flow.blocked = False
            window.on_send(self.now, size)
            self._queue.append((flow, size, self.now))
            self.queued += size
            self.max_queued = max(self.max_queued, self.queued)
            if not self._busy:
                self._start_next()

    def _start_next(self) -> None:
        _, size, _ = self._queue[0]
        self._busy = True
        self._at(self.now + size * 8 * US / self.rate, "depart", None)

    def _depart(self) -> None:
        flow, size, sent = self._queue.popleft()
        self.queued -= size
        extra = self._random.uniform(0, self.jitter) if self.jitter else 0.0
        flow.last_ack_at = max(flow.last_ack_at, self.now + 2 * self.one_way + extra)
        self._at(flow.last_ack_at, "ack", (flow, size, sent))
        self._busy = False
        if self._queue:
            self._start_next()
        waiting = [other for other in self.flows if other.blocked and other.started]
        self._random.shuffle(waiting)  # no flow gets first pick of every freed slot
        for other in waiting:
            self._fill(other)
