"""Scenarios: limits that change over time, phase by phase.

A `Scenario` is sans-IO: an ordered list of phases, each with a duration and
the limits that hold during it (the profile's base limits with the phase's
changes applied on top; phases are not cumulative). `Scenario.at(t)` says
which phase holds `t` seconds after the start and how long until the next
one, so it can be tested with a fake clock.

`ScenarioRunner` is the thin I/O part: it arms one `loop.call_at` timer for
the next phase boundary (and a slower one to keep the status fresh), calls
`engine.set_limits` when the phase changes and keeps `engine.scenario_status`
up to date for snapshots.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shaper import units
from shaper.limits import LimitError, Limits

MICROS = 1_000_000
MAX_PHASE = 7 * 24 * 3600 * MICROS  # a week; longer phases are almost surely a typo


class ScenarioError(LimitError):
    """A scenario that cannot be built; `field` is the key path ('scenario.phases[1].duration')."""


@dataclass(frozen=True)
class Phase:
    name: str
    duration_us: int  # microseconds, > 0
    changes: Mapping[str, Any] = field(default_factory=dict)  # as written: {"downstream": {...}}
    limits: Limits = field(default_factory=Limits)  # base limits with `changes` applied

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.duration_us / MICROS

    def to_dict(self) -> dict[str, Any]:
        duration = units.format_duration(self.duration_us)
        data: dict[str, Any] = {"name": self.name, "duration": duration}
        for direction in ("upstream", "downstream"):
            if self.changes.get(direction):
                data[direction] = dict(self.changes[direction])
        return data


class Position(NamedTuple):
    """Where a scenario is at a given time."""

    index: int  # phase index
    name: str  # phase name
    limits: Limits  # limits that hold during this phase
    next_in: float | None  # seconds until the next phase; None once a one-shot scenario ended
    cycle: int = 0  # completed repetitions
    ends_at: float | None = None  # scenario time (seconds) at which this phase ends


@dataclass(frozen=True)
class Scenario:
    phases: tuple[Phase, ...]
    repeat: bool = False

    def __post_init__(self) -> None:
        if not self.phases:
            raise ScenarioError("scenario.phases", [], "at least one phase")
        for i, phase in enumerate(self.phases):
            if phase.duration_us <= 0:
                raise ScenarioError(
                    f"scenario.phases[{i}].duration",
                    units.format_duration(phase.duration_us),
                    "a duration greater than 0 (e.g. 30s)",
                )

    @classmethod
    def build(
        cls,
        base: Limits,
        phases: Iterable[Mapping[str, Any]],
        repeat: bool = False,
        where: str = "scenario",
    ) -> Scenario:
        """Build from phase tables ({name, duration, upstream?, downstream?}) on top of `base`.

        Raises ScenarioError, or LimitError for a bad limit (its field names the phase).
        """
        built = []
        for i, spec in enumerate(phases):
            path = f"{where}.phases[{i}]"
            if not isinstance(spec, Mapping):
                raise ScenarioError(path, spec, "a table with name, duration, upstream, downstream")
            name = spec.get("name", f"phase {i + 1}")
            if not isinstance(name, str) or not name.strip():
                raise ScenarioError(f"{path}.name", name, "a non-empty string")
            if "duration" not in spec:
                raise ScenarioError(
                    f"{path}.duration",
                    None,
                    "a duration such as '30s'",
                    message=f"{path}.duration: missing: phase {name!r} has no duration; "
                    'add one such as duration = "30s"',
                )
            raw = spec["duration"]
            try:
                duration = units.parse_duration(raw)
            except units.UnitError as exc:
                raise ScenarioError(
                    f"{path}.duration", raw, exc.accepted, message=f"{path}.duration: {exc}"
                ) from None
            if duration <= 0 or duration > MAX_PHASE:
                raise ScenarioError(
                    f"{path}.duration", raw, "a duration greater than 0 and at most 7 days"
                )
            changes = {
                d: dict(spec[d]) if isinstance(spec[d], Mapping) else spec[d]
                for d in ("upstream", "downstream")
                if d in spec and spec[d] != {}  # an empty table changes nothing
            }
            limits = base.patched(changes, where=path)
            built.append(Phase(name=name, duration_us=duration, changes=changes, limits=limits))
        return cls(phases=tuple(built), repeat=bool(repeat))

    def rebased(self, base: Limits, overrides: Mapping[str, Any] | None = None) -> Scenario:
        """The same phases on new base limits; `overrides` win over every phase's changes."""
        phases = []
        for phase in self.phases:
            limits = base.patched(dict(phase.changes))
            if overrides:
                limits = limits.patched(dict(overrides))
            phases.append(Phase(phase.name, phase.duration_us, phase.changes, limits))
        return Scenario(tuple(phases), self.repeat)

    @property
    def total_us(self) -> int:
        return sum(p.duration_us for p in self.phases)

    @property
    def total(self) -> float:
        """Seconds for one pass through all phases."""
        return self.total_us / MICROS

    def at(self, t: float) -> Position:
        """The phase that holds `t` seconds after the start (t < 0 counts as 0).

        A phase starts at its boundary: at exactly t = duration of phase 0, phase 1 holds.
        A scenario that does not repeat stays in its last phase once it has run through.
        """
        t_us = max(0, round(t * MICROS))
        total = self.total_us
        cycle = 0
        if self.repeat:
            cycle, t_us = divmod(t_us, total)
        elif t_us >= total:
            last = self.phases[-1]
            return Position(len(self.phases) - 1, last.name, last.limits, None, 0, None)
        start = 0
        for index, phase in enumerate(self.phases):
            end = start + phase.duration_us
            if t_us < end:
                ends_at = (cycle * total + end) / MICROS
                next_in = (end - t_us) / MICROS
                return Position(index, phase.name, phase.limits, next_in, cycle, ends_at)
            start = end
        raise AssertionError("unreachable: t is within the total duration")  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        return {"repeat": self.repeat, "phases": [p.to_dict() for p in self.phases]}


# --- I/O: drive an engine --------------------------------------------------------------------

# Runners by engine. Keyed by id() with a weak reference to the engine, so engines need not be
# hashable and a dropped engine does not keep its runner alive.
_RUNNERS: dict[int, tuple[weakref.ref[Any], ScenarioRunner]] = {}


def _runner_of(engine: Any) -> ScenarioRunner | None:
    entry = _RUNNERS.get(id(engine))
    if entry is None or entry[0]() is not engine:
        return None
    return entry[1]


class ScenarioRunner:
    """Runs a scenario against an engine on its event loop.

    `target` is a Profile (its `.scenario` is used) or a Scenario. Timers are armed with
    `loop.call_at` on absolute deadlines, so phase boundaries do not drift.
    """

    TOLERANCE = 0.001  # a timer that fires this early still counts as on time

    def __init__(
        self,
        engine: Any,
        target: Any,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        refresh: float = 0.25,
    ):
        scenario = target if isinstance(target, Scenario) else getattr(target, "scenario", None)
        if scenario is None:
            raise ValueError("the profile has no scenario")
        self.engine = engine
        self.scenario: Scenario = scenario
        self.refresh = refresh
        self._loop = loop
        self._start: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._index: int | None = None
        self._cycle = 0
        self.running = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    def elapsed(self) -> float:
        return 0.0 if self._start is None else self.now() - self._start

    def start(self) -> None:
        """Apply the first phase now and arm the timers. Needs a running loop (or `loop=`)."""
        if self.running:
            return
        self.running = True
        self._start = self.now()
        self._index = None
        self._tick()

    def stop(self) -> None:
        """Stop switching phases. Limits stay as they are; the status is cleared."""
        self.running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if getattr(self.engine, "scenario_status", None) is not None:
            self.engine.scenario_status = None

    def position(self) -> Position:
        return self.scenario.at(self.elapsed() + self.TOLERANCE)

    def status(self, position: Position | None = None) -> dict[str, Any]:
        pos = position or self.position()
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

    def _tick(self) -> None:
        self._timer = None
        if not self.running:
            return
        pos = self.position()
        if pos.index != self._index or pos.cycle != self._cycle:
            changed = self._index is not None
            self._index, self._cycle = pos.index, pos.cycle
            self.engine.set_limits(pos.limits)
            record = getattr(self.engine, "record", None)
            if record is not None:
                verb = "phase" if changed else "scenario started, phase"
                record("phase", f"{verb} {pos.index + 1}/{len(self.scenario.phases)}: {pos.name}")
        self.engine.scenario_status = self.status(pos)
        if pos.ends_at is None:
            return  # a one-shot scenario that has run through: nothing more to do
        deadline_boundary = self._start + pos.ends_at
        deadline = min(self.now() + self.refresh, deadline_boundary)
        self._timer = self.loop.call_at(deadline, self._tick)


def running_scenario(engine: Any) -> ScenarioRunner | None:
    """The runner driving `engine`, if any."""
    runner = _runner_of(engine)
    return runner if runner is not None and runner.running else None


def stop_scenario(engine: Any) -> None:
    runner = _runner_of(engine)
    _RUNNERS.pop(id(engine), None)
    if runner is not None:
        runner.stop()
    elif getattr(engine, "scenario_status", None) is not None:
        engine.scenario_status = None


def apply_profile(engine: Any, profile: Any, overrides: Mapping[str, Any] | None = None) -> None:
    """Make `profile` the engine's limits: stop any running scenario, set the limits and the
    profile name, then start the profile's scenario if it has one.

    `overrides` (a partial limits dict of unit strings, e.g. from explicit CLI flags) win over
    the profile's base limits and over every phase. It is validated before anything changes
    (raises LimitError). Starting a scenario needs a running event loop.
    """
    if overrides:
        profile = profile.with_overrides(overrides)
    stop_scenario(engine)
    engine.set_limits(profile.limits)
    engine.profile_name = profile.name
    record = getattr(engine, "record", None)
    if record is not None:
        record("profile", f"profile {profile.name} applied")
    if profile.scenario is not None:
        runner = ScenarioRunner(engine, profile.scenario)
        try:
            ref = weakref.ref(engine)
        except TypeError:  # an engine without __weakref__ (e.g. a slotted test double)

            def ref(engine=engine):
                return engine

        _RUNNERS[id(engine)] = (ref, runner)
        runner.start()
