"""`shaper run`, `shaper attach` and `shaper demo`: the verbs that open the display.

The display is the `tui` package, loaded by name only here, when one of these verbs
runs: the engine's process (`shaper serve`) never loads it, nor Textual.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from shaper.cli import exits
from shaper.cli.flags import (
    add_engine_flags,
    add_limit_flags,
    add_route_flags,
    checked_control,
    engine_settings,
    fault_argv,
    limit_argv,
    route_argv,
)
from shaper.control.endpoint import TOKEN_ENV, ControlError, default_control_url, normalize_url


def _display() -> ModuleType:
    return importlib.import_module("tui.run")


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="start the engine and watch it live (the display; quitting stops both)",
        description="Start an engine as a child process and open the display on it. "
        "Quitting (q) stops both. Example: shaper run --listen 127.0.0.1:8080 "
        "--upstream 127.0.0.1:8000 --down-rate 2Mbit --latency 40ms",
    )
    add_route_flags(run)
    add_limit_flags(run)
    add_engine_flags(run, headless=False)
    run.set_defaults(func=cmd_run, parser=run)

    attach = subparsers.add_parser(
        "attach",
        help="open the display on a running engine (it keeps running on quit)",
        description="Open the display on an engine started with `shaper serve --control`.",
    )
    attach.add_argument(
        "url",
        nargs="?",
        default=None,
        help="control API address: http://HOST:PORT, HOST:PORT or a port "
        "(default $SHAPER_CONTROL or the standard port)",
    )
    attach.add_argument(
        "--control-token",
        metavar="TOKEN",
        help=f"bearer token the control API requires (default ${TOKEN_ENV})",
    )
    attach.set_defaults(func=cmd_attach, parser=attach)

    demo = subparsers.add_parser(
        "demo",
        help="a self-contained demo: engine, server, clients and the display",
        description="Start an engine, a local server and a few clients (downloads, an upload, "
        "a slow reader) on a slow, shallow-buffered link, and watch the queues fill. "
        "Needs no network; quitting stops everything.",
    )
    demo.add_argument(
        "--screenshot",
        metavar="FILE.svg",
        help="instead of opening the display, run it headless and save the screen as SVG",
    )
    demo.add_argument("--size", default="120x36", help="with --screenshot: COLUMNSxROWS")
    demo.add_argument(
        "--after", default="8s", help="with --screenshot: demo traffic before the capture"
    )
    demo.set_defaults(func=cmd_demo, parser=demo)


def serve_argv(args: argparse.Namespace) -> list[str]:
    """The `shaper serve` arguments equivalent to the run flags given (the control API's
    address and token go to EngineProcess)."""
    argv = route_argv(args)
    if args.profile:
        argv += ["--profile", args.profile]
    if args.profiles_dir:
        argv += ["--profiles-dir", args.profiles_dir]
    if args.stats_jsonl:
        argv += ["--stats-jsonl", args.stats_jsonl, "--stats-interval", args.stats_interval]
    return argv + limit_argv(args) + fault_argv(args)


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from shaper.launcher import EngineProcess, EngineStartError

    # Bad routes, limits, profile or control address: exit 2 here, not in the child.
    engine_settings(args, parser)
    checked_control(args, parser)
    if args.stats_jsonl == "-":
        parser.error(
            "argument --stats-jsonl: '-' (stdout) would write over the display; give a file"
        )
    engine = EngineProcess(
        serve_argv(args), control=args.control or "127.0.0.1:0", token=args.control_token
    )
    summary = None
    try:
        try:
            engine.start()
        except EngineStartError as exc:
            print(f"shaper run: the engine did not start: {exc}", file=sys.stderr)
            return exits.USAGE if engine.returncode == exits.USAGE else exits.FAILED
        for address in engine.listen:
            print(f"listening on {address}", file=sys.stderr)
        print(f"control on {engine.control_url}", file=sys.stderr)
        code = int(_display().run_display(engine.control_url, token=args.control_token))
        summary = _summary(engine.control_url, args.control_token)
        return code
    finally:
        engine.stop()
        # The last words on the terminal: the engine is gone (the lines above, printed
        # before the display, said it was listening).
        if engine.ready is not None:
            closed = ", ".join(engine.listen)
            print(
                f"shaper run: engine stopped; {closed} closed"
                + (f" ({summary})" if summary else ""),
                file=sys.stderr,
            )


def _summary(url: str, token: str | None) -> str | None:
    """What the engine did, in one phrase, or None if it cannot say any more."""
    from shaper.control.client import ControlClient
    from shaper.model.units import human_bytes

    async def ask() -> str:
        async with ControlClient(url, token=token, timeout=2.0) as client:
            stats = await client.stats()
        return (
            f"{stats.connections_total} connection{'' if stats.connections_total == 1 else 's'}"
            f", {human_bytes(stats.bytes_upstream)} "
            f"upstream and {human_bytes(stats.bytes_downstream)} downstream in "
            f"{stats.uptime:.0f}s"
        )

    try:
        return asyncio.run(ask())
    except ControlError:
        return None


async def _probe(url: str, token: str | None) -> None:
    from shaper.control.client import ControlClient

    async with ControlClient(url, token=token, timeout=5.0) as client:
        await client.status()


def cmd_attach(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from shaper.cli.remote import report

    url = normalize_url(args.url or default_control_url())
    token = args.control_token or os.environ.get(TOKEN_ENV)
    try:  # an engine must be there now; once attached, the display rides out its restarts
        asyncio.run(_probe(url, token))
    except ControlError as exc:
        return report("attach", exc)
    return int(_display().run_display(url, token=token))


def _size(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    columns, _, rows = text.lower().partition("x")
    if not (columns.isdigit() and rows.isdigit() and int(columns) >= 40 and int(rows) >= 12):
        parser.error(
            f"argument --size: {text!r} is not COLUMNSxROWS of at least 40x12, e.g. 100x30"
        )
    return int(columns), int(rows)


def cmd_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from shaper.cli.flags import duration_flag
    from shaper.demo import demo_engine
    from shaper.launcher import EngineStartError

    size = _size(parser, args.size)
    after = duration_flag(parser, "--after", args.after)
    try:
        with demo_engine() as engine:
            if args.screenshot:
                path = Path(args.screenshot)
                _display().save_screenshot(engine.control_url, path, size, after, "shaper demo")
                print(f"wrote {path}", file=sys.stderr)
                return exits.OK
            return int(_display().run_display(engine.control_url, title="shaper demo"))
    except (EngineStartError, RuntimeError) as exc:
        print(f"shaper demo: could not start: {exc}", file=sys.stderr)
        return exits.FAILED
