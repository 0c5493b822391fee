"""Drives a scenario on the engine's loop: one timer armed for the next phase boundary.

The runner knows nothing of the engine but two callbacks: `set_limits` when a
phase begins, and `record` for the event log. The engine owns the runner and
asks it for its status when a snapshot is taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from shaper.model.limits import Limits
from shaper.shaping.scenario import Position, Scenario


class ScenarioRunner:
    """Timers are armed with `loop.call_at` on absolute deadlines, so phases do not drift."""

    TOLERANCE = 0.001  # a timer that fires this early still counts as on time

    def __init__(
        self,
        scenario: Scenario,
        loop: asyncio.AbstractEventLoop,
        set_limits: Callable[[Limits], None],
        record: Callable[[str, str], None],
        on_phase: Callable[[int], None] | None = None,
    ):
        self.scenario = scenario
        self._on_phase = on_phase  # told each phase's index as it starts (its faults)
        self.loop = loop
        self._set_limits = set_limits
        self._record = record
        self._start = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._index: int | None = None
        self._cycle = 0
        self.running = False

    def elapsed(self) -> float:
        return self.loop.time() - self._start if self.running else 0.0

    def start(self) -> None:
        """Apply the first phase now and arm the timer for the next boundary."""
        if self.running:
            return
        self.running = True
        self._start = self.loop.time()
        self._index = None
        self._tick()

    def stop(self) -> None:
        """Stop switching phases; the limits stay as they are."""
        self.running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def position(self) -> Position:
        return self.scenario.at(self.elapsed() + self.TOLERANCE)

    def status(self) -> dict[str, Any]:
        self._catch_up()
        pos = self.position()
        next_in = None
        if pos.ends_at is not None:
            next_in = max(0.0, round(pos.ends_at - self.elapsed(), 3))
        n = len(self.scenario.phases)
        following = None
        if pos.next_in is not None:
            following = self.scenario.phases[(pos.index + 1) % n].name
        return {
            "phase": pos.name,
            "index": pos.index,
            "phases": n,
            "next_in": next_in,
            "next": following,
            "repeat": self.scenario.repeat,
            "cycle": pos.cycle,
            "done": pos.next_in is None,
        }

    def _catch_up(self) -> None:
        """Apply a phase the clock has reached but whose timer has not fired yet (the loop
        was busy): a status never names a phase whose limits are not in force."""
        if not self.running or self._index is None:
            return
        pos = self.position()
        if (pos.index, pos.cycle) != (self._index, self._cycle):
            if self._timer is not None:
                self._timer.cancel()
            self._tick()

    def _tick(self) -> None:
        self._timer = None
        if not self.running:
            return
        pos = self.position()
        if pos.index != self._index or pos.cycle != self._cycle:
            changed = self._index is not None
            self._index, self._cycle = pos.index, pos.cycle
            self._set_limits(pos.limits)
            if self._on_phase is not None:
                self._on_phase(pos.index)
            verb = "phase" if changed else "scenario started, phase"
            self._record("phase", f"{verb} {pos.index + 1}/{len(self.scenario.phases)}: {pos.name}")
        if pos.ends_at is None:
            return  # a one-shot scenario that has run through: nothing more to do
        self._timer = self.loop.call_at(self._start + pos.ends_at, self._tick)
