"""Checking a profile's table form (a TOML document or a JSON body) and building it:
every error names the key path, the bad value and the accepted forms."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from shaper.faults import FaultError, FaultSpec, fault_from_dict
from shaper.model.limits import DIRECTIONS, LIMIT_KEYS, LimitError, Limits
from shaper.model.units import SWITCH_FORMS, UnitError, parse_switch
from shaper.profiles.lines import key_lines, line_of
from shaper.profiles.model import (
    NAME_FORM,
    NAME_RE,
    ORIGIN_FILE,
    ORIGIN_INLINE,
    Profile,
    ProfileError,
)
from shaper.shaping.scenario import Scenario, ScenarioError

TOP_KEYS = (
    "name",
    "description",
    "source",
    "seed",
    "upstream",
    "downstream",
    "scenario",
    "faults",
)
SEED_FORM = "a whole number from 0 (e.g. seed = 42)"
SCENARIO_KEYS = ("repeat", "phases")
PHASE_KEYS = ("name", "duration", "upstream", "downstream", "faults", "offline")
OFFLINE = "offline"  # the name of the fault an `offline = true` phase puts in force


def profile_from_dict(
    data: Mapping[str, Any],
    source: str = "<inline>",
    *,
    default_name: str | None = None,
    origin: str | None = None,
    text: str | None = None,
) -> Profile:
    """Build and validate a profile from its table form (the TOML document, or a JSON body).

    `source` names where the data came from in error messages (a file path or '<inline>');
    `text`, when given, is the TOML text, used to find the line of a bad key.
    """
    lines = key_lines(text) if text else {}

    def fail(
        field: str, message: str, value: object = None, accepted: str | None = None
    ) -> ProfileError:
        return ProfileError(
            message,
            file=source,
            line=line_of(lines, field),
            field=field,
            value=value,
            accepted=accepted,
        )

    if not isinstance(data, Mapping):
        raise fail("", "a profile must be a table (object)", data, "a table")
    for key in data:
        if key not in TOP_KEYS:
            raise fail(key, _unknown(key, key, TOP_KEYS, "key"), data[key], ", ".join(TOP_KEYS))

    name = data.get("name", default_name)
    if name is None:
        raise fail("name", "missing 'name'", None, NAME_FORM)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise fail(
            "name", f"name: invalid profile name {name!r}: expected {NAME_FORM}", name, NAME_FORM
        )
    strings = {}
    for key in ("description", "source"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise fail(key, f"{key}: expected a string, got {value!r}", value, "a string")
        strings[key] = value

    base: dict[str, Any] = {}
    for direction in DIRECTIONS:
        if direction in data:
            table = data[direction]
            if not isinstance(table, Mapping):
                raise fail(
                    direction,
                    f"{direction}: expected a table of limits, got {table!r}",
                    table,
                    f"a [{direction}] table with keys {', '.join(LIMIT_KEYS)}",
                )
            base[direction] = dict(table)
    try:
        limits = Limits().patched(base)
    except LimitError as exc:
        raise fail(exc.field, str(exc), exc.value, exc.accepted) from None

    scenario = None
    phase_faults: tuple[tuple[FaultSpec, ...], ...] = ()
    if "scenario" in data:
        scenario, phase_faults = _scenario(data["scenario"], limits, fail)

    faults = _faults(data.get("faults", []), fail)

    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise fail("seed", f"seed: invalid seed {seed!r}: expected {SEED_FORM}", seed, SEED_FORM)

    return Profile(
        name=name,
        limits=limits,
        description=strings["description"],
        source=strings["source"],
        scenario=scenario,
        faults=faults,
        phase_faults=phase_faults if any(phase_faults) else (),
        seed=seed,
        origin=origin or (ORIGIN_INLINE if source == "<inline>" else ORIGIN_FILE),
        path=None if source == "<inline>" else source,
    )


# Makes the ProfileError for a key path: (field, message, value, accepted forms).
_Fail = Callable[[str, str, object, str | None], ProfileError]


def _faults(entries: Any, fail: _Fail, where: str = "faults") -> tuple[FaultSpec, ...]:
    form = '[[faults]] tables, each with a type (e.g. type = "timeout") and its settings'
    if not isinstance(entries, list):
        raise fail(where, f"{where}: expected an array of tables, got {entries!r}", entries, form)
    specs: list[FaultSpec] = []
    for i, entry in enumerate(entries):
        path = f"{where}[{i}]"
        try:
            spec = fault_from_dict(entry)
        except FaultError as exc:
            field = path if exc.field == "fault" else f"{path}.{exc.field}"
            raise fail(field, f"{path}.{exc}", exc.value, exc.accepted) from None
        if any(s.name == spec.name for s in specs):
            raise fail(
                f"{path}.name",
                f"{path}.name: {spec.name!r} is the name of an earlier fault; give each a name",
                spec.name,
                "a name no other fault of the profile has",
            )
        specs.append(spec)
    return tuple(specs)


def _phase_faults(phase: Mapping[str, Any], path: str, fail: _Fail) -> tuple[FaultSpec, ...]:
    """A phase's faults: its [[...faults]] and, with offline = true, a timeout both ways."""
    specs = list(_faults(phase.get("faults", []), fail, f"{path}.faults"))
    raw = phase.get("offline", False)
    try:
        offline = parse_switch(raw, "switch")
    except UnitError as exc:
        raise fail(f"{path}.offline", f"{path}.offline: {exc}", raw, SWITCH_FORMS) from None
    if offline:
        if any(spec.name == OFFLINE for spec in specs):
            raise fail(
                f"{path}.offline",
                f"{path}.offline: a fault of this phase is named {OFFLINE!r} already",
                raw,
                "offline = true, or a fault of that name",
            )
        specs.append(fault_from_dict({"type": "timeout", "name": OFFLINE, "direction": "both"}))
    return tuple(specs)


def _scenario(
    table: Any, limits: Limits, fail: _Fail
) -> tuple[Scenario, tuple[tuple[FaultSpec, ...], ...]]:
    form = "a [scenario] table with repeat = true|false and [[scenario.phases]] entries"
    if not isinstance(table, Mapping):
        raise fail("scenario", f"scenario: expected a table, got {table!r}", table, form)
    for key in table:
        if key not in SCENARIO_KEYS:
            raise fail(
                f"scenario.{key}",
                _unknown(f"scenario.{key}", key, SCENARIO_KEYS, "key"),
                table[key],
                ", ".join(SCENARIO_KEYS),
            )
    raw_repeat = table.get("repeat", False)
    try:
        repeat = parse_switch(raw_repeat, "switch")
    except UnitError as exc:
        raise fail("scenario.repeat", f"scenario.repeat: {exc}", raw_repeat, SWITCH_FORMS) from None
    phases = table.get("phases")
    if not isinstance(phases, list) or not phases:
        raise fail(
            "scenario.phases",
            "scenario.phases: expected at least one phase ([[scenario.phases]] with name and "
            f"duration), got {phases!r}",
            phases,
            "one or more [[scenario.phases]] tables",
        )
    phase_faults = []
    for i, phase in enumerate(phases):
        path = f"scenario.phases[{i}]"
        if not isinstance(phase, Mapping):
            raise fail(
                path,
                f"{path}: expected a table, got {phase!r}",
                phase,
                "a table with " + ", ".join(PHASE_KEYS),
            )
        for key in phase:
            if key not in PHASE_KEYS:
                raise fail(
                    f"{path}.{key}",
                    _unknown(f"{path}.{key}", key, PHASE_KEYS, "key"),
                    phase[key],
                    ", ".join(PHASE_KEYS),
                )
        name = phase.get("name")
        if name is not None and not isinstance(name, str):
            raise fail(
                f"{path}.name", f"{path}.name: expected a string, got {name!r}", name, "a string"
            )
        for direction in DIRECTIONS:
            if direction in phase and not isinstance(phase[direction], Mapping):
                raise fail(
                    f"{path}.{direction}",
                    f"{path}.{direction}: expected a table of limits, got {phase[direction]!r}",
                    phase[direction],
                    "a table of limits",
                )
        phase_faults.append(_phase_faults(phase, path, fail))
    plain = [{k: v for k, v in p.items() if k not in ("faults", "offline")} for p in phases]
    try:
        return Scenario.build(limits, plain, repeat=repeat), tuple(phase_faults)
    except (LimitError, ScenarioError) as exc:
        raise fail(exc.field, str(exc), exc.value, exc.accepted) from None


def _unknown(path: str, key: str, known: tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path}: unknown {what} {key!r}{hint}; expected one of: {', '.join(known)}"
