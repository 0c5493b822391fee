"""`shaper toxiproxy`: an engine with no routes of its own serving Toxiproxy's HTTP API, as
`toxiproxy-server` starts, with shaper's control API beside it (so `shaper attach`, the
CLI verbs and /metrics see every proxy). Toxiproxy's single-dash flags are accepted."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from shaper.cli import exits
from shaper.cli.flags import DEFAULT_CONTROL_PORT, parse_control_address, parse_seed
from shaper.model.addresses import AddressError, format_address, parse_address

DEFAULT_PORT = 8474


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "toxiproxy",
        help="serve Toxiproxy's HTTP API (a drop-in toxiproxy-server)",
        description="Serve Toxiproxy's HTTP API: every proxy a Toxiproxy client makes is a "
        "route of this engine, its toxics the route's limits and faults. shaper's own "
        "control API is served too (--control), so 'shaper attach' shows the proxies.",
    )
    parser.add_argument(
        "-host",
        "--host",
        default="127.0.0.1",
        help="address of the Toxiproxy API (default "
        "127.0.0.1; any other than loopback needs --control-token)",
    )
    parser.add_argument(
        "-port", "--port", default=str(DEFAULT_PORT), help=f"its port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "-config",
        "--config",
        metavar="FILE",
        help="a JSON array of proxies (Toxiproxy's populate format) made at start; toxics "
        "listed in it are applied",
    )
    parser.add_argument(
        "-seed",
        "--seed",
        metavar="N",
        help="seed of the random draws (which connections a "
        "toxic of toxicity below 1 touches, slicer sizes); the same seed replays them",
    )
    for flag in ("proxy-metrics", "runtime-metrics"):
        parser.add_argument(
            f"-{flag}",
            f"--{flag}",
            action="store_true",
            help="accepted for Toxiproxy's sake; /metrics is always served",
        )
    parser.add_argument(
        "--control",
        default=f"127.0.0.1:{DEFAULT_CONTROL_PORT}",
        metavar="HOST:PORT",
        help=f"shaper's control API (default 127.0.0.1:{DEFAULT_CONTROL_PORT}, where "
        "'shaper attach' looks; 'off' serves none)",
    )
    parser.add_argument(
        "--control-token",
        metavar="TOKEN",
        help="bearer token both APIs require (needed off loopback)",
    )
    parser.add_argument("--log", action="store_true", help="print every event to stderr")
    parser.set_defaults(func=run_toxiproxy, parser=parser)


def _api_address(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[str, int]:
    from shaper.control.security import ControlSecurityError, check_bind

    host = args.host.strip("[]")
    try:
        address = parse_address(f"[{host}]:{args.port}" if ":" in host else f"{host}:{args.port}")
    except AddressError as exc:
        parser.error(f"argument -host/-port: {exc}")
    try:
        check_bind(address[0], args.control_token)
    except ControlSecurityError as exc:
        parser.error(f"argument -host: {exc}")
    return address


def _control_address(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[str, int] | None:
    from shaper.control.security import ControlSecurityError, check_bind

    if args.control.strip().lower() == "off":
        return None
    try:
        address = parse_control_address(args.control)
        check_bind(address[0], args.control_token)
    except (ValueError, ControlSecurityError) as exc:
        parser.error(f"argument --control: {exc}")
    return address


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Any]:
    """The config file's proxies, checked in full before anything starts."""
    if not args.config:
        return []
    from shaper.control.toxiproxy.shapes import ToxiproxyError, decode, parse_populate

    try:
        with open(args.config, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        parser.error(f"argument -config: cannot read {args.config!r}: {exc.strerror or exc}")
    try:
        return parse_populate(decode(data))
    except ToxiproxyError as exc:
        parser.error(
            f"argument -config: {args.config}: {exc.message} (expected a JSON array of "
            'proxies such as [{"name": "redis", "listen": "127.0.0.1:26379", '
            '"upstream": "127.0.0.1:6379"}])'
        )


def run_toxiproxy(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    api = _api_address(args, parser)
    control = _control_address(args, parser)
    config = _config(args, parser)
    seed = parse_seed(args, parser)
    try:
        return asyncio.run(_serve(args, api, control, config, seed))
    except _Refused as exc:
        print(f"shaper toxiproxy: {exc}", file=sys.stderr)
        return exits.USAGE
    except KeyboardInterrupt:
        return exits.OK


class _Refused(Exception):
    pass


async def _serve(
    args: argparse.Namespace,
    api: tuple[str, int],
    control: tuple[str, int] | None,
    config: list[Any],
    seed: int | None,
) -> int:
    from shaper.cli.serve import (
        event_logger,
        raise_open_file_limit,
        remove_signal_handlers,
        stop_on_signals,
    )
    from shaper.control.server import start_control
    from shaper.control.toxiproxy.app import start_toxiproxy
    from shaper.engine.engine import Engine

    raise_open_file_limit()
    engine = Engine(seed=seed)
    await engine.start()
    runners = []
    collection = None
    stop = stop_on_signals()
    try:
        if args.log:
            engine.event_listeners.append(event_logger("text", sys.stderr))
        try:
            runner, collection, bound = await start_toxiproxy(
                engine, api[0], api[1], args.control_token
            )
        except OSError as exc:
            raise _Refused(
                f"cannot serve the Toxiproxy API on {format_address(api)}: {exc}"
            ) from None
        runners.append(runner)
        if config:
            made, problem = await collection.populate(config)
            if problem is not None:
                raise _Refused(f"-config {args.config}: {problem.message}")
            for proxy in made:
                print(
                    f"proxy {proxy['name']}: {proxy['listen']} -> {proxy['upstream']}"
                    + (f", {len(proxy['toxics'])} toxics" if proxy["toxics"] else ""),
                    flush=True,
                )
        print(f"toxiproxy API on http://{format_address(bound)}", flush=True)
        if control is not None:
            try:
                control_runner, control_bound = await start_control(
                    engine, control[0], control[1], args.control_token
                )
            except OSError as exc:
                raise _Refused(
                    f"cannot serve the control API on {format_address(control)}: {exc} "
                    "(give --control HOST:PORT, 127.0.0.1:0 for any free port, or off)"
                ) from None
            runners.append(control_runner)
            print(f"control on http://{format_address(control_bound)}", flush=True)
        print(f"seed {engine.seed}", flush=True)
        await stop.wait()
    finally:
        remove_signal_handlers()
        for runner in runners:
            await runner.cleanup()
        if collection is not None:
            collection.close()
        await engine.stop()
    return exits.OK
