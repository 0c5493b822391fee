"""The slicer's stage: bytes the flow released, handed to the sink in pieces on a clock.

It sits between a pipe and its sink transport. What it holds is bounded: above
HIGH bytes it reports itself full and the pipe stops releasing (so the flow, then the
sender, wait), as a slow receiver would make them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

HIGH = 64 * 1024  # bytes waiting to be sliced before the pipe stops releasing into it


class Slices:
    __slots__ = (
        "loop",
        "_write",
        "_next_size",
        "gap",
        "_on_room",
        "_pending",
        "held",
        "_timer",
        "_ready_at",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[bytes], None],
        next_size: Callable[[], int],
        gap: float,
        on_room: Callable[[], None],
    ):
        self.loop = loop
        self._write = write
        self._next_size = next_size
        self.gap = gap
        self._on_room = on_room
        self._pending: deque[bytes] = deque()
        self.held = 0
        self._timer: asyncio.TimerHandle | None = None
        self._ready_at = 0.0  # loop time the next piece may go

    @property
    def full(self) -> bool:
        return self.held >= HIGH

    def push(self, data: bytes | memoryview) -> None:
        if data:
            self._pending.append(bytes(data))
            self.held += len(data)
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._pending:
            delay = max(0.0, self._ready_at - self.loop.time())
            self._timer = self.loop.call_later(delay, self._send_piece)

    def _send_piece(self) -> None:
        self._timer = None
        size = max(1, self._next_size())
        piece = bytearray()
        while self._pending and len(piece) < size:
            head = self._pending[0]
            take = size - len(piece)
            piece += head[:take]
            if len(head) > take:
                self._pending[0] = head[take:]
            else:
                self._pending.popleft()
        was_full = self.full
        self.held -= len(piece)
        self._write(bytes(piece))
        self._ready_at = self.loop.time() + self.gap
        if (was_full and not self.full) or not self._pending:
            self._on_room()  # room again, or empty: an EOF behind the pieces may go
        self._schedule()

    def drain(self) -> bytes:
        """Everything still waiting, in order (the slicer is being removed)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        data = b"".join(self._pending)
        self._pending.clear()
        self.held = 0
        return data

    @property
    def empty(self) -> bool:
        return not self._pending

    def close(self) -> None:
        self.drain()
