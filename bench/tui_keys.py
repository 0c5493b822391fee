"""Key press to screen with 1,000 connections in the table (issue target: 100 ms).

The display runs headless (Textual's run_test) on fixed data whose 1,000
connections all change at every poll, as a busy engine's would. `d` toggles
the downstream stall; the time is taken until the panel's border says so
(the next frame paints it, at most 1/60 s later).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from bench.common import QUICK, median

COUNT = 1000
PRESSES = 6 if QUICK else 21


def _connections(base: list, step: int) -> list:
    result = []
    for i in range(COUNT):
        conn = base[i % len(base)]
        down = dataclasses.replace(conn.downstream, rate_out=1000.0 * ((i + step) % 97))
        result.append(
            dataclasses.replace(conn, id=i + 1, client=f"127.0.0.1:{20000 + i}", downstream=down)
        )
    return result


async def _measure() -> dict:
    from textual.widgets import DataTable

    from tui.app import ShaperApp
    from tui.sample import sample_connections, sample_source
    from tui.widgets.pipe import DirectionPanel

    source = sample_source()
    base = sample_connections()
    step = {"n": 0}

    async def changing() -> list:
        step["n"] += 1
        return _connections(base, step["n"])

    source.connections = changing
    app = ShaperApp(source, connections_interval=0.5)
    delays = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        deadline = time.monotonic() + 30
        while table.row_count < COUNT and time.monotonic() < deadline:
            await pilot.pause(0.05)
        panel = app.screen.query_one("#downstream", DirectionPanel)
        for _ in range(PRESSES):
            stalled = "STALL" in str(panel.border_subtitle)
            started = time.monotonic()
            # Post the key as the terminal driver would; Pilot.press() also waits for
            # the app to go idle, which alone takes about 40 ms.
            app.simulate_key("d")
            while ("STALL" in str(panel.border_subtitle)) == stalled:
                if time.monotonic() - started > 5:
                    break
                await asyncio.sleep(0.002)
            delays.append(time.monotonic() - started)
            await pilot.pause(0.2)
        rows = table.row_count
    # The first press also pays for first-time rendering of the stalled style.
    first, rest = delays[0], sorted(delays[1:])
    return {
        "connections": rows,
        "presses": len(rest),
        "ms_first": first * 1000,
        "ms_p50": median(rest) * 1000,
        "ms_max": rest[-1] * 1000,
    }


def measure() -> dict:
    return asyncio.run(_measure())
