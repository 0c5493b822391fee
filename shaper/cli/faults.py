"""`shaper faults`: list, add and remove the faults of a running engine; `types` lists
what each fault does (no engine needed)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from shaper.cli import exits
from shaper.cli.flags import add_client_flags
from shaper.cli.remote import client_for, report
from shaper.control.endpoint import ControlError
from shaper.faults import FAULT_TYPES, FaultError, fault_to_dict, parse_fault_flag

ACTIONS = ("list", "add", "rm", "types")


def register(subparsers: Any) -> None:
    faults = subparsers.add_parser(
        "faults",
        help="list, add or remove the faults of a running engine",
        description="shaper faults [list] | add TYPE[:key=value,...] | rm NAME | types. "
        "Example: shaper faults add reset_peer:after=2s,toxicity=0.2,direction=both",
    )
    add_client_flags(faults)
    faults.add_argument(
        "action",
        nargs="?",
        default="list",
        metavar="ACTION",
        help="list (the default), add, rm or types",
    )
    faults.add_argument(
        "spec",
        nargs="?",
        metavar="FAULT|NAME",
        help="for add: TYPE[:key=value,...]; for rm: the fault's name",
    )
    faults.add_argument("--json", action="store_true", help="print JSON")
    faults.set_defaults(func=cmd_faults, parser=faults)


def cmd_faults(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.action not in ACTIONS:
        parser.error(
            f"argument ACTION: invalid value {args.action!r}: expected " + ", ".join(ACTIONS)
        )
    if args.action == "types":
        print(format_types())
        return exits.OK
    body: dict[str, Any] | None = None
    if args.action in ("add", "rm") and not args.spec:
        what = "TYPE[:key=value,...]" if args.action == "add" else "NAME"
        parser.error(
            f"{args.action}: give {what}, e.g. shaper faults {args.action} "
            + ("timeout:after=2s" if args.action == "add" else "timeout")
        )
    if args.action == "list" and args.spec:
        parser.error(f"list takes no argument (got {args.spec!r})")
    if args.action == "add":
        try:
            body = fault_to_dict(parse_fault_flag(args.spec))
        except FaultError as exc:
            parser.error(f"add {args.spec!r}: {exc}")
        assert body is not None
        explicit = {k.split("=", 1)[0].strip() for k in args.spec.partition(":")[2].split(",")}
        if "name" not in explicit:
            del body["name"]  # the engine names it after its type
    try:
        result = asyncio.run(_act(args, body))
    except ControlError as exc:
        return report("faults", exc)
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.action == "rm":
        print(f"fault {args.spec} removed")
    elif args.action == "add":
        print("added " + format_fault(result))
    else:
        print("\n".join(format_fault(f) for f in result) if result else "no faults in force")
    return exits.OK


async def _act(args: argparse.Namespace, body: dict[str, Any] | None) -> Any:
    async with client_for(args) as client:
        if args.action == "add":
            assert body is not None
            return await client.add_fault(body)
        if args.action == "rm":
            await client.remove_fault(args.spec)
            return {"removed": args.spec}
        return await client.faults()


def format_fault(fault: dict[str, Any]) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in fault["settings"].items())
    where = f" on route {fault['route']}" if fault.get("route") else ""
    line = (
        f"{fault['name']}: {fault['type']} {fault['direction']}{where}, "
        f"toxicity {fault['toxicity']:g}"
    )
    if settings:
        line += f", {settings}"
    if "connections" in fault:
        line += f"; touching {fault['connections']} open connection(s)"
    return line


def format_types() -> str:
    lines = []
    for kind in FAULT_TYPES.values():
        lines.append(f"{kind.type}: {kind.summary}")
        lines.append(
            f"    direction: {' | '.join(kind.directions)} (default {kind.default_direction})"
        )
        for setting in kind.settings:
            lines.append(
                f"    {setting.name}: {setting.help} (default {setting.format(setting.default)})"
            )
    lines.append("every type: name, toxicity (0-1 or 20%, default 1), route (a route's name)")
    return "\n".join(lines)
