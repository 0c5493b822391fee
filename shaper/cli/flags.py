"""Every flag the verbs share, written once: routes, limits, the engine's own flags and the
flags that reach a running engine. `serve` and `run` read the same flags into the same
settings, so a mistake exits 2 in the parent before any child starts."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from shaper.control.endpoint import CONTROL_ENV, TOKEN_ENV
from shaper.faults import FAULT_TYPES, FaultError, parse_fault_flag
from shaper.model import traces
from shaper.model.addresses import AddressError, parse_address
from shaper.model.limits import DIRECTIONS, DirectionLimits, LimitError, Limits
from shaper.model.routes import (
    FIRST_ROUTE,
    NAME_FORM,
    Route,
    RouteError,
    check_route_name,
    default_route_name,
)
from shaper.model.units import UnitError, parse_duration

DEFAULT_CONTROL_PORT = 8475

# (key in DirectionLimits, flag stem, help)
LIMIT_FLAGS = (
    (
        "rate",
        "rate",
        "link rate, e.g. 2Mbit, 500KiB/s; 0/off = unlimited; or trace:NAME or trace:PATH "
        "(a Mahimahi capacity trace)",
    ),
    ("burst", "burst", "bytes the link may send at once after idling, e.g. 16KiB"),
    ("latency", "latency", "one-way delay, e.g. 40ms"),
    ("jitter", "jitter", "delay variation, e.g. 5ms (never reorders)"),
    ("jitter_distribution", "jitter-distribution", "uniform or normal"),
    ("buffer", "buffer", "the bounded queue, e.g. 64KiB (default 256KiB)"),
    ("sockbuf", "sockbuf", "SO_RCVBUF/SO_SNDBUF of the proxy's sockets, e.g. 64KiB, or default"),
    (
        "stall",
        "stall",
        "true or false (or 1 or 0): release nothing, so the queue fills and the sender blocks",
    ),
    ("link", "link", "shared (one link for every connection, the default) or per-connection"),
    ("tcp", "tcp", "emulated (each sender runs TCP across the path, the default) or off"),
    (
        "loss",
        "loss",
        "packets lost, e.g. 1%% or 0.01 (default 0); repaired as TCP would, so bytes arrive "
        "late, never missing (needs tcp emulated)",
    ),
    (
        "loss_burst",
        "loss-burst",
        "mean consecutive losses: 1 = independent (default), more = bursty (Gilbert model)",
    ),
)
# Flag prefix and the direction it sets (None: both).
DIRECTION_PREFIXES: tuple[tuple[str, str | None], ...] = (
    ("", None),
    ("up-", "upstream"),
    ("down-", "downstream"),
)


def limit_dest(prefix: str, key: str) -> str:
    """Where argparse keeps --{prefix}{stem}: limit_both_rate, limit_up_rate, ..."""
    return f"limit_{prefix.rstrip('-') or 'both'}_{key}"


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "limits",
        "--X sets both directions; --up-X (client to server) and --down-X "
        "(server to client) set one and win over --X",
    )
    for key, stem, help_text in LIMIT_FLAGS:
        for prefix, direction in DIRECTION_PREFIXES:
            text = help_text if direction is None else f"{direction} only"
            group.add_argument(
                f"--{prefix}{stem}", dest=limit_dest(prefix, key), metavar="VALUE", help=text
            )


def _given_limits(args: argparse.Namespace) -> list[tuple[str, str | None, str, str, Any]]:
    """(flag, direction, key, stem, value) of every limit flag given, in a fixed order."""
    found = []
    for prefix, direction in DIRECTION_PREFIXES:
        for key, stem, _ in LIMIT_FLAGS:
            value = getattr(args, limit_dest(prefix, key), None)
            if value is not None:
                found.append((f"--{prefix}{stem}", direction, key, stem, value))
    return found


def limit_changes_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser | None = None
) -> dict[str, dict[str, Any]]:
    """The limit flags given, as a partial limits dict. Bad values exit 2 naming the flag."""
    changes: dict[str, dict[str, Any]] = {d: {} for d in DIRECTIONS}
    given = _given_limits(args)
    if any(traces.is_trace(value) for *_, value in given):
        # Reading a trace file is the profiles layer's job; loaded only when one is named.
        from shaper.profiles import traces as trace_files

        trace_files.use_profiles_dir(getattr(args, "profiles_dir", None))
    for flag, direction, key, _, value in given:
        try:
            DirectionLimits().patched({key: value})
        except LimitError as exc:
            message = f"argument {flag}: {str(exc).split(': ', 1)[1]}"
            if parser is not None:
                parser.error(message)
            raise LimitError(flag, value, exc.accepted, message) from None
        for target in (direction,) if direction else DIRECTIONS:
            changes[target][key] = value
    return {d: c for d, c in changes.items() if c}


def limit_argv(args: argparse.Namespace) -> list[str]:
    """The limit flags given, as arguments again (for a child `shaper serve`)."""
    argv: list[str] = []
    for flag, _, _, _, value in _given_limits(args):
        argv += [flag, str(value)]
    return argv


# -- routes ---------------------------------------------------------------------------


def add_route_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("routes")
    group.add_argument(
        "--listen", metavar="HOST:PORT", help="where clients connect (host defaults to 127.0.0.1)"
    )
    group.add_argument("--upstream", metavar="HOST:PORT", help="the real server")
    group.add_argument(
        "--name",
        metavar="NAME",
        help=f"the name of the --listen/--upstream route (default {FIRST_ROUTE}); {NAME_FORM}",
    )
    group.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="[NAME=]LISTEN=UPSTREAM",
        help="another listener and its upstream, e.g. db=15432=127.0.0.1:5432; repeatable; "
        "all routes share the limits. Unnamed routes are named by their place among the "
        f"routes: the first {FIRST_ROUTE}, then route2, route3, ...",
    )
    group.add_argument(
        "--connect-timeout",
        default="5s",
        metavar="DURATION",
        help="how long to wait for the upstream to accept (default 5s)",
    )


def route_argv(args: argparse.Namespace) -> list[str]:
    argv: list[str] = []
    if args.listen:
        argv += ["--listen", args.listen]
    if args.upstream:
        argv += ["--upstream", args.upstream]
    if args.name is not None:
        argv += ["--name", args.name]
    for route in args.route:
        argv += ["--route", route]
    return argv + ["--connect-timeout", args.connect_timeout]


ROUTE_FORMS = "[NAME=]LISTEN=UPSTREAM (e.g. 15432=127.0.0.1:5432 or db=15432=127.0.0.1:5432)"


def parse_routes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Route]:
    """The routes of the command line, each named: unnamed ones by their place (the same
    rule as the engine's, so `serve` prints the names the API then knows)."""
    routes: list[Route] = []
    try:
        if args.name is not None and not (args.listen or args.upstream):
            parser.error(
                "argument --name: names the --listen/--upstream route; give those "
                "too, or name a --route as NAME=LISTEN=UPSTREAM"
            )
        if args.listen or args.upstream:
            if not (args.listen and args.upstream):
                given, missing = (
                    ("--listen", "--upstream") if args.listen else ("--upstream", "--listen")
                )
                parser.error(f"{missing} is required with {given}")
            name = check_route_name(args.name, "--name") if args.name is not None else ""
            routes.append(
                Route(
                    parse_address(args.listen, "127.0.0.1", "--listen address"),
                    parse_address(args.upstream, None, "--upstream address"),
                    name or FIRST_ROUTE,
                )
            )
        for spec in args.route:
            parts = spec.split("=")
            if len(parts) not in (2, 3):
                parser.error(f"argument --route: {spec!r} is not {ROUTE_FORMS}")
            name = check_route_name(parts[0], "--route name") if len(parts) == 3 else ""
            listen, upstream = parts[-2:]
            routes.append(
                Route(
                    parse_address(listen, "127.0.0.1", "--route listen address"),
                    parse_address(upstream, None, "--route upstream address"),
                    name or default_route_name(len(routes) + 1),
                )
            )
    except AddressError as exc:
        parser.error(str(exc))
    except RouteError as exc:
        parser.error(
            f"argument {exc.field.split()[0]}: invalid name {exc.value!r}: expected {exc.accepted}"
        )
    if not routes and not getattr(args, "toxiproxy", None):
        parser.error(
            "nothing to proxy: give --listen HOST:PORT --upstream HOST:PORT, "
            f"or --route {ROUTE_FORMS}"
        )
    seen: dict[str, int] = {}
    for position, route in enumerate(routes, 1):
        if route.name in seen:
            parser.error(
                f"route name {route.name!r} is given twice (routes {seen[route.name]} and "
                f"{position}); each route needs a name of its own (--name, or --route "
                "NAME=LISTEN=UPSTREAM)"
            )
        seen[route.name] = position
    return routes


# -- the engine's own flags -----------------------------------------------------------


def add_profile_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("profile")
    group.add_argument(
        "--profile", metavar="NAME|PATH", help="start from a saved profile; limit flags override it"
    )
    group.add_argument("--profiles-dir", metavar="DIR", help="look for profiles here first")


LOG_FORMATS = ("text", "json")


def add_engine_flags(parser: argparse.ArgumentParser, *, headless: bool = True) -> None:
    """The flags of an engine that `serve` runs in the foreground and `run` as a child
    (`headless=False`: the display owns the terminal, so no event log and no stdout)."""
    add_profile_flags(parser)
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="serve the control API here (port 0 picks one; loopback unless a token is set)"
        + ("" if headless else "; default: a free loopback port, shown on the screen"),
    )
    group.add_argument(
        "--control-token", metavar="TOKEN", help="bearer token the control API requires"
    )
    group.add_argument(
        "--stats-jsonl",
        metavar="PATH",
        help="write one JSON snapshot per interval" + (" ('-' = stdout)" if headless else ""),
    )
    group.add_argument("--stats-interval", default="1s", metavar="DURATION", help="default 1s")
    add_fault_flags(parser)
    if headless:
        group.add_argument(
            "--log",
            action="store_true",
            help="print every event to stderr, one line each (connects, closes, resets, "
            "errors, limit and profile changes, scenario phases)",
        )
        group.add_argument(
            "--log-format",
            choices=LOG_FORMATS,
            default=None,
            help="text (the default) or json: one JSON object per line, the API's events "
            "(implies --log)",
        )
        group.add_argument("--ready-fd", type=int, metavar="FD", help=argparse.SUPPRESS)


def add_fault_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "faults",
        "--fault TYPE[:key=value,...], repeatable; keys: name, direction, toxicity, route and "
        "the type's settings, e.g. --fault reset_peer:after=2s,toxicity=0.2. Types: "
        + ", ".join(FAULT_TYPES)
        + " (see 'shaper faults types')",
    )
    group.add_argument(
        "--fault", action="append", default=[], metavar="TYPE[:K=V,...]", help="add a fault"
    )
    group.add_argument(
        "--seed",
        metavar="N",
        help="seed of every random draw (which connections a fault touches, slicer sizes): "
        "the same seed replays the same choices; default: a fresh one, shown in /v1/status",
    )


def parse_fault_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Any]:
    faults = []
    names: set[str] = set()
    for text in args.fault:
        try:
            spec = parse_fault_flag(text)
        except FaultError as exc:
            parser.error(f"argument --fault {text!r}: {exc}")
        if spec.name in names:
            parser.error(
                f"argument --fault {text!r}: a fault named {spec.name!r} is given already; "
                f"name this one, e.g. {spec.type}:name={spec.type}-2"
            )
        names.add(spec.name)
        faults.append(spec)
    return faults


def parse_seed(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int | None:
    if args.seed is None:
        return None
    text = str(args.seed).strip()
    if not text.isdigit() or int(text) >= 2**63:
        parser.error(
            f"argument --seed: invalid value {args.seed!r}: expected a whole number "
            "from 0 (e.g. --seed 42)"
        )
    return int(text)


def fault_argv(args: argparse.Namespace) -> list[str]:
    """The fault and seed flags given, as arguments again (for a child `shaper serve`)."""
    argv: list[str] = []
    for text in args.fault:
        argv += ["--fault", text]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    return argv


def checked_control(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[str, int] | None:
    """Where --control asks for the control API, checked before anything starts: a bad
    address, or one off loopback without --control-token, exits 2."""
    if not args.control:
        return None
    from shaper.control.security import ControlSecurityError, check_bind

    try:
        control = parse_control_address(args.control)
        check_bind(control[0], args.control_token)
    except (ValueError, ControlSecurityError) as exc:
        parser.error(f"argument --control: {exc}")
    return control


def parse_control_address(text: str) -> tuple[str, int]:
    """Where to serve the control API: '127.0.0.1:8475', '[::1]:0', ':8475' or a bare port
    (loopback), with or without 'http://'."""
    raw = text.strip()
    if raw.startswith("http://"):
        raw = raw[len("http://") :].rstrip("/")
    try:
        return parse_address(raw, "127.0.0.1", "--control address")
    except AddressError as exc:
        raise ValueError(str(exc)) from None


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """How a verb reaches a running engine."""
    group = parser.add_argument_group("control")
    group.add_argument(
        "--control",
        metavar="URL",
        default=None,
        help=f"the engine's control API (default ${CONTROL_ENV} or "
        f"http://127.0.0.1:{DEFAULT_CONTROL_PORT})",
    )
    group.add_argument(
        "--control-token",
        metavar="TOKEN",
        default=None,
        help=f"bearer token, if the engine requires one (default ${TOKEN_ENV})",
    )


# -- settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSettings:
    """What `serve` and `run` read from their flags."""

    routes: list[Route]
    limits: Limits
    changes: dict[str, dict[str, Any]]  # the explicit limit flags; they win over the profile
    profile: Any  # a loaded Profile, or None
    connect_timeout: float  # seconds
    stats_interval: float  # seconds
    faults: list[Any] = field(default_factory=list)  # FaultSpec, from --fault
    seed: int | None = None


def duration_flag(parser: argparse.ArgumentParser, flag: str, value: str) -> float:
    """A duration flag in seconds; must be more than 0."""
    try:
        seconds = parse_duration(value) / 1_000_000
    except UnitError as exc:
        parser.error(f"argument {flag}: {exc}")
    if seconds <= 0:
        parser.error(f"argument {flag}: must be more than 0 (e.g. 5s)")
    return seconds


def engine_settings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> EngineSettings:
    routes = parse_routes(args, parser)
    changes = limit_changes_from_args(args, parser)
    profile = None
    if args.profile:
        from shaper.profiles import ProfileError, load_profile
        from shaper.profiles import traces as trace_files

        trace_files.use_profiles_dir(args.profiles_dir)  # a profile's trace:NAME looks there too
        try:
            profile = load_profile(args.profile, args.profiles_dir)
        except ProfileError as exc:
            parser.error(f"argument --profile: {exc}")
    base = profile.limits if profile is not None else Limits()
    try:
        limits = base.patched(changes)
    except LimitError as exc:
        parser.error(str(exc))
    faults = parse_fault_flags(args, parser)
    route_names = [route.name for route in routes if route.name]
    for spec in faults:
        if spec.route is not None and spec.route not in route_names:
            parser.error(
                f"argument --fault: route {spec.route!r} is not a route of this engine; "
                f"routes: {', '.join(route_names) or 'none named'}"
            )
    return EngineSettings(
        routes=routes,
        limits=limits,
        changes=changes,
        profile=profile,
        connect_timeout=duration_flag(parser, "--connect-timeout", args.connect_timeout),
        stats_interval=duration_flag(parser, "--stats-interval", args.stats_interval),
        faults=faults,
        seed=parse_seed(args, parser),
    )
