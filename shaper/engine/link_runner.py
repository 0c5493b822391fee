"""A bottleneck on the engine's loop: one timer armed for the slice on the link.

When a slice leaves the link, it wakes the pipe whose wire got it; when queue room
frees, it offers it to the pipe that has waited longest. Everything it decides, the
Bottleneck decides.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from shaper.engine.timers import Alarm, LoopTimers, TimerFdTimers
from shaper.model.limits import DirectionLimits
from shaper.profiles.traces import install as install_trace_loader
from shaper.shaping.bottleneck import Bottleneck
from shaper.shaping.flow import Flow


class Pipe(Protocol):
    """What the runner needs of a pipe (engine.pipe.Pipe) on its link."""

    @property
    def flow(self) -> Flow: ...
    def wire_changed(self) -> None: ...
    def room_offered(self) -> None: ...


# Release every slice due within this window in one go (see pipe.TOLERANCE_US).
TOLERANCE_US = 50.0


# Limits that name a trace before any loader was installed (built from shaper.Limits alone)
# are read here, so the engine never runs a trace it only knows by name.
install_trace_loader()


class LinkRunner:
    __slots__ = ("loop", "timers", "shared", "model", "_pipes", "_alarm")

    def __init__(
        self,
        limits: DirectionLimits,
        loop: asyncio.AbstractEventLoop,
        timers: TimerFdTimers | LoopTimers,
        shared: bool,
    ):
        self.loop = loop
        self.timers = timers
        self.shared = shared  # one link for many connections (else a connection's own)
        limits = limits.with_trace_loaded()
        self.model: Bottleneck[Flow] = Bottleneck(limits, loop.time() * 1_000_000)
        self.model.on_room = self._offer_room
        self._pipes: dict[Flow, Pipe] = {}
        self._alarm = Alarm(timers, self._fire)

    @property
    def limits(self) -> DirectionLimits:
        return self.model.limits

    def attach(self, pipe: Pipe) -> None:
        self._pipes[pipe.flow] = pipe

    def detach(self, pipe: Pipe) -> None:
        self._pipes.pop(pipe.flow, None)

    def wake(self, flows: list[Flow]) -> None:
        """The link moved bytes onto these flows' wires: their pipes re-arm; then the link's
        own timer is armed for its next slice."""
        pipes = self._pipes
        for flow in flows:
            pipe = pipes.get(flow)
            if pipe is not None:
                pipe.wire_changed()
        self._alarm.arm(self.model.next_deadline())

    def set_limits(self, limits: DirectionLimits) -> None:
        limits = limits.with_trace_loaded()
        if limits != self.model.limits:
            self.wake(self.model.set_limits(self.loop.time() * 1_000_000, limits))

    def close(self) -> None:
        self._alarm.cancel()

    def _offer_room(self, flow: Flow) -> None:
        pipe = self._pipes.get(flow)
        if pipe is None:
            # Its connection is gone; the next flow in line is offered the room instead.
            self.loop.call_soon(self.model.leave, flow)
        else:
            pipe.room_offered()

    def _fire(self) -> None:
        self.wake(self.model.advance(self.loop.time() * 1_000_000 + TOLERANCE_US))
