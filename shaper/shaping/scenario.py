"""Scenarios: limits that change over time, phase by phase.

A `Scenario` is an ordered list of phases, each with a duration and the limits
that hold during it (the profile's base limits with the phase's changes
applied on top; phases are not cumulative). `Scenario.at(t)` says which phase
holds `t` seconds after the start and how long until the next one, so it is
tested with a fake clock. The engine's scenario runner drives it on a loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shaper.model import units
from shaper.model.limits import DIRECTIONS, LimitError, Limits

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
        for direction in DIRECTIONS:
            if self.changes.get(direction):
                data[direction] = dict(self.changes[direction])
        return data


@dataclass(frozen=True, slots=True)
class Position:
    """Where a scenario is at a given time. (Not a NamedTuple: its `index` field would
    shadow tuple.index.)"""

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
                for d in DIRECTIONS
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
