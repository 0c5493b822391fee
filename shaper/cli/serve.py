"""`shaper serve`: the engine headless, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import IO, Any

from shaper.cli import exits
from shaper.cli.flags import (
    EngineSettings,
    add_engine_flags,
    add_limit_flags,
    add_route_flags,
    engine_settings,
    parse_control_address,
)
from shaper.model.addresses import format_address


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
    serve.set_defaults(func=run_serve, parser=serve)


def run_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    settings = engine_settings(args, parser)
    control = None
    if args.control:
        from shaper.control.security import ControlSecurityError, check_bind

        try:
            control = parse_control_address(args.control)
            check_bind(control[0], args.control_token)
        except (ValueError, ControlSecurityError) as exc:
            parser.error(f"argument --control: {exc}")
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
        return asyncio.run(serve(args, settings, control, stats_out))
    except UsageError as exc:
        print(f"shaper serve: {exc}", file=sys.stderr)
        return exits.USAGE
    except KeyboardInterrupt:
        return exits.OK
    finally:
        if stats_out is not None and stats_out is not sys.stdout:
            stats_out.close()


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
) -> int:
    from shaper.engine.engine import Engine
    from shaper.launcher import watch_parent, write_ready

    raise_open_file_limit()
    engine = Engine(settings.routes, settings.limits, connect_timeout=settings.connect_timeout)
    try:
        await engine.start()
    except OSError as exc:
        raise UsageError(f"cannot listen: {exc}") from None
    runner = None
    tasks: list[asyncio.Task[None]] = []
    # Started as a child by EngineProcess: stop when that parent goes away.
    watch = watch_parent(asyncio.get_running_loop())
    try:
        if settings.profile is not None:
            engine.apply_profile(settings.profile, settings.changes)
        for line in engine.describe_routes():
            print(f"listening on {line}", flush=True)
        control_url = None
        if control is not None:
            from shaper.control.server import start_control

            try:
                runner, bound = await start_control(
                    engine, control[0], control[1], args.control_token,
                    profiles_dir=args.profiles_dir,
                )
            except OSError as exc:
                raise UsageError(f"cannot serve the control API on {args.control}: {exc}") from None
            control_url = f"http://{format_address(bound)}"
            print(f"control on {control_url}", flush=True)
        # One JSON line on a pipe the parent handed over: readiness without a sleep.
        write_ready(args.ready_fd, control_url, engine.addresses)
        if stats_out is not None:
            tasks.append(
                asyncio.create_task(write_stats(engine, stats_out, settings.stats_interval))
            )
        await wait_for_signal()
    finally:
        if watch is not None:
            watch.cancel()
        for task in tasks:
            task.cancel()
        engine.stop_scenario()
        if runner is not None:
            await runner.cleanup()
        await engine.stop()
    return exits.OK


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


async def write_stats(engine: Any, out: IO[str], interval: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        deadline += interval
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        with contextlib.suppress(BrokenPipeError):
            out.write(json.dumps(engine.snapshot(connections=True).to_dict()) + "\n")
            out.flush()
