"""The limits the display tests run their engine with."""

from __future__ import annotations

from shaper.model.limits import Limits

DEFAULT_LIMITS = Limits.from_dict(
    {
        "upstream": {"rate": "8Mbit", "buffer": "64KiB"},
        "downstream": {"rate": "8Mbit", "latency": "10ms", "buffer": "64KiB"},
    }
)
