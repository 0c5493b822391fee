"""A fault as the user states it: its type, where it applies, how often, and its settings.

Plain values with no I/O: the CLI, the control API, profiles and the engine all read and
write faults through FaultSpec, so a fault means the same thing wherever it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shaper.model.errors import FieldError

DIRECTION_FORMS = ("upstream", "downstream", "both")
NAME_FORMS = "letters, digits and . _ - : (at most 64; e.g. reset-20pc)"
TOXICITY_FORMS = "a probability from 0 to 1 (e.g. 0.2), or a percentage (e.g. 20%)"
_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class FaultError(FieldError):
    """A fault that cannot be applied. `field` names the key (e.g. 'after', 'toxicity')."""


@dataclass(frozen=True)
class FaultSpec:
    """One fault. `settings` holds the type's own parameters, already parsed (durations
    in microseconds, sizes in bytes), with every default filled in."""

    name: str
    type: str
    direction: str
    toxicity: float = 1.0
    route: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def directions(self) -> tuple[str, ...]:
        """The pipes it acts on."""
        if self.direction == "both":
            return ("upstream", "downstream")
        return (self.direction,)

    def applies_to_route(self, route: str) -> bool:
        return self.route is None or self.route == route


def parse_name(raw: object, where: str = "name") -> str:
    if not isinstance(raw, str) or not _NAME.match(raw):
        raise FaultError(where, raw, NAME_FORMS)
    return raw


def parse_direction(raw: object, allowed: tuple[str, ...], where: str = "direction") -> str:
    if not isinstance(raw, str) or raw not in allowed:
        raise FaultError(where, raw, " or ".join(allowed))
    return raw


def parse_toxicity(raw: object, where: str = "toxicity") -> float:
    """A probability: 0.2, "0.2" or "20%"."""
    value: float | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            value = None
    if value is None or not 0.0 <= value <= 1.0 or value != value:
        raise FaultError(where, raw, TOXICITY_FORMS)
    return value
