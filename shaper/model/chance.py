"""Loss limits in the forms a user writes them: a probability per packet and a mean burst.

A probability is written as a percentage (`1%`, `0.5 %`) or a fraction (`0.01`); both
mean one packet in a hundred. It must be at least 0 and below 1: a path that loses every
packet delivers nothing, and TCP would give up on it, not recover.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from shaper.model.units import UnitError

LOSS_FORMS = (
    "a percentage such as 1% or 0.5%, or a fraction such as 0.01, from 0 up to (not including) 100%"
)
BURST_FORMS = "a mean number of consecutive lost packets, 1 (independent losses) or more, e.g. 3"
MAX_BURST = 1000.0


def _number(kind: str, raw: object, accepted: str) -> tuple[Decimal, bool]:
    """The number in `raw` and whether it was written with a percent sign."""
    if isinstance(raw, bool):
        raise UnitError(kind, raw, accepted)
    if isinstance(raw, int | float):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise UnitError(kind, raw, accepted)
        return Decimal(str(raw)), False
    if not isinstance(raw, str):
        raise UnitError(kind, raw, accepted)
    text = raw.strip()
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise UnitError(kind, raw, accepted) from None
    if not number.is_finite():
        raise UnitError(kind, raw, accepted)
    return number, percent


def parse_loss(raw: object) -> float:
    """`1%` or `0.01` -> 0.01. Raises UnitError outside [0, 1)."""
    number, percent = _number("loss", raw, LOSS_FORMS)
    value = number / 100 if percent else number
    if value < 0 or value >= 1:
        hint = f"{raw!r} is {'not below 100%' if value >= 1 else 'negative'}"
        if value >= 1 and not percent and number <= 100:
            hint += f" (a bare number is a fraction: for {number}% write '{number}%')"
        raise UnitError("loss", raw, LOSS_FORMS, hint=f"{hint}; expected {LOSS_FORMS}")
    return float(value)


def format_loss(probability: float) -> str:
    """0.01 -> '1%'; 0 -> '0%'."""
    return f"{round(probability * 100, 6):g}%"


def parse_burst(raw: object) -> float:
    """The mean length of a run of losses: 1 or more (at most MAX_BURST)."""
    number, percent = _number("loss_burst", raw, BURST_FORMS)
    if percent or number < 1 or number > Decimal(str(MAX_BURST)):
        raise UnitError("loss_burst", raw, BURST_FORMS + f" (at most {MAX_BURST:g})")
    return float(number)


def format_burst(burst: float) -> int | float:
    """A whole burst as an integer (TOML and JSON write `3`, not `3.0`)."""
    return int(burst) if burst == int(burst) else burst
