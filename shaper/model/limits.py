"""Per-direction limits: what one pipe of one connection is shaped by.

Limits are immutable. Changes are expressed as partial dicts of unit strings
(the same strings the CLI, the API, profiles and the TUI use) and applied
with `Limits.patched`, which validates everything before anything changes.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from shaper.model import chance, traces, units
from shaper.model.errors import FieldError
from shaper.model.traces import Trace

DIRECTIONS = ("upstream", "downstream")
JITTER_DISTRIBUTIONS = ("uniform", "normal")
# shared: every connection of the engine goes through one link per direction (one rate,
# one queue), as on a real path; per-connection: each connection has a link of its own.
LINK_MODES = ("shared", "per-connection")
# emulated: each connection's sender runs TCP across the emulated path (handshake, window,
# slow start, CUBIC); off: bytes are paced as they come.
TCP_MODES = ("emulated", "off")
DEFAULT_BUFFER = 256 * 1024
MAX_BUFFER = 1024**3


class LimitError(FieldError):
    """A limit that cannot be applied. `field` is the key path, e.g. 'downstream.rate'."""


@dataclass(frozen=True)
class DirectionLimits:
    rate: int = 0  # bits per second; 0 = unlimited; with a trace, the trace's mean rate
    burst: int = 0  # bytes the link may send at once after idling (token-bucket depth)
    latency: int = 0  # one-way, microseconds
    jitter: int = 0  # microseconds; never reorders
    jitter_distribution: str = "uniform"
    buffer: int = DEFAULT_BUFFER  # the bounded queue, bytes
    sockbuf: int | None = None  # SO_RCVBUF/SO_SNDBUF of the proxy's sockets; None = OS default
    stall: bool = False  # release nothing: the queue fills and the sender blocks
    link: str = "shared"  # one of LINK_MODES
    tcp: str = "emulated"  # one of TCP_MODES
    # The link's delivery opportunities when `rate` was given as trace:NAME (rate then
    # holds its mean, for everything that only needs a number: display, slice sizes).
    trace: Trace | None = None
    # Per-packet loss probability, 0 <= loss < 1. The emulated sender repairs every loss:
    # bytes arrive late, never missing (see shaping/recovery.py).
    loss: float = 0.0
    # Mean run of consecutive losses: 1 = independent; more = a two-state Gilbert model.
    loss_burst: float = 1.0

    @property
    def shaped(self) -> bool:
        """False when bytes can pass straight through (the relay fast path)."""
        return bool(
            self.rate or self.latency or self.jitter or self.stall or self.trace or self.loss
        )

    def rate_text(self) -> str:
        """The rate as it is written: a unit string, or trace:NAME."""
        return self.trace.spec if self.trace else units.format_rate(self.rate)

    def to_dict(self) -> dict[str, Any]:
        data = self._dict()
        if self.trace is not None:
            # Read-only: lets a client that cannot read the trace show its mean rate.
            data["trace_rate"] = units.format_rate(self.rate)
        return data

    def _dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate_text(),
            "burst": units.format_size(self.burst),
            "latency": units.format_duration(self.latency),
            "jitter": units.format_duration(self.jitter),
            "jitter_distribution": self.jitter_distribution,
            "buffer": units.format_size(self.buffer),
            "sockbuf": units.format_size(self.sockbuf) if self.sockbuf else "default",
            "stall": self.stall,
            "link": self.link,
            "tcp": self.tcp,
            "loss": chance.format_loss(self.loss),
            "loss_burst": chance.format_burst(self.loss_burst),
        }

    def with_trace_loaded(self, where: str = "") -> DirectionLimits:
        """These limits with their trace read, if it is known by name only (limits built
        before a trace loader was installed); raises LimitError if it cannot be read."""
        if self.trace is None or self.trace.resolved:
            return self
        return self.patched({"rate": self.trace.spec}, where)

    def patched(self, changes: dict[str, Any], where: str = "") -> DirectionLimits:
        """A copy with `changes` (unit strings) applied; raises LimitError naming the field."""
        if not isinstance(changes, dict):
            raise LimitError(
                where or "limits", changes, "a table of limits such as {rate = '2Mbit'}"
            )
        values: dict[str, Any] = {}
        for key, raw in changes.items():
            path = f"{where}.{key}" if where else key
            if key == "rate" and traces.is_trace(raw):
                values.update(_trace_values(path, raw, changes.get(TRACE_RATE)))
                continue
            if key == TRACE_RATE:
                if not traces.is_trace(changes.get("rate")):
                    raise LimitError(
                        path,
                        raw,
                        "rate = 'trace:NAME'",
                        message=f"{path}: {TRACE_RATE} is the mean rate of a trace and is "
                        "only reported; set rate to a number or to trace:NAME instead",
                    )
                continue
            parser = _PARSERS.get(key)
            if parser is None:
                raise LimitError(path, raw, _known_keys_hint(key), message=_unknown_key(path, key))
            try:
                values[key] = parser(raw)
            except units.UnitError as exc:
                raise LimitError(path, raw, exc.accepted, message=f"{path}: {exc}") from None
            if key == "rate":
                values["trace"] = None
        result = dataclasses.replace(self, **values)
        result.check(where)
        return result

    def check(self, where: str = "") -> None:
        prefix = f"{where}." if where else ""
        if self.buffer < 1 or self.buffer > MAX_BUFFER:
            raise LimitError(
                prefix + "buffer", units.format_size(self.buffer), "a size from 1B to 1GiB"
            )
        if self.sockbuf is not None and not (1024 <= self.sockbuf <= 256 * 1024**2):
            raise LimitError(
                prefix + "sockbuf",
                units.format_size(self.sockbuf),
                "'default' or a size from 1KiB to 256MiB",
            )
        if self.jitter > 0 and self.jitter > 60_000_000:
            raise LimitError(
                prefix + "jitter", units.format_duration(self.jitter), "a duration up to 60s"
            )
        if self.latency > 600_000_000:
            raise LimitError(
                prefix + "latency", units.format_duration(self.latency), "a duration up to 600s"
            )
        if self.loss and self.tcp != "emulated":
            raise LimitError(
                prefix + "loss",
                chance.format_loss(self.loss),
                "0% while tcp = off, or tcp = emulated",
                message=f"{prefix}loss: {chance.format_loss(self.loss)} needs tcp = emulated: "
                "a lost packet is repaired by the emulated sender, and with tcp = off there is "
                "none; set tcp = emulated or loss = 0%",
            )


TRACE_RATE = "trace_rate"


def _trace_values(path: str, raw: str, reported: object) -> dict[str, Any]:
    """rate = trace:NAME: the trace and its mean rate. `reported` is the mean the engine
    gave (trace_rate), used only where the trace cannot be read (a display)."""
    mean = None
    if reported is not None:
        try:
            mean = units.parse_rate(str(reported))
        except units.UnitError:
            mean = None
    try:
        trace = traces.load(raw, mean)
    except units.UnitError as exc:
        raise LimitError(path, raw, exc.accepted, message=f"{path}: {exc}") from None
    return {"rate": trace.mean_rate, "trace": trace}


SOCKBUF_FORMS = "'default' (the OS's buffers) or " + units.SIZE_FORMS


def _parse_sockbuf(raw: Any) -> int | None:
    """'default' (or 0) leaves the OS's buffers; a size sets them. There is no null: JSON's
    would be a second spelling of 'default' that TOML and the command line cannot write."""
    if isinstance(raw, str) and raw.strip().lower() in ("default", "os", ""):
        return None
    if raw is None:
        raise units.UnitError(
            "sockbuf",
            raw,
            SOCKBUF_FORMS,
            hint="null is not a sockbuf: write 'default' for the "
            f"OS's buffers or a size such as 64KiB. Expected {SOCKBUF_FORMS}",
        )
    try:
        size = units.parse_size(raw)
    except units.UnitError as exc:
        hint = exc.hint.replace(units.SIZE_FORMS, SOCKBUF_FORMS)
        raise units.UnitError("sockbuf", raw, SOCKBUF_FORMS, hint=hint) from None
    return size or None


def _choice(kind: str, choices: tuple[str, ...]) -> Any:
    def parse(raw: Any) -> str:
        if raw in choices:
            return str(raw)
        raise units.UnitError(kind, raw, " or ".join(choices))

    return parse


_parse_distribution = _choice("jitter distribution", JITTER_DISTRIBUTIONS)


_PARSERS = {
    "rate": units.parse_rate,
    "burst": units.parse_size,
    "latency": units.parse_duration,
    "jitter": units.parse_duration,
    "jitter_distribution": _parse_distribution,
    "buffer": units.parse_size,
    "sockbuf": _parse_sockbuf,
    "stall": units.parse_switch,
    "link": _choice("link", LINK_MODES),
    "tcp": _choice("tcp", TCP_MODES),
    "loss": chance.parse_loss,
    "loss_burst": chance.parse_burst,
}
LIMIT_KEYS = tuple(_PARSERS)


def _known_keys_hint(key: str) -> str:
    return "one of " + ", ".join(LIMIT_KEYS)


def _unknown_key(path: str, key: str) -> str:
    close = difflib.get_close_matches(str(key), LIMIT_KEYS, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path}: unknown limit {key!r}{suggestion}; known limits: {', '.join(LIMIT_KEYS)}"


@dataclass(frozen=True)
class Limits:
    upstream: DirectionLimits = field(default_factory=DirectionLimits)
    downstream: DirectionLimits = field(default_factory=DirectionLimits)

    def direction(self, name: str) -> DirectionLimits:
        return getattr(self, name)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {"upstream": self.upstream.to_dict(), "downstream": self.downstream.to_dict()}

    def patched(self, changes: dict[str, Any], where: str = "") -> Limits:
        """Apply {"upstream": {...}, "downstream": {...}}; keys are validated first."""
        if not isinstance(changes, dict):
            raise LimitError(
                where or "limits", changes, "an object with upstream and/or downstream"
            )
        result = self
        for key, value in changes.items():
            path = f"{where}.{key}" if where else key
            if key not in DIRECTIONS:
                close = difflib.get_close_matches(str(key), DIRECTIONS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise LimitError(
                    path,
                    value,
                    "upstream or downstream",
                    message=f"{path}: unknown direction {key!r}{hint}; "
                    "expected upstream or downstream",
                )
            updated = result.direction(key).patched(value, where=path)
            result = dataclasses.replace(result, **{key: updated})
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> Limits:
        return cls().patched(data, where)

    def with_both(self, changes: dict[str, Any]) -> Limits:
        """Apply the same changes to both directions."""
        return self.patched({d: dict(changes) for d in DIRECTIONS})
