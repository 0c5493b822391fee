"""`shaper routes`: list, add, remove, disable and enable the routes of a running engine."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from shaper.cli import exits
from shaper.cli.flags import add_limit_flags, limit_changes_from_args
from shaper.cli.remote import client_for, report
from shaper.control.endpoint import CONTROL_ENV, TOKEN_ENV, ControlError
from shaper.model.addresses import AddressError, format_address, parse_address
from shaper.model.routes import NAME_FORM, RouteError, RouteState, check_route_name

ACTIONS = ("list", "add", "rm", "disable", "enable")


def _client_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """--control and --control-token, taken before or after the action. After it, they are
    left out of the namespace unless given, so they never undo the ones given before."""
    group = parser.add_argument_group("control")
    group.add_argument(
        "--control",
        metavar="URL",
        default=default,
        help=f"the engine's control API (default ${CONTROL_ENV} or http://127.0.0.1:8475)",
    )
    group.add_argument(
        "--control-token",
        metavar="TOKEN",
        default=default,
        help=f"bearer token, if the engine requires one (default ${TOKEN_ENV})",
    )


def register(subparsers: Any) -> None:
    routes = subparsers.add_parser(
        "routes",
        help="list, add, remove, disable or enable the routes of a running engine",
        description="Without an action, list the routes. Examples: shaper routes add db "
        "15432 127.0.0.1:5432; shaper routes disable db; shaper routes enable db; "
        "shaper routes rm db. A route's name: " + NAME_FORM + ".",
    )
    _client_flags(routes, None)
    routes.set_defaults(func=cmd_routes, parser=routes, json=False)
    actions = routes.add_subparsers(dest="action", metavar="ACTION")

    listing = actions.add_parser("list", help="every route (the default)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add = actions.add_parser(
        "add",
        help="listen for a new route now",
        description="shaper routes add [NAME] LISTEN UPSTREAM [limit flags]: listen on LISTEN "
        "(HOST:PORT or PORT; port 0 picks a free one, printed) and proxy to UPSTREAM. "
        "Without NAME the engine names it (main for the first route, then route2, "
        "route3, ... by place). Limit flags give the route limits of its own, on top of "
        "the engine-wide ones in force (with link = shared its connections share a link "
        "of the route's own); without them the engine-wide limits apply and follow their "
        "changes.",
    )
    add.add_argument("spec", nargs="+", metavar="[NAME] LISTEN UPSTREAM")
    add.add_argument("--json", action="store_true", help="print the route as JSON")
    add_limit_flags(add)
    for action, text in (
        ("rm", "remove a route: its listener and its connections are closed"),
        ("disable", "stop listening and close the route's connections (new connects are refused)"),
        ("enable", "listen on the route's address again"),
    ):
        verb = actions.add_parser(action, help=text, description=text)
        verb.add_argument("name", metavar="NAME")
    for action, parser in actions.choices.items():
        _client_flags(parser, argparse.SUPPRESS)
        parser.set_defaults(func=cmd_routes, parser=parser, action=action)


def _checked_name(parser: argparse.ArgumentParser, name: str, where: str) -> str:
    try:
        return check_route_name(name, where)
    except RouteError as exc:
        parser.error(f"{where}: invalid name {name!r}: expected {exc.accepted}")


def _checked_address(
    parser: argparse.ArgumentParser, text: str, what: str, default_host: str | None
) -> None:
    try:
        parse_address(text, default_host, what)
    except AddressError as exc:
        parser.error(str(exc))


def cmd_routes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    action = args.action = args.action or "list"  # `shaper routes` alone lists
    request: dict[str, Any] = {}
    if action == "add":
        if len(args.spec) not in (2, 3):
            parser.error(
                f"expected [NAME] LISTEN UPSTREAM, got {len(args.spec)} value(s): "
                f"{' '.join(args.spec)!r} (e.g. shaper routes add db 15432 127.0.0.1:5432)"
            )
        *name, listen, upstream = args.spec
        if name:
            _checked_name(parser, name[0], "NAME")
        _checked_address(parser, listen, "LISTEN address", "127.0.0.1")
        _checked_address(parser, upstream, "UPSTREAM address", None)
        request = {
            "listen": listen,
            "upstream": upstream,
            "name": name[0] if name else None,
            "limits": limit_changes_from_args(args, parser) or None,
        }
    elif action != "list":
        _checked_name(parser, args.name, "NAME")
    try:
        result = asyncio.run(_call(args, request))
    except ControlError as exc:
        return report(f"routes {action}", exc)
    if action == "list":
        assert isinstance(result, list)
        if args.json:
            print(json.dumps([r.to_dict() for r in result], indent=2))
        else:
            print(format_routes(result))
    elif action == "add":
        assert isinstance(result, RouteState)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            print(
                f"route {result.name} added: {result.description}"
                + (" (limits of its own)" if result.limits is not None else "")
            )
    else:
        done = {"rm": "removed", "disable": "disabled", "enable": "enabled"}[action]
        print(f"route {args.name} {done}", file=sys.stdout)
    return exits.OK


async def _call(args: argparse.Namespace, request: dict[str, Any]) -> Any:
    async with client_for(args) as client:
        if args.action == "list":
            return await client.routes()
        if args.action == "add":
            return await client.add_route(**request)
        if args.action == "rm":
            return await client.remove_route(args.name)
        return await client.set_route_enabled(args.name, args.action == "enable")


def format_routes(routes: list[RouteState]) -> str:
    if not routes:
        return "no routes (add one: shaper routes add [NAME] LISTEN UPSTREAM)"
    rows = [("name", "listen", "upstream", "state", "open", "limits")]
    for r in routes:
        rows.append(
            (
                r.name,
                format_address(r.listen),
                format_address(r.upstream),
                "enabled" if r.enabled else "disabled",
                str(r.connections_open),
                "own" if r.limits is not None else "engine-wide",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
