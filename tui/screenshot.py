"""Regenerate the README screenshot: the real dashboard in the middle of a demo.

    uv run python -m tui.screenshot docs/dashboard.svg [--size 120x36] [--after 8]

Starts the demo (engine, server, clients), runs the display headless for a few
seconds so the queues fill, exports the screen as SVG, and stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


async def capture(url: str, path: Path, size: tuple[int, int], after: float) -> None:
    from tui.app import ShaperApp
    from tui.source import ControlSource

    app = ShaperApp(ControlSource(url))
    app.title = "shaper demo"
    async with app.run_test(size=size) as pilot:
        await pilot.pause(after)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(app.export_screenshot(title="shaper demo"), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.screenshot", description=__doc__)
    parser.add_argument("path", nargs="?", default="docs/dashboard.svg")
    parser.add_argument("--size", default="120x36", help="COLUMNSxROWS (default 120x36)")
    parser.add_argument("--after", type=float, default=8.0,
                        help="seconds of demo traffic before the capture (default 8)")
    args = parser.parse_args(argv)
    try:
        columns, rows = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"argument --size: {args.size!r} is not COLUMNSxROWS, e.g. 100x30")
    from tui.demo import demo_engine

    with demo_engine() as engine:
        asyncio.run(capture(engine.control_url, Path(args.path), (columns, rows), args.after))
    print(f"wrote {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
