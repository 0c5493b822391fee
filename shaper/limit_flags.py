"""The limit flags shared by `serve`, `run` and `limits`: --rate sets both directions,
--up-rate / --down-rate one of them, and so on for every limit."""

from __future__ import annotations

import argparse
from typing import Any

from shaper.limits import DirectionLimits, LimitError

# (key in DirectionLimits, flag stem, help)
LIMIT_FLAGS = (
    ("rate", "rate", "link rate, e.g. 2Mbit, 500KiB/s; 0/off = unlimited"),
    ("burst", "burst", "bytes the link may send at once after idling, e.g. 16KiB"),
    ("latency", "latency", "one-way delay, e.g. 40ms"),
    ("jitter", "jitter", "delay variation, e.g. 5ms (never reorders)"),
    ("jitter_distribution", "jitter-distribution", "uniform or normal"),
    ("buffer", "buffer", "the bounded queue, e.g. 64KiB (default 256KiB)"),
    ("sockbuf", "sockbuf", "SO_RCVBUF/SO_SNDBUF of the proxy's sockets, e.g. 64KiB, or default"),
    ("stall", "stall", "true/false: release nothing, so the queue fills and the sender blocks"),
)
_PREFIXES = (("", None), ("up-", "upstream"), ("down-", "downstream"))


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "limits",
        "--X sets both directions; --up-X (client to server) and --down-X "
        "(server to client) set one and win over --X",
    )
    for key, stem, help_text in LIMIT_FLAGS:
        for prefix, direction in _PREFIXES:
            flag = f"--{prefix}{stem}"
            text = help_text if direction is None else f"{direction} only"
            group.add_argument(
                flag, dest=f"limit_{prefix.rstrip('-') or 'both'}_{key}", metavar="VALUE", help=text
            )


def limit_changes_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser | None = None
) -> dict[str, dict[str, Any]]:
    """The limit flags given, as a partial limits dict. Bad values exit 2 naming the flag."""
    changes: dict[str, dict[str, Any]] = {"upstream": {}, "downstream": {}}
    for prefix, direction in _PREFIXES:
        for key, stem, _ in LIMIT_FLAGS:
            value = getattr(args, f"limit_{prefix.rstrip('-') or 'both'}_{key}", None)
            if value is None:
                continue
            flag = f"--{prefix}{stem}"
            try:
                DirectionLimits().patched({key: value})
            except LimitError as exc:
                message = f"argument {flag}: {str(exc).split(': ', 1)[1]}"
                if parser is not None:
                    parser.error(message)
                raise LimitError(flag, value, exc.accepted, message) from None
            for target in (direction,) if direction else ("upstream", "downstream"):
                changes[target][key] = value
    return {d: c for d, c in changes.items() if c}
