"""`shaper limits` and `shaper stats`: verbs on a running engine, through its control API."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from shaper.cli import exits
from shaper.cli.flags import add_client_flags, add_limit_flags, limit_changes_from_args
from shaper.control.endpoint import ControlError, default_control_url
from shaper.model import units
from shaper.model.limits import DIRECTIONS, LIMIT_KEYS, Limits
from shaper.model.snapshots import EngineStats

if TYPE_CHECKING:
    from shaper.control.client import ControlClient


def register(subparsers: Any) -> None:
    limits = subparsers.add_parser(
        "limits",
        help="show or change the limits of a running engine",
        description="Without limit flags, print the limits in effect; with them, change "
        "those limits live (the others stay) and print the result. Example: "
        "shaper limits --down-rate 2Mbit --latency 40ms",
    )
    add_client_flags(limits)
    limits.add_argument(
        "--connection",
        type=int,
        metavar="ID",
        help="act on one connection's limits instead of the engine-wide ones "
        "(changing them gives the connection its own override)",
    )
    limits.add_argument(
        "--clear",
        action="store_true",
        help="with --connection: drop its override so it follows the engine-wide limits",
    )
    limits.add_argument("--json", action="store_true", help="print JSON")
    add_limit_flags(limits)
    limits.set_defaults(func=cmd_limits, parser=limits)

    stats = subparsers.add_parser(
        "stats",
        help="print a one-shot snapshot of a running engine",
        description="Totals and each direction's stages (queue, wire, kernel buffers), "
        "and with --connections one line per connection direction.",
    )
    add_client_flags(stats)
    stats.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    stats.add_argument("--connections", action="store_true", help="add every open connection")
    stats.set_defaults(func=cmd_stats, parser=stats)


def client_for(args: argparse.Namespace) -> ControlClient:
    """The control client a verb's --control and --control-token flags point at."""
    from shaper.control.client import ControlClient

    return ControlClient(args.control or default_control_url(), token=args.control_token)


def report(command: str, exc: ControlError) -> int:
    """Print a control API failure; the exit code says whose fault it was."""
    print(f"shaper {command}: error: {exc.message}", file=sys.stderr)
    if exc.status == 0:
        print(
            "  is an engine running with --control? (shaper serve --control 127.0.0.1:8475 ...)",
            file=sys.stderr,
        )
        return exits.FAILED
    return exits.USAGE if 400 <= exc.status < 500 else exits.FAILED


# -- limits ----------------------------------------------------------------------------


def cmd_limits(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    changes = limit_changes_from_args(args, parser)
    if args.clear and args.connection is None:
        parser.error("argument --clear: needs --connection ID")
    if args.clear and changes:
        parser.error("argument --clear: cannot be combined with limit flags")
    try:
        limits = asyncio.run(_limits(args, changes))
    except ControlError as exc:
        return report("limits", exc)
    if args.json:
        print(json.dumps(limits.to_dict(), indent=2))
    else:
        title = (
            f"connection {args.connection} limits"
            if args.connection is not None
            else "engine limits"
        )
        print(format_limits(limits, title=title, changed=changes))
    return exits.OK


async def _limits(args: argparse.Namespace, changes: dict[str, Any]) -> Limits:
    async with client_for(args) as client:
        if args.connection is not None:
            if args.clear:
                return await client.clear_connection_limits(args.connection)
            if changes:
                return await client.patch_connection_limits(args.connection, changes)
            return await client.connection_limits(args.connection)
        if changes:
            return await client.patch_limits(changes)
        return await client.limits()


def format_limits(
    limits: Limits, title: str = "limits", changed: dict[str, Any] | None = None
) -> str:
    """A two-column table; changed values are marked with '*'."""
    changed = changed or {}
    data = limits.to_dict()
    width = max(len(k) for k in LIMIT_KEYS)
    # Wide enough for a trace:NAME upstream (plus its mark), 14 otherwise.
    column = max(14, len(data["upstream"]["rate"]) + 3)
    lines = [title, f"  {'':<{width}}  {'upstream':<{column}}downstream"]
    for key in LIMIT_KEYS:
        cells = []
        for direction in DIRECTIONS:
            value = data[direction][key]
            # As the flags take it back: `--up-stall true` (a switch refuses "on").
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            if key in changed.get(direction, {}):
                text += " *"
            cells.append(f"{text:<{column}}")
        lines.append(f"  {key:<{width}}  {''.join(cells)}".rstrip())
        if key == "rate" and any("trace_rate" in data[d] for d in DIRECTIONS):
            # A trace's mean rate, under the trace:NAME it comes from.
            means = []
            for d in DIRECTIONS:
                mean = f"~{data[d]['trace_rate']} mean" if "trace_rate" in data[d] else ""
                means.append(f"{mean:<{column}}")
            lines.append(f"  {'':<{width}}  {''.join(means)}".rstrip())
    if changed:
        lines.append("  (* changed now)")
    return "\n".join(lines)


# -- stats -----------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        snapshot = asyncio.run(_stats(args))
    except ControlError as exc:
        return report("stats", exc)
    if args.json:
        print(json.dumps(snapshot.to_dict(), indent=2))
    else:
        print(format_stats(snapshot))
    return exits.OK


async def _stats(args: argparse.Namespace) -> EngineStats:
    async with client_for(args) as client:
        return await client.stats(connections=args.connections)


def _size(value: int | None) -> str:
    return "n/a" if value is None else units.human_bytes(value)


_COLUMNS = (
    ("direction", 10),
    ("state", 13),
    ("in", 10),
    ("out", 10),
    ("rate in", 12),
    ("rate out", 12),
    ("queue", 20),
    ("wire", 10),
    ("sink buf", 10),
    ("kernel rx", 10),
    ("kernel tx", 10),
)


def _direction_row(label: str, d: Any) -> str:
    cells = [
        label,
        d.state,
        _size(d.bytes_in),
        _size(d.bytes_out),
        units.human_rate(d.rate_in, bits=True),
        units.human_rate(d.rate_out, bits=True),
        f"{_size(d.queue)}/{_size(d.queue_capacity)}",
        _size(d.wire),
        _size(d.sink_buffer),
        _size(d.source_kernel_rx),
        _size(d.sink_kernel_tx),
    ]
    return "  ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, _COLUMNS, strict=True)).rstrip()


def format_stats(s: EngineStats) -> str:
    lines = [
        f"uptime {s.uptime:.1f}s   connections {s.connections_open} open, "
        f"{s.connections_total} total   resets {s.resets}   errors {s.errors}"
        + (f"   profile {s.profile}" if s.profile else ""),
        f"delivered since start: {_size(s.bytes_upstream)} upstream, "
        f"{_size(s.bytes_downstream)} downstream",
    ]
    if s.scenario:
        phase = s.scenario.get("phase")
        next_in = s.scenario.get("next_in")
        lines.append(
            f"scenario phase {phase}"
            + (f", next in {next_in:.1f}s" if isinstance(next_in, int | float) else "")
        )
    header = "  ".join(f"{name:<{w}}" for name, w in _COLUMNS).rstrip()
    lines += ["", header]
    for direction in DIRECTIONS:
        lines.append(_direction_row(direction, getattr(s, direction)))
    if s.connections:
        lines += ["", "connections"]
        for conn in s.connections:
            flag = "  (own limits)" if conn.limits_override else ""
            lines.append(
                f"#{conn.id} {conn.client} -> {conn.server}  {conn.state}  "
                f"age {conn.age:.1f}s{flag}"
            )
            for direction in DIRECTIONS:
                lines.append("  " + _direction_row(direction, getattr(conn, direction)))
    elif s.connections is not None:
        lines += ["", "no open connections"]
    return "\n".join(lines)
