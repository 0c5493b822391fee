"""Parse and format sizes, rates and durations.

Internal units are integers, so that formatting and parsing round-trip
exactly: sizes in bytes, rates in bits per second, durations in
microseconds. `format_*` prints the shortest exact form, which parses back
to the same integer; `human_*` rounds for display only.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "kB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}

# Rates in bits per second for each accepted suffix.
BIT_RATE_UNITS: dict[str, int] = {
    "bit": 1,
    "kbit": 1000,
    "mbit": 1000**2,
    "gbit": 1000**3,
}
BYTE_RATE_UNITS: dict[str, int] = {
    "B/s": 8,
    "KB/s": 8 * 1000,
    "kB/s": 8 * 1000,
    "KiB/s": 8 * 1024,
    "MB/s": 8 * 1000**2,
    "MiB/s": 8 * 1024**2,
    "GB/s": 8 * 1000**3,
    "GiB/s": 8 * 1024**3,
}
DURATION_UNITS: dict[str, int] = {"us": 1, "ms": 1000, "s": 1_000_000}

SIZE_FORMS = "a number with B, KB, KiB, MB, MiB, GB or GiB (e.g. 256KiB); a bare number is bytes"
RATE_FORMS = (
    "a number with bit, kbit, Mbit, Gbit (per second) or B/s, KB/s, KiB/s, MB/s, MiB/s "
    "(e.g. 2Mbit, 500KiB/s), or 0/off for unlimited, or trace:NAME or trace:PATH "
    "(a Mahimahi capacity trace)"
)
DURATION_FORMS = "a number with us, ms or s (e.g. 20ms, 1.5s), or 0"
# One rule for every switch (limits, profiles, query parameters, flags): true or false, also
# written 1 or 0; a boolean or number where the format has them (JSON, TOML), else exactly
# that text. "yes", "on" or "True" are refused rather than guessed at, so the API, its
# schema, profiles and the CLI agree.
SWITCH_FORMS = "true or false (or 1 or 0)"
_SWITCH_WORDS = {"true": True, "1": True, "false": False, "0": False}

AMBIGUOUS_RATES = {
    "kbps": ("kbit", "KB/s"),
    "mbps": ("Mbit", "MB/s"),
    "gbps": ("Gbit", "GB/s"),
    "bps": ("bit", "B/s"),
}

_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z/\u00b5\u03bc]*)\s*$")
# Numbers beyond this many digits cannot be a limit; rejecting them early also keeps
# Decimal arithmetic away from its exponent limits.
_MAX_DIGITS = 40


class UnitError(ValueError):
    """A value that is not in an accepted form. The message says which forms are."""

    def __init__(self, kind: str, value: object, accepted: str, hint: str = ""):
        self.kind = kind
        self.value = value
        self.accepted = accepted
        self.hint = hint
        message = f"invalid {kind} {value!r}: expected {accepted}"
        if hint:
            message = f"invalid {kind} {value!r}: {hint}"
            if accepted not in hint:
                message += f". Expected {accepted}"
        super().__init__(message)


def parse_switch(raw: object, kind: str = "switch") -> bool:
    """A switch: True/False, the numbers 1/0, or the text 'true', 'false', '1' or '0'."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        found = _SWITCH_WORDS.get(raw)
        if found is not None:
            return found
    raise UnitError(kind, raw, SWITCH_FORMS)


def _split(kind: str, text: object, accepted: str) -> tuple[Decimal, str]:
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise UnitError(kind, text, accepted)
    match = _NUMBER.match(repr(text) if isinstance(text, int | float) else text)
    if not match:
        raise UnitError(kind, text, accepted)
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise UnitError(kind, text, accepted) from None
    if number.adjusted() > _MAX_DIGITS:
        raise UnitError(kind, text, accepted, hint="value is too large")
    return number, match.group(2)


def _plain(number: Decimal) -> str:
    """A number as plain digits (no exponent), for suggestions that can be pasted back."""
    return format(number.normalize(), "f")


def _to_int(kind: str, text: object, number: Decimal, factor: int, accepted: str) -> int:
    value = number * factor
    if value != value.to_integral_value():
        # Fractions below the base unit (half a byte, a tenth of a microsecond)
        # are rounded; they are far below anything the proxy can honour.
        value = value.to_integral_value()
    if value > 2**62:
        raise UnitError(kind, text, accepted, hint="value is too large")
    return int(value)


def parse_size(text: str | int) -> int:
    """Parse a size such as '256KiB' or '64KB' into bytes."""
    number, unit = _split("size", text, SIZE_FORMS)
    if unit == "":
        factor = 1
    elif unit in SIZE_UNITS:
        factor = SIZE_UNITS[unit]
    else:
        lowered = {k.lower(): k for k in SIZE_UNITS}
        if unit.lower() in lowered:
            hint = f"unit {unit!r} is not accepted; did you mean {lowered[unit.lower()]!r}?"
            raise UnitError("size", text, SIZE_FORMS, hint=hint + f" Expected {SIZE_FORMS}")
        raise UnitError("size", text, SIZE_FORMS)
    return _to_int("size", text, number, factor, SIZE_FORMS)


def parse_rate(text: str | int) -> int:
    """Parse a rate such as '2Mbit' or '500KiB/s' into bits per second. 0/off = unlimited."""
    if isinstance(text, str) and text.strip().lower() in ("off", "unlimited", "none"):
        return 0
    number, unit = _split("rate", text, RATE_FORMS)
    if unit == "":
        if number == 0:
            return 0
        raise UnitError(
            "rate",
            text,
            RATE_FORMS,
            hint=f"a rate needs a unit: did you mean {_plain(number)}Mbit or "
            f"{_plain(number)}KB/s? Expected {RATE_FORMS}",
        )
    lowered = unit.lower()
    if lowered in AMBIGUOUS_RATES:
        bits, bytes_ = AMBIGUOUS_RATES[lowered]
        raise UnitError(
            "rate",
            text,
            RATE_FORMS,
            hint=f"{unit!r} is ambiguous (bits or bytes per second?): write "
            f"{_plain(number)}{bits} for bits or {_plain(number)}{bytes_} for bytes",
        )
    bit_unit = lowered.removesuffix("/s").removesuffix("ps")
    if bit_unit in BIT_RATE_UNITS and "/" not in unit.removesuffix("/s"):
        factor = BIT_RATE_UNITS[bit_unit]
    elif unit in BYTE_RATE_UNITS:
        factor = BYTE_RATE_UNITS[unit]
    elif unit + "/s" in BYTE_RATE_UNITS:
        raise UnitError(
            "rate",
            text,
            RATE_FORMS,
            hint=f"{unit!r} is a size; a rate is {unit}/s (bytes per "
            f"second) or a bit rate such as Mbit. Expected {RATE_FORMS}",
        )
    else:
        raise UnitError("rate", text, RATE_FORMS)
    rate = _to_int("rate", text, number, factor, RATE_FORMS)
    if rate == 0 and number != 0:
        # Rounding a tiny rate to 0 would silently mean "unlimited".
        raise UnitError("rate", text, RATE_FORMS, hint="a rate must be at least 1bit")
    return rate


def parse_duration(text: str | int) -> int:
    """Parse a duration such as '20ms' into microseconds."""
    number, unit = _split("duration", text, DURATION_FORMS)
    if unit == "":
        if number == 0:
            return 0
        raise UnitError(
            "duration",
            text,
            DURATION_FORMS,
            hint=f"a duration needs a unit: did you mean {_plain(number)}ms? "
            f"Expected {DURATION_FORMS}",
        )
    factor = DURATION_UNITS.get(unit) or DURATION_UNITS.get(unit.lower())
    if unit.lower() in ("sec", "secs", "second", "seconds"):
        factor = DURATION_UNITS["s"]
    elif unit.lower() in ("\u00b5s", "\u03bcs", "usec"):
        factor = 1
    if not factor:
        raise UnitError("duration", text, DURATION_FORMS)
    return _to_int("duration", text, number, factor, DURATION_FORMS)


def _exact(value: int, factor: int, max_decimals: int = 3) -> str | None:
    """`value / factor` as a short exact decimal, or None if it needs more digits."""
    quotient = Decimal(value) / Decimal(factor)
    text = format(quotient.normalize(), "f")
    if "." in text and len(text.split(".")[1]) > max_decimals:
        return None
    return text


def _best(value: int, units: list[tuple[str, int]]) -> str | None:
    """Largest unit (units sorted small to large) that represents value exactly and shortly."""
    for name, factor in reversed(units):
        if value >= factor:
            text = _exact(value, factor)
            if text is not None:
                return f"{text}{name}"
    return None


def format_size(value: int) -> str:
    if value == 0:
        return "0B"
    binary = _best(value, [("B", 1), ("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3)])
    decimal = _best(value, [("B", 1), ("KB", 1000), ("MB", 1000**2), ("GB", 1000**3)])
    candidates = [c for c in (binary, decimal) if c]
    return min(candidates, key=len) if candidates else f"{value}B"


def format_rate(bits_per_second: int) -> str:
    if bits_per_second == 0:
        return "off"
    units = [("bit", 1), ("kbit", 1000), ("Mbit", 1000**2), ("Gbit", 1000**3)]
    candidates = [_best(bits_per_second, units) or f"{bits_per_second}bit"]
    if bits_per_second % 8 == 0:
        byte_units = [
            ("B/s", 8),
            ("KiB/s", 8 * 1024),
            ("MiB/s", 8 * 1024**2),
            ("GiB/s", 8 * 1024**3),
        ]
        in_bytes = _best(bits_per_second, byte_units)
        if in_bytes is not None and "." not in in_bytes:
            candidates.append(in_bytes)
    # Shortest wins; on a tie the bit rate (listed first) is kept.
    return min(candidates, key=len)


def format_duration(microseconds: int) -> str:
    if microseconds == 0:
        return "0ms"
    return _best(microseconds, [("us", 1), ("ms", 1000), ("s", 1_000_000)]) or f"{microseconds}us"


def human_bytes(value: float) -> str:
    """Rounded size for display: 1.5 MiB, 312 KiB, 87 B."""
    for name, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(value) >= factor:
            scaled = value / factor
            return f"{scaled:.1f} {name}" if scaled < 100 else f"{scaled:.0f} {name}"
    return f"{value:.0f} B"


def human_rate(bytes_per_second: float, bits: bool = False) -> str:
    """Rounded rate for display, in B/s (binary steps) or bit/s (decimal steps)."""
    if bits:
        value = bytes_per_second * 8
        for name, factor in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
            if value >= factor:
                scaled = value / factor
                return f"{scaled:.1f} {name}" if scaled < 100 else f"{scaled:.0f} {name}"
        return f"{value:.0f} bit/s"
    return human_bytes(bytes_per_second) + "/s"


def human_duration(microseconds: float) -> str:
    if microseconds >= 1_000_000:
        return f"{microseconds / 1e6:.2f} s"
    if microseconds >= 1000:
        return f"{microseconds / 1000:.1f} ms"
    return f"{microseconds:.0f} us"
