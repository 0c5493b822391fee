"""Routes in the display, with Pilot against a real engine: the routes dialog adds one
(port 0: the engine picks) that carries bytes, disables it (new connections refused),
enables it again and removes it; a bad entry is refused inline; the header follows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from helpers import EngineEnv, echo_roundtrip, engine_env, wait_until
from textual.widgets import DataTable, Input
from tui_fixtures import DEFAULT_LIMITS

from tui.app import ShaperApp
from tui.screens.routes import EntryError, RoutesScreen, parse_entry
from tui.source import ControlSource
from tui.widgets.header import HeaderBar

SIZE = (120, 36)


@pytest.fixture
async def echo_env() -> AsyncIterator[EngineEnv]:
    async with engine_env(DEFAULT_LIMITS) as environment:
        yield environment


def header_text(app: ShaperApp) -> str:
    return str(app.dashboard.query_one(HeaderBar).render())


def message(dialog: RoutesScreen) -> str:
    return str(dialog.query_one("#message").render())


async def refused(address: tuple[str, int]) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    except OSError:
        return True
    writer.close()
    return False


def test_parse_entry():
    assert parse_entry("db=0=127.0.0.1:5432") == ("db", "0", "127.0.0.1:5432")
    assert parse_entry("15432=localhost:5432") == (None, "15432", "localhost:5432")
    for bad in ("nonsense", "0=5432", "a=b=c=d", "bad name!=0=127.0.0.1:1", "0=host:0"):
        with pytest.raises(EntryError):
            parse_entry(bad)


async def test_dialog_adds_disables_enables_and_removes_a_route(echo_env: EngineEnv):
    env = echo_env
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: app.snapshots_received > 0, pilot=pilot, what="first snapshot")
        await pilot.press("R")
        await wait_until(lambda: isinstance(app.screen, RoutesScreen), pilot=pilot,
                         what="routes dialog")
        dialog = app.screen
        assert isinstance(dialog, RoutesScreen)
        table = dialog.query_one(DataTable)
        await wait_until(lambda: table.row_count == 1, pilot=pilot, what="main listed")
        entry = dialog.query_one("#route-entry", Input)

        # a bad entry: refused inline, nothing sent
        await pilot.press(*"db=0=nowhere")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert "upstream address" in message(dialog) and "nowhere" in message(dialog)
        assert entry.has_class("-invalid")
        assert len(env.engine.route_states()) == 1

        # a good one: listens on a port the engine picks and carries bytes
        entry.value = ""
        await pilot.press(*f"db=0={env.upstream.address[0]}:{env.upstream.port}")
        await pilot.press("enter")
        await wait_until(lambda: len(env.engine.route_states()) == 2, pilot=pilot,
                         what="route in the engine")
        await wait_until(lambda: table.row_count == 2, pilot=pilot, what="route listed")
        assert entry.value == "" and "added db" in message(dialog)
        address = env.engine.route_state("db").listen  # the bound address
        assert address[1] != 0
        assert await echo_roundtrip(address, b"through db") == b"through db"
        assert "+1" in header_text(app)  # the header follows: main and one more

        # the engine's own refusal (the name is taken) is inline too
        await pilot.press(*f"db=0={env.upstream.address[0]}:{env.upstream.port}")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert dialog.query_one("#message").has_class("-error") and "db" in message(dialog)
        entry.value = ""

        # t in the table disables the selected route: a new connection is refused
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("t")
        await wait_until(lambda: not env.engine.route_state("db").enabled, pilot=pilot,
                         what="route disabled")
        assert await refused(address)
        await wait_until(lambda: "no" in str(table.get_cell("db", "enabled")), pilot=pilot,
                         what="disabled shown")
        # enter enables it again: it works again, on the same address
        await pilot.press("enter")
        await wait_until(lambda: env.engine.route_state("db").enabled, pilot=pilot,
                         what="route enabled")
        assert await echo_roundtrip(address, b"again") == b"again"

        # del removes it
        await pilot.press("delete")
        await wait_until(lambda: len(env.engine.route_states()) == 1, pilot=pilot,
                         what="route removed")
        await wait_until(lambda: table.row_count == 1, pilot=pilot, what="row removed")
        assert await refused(address)
        assert "+1" not in header_text(app)
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, RoutesScreen), pilot=pilot,
                         what="dialog closed")


async def test_routes_added_elsewhere_reach_the_header(echo_env: EngineEnv):
    env = echo_env
    app = ShaperApp(ControlSource(env.url))
    app.faults_interval = 0.2  # the routes are polled with the faults
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: app.snapshots_received > 0, pilot=pilot, what="first snapshot")
        upstream = f"{env.upstream.address[0]}:{env.upstream.port}"
        status, _ = await env.request(
            "POST", "/v1/routes", json={"name": "api", "listen": "127.0.0.1:0",
                                        "upstream": upstream})
        assert status == 201
        await wait_until(lambda: "+1" in header_text(app), pilot=pilot,
                         what="route in the header")
        await env.request("DELETE", "/v1/routes/api")
        await wait_until(lambda: "+1" not in header_text(app), pilot=pilot,
                         what="route gone from the header")
