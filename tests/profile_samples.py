"""Profile texts and paths the profile tests share."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "profiles"
PRESET_FILES = sorted(PRESETS.glob("*.toml"))
REQUIRED = [
    "2g",
    "edge",
    "3g-slow",
    "3g",
    "3g-fast",
    "4g",
    "lte",
    "dsl",
    "cable",
    "fios",
    "dial-up",
    "wifi",
    "satellite-geo",
    "starlink",
    "very-bad-network",
    "tiny-buffers",
    "bufferbloat",
    "tunnel",
    "handover",
    "degrading",
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = """\
name = "office"
description = "the office wifi on a bad day"
source = "measured"

[upstream]
rate = "2Mbit"
latency = "20ms"

[downstream]
rate = "8Mbit"
latency = "25ms"
jitter = "5ms"
jitter_distribution = "normal"
buffer = "64KiB"
sockbuf = "32KiB"
"""
