"""The display's entry points for the command line: open it on an engine's control API,
or capture it to an SVG. The display only ever talks to that URL."""

from __future__ import annotations

import asyncio
from pathlib import Path


def run_display(url: str, token: str | None = None, title: str | None = None) -> int:
    """Run the display in this terminal until the user quits; returns the exit code."""
    from tui.app import ShaperApp
    from tui.source import ControlSource

    app = ShaperApp(ControlSource(url, token=token), handle_signals=True)
    if title:
        app.title = title
    app.run()
    return app.return_code or 0


def save_screenshot(
    url: str, path: Path, size: tuple[int, int], after: float, title: str = "shaper"
) -> None:
    """Run the display headless for `after` seconds, then write the screen as SVG."""
    from tui.app import ShaperApp
    from tui.source import ControlSource

    async def capture() -> None:
        app = ShaperApp(ControlSource(url))
        app.title = title
        async with app.run_test(size=size) as pilot:
            await pilot.pause(after)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(app.export_screenshot(title=title), encoding="utf-8")

    asyncio.run(capture())
