"""A thousand connections: the table fills, updates in place, and keys stay quick."""

from __future__ import annotations

import dataclasses
import time

from helpers import wait_until
from textual.widgets import DataTable

from tui.app import ShaperApp
from tui.sample import sample_connections, sample_source
from tui.widgets.pipe import DirectionPanel

COUNT = 1000


def many(step: int) -> list:
    base = sample_connections()
    result = []
    for i in range(COUNT):
        conn = base[i % len(base)]
        down = dataclasses.replace(conn.downstream, rate_out=1000.0 * ((i + step) % 97))
        result.append(
            dataclasses.replace(
                conn,
                id=i + 1,
                client=f"127.0.0.1:{20000 + i}",
                downstream=down,
                age=step + i % 60,
            )
        )
    return result


async def test_thousand_connections_update_in_place_and_keys_respond():
    source = sample_source()
    step = {"n": 0}

    async def changing() -> list:
        step["n"] += 1
        return many(step["n"])

    source.connections = changing  # every poll: new rates and ages for all rows
    app = ShaperApp(source, connections_interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(lambda: table.row_count == COUNT, pilot=pilot, what="1000 rows")
        await wait_until(lambda: step["n"] >= 3, pilot=pilot, what="a few updates")
        keys_before = set(table.rows)
        await wait_until(lambda: step["n"] >= 5, pilot=pilot, what="more updates")
        assert set(table.rows) == keys_before  # same rows, updated in place
        assert table.row_count == COUNT

        panel = app.screen.query_one("#downstream", DirectionPanel)
        started = time.monotonic()
        await pilot.press("d")
        await wait_until(
            lambda: "STALL" in str(panel.border_subtitle), pilot=pilot, what="stall shown"
        )
        # the target is 100 ms; the bound is generous for a shared test machine
        assert time.monotonic() - started < 1.0
        await pilot.press("o")  # sort by another column with all rows present
        await pilot.pause(0.3)
        assert table.row_count == COUNT
