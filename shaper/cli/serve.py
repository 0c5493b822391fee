"""`shaper serve`: the engine headless, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from shaper.cli import exits
from shaper.cli.flags import (
    EngineSettings,
    add_engine_flags,
    add_limit_flags,
    add_route_flags,
    checked_control,
    engine_settings,
    parse_control_address,
)
from shaper.model.addresses import format_address
from shaper.model.limits import DIRECTIONS, LIMIT_KEYS, DirectionLimits, Limits
from shaper.model.snapshots import Event

# Allocations between two young collections of the engine's process (Python's: 700).
GC_YOUNG_THRESHOLD = 20000


class UsageError(Exception):
    """Bad input found after parsing (a port in use, a file that cannot be written)."""


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the proxy engine headless (no UI)",
        description="Run the engine headless.",
    )
    add_route_flags(serve)
    add_limit_flags(serve)
    add_engine_flags(serve)
    serve.add_argument_group("toxiproxy").add_argument(
        "--toxiproxy",
        metavar="HOST:PORT",
        help="serve Toxiproxy's HTTP API here too (e.g. 127.0.0.1:8474; loopback unless "
        "--control-token is set): its clients' proxies become routes; with it, routes on "
        "the command line are optional",
    )
    serve.set_defaults(func=run_serve, parser=serve)


def run_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    settings = engine_settings(args, parser)
    control = checked_control(args, parser)
    toxiproxy = checked_toxiproxy(args, parser)
    stats_out: IO[str] | None = None
    if args.stats_jsonl and args.stats_jsonl != "-":
        try:
            stats_out = open(args.stats_jsonl, "a", buffering=1)  # noqa: SIM115 (closed by serve)
        except OSError as exc:
            parser.error(
                f"argument --stats-jsonl: cannot write {args.stats_jsonl!r}: "
                f"{exc.strerror or exc} (give a file in an existing directory, or - for stdout)"
            )
    elif args.stats_jsonl == "-":
        stats_out = sys.stdout
    try:
        return asyncio.run(serve(args, settings, control, stats_out, toxiproxy))
    except UsageError as exc:
        print(f"shaper serve: {exc}", file=sys.stderr)
        return exits.USAGE
    except KeyboardInterrupt:
        return exits.OK
    finally:
        if stats_out is not None and stats_out is not sys.stdout:
            stats_out.close()


def tune_gc() -> None:
    """The engine's process frees nearly everything by reference counting; the cyclic
    collector mostly walks live objects. What is loaded at start (modules, the control
    API) is kept out of its collections, and young collections wait for more
    allocations. With Python's defaults, 1,000 shaped connections (a link each) spent
    2.3 s of 40 in the collector, its full collections 120-150 ms each with the loop
    standing still; with these, 0.4 s of 36 and no full collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


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
    args: argparse.Namespace,
    settings: EngineSettings,
    control: tuple[str, int] | None,
    stats_out: IO[str] | None,
    toxiproxy: tuple[str, int] | None = None,
) -> int:
    from shaper.engine.engine import Engine
    from shaper.launcher import watch_parent, write_ready

    raise_open_file_limit()
    engine = Engine(
        settings.routes,
        settings.limits,
        connect_timeout=settings.connect_timeout,
        seed=settings.seed,
        faults=settings.faults,
    )
    try:
        await engine.start()
    except OSError as exc:
        raise UsageError(f"cannot listen: {exc}") from None
    runner = None
    toxiproxy_runner = None
    collection = None
    tasks: list[asyncio.Task[None]] = []
    # Started as a child by EngineProcess: stop when that parent goes away.
    watch = watch_parent(asyncio.get_running_loop())
    # From here on SIGINT and SIGTERM stop the engine cleanly, even one that comes the
    # moment the first line is out.
    stop = stop_on_signals()
    try:
        log_format = args.log_format or ("text" if args.log else None)
        if log_format is not None:
            engine.event_listeners.append(event_logger(log_format, sys.stderr))
        if settings.profile is not None:
            engine.apply_profile(settings.profile, settings.changes)
        for route, line in zip(engine.routes, engine.describe_routes(), strict=True):
            print(f"listening on {line} (route {route.name})", flush=True)
        control_url = None
        if control is not None:
            from shaper.control.server import start_control

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
            control_url = f"http://{format_address(bound)}"
            print(f"control on {control_url}", flush=True)
        if toxiproxy is not None:
            from shaper.control.toxiproxy.app import start_toxiproxy

            try:
                toxiproxy_runner, collection, bound = await start_toxiproxy(
                    engine, toxiproxy[0], toxiproxy[1], args.control_token
                )
            except OSError as exc:
                raise UsageError(
                    f"cannot serve the Toxiproxy API on {args.toxiproxy}: {exc}"
                ) from None
            print(f"toxiproxy API on http://{format_address(bound)}", flush=True)
        for line in describe_settings(engine.profile_name, engine.scenario_status(), engine.limits):
            print(line, flush=True)
        for spec in engine.fault_specs():
            print(f"fault {describe_fault(spec)}", flush=True)
        print(f"seed {engine.seed}", flush=True)
        tune_gc()
        # One JSON line on a pipe the parent handed over: readiness without a sleep.
        write_ready(args.ready_fd, control_url, engine.addresses)
        if stats_out is not None:
            tasks.append(
                asyncio.create_task(write_stats(engine, stats_out, settings.stats_interval))
            )
        await stop.wait()
    finally:
        remove_signal_handlers()
        if watch is not None:
            watch.cancel()
        for task in tasks:
            task.cancel()
        engine.stop_scenario()
        if runner is not None:
            await runner.cleanup()
        if toxiproxy_runner is not None:
            await toxiproxy_runner.cleanup()
        if collection is not None:
            collection.close()
        await engine.stop()
    return exits.OK


def checked_toxiproxy(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[str, int] | None:
    """Where --toxiproxy asks for Toxiproxy's API, under the control API's rule: loopback,
    or another address with --control-token."""
    if not args.toxiproxy:
        return None
    from shaper.control.security import ControlSecurityError, check_bind

    try:
        address = parse_control_address(args.toxiproxy)
        check_bind(address[0], args.control_token)
    except (ValueError, ControlSecurityError) as exc:
        parser.error(f"argument --toxiproxy: {exc}")
    return address


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (remove_signal_handlers() undoes it)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


def remove_signal_handlers() -> None:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.remove_signal_handler(sig)


async def write_stats(engine: Any, out: IO[str], interval: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        deadline += interval
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        with contextlib.suppress(BrokenPipeError):
            out.write(json.dumps(engine.snapshot(connections=True).to_dict()) + "\n")
            out.flush()


# -- what serve tells --------------------------------------------------------------------


def describe_direction(limits: DirectionLimits) -> str:
    """The limits of one direction that differ from the defaults, as the flags write them."""
    now, default = limits.to_dict(), DirectionLimits().to_dict()
    parts = []
    for key in LIMIT_KEYS:
        if now[key] != default[key]:
            value = now[key]
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            parts.append(f"{key} {text}")
    return ", ".join(parts) if parts else "unshaped (the defaults)"


def describe_settings(
    profile: str | None, scenario: dict[str, Any] | None, limits: Limits
) -> list[str]:
    """The lines serve prints once it runs: the profile and the limits in force."""
    line = f"profile {profile}" if profile else "profile none"
    if scenario:
        line += f" (scenario of {scenario['phases']} phases, now {scenario['phase']!r})"
    width = max(len(d) for d in DIRECTIONS)
    return [line] + [
        f"limits {d:<{width}}  {describe_direction(limits.direction(d))}" for d in DIRECTIONS
    ]


def describe_fault(spec: Any) -> str:
    from shaper.faults import fault_to_dict

    data = fault_to_dict(spec)
    settings = ", ".join(f"{k}={v}" for k, v in data["settings"].items())
    where = f" on route {spec.route}" if spec.route else ""
    return f"{spec.name}: {spec.type} {spec.direction}{where}, toxicity {spec.toxicity:g}" + (
        f", {settings}" if settings else ""
    )


def format_event(event: Event) -> str:
    """One line of `--log`: local time to the millisecond, the kind, the connection, what."""
    stamp = datetime.fromtimestamp(event.time).astimezone().isoformat(timespec="milliseconds")
    who = f" #{event.connection}" if event.connection is not None else ""
    return f"{stamp} {event.kind}{who} {event.message}"


def event_logger(log_format: str, out: IO[str]) -> Callable[[Event], None]:
    """A listener for the engine's events writing each as one line (text or JSON) to `out`.
    A closed or full output loses lines, never the engine."""

    def write(event: Event) -> None:
        line = json.dumps(event.to_dict()) if log_format == "json" else format_event(event)
        try:
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):
            pass

    return write
