"""The `shaper` command: builds the parser from every verb module and runs the verb."""

from __future__ import annotations

import argparse
import sys

from shaper._version import __version__
from shaper.cli import display, faults, profiles, remote, routes, serve, toxiproxy
from shaper.cli.parser import CommandParser

VERB_MODULES = (serve, toxiproxy, remote, routes, faults, profiles, display)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="shaper",
        description="A TCP proxy that makes a fast link slow, laggy and shallow-buffered, "
        "and shows where the bytes wait.",
    )
    parser.add_argument("--version", action="version", version=f"shaper {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in VERB_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, args.parser) or 0)
    except BrokenPipeError:  # `shaper stats | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
