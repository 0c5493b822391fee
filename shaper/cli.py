"""The `shaper` command. `serve` runs the engine headless; other verbs register themselves."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
from typing import Any

from shaper.addresses import AddressError, parse_address
from shaper.limit_flags import add_limit_flags, limit_changes_from_args
from shaper.limits import LimitError, Limits
from shaper.proxy import Engine, Route

# Modules that add their own subcommands with register(subparsers).
VERB_MODULES = ("shaper.cli_control", "shaper.cli_profiles", "tui.cli")


class UsageError(Exception):
    """Bad input found after parsing (a profile that does not load, a port in use)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shaper",
        description="A TCP proxy that makes a fast link slow, laggy and shallow-buffered, "
        "and shows where the bytes wait.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    serve = subparsers.add_parser(
        "serve",
        help="run the proxy engine headless (no UI)",
        description="Run the engine headless.",
    )
    add_route_flags(serve)
    add_limit_flags(serve)
    add_engine_flags(serve)
    serve.set_defaults(func=run_serve, _parser=serve)
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name in (name, "textual"):
                continue
            raise
        module.register(subparsers)
    return parser


def add_route_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("routes")
    group.add_argument(
        "--listen", metavar="HOST:PORT", help="where clients connect (host defaults to 127.0.0.1)"
    )
    group.add_argument("--upstream", metavar="HOST:PORT", help="the real server")
    group.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="LISTEN=UPSTREAM",
        help="another listener and its upstream; repeatable; all routes share the limits",
    )
    group.add_argument(
        "--connect-timeout",
        default="5s",
        metavar="DURATION",
        help="how long to wait for the upstream to accept (default 5s)",
    )


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--profile", metavar="NAME|PATH", help="start from a saved profile; limit flags override it"
    )
    group.add_argument("--profiles-dir", metavar="DIR", help="look for profiles here first")
    group.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="serve the control API here (port 0 picks one; loopback unless a token is set)",
    )
    group.add_argument(
        "--control-token", metavar="TOKEN", help="bearer token the control API requires"
    )
    group.add_argument(
        "--stats-jsonl", metavar="PATH", help="write one JSON snapshot per interval ('-' = stdout)"
    )
    group.add_argument("--stats-interval", default="1s", metavar="DURATION", help="default 1s")
    group.add_argument("--ready-fd", type=int, metavar="FD", help=argparse.SUPPRESS)


def parse_routes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Route]:
    routes = []
    try:
        if args.listen or args.upstream:
            if not (args.listen and args.upstream):
                missing = "--upstream" if args.listen else "--listen"
                parser.error(
                    f"{missing} is required with {'--listen' if args.listen else '--upstream'}"
                )
            routes.append(
                Route(
                    parse_address(args.listen, "127.0.0.1", "--listen address"),
                    parse_address(args.upstream, None, "--upstream address"),
                )
            )
        for spec in args.route:
            listen, sep, upstream = spec.partition("=")
            if not sep:
                parser.error(
                    f"argument --route: {spec!r} is not LISTEN=UPSTREAM (e.g. 15432=127.0.0.1:5432)"
                )
            routes.append(
                Route(
                    parse_address(listen, "127.0.0.1", "--route listen address"),
                    parse_address(upstream, None, "--route upstream address"),
                )
            )
    except AddressError as exc:
        parser.error(str(exc))
    if not routes:
        parser.error(
            "nothing to proxy: give --listen HOST:PORT --upstream HOST:PORT, "
            "or --route LISTEN=UPSTREAM"
        )
    return routes


def parse_duration_flag(parser: argparse.ArgumentParser, flag: str, value: str) -> float:
    from shaper.units import UnitError, parse_duration

    try:
        return parse_duration(value) / 1_000_000
    except UnitError as exc:
        parser.error(f"argument {flag}: {exc}")
    raise AssertionError  # parser.error exits


def engine_settings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Everything serve and run share: routes, limits (profile + flags), timeouts."""
    routes = parse_routes(args, parser)
    changes = limit_changes_from_args(args, parser)
    profile = None
    if args.profile:
        from shaper.profiles import ProfileError, load_profile

        try:
            profile = load_profile(args.profile, args.profiles_dir)
        except ProfileError as exc:
            parser.error(f"argument --profile: {exc}")
    base = profile.limits if profile is not None else Limits()
    try:
        limits = base.patched(changes)
    except LimitError as exc:
        parser.error(str(exc))
    return {
        "routes": routes,
        "limits": limits,
        "changes": changes,
        "profile": profile,
        "connect_timeout": parse_duration_flag(parser, "--connect-timeout", args.connect_timeout),
        "stats_interval": parse_duration_flag(parser, "--stats-interval", args.stats_interval),
    }


def run_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    settings = engine_settings(args, parser)
    control = None
    if args.control:
        from shaper.control import ControlSecurityError, check_bind, parse_control_address

        try:
            control = parse_control_address(args.control)
            check_bind(control[0], args.control_token)
        except (ValueError, ControlSecurityError) as exc:
            parser.error(f"argument --control: {exc}")
    if settings["connect_timeout"] <= 0:
        parser.error("argument --connect-timeout: must be more than 0 (e.g. 5s)")
    if settings["stats_interval"] <= 0:
        parser.error("argument --stats-interval: must be more than 0")
    try:
        return asyncio.run(serve(args, settings, control))
    except UsageError as exc:
        print(f"shaper serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def raise_open_file_limit() -> None:
    """Each connection holds two sockets; let the engine use every descriptor it may."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


async def serve(
    args: argparse.Namespace, settings: dict[str, Any], control: tuple[str, int] | None
) -> int:
    raise_open_file_limit()
    engine = Engine(
        settings["routes"], settings["limits"], connect_timeout=settings["connect_timeout"]
    )
    try:
        await engine.start()
    except OSError as exc:
        raise UsageError(f"cannot listen: {exc}") from None
    runner = None
    tasks: list[asyncio.Task] = []
    try:
        if settings["profile"] is not None:
            from shaper.scenario import apply_profile

            apply_profile(engine, settings["profile"], settings["changes"])
        for line in engine.describe_routes():
            print(f"listening on {line}", flush=True)
        ready: dict[str, Any] = {"listen": [list(a) for a in engine.addresses]}
        if control is not None:
            from shaper.control import control_url, start_control

            try:
                runner, bound = await start_control(
                    engine,
                    control[0],
                    control[1],
                    args.control_token,
                    profiles_dir=args.profiles_dir,
                )
            except OSError as exc:
                raise UsageError(f"cannot serve the control API on {args.control}: {exc}") from None
            ready["control"] = control_url(*bound)
            print(f"control on {ready['control']}", flush=True)
        if args.ready_fd is not None:
            # One JSON line on a pipe the parent handed over: readiness without a sleep.
            with os.fdopen(args.ready_fd, "w") as ready_pipe:
                ready_pipe.write(json.dumps(ready) + "\n")
        if args.stats_jsonl:
            tasks.append(
                asyncio.create_task(
                    write_stats(engine, args.stats_jsonl, settings["stats_interval"])
                )
            )
        await wait_for_signal()
    finally:
        for task in tasks:
            task.cancel()
        if settings["profile"] is not None:
            from shaper.scenario import stop_scenario

            stop_scenario(engine)
        if runner is not None:
            await runner.cleanup()
        await engine.stop()
    return 0


async def wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def write_stats(engine: Engine, path: str, interval: float) -> None:
    with contextlib.ExitStack() as stack:
        out = sys.stdout if path == "-" else stack.enter_context(open(path, "a", buffering=1))
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            out.write(json.dumps(engine.snapshot(connections=True).to_dict()) + "\n")
            out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = args.func
    try:
        sub_parser = getattr(args, "_parser", None) or parser
        code = func(args, sub_parser) if _takes_parser(func) else func(args)
    except BrokenPipeError:
        return 0
    return int(code or 0)


def _takes_parser(func: Any) -> bool:
    import inspect

    try:
        return len(inspect.signature(func).parameters) >= 2
    except (TypeError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
