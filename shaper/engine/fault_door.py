"""A connection as a fault sees it (shaper.faults.FaultTarget): the narrow set of things
a fault may ask of the data path, each forwarded to the pipe of the named direction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shaper.engine.pipe import Pipe


class _Connection(Protocol):
    """What the door needs of shaper.engine.connection.Connection (which builds it)."""

    id: int
    state: str
    upstream: Pipe
    downstream: Pipe
    loop: asyncio.AbstractEventLoop

    def fault_close(self, reset: bool, reason: str) -> None: ...


class _Once:
    """A callback waiting for the connection's first byte; cancel() drops it."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]):
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self.callback = None


class FaultDoor:
    __slots__ = ("_conn", "id", "_first_byte")

    def __init__(self, conn: _Connection):
        self._conn = conn
        self.id = conn.id
        # Who waits for the first byte: a tuple, so that a connection no fault waits on
        # shares the empty one.
        self._first_byte: tuple[_Once, ...] = ()

    def _pipe(self, direction: str) -> Pipe:
        return self._conn.upstream if direction == "upstream" else self._conn.downstream

    def hold(self, direction: str, key: str) -> None:
        self._pipe(direction).hold(key)

    def unhold(self, direction: str, key: str) -> None:
        self._pipe(direction).unhold(key)

    def cap(self, direction: str, nbytes: int, key: str, on_reached: Callable[[], None]) -> None:
        self._pipe(direction).cap(key, nbytes, on_reached)

    def uncap(self, direction: str, key: str) -> None:
        self._pipe(direction).uncap(key)

    def slice(self, direction: str, next_size: Callable[[], int], gap: float, key: str) -> None:
        self._pipe(direction).slice(key, next_size, gap)

    def unslice(self, direction: str, key: str) -> None:
        self._pipe(direction).unslice(key)

    def delay_eof(self, direction: str, seconds: float, key: str) -> None:
        self._pipe(direction).delay_eof(key, seconds)

    def undelay_eof(self, direction: str, key: str) -> None:
        self._pipe(direction).undelay_eof(key)

    def close(self, reset: bool, reason: str) -> None:
        self._conn.fault_close(reset, reason)

    def later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self._conn.loop.call_later(seconds, callback)

    def on_first_byte(self, callback: Callable[[], None]) -> _Once:
        waiting = _Once(callback)
        conn = self._conn
        if conn.upstream.flow.bytes_in or conn.downstream.flow.bytes_in:
            conn.loop.call_soon(self._call, waiting)
        else:
            self._first_byte += (waiting,)
            conn.upstream.first_byte_hook = conn.downstream.first_byte_hook = self.first_byte
        return waiting

    def first_byte(self) -> None:
        """Called by a pipe as its first byte arrives (once per connection)."""
        conn = self._conn
        conn.upstream.first_byte_hook = conn.downstream.first_byte_hook = None
        waiting, self._first_byte = self._first_byte, ()
        for once in waiting:
            conn.loop.call_soon(self._call, once)  # not inside the pipe's read

    def _call(self, once: _Once) -> None:
        callback = once.callback
        if callback is not None and self._conn.state != "closed":
            callback()
