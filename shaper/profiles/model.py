"""A profile: a named network condition (base limits per direction and an optional
scenario), the error type every profile failure raises, and listing entries."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shaper.faults import FaultSpec, fault_to_dict
from shaper.model.limits import Limits
from shaper.shaping.scenario import Scenario

SUFFIX = ".toml"
# Use fullmatch: `$` alone would let a trailing newline through ("3g\n").
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
NAME_FORM = "letters, digits, '.', '_', '+' and '-', starting with a letter or digit (e.g. 3g-slow)"

# Where a profile was found, in resolution order.
ORIGIN_DIR = "profiles-dir"
ORIGIN_LOCAL = "local"
ORIGIN_USER = "user"
ORIGIN_PRESET = "preset"
ORIGIN_FILE = "file"
ORIGIN_INLINE = "inline"


class ProfileError(ValueError):
    """A profile that cannot be found, read or used.

    The message starts with the location (`file:line:column:` where known) and names the key
    path, the bad value and the accepted form. `field` is the key path (e.g. 'downstream.rate').
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        value: object = None,
        accepted: str | None = None,
    ):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.value = value
        self.accepted = accepted
        location = ""
        if file:
            location = file
            if line:
                location += f":{line}"
                if column:
                    location += f":{column}"
        super().__init__(f"{location}: {message}" if location else message)


@dataclass(frozen=True)
class Profile:
    name: str
    limits: Limits
    description: str = ""
    source: str = ""  # where the numbers come from
    scenario: Scenario | None = None
    origin: str = ORIGIN_INLINE  # profiles-dir, local, user, preset, file or inline
    path: str | None = None  # file it was read from
    faults: tuple[FaultSpec, ...] = ()  # put in force with the profile
    # The faults of each scenario phase (by index), in force while the phase holds.
    phase_faults: tuple[tuple[FaultSpec, ...], ...] = ()
    # The engine's seed while this profile is applied (loss, jitter, faults), unless the
    # engine was given one (--seed wins, as flags win over a profile's limits).
    seed: int | None = None

    def with_overrides(self, changes: Mapping[str, Any]) -> Profile:
        """A copy where `changes` (partial limits of unit strings) win over the base limits and
        over every phase of the scenario. Raises LimitError."""
        limits = self.limits.patched(dict(changes))
        scenario = self.scenario.rebased(limits, changes) if self.scenario else None
        return dataclasses.replace(self, limits=limits, scenario=scenario)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for the control API): unit strings throughout."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "origin": self.origin,
            "path": self.path,
            "limits": self.limits.to_dict(),
            "scenario": self.scenario.to_dict() if self.scenario else None,
            "faults": [fault_to_dict(f) for f in self.faults],
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    description: str
    origin: str
    path: str
    error: str | None = None  # set when the file does not load; the listing still shows it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
