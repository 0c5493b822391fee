"""The one interface every fault implements, and what a fault may do to a connection.

A fault never touches sockets or the loop itself: it asks its FaultTarget (the engine's
connection, seen through a narrow door) to hold a direction, cap it, slice it, delay its
close, or close it, and to call it back later. So a fault is a small file of decisions,
and removing one undoes exactly what it did.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from shaper.faults.spec import FaultError, FaultSpec
from shaper.model.units import (
    DURATION_FORMS,
    SIZE_FORMS,
    UnitError,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)

Undo = Callable[[], None]


class Cancel(Protocol):
    def cancel(self) -> None: ...


class FaultTarget(Protocol):
    """One proxied connection, as a fault sees it. Directions are 'upstream' (client to
    server) and 'downstream'. Every call that installs something takes a `key` (the
    fault's name), so two faults of one kind on a connection do not undo each other."""

    id: int

    def hold(self, direction: str, key: str) -> None:
        """Stop delivering in `direction`: bytes wait in order, backpressure applies."""

    def unhold(self, direction: str, key: str) -> None: ...

    def cap(self, direction: str, nbytes: int, key: str, on_reached: Callable[[], None]) -> None:
        """Deliver at most `nbytes` in `direction` over the connection's life; call
        `on_reached` once exactly that many have been handed to the receiver."""

    def uncap(self, direction: str, key: str) -> None: ...

    def slice(self, direction: str, next_size: Callable[[], int], gap: float, key: str) -> None:
        """Deliver `direction` in pieces of next_size() bytes, `gap` seconds apart."""

    def unslice(self, direction: str, key: str) -> None: ...

    def delay_eof(self, direction: str, seconds: float, key: str) -> None:
        """Forward the half-close (FIN) of `direction` this long after it is due."""

    def undelay_eof(self, direction: str, key: str) -> None: ...

    def close(self, reset: bool, reason: str) -> None:
        """Close both legs: FIN, or RST with `reset`."""

    def later(self, seconds: float, callback: Callable[[], None]) -> Cancel: ...

    def on_first_byte(self, callback: Callable[[], None]) -> Cancel:
        """Call back when the first byte arrives in either direction (at once if one has)."""


@dataclass(frozen=True)
class Setting:
    """One parameter of a fault type: its name, kind ('duration', 'size' or 'choice'),
    default (durations in microseconds, sizes in bytes) and what it does, for help and
    errors."""

    name: str
    kind: str
    default: int | str
    help: str
    minimum: int = 0
    choices: tuple[str, ...] = ()

    @property
    def forms(self) -> str:
        if self.kind == "choice":
            return " or ".join(self.choices)
        return DURATION_FORMS if self.kind == "duration" else SIZE_FORMS

    def parse(self, raw: object) -> int | str:
        if self.kind == "choice":
            if not isinstance(raw, str) or raw not in self.choices:
                raise FaultError(self.name, raw, self.forms)
            return raw
        try:
            value = parse_duration(raw) if self.kind == "duration" else parse_size(raw)  # type: ignore[arg-type]
        except UnitError as exc:
            raise FaultError(self.name, raw, self.forms, f"{self.name}: {exc}") from None
        if value < self.minimum:
            shown = self.format(self.minimum)
            raise FaultError(
                self.name, raw, self.forms, f"{self.name}: {raw!r} is below the least, {shown}"
            )
        return value

    def format(self, value: int | str) -> str:
        if isinstance(value, str):
            return value
        return format_duration(value) if self.kind == "duration" else format_size(value)


class Fault:
    """A fault type. Subclasses set the class attributes and override the hooks their
    kind needs: `apply` (an open connection), `refuse` (a new client), `dial_delay`
    (before the upstream is dialed)."""

    type: ClassVar[str]
    summary: ClassVar[str]
    directions: ClassVar[tuple[str, ...]] = ("upstream", "downstream", "both")
    default_direction: ClassVar[str] = "both"
    settings: ClassVar[tuple[Setting, ...]] = ()
    # Whether adding the fault acts on connections already open (a refusal or a slow
    # dial only concerns new ones).
    applies_to_open: ClassVar[bool] = True

    def __init__(self, spec: FaultSpec):
        self.spec = spec

    def setting(self, name: str) -> int:
        value = self.spec.settings[name]
        assert isinstance(value, int), name
        return value

    def seconds(self, name: str) -> float:
        return self.setting(name) / 1_000_000

    def apply(self, target: FaultTarget, rng: random.Random) -> Undo | None:
        """Act on a connection chosen by the toxicity draw; return how to undo it."""
        return None

    def refuse(self) -> str | None:
        """For a new client: None to let it in, 'reset' or 'close' to turn it away."""
        return None

    def dial_delay(self) -> float:
        """Seconds to wait before dialing the upstream for a new client."""
        return 0.0

    @classmethod
    def describe_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """Settings as the user writes them (durations and sizes with units)."""
        shown: dict[str, Any] = {}
        for s in cls.settings:
            shown[s.name] = s.format(settings[s.name])
        for key, value in settings.items():
            shown.setdefault(key, value)
        return shown
