"""Capacity traces: a link whose delivery opportunities are listed, not paced at a rate.

The format is Mahimahi's (mm-link): one integer millisecond timestamp per line, in
non-decreasing order; each line is one chance for the link to deliver a packet of
`PACKET_BYTES`; several lines with the same timestamp are several packets in that
millisecond. When the list ends it starts again, shifted by its last timestamp (the
period). A trace is written `trace:NAME` (a file on the profile search path) or
`trace:PATH` wherever a rate is.

This module only parses text and holds the parsed opportunities: finding and reading the
file is the job of whoever installs a loader (`set_loader`; the profiles layer does, for
the engine and the command line). Without a loader (a display that only shows limits) a
trace is kept by name, with the mean rate the engine reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from shaper.model import units

PACKET_BYTES = 1500
PREFIX = "trace:"
# Text over this size is not a trace someone meant: a day at 100 Mbit/s is ~60 MB.
MAX_LINES = 10_000_000
TRACE_FORMS = (
    "trace:NAME (a trace on the profile search path, in a traces/ folder as NAME.trace) or "
    "trace:PATH, a file of Mahimahi's format: one integer millisecond timestamp per line, "
    "non-decreasing, each one chance to deliver a 1500-byte packet, the last above 0 "
    "(the file loops after it)"
)


class TraceError(units.UnitError):
    """A trace that cannot be used; the message names the file, the line and the form."""

    def __init__(self, value: object, hint: str):
        super().__init__("rate", value, TRACE_FORMS, hint=hint)


@dataclass(frozen=True)
class Trace:
    """Delivery opportunities, milliseconds from the start of one period. `times` is empty
    for a trace known by name only (no loader here); `mean_rate` is then what the engine
    said it was."""

    name: str  # as written after 'trace:' (a name or a path)
    times: tuple[int, ...] = field(default=(), compare=False, repr=False)
    digest: str = ""  # of the times: two traces with the same name and digest are the same
    mean_rate: int = 0  # bits per second over one period

    @property
    def period_ms(self) -> int:
        return self.times[-1] if self.times else 0

    @property
    def resolved(self) -> bool:
        return bool(self.times)

    @property
    def spec(self) -> str:
        return PREFIX + self.name


def mean_rate(times: tuple[int, ...]) -> int:
    """Bits per second the opportunities give over one period, to the kbit (it is shown
    and reported; the link itself follows the opportunities)."""
    if not times or times[-1] <= 0:
        return 0
    exact = len(times) * PACKET_BYTES * 8 * 1000 / times[-1]
    return max(1, round(exact / 1000) * 1000 if exact >= 1000 else round(exact))


def parse_trace(text: str, name: str, label: str | None = None) -> Trace:
    """The opportunities of a trace file's text. `label` (the file) appears in errors, which
    name the line and what is accepted there."""
    where = label or name
    spec = PREFIX + name
    times: list[int] = []
    previous = 0
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise TraceError(spec, f"{where} has {len(lines)} lines; at most {MAX_LINES}")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            if number == len(lines):
                continue  # a trailing blank line is harmless
            raise TraceError(
                spec, f"{where} line {number} is empty; each line is one integer millisecond"
            )
        if not stripped.isdigit():
            raise TraceError(
                spec,
                f"{where} line {number}: {stripped[:40]!r} is not an integer millisecond "
                "timestamp (write whole milliseconds, e.g. 12)",
            )
        value = int(stripped)
        if value < previous:
            raise TraceError(
                spec,
                f"{where} line {number}: {value} comes after {previous}; timestamps must "
                "not decrease",
            )
        times.append(value)
        previous = value
    if not times:
        raise TraceError(spec, f"{where} is an empty trace: it lists no delivery opportunity")
    if times[-1] == 0:
        raise TraceError(
            spec,
            f"{where} lasts 0 ms (its last timestamp is 0); the last timestamp is the period "
            "and must be above 0",
        )
    frozen = tuple(times)
    digest = hashlib.blake2b(" ".join(map(str, frozen)).encode(), digest_size=8).hexdigest()
    return Trace(name=name, times=frozen, digest=digest, mean_rate=mean_rate(frozen))


# --- where traces come from ---------------------------------------------------------------

TraceLoader = Callable[[str], Trace]
_loader: TraceLoader | None = None


def set_loader(loader: TraceLoader | None) -> None:
    """Install what turns the text after 'trace:' into a Trace (reading the file). The layer
    that may read files installs it; the model itself never opens one."""
    global _loader
    _loader = loader


def is_trace(raw: object) -> bool:
    return isinstance(raw, str) and raw.strip().lower().startswith(PREFIX)


def load(raw: str, mean: int | None = None) -> Trace:
    """A Trace from 'trace:NAME' or 'trace:PATH'. Without a loader, the trace is kept by
    name with `mean` (the rate the engine reported) or 0 as its mean rate."""
    name = raw.strip()[len(PREFIX) :].strip()
    if not name:
        raise TraceError(raw, "'trace:' needs a trace name or a path after it")
    if _loader is None:
        return Trace(name=name, mean_rate=mean or 0)
    return _loader(name)
