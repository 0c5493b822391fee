"""A profile as TOML text: parsing (errors carry file, line and column) and writing."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import tomli_w

from shaper.faults import FaultSpec, fault_to_dict
from shaper.model import units
from shaper.model.limits import DIRECTIONS, Limits
from shaper.profiles.model import ORIGIN_FILE, Profile, ProfileError
from shaper.profiles.schema import profile_from_dict

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_profile(
    text: str, file: str = "<inline>", default_name: str | None = None, origin: str = ORIGIN_FILE
) -> Profile:
    """Parse the TOML text of a profile; errors carry the file, line and column."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = column = None
        match = _TOML_POSITION.search(message)
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()]
        elif _TOML_END.search(message):
            rows = text.split("\n")
            line, column = len(rows), len(rows[-1]) + 1
            message = _TOML_END.sub("", message) + " (at end of file)"
        raise ProfileError(
            f"TOML syntax error: {message}", file=file, line=line, column=column
        ) from None
    return profile_from_dict(data, source=file, default_name=default_name, origin=origin, text=text)


def _format_rate(bits: int) -> str:
    """Rates as people write them: 1600kbit rather than 200000B/s."""
    text = units.format_rate(bits)
    if bits and "B/s" in text and bits % 1000 == 0:
        return f"{bits // 1000}kbit"
    return text


def _limits_tables(limits: Limits) -> dict[str, dict[str, Any]]:
    tables = limits.to_dict()
    for direction in DIRECTIONS:
        one = limits.direction(direction)
        tables[direction].pop("trace_rate", None)
        tables[direction]["rate"] = one.trace.spec if one.trace else _format_rate(one.rate)
    return tables


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """The TOML document of a profile (base limits in full, phases as their changes)."""
    data: dict[str, Any] = {"name": profile.name}
    if profile.description:
        data["description"] = profile.description
    if profile.source:
        data["source"] = profile.source
    if profile.seed is not None:
        data["seed"] = profile.seed
    data.update(_limits_tables(profile.limits))
    if profile.scenario is not None:
        data["scenario"] = profile.scenario.to_dict()
        for phase, faults in zip(data["scenario"]["phases"], profile.phase_faults, strict=False):
            if faults:
                phase["faults"] = [_fault_table(f) for f in faults]
    if profile.faults:
        data["faults"] = [_fault_table(f) for f in profile.faults]
    return data


def dump_profile(profile: Profile) -> str:
    return tomli_w.dumps(profile_to_dict(profile))


def _fault_table(spec: FaultSpec) -> dict[str, Any]:
    """A [[faults]] entry: the settings flat beside the common keys, no null route."""
    data = fault_to_dict(spec)
    settings = data.pop("settings")
    if data["route"] is None:
        del data["route"]
    return {**data, **settings}
