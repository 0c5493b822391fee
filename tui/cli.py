"""`shaper run`, `shaper attach` and `shaper demo`: the verbs that open the display."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    from shaper.cli import add_route_flags
    from shaper.limit_flags import add_limit_flags

    run = subparsers.add_parser(
        "run",
        help="start the engine and watch it live (the display; quitting stops both)",
        description="Start an engine as a child process and open the display on it. "
        "Quitting (q) stops both. Example: shaper run --listen 127.0.0.1:8080 "
        "--upstream 127.0.0.1:8000 --down-rate 2Mbit --latency 40ms",
    )
    add_route_flags(run)
    add_limit_flags(run)
    group = run.add_argument_group("engine")
    group.add_argument(
        "--profile", metavar="NAME|PATH", help="start from a saved profile; limit flags override it"
    )
    group.add_argument("--profiles-dir", metavar="DIR", help="look for profiles here first")
    run.set_defaults(func=cmd_run, _parser=run, stats_interval="1s")

    attach = subparsers.add_parser(
        "attach",
        help="open the display on a running engine (it keeps running on quit)",
        description="Open the display on an engine started with `shaper serve --control`.",
    )
    attach.add_argument(
        "url", nargs="?", default=None,
        help="control API address: http://HOST:PORT, HOST:PORT or a port "
        "(default $SHAPER_CONTROL or the standard port)",
    )
    attach.add_argument(
        "--control-token", metavar="TOKEN",
        help="bearer token the control API requires (default $SHAPER_CONTROL_TOKEN)",
    )
    attach.set_defaults(func=cmd_attach, _parser=attach)

    demo = subparsers.add_parser(
        "demo",
        help="a self-contained demo: engine, server, clients and the display",
        description="Start an engine, a local server and a few clients (downloads, an upload, "
        "a slow reader) on a slow, shallow-buffered link, and watch the queues fill. "
        "Needs no network; quitting stops everything.",
    )
    demo.set_defaults(func=cmd_demo, _parser=demo)


def serve_argv(args: argparse.Namespace) -> list[str]:
    """The `shaper serve` arguments equivalent to the run flags given."""
    from shaper.limit_flags import _PREFIXES, LIMIT_FLAGS

    argv: list[str] = []
    if args.listen:
        argv += ["--listen", args.listen]
    if args.upstream:
        argv += ["--upstream", args.upstream]
    for route in args.route:
        argv += ["--route", route]
    argv += ["--connect-timeout", args.connect_timeout]
    if args.profile:
        argv += ["--profile", args.profile]
    if args.profiles_dir:
        argv += ["--profiles-dir", args.profiles_dir]
    for prefix, _ in _PREFIXES:
        for key, stem, _ in LIMIT_FLAGS:
            value = getattr(args, f"limit_{prefix.rstrip('-') or 'both'}_{key}", None)
            if value is not None:
                argv += [f"--{prefix}{stem}", str(value)]
    return argv


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from shaper.cli import engine_settings
    from shaper.engine_process import EngineProcess, EngineStartError
    from tui.app import ShaperApp
    from tui.source import ControlSource

    engine_settings(args, parser)  # bad routes, limits or profile: exit 2 here, not in the child
    engine = EngineProcess(serve_argv(args))
    try:
        try:
            engine.start()
        except EngineStartError as exc:
            print(f"shaper run: the engine did not start: {exc}", file=sys.stderr)
            return 2 if engine.returncode == 2 else 1  # 2: bad input, e.g. port in use
        for address in engine.listen:
            print(f"listening on {address}", file=sys.stderr)
        app = ShaperApp(ControlSource(engine.control_url), handle_signals=True)
        app.run()
        return app.return_code or 0
    finally:
        engine.stop()


def cmd_attach(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import os

    from shaper.client import TOKEN_ENV, default_control_url, normalize_url
    from tui.app import ShaperApp
    from tui.source import ControlSource

    url = normalize_url(args.url or default_control_url())
    token = args.control_token or os.environ.get(TOKEN_ENV)
    app = ShaperApp(ControlSource(url, token=token), handle_signals=True)
    app.run()
    return app.return_code or 0


def cmd_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tui.demo import run_demo

    return run_demo(args)
