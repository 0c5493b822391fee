"""Conventions on fixed data: palette actions, help, esc, quit, bits."""

from __future__ import annotations

import pytest
from helpers import wait_until

from tui.app import ShaperApp
from tui.commands import ACTIONS
from tui.sample import sample_source
from tui.screens.help import HelpScreen
from tui.screens.limits import LimitsEditor
from tui.widgets.connections import ConnectionsTable


async def shown(pilot) -> ShaperApp:
    app = pilot.app
    await wait_until(
        lambda: app.snapshots_received > 0 and app.connections, pilot=pilot, what="fixed data shown"
    )
    return app


@pytest.mark.parametrize(
    "query, check",
    [
        (
            "filter conn",
            lambda app: app.dashboard.query_one(ConnectionsTable).has_class("-filtering"),
        ),
        ("stall up", lambda app: app.source.limits.upstream.stall),
        ("bits and bytes", lambda app: not app.bits),
        ("edit limits", lambda app: isinstance(app.screen, LimitsEditor)),
        ("help", lambda app: isinstance(app.screen, HelpScreen)),
    ],
)
async def test_palette_runs_actions(query, check):
    app = ShaperApp(sample_source())
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*query)
        await pilot.pause(0.4)
        await pilot.press("enter")
        await wait_until(lambda: check(app), pilot=pilot, what=f"palette: {query}")


def test_every_palette_action_exists():
    for title, action, _ in ACTIONS:
        name = action.split("(")[0]
        owner = ShaperApp
        if name.startswith("screen."):
            from tui.screens.dashboard import DashboardScreen

            owner, name = DashboardScreen, name.removeprefix("screen.")
        assert hasattr(owner, f"action_{name}"), title


async def test_help_opens_with_f1_and_question_mark_and_esc_closes():
    app = ShaperApp(sample_source())
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        for key in ("f1", "question_mark"):
            await pilot.press(key)
            await wait_until(lambda: isinstance(app.screen, HelpScreen), pilot=pilot, what="help")
            await pilot.press("escape")
            await wait_until(
                lambda: not isinstance(app.screen, HelpScreen), pilot=pilot, what="help closed"
            )


def test_help_explains_every_direction_state():
    from rich.console import Console

    from shaper.model.snapshots import STATES
    from tui.screens.help import STATES as HELP_STATES
    from tui.screens.help import help_table

    explained = {name for name, _, _ in HELP_STATES}
    assert set(STATES) - {"closed"} <= explained  # half-closed too
    console = Console(width=90, record=True)
    console.print(help_table())
    text = console.export_text()
    assert "half-closed" in text and "FIN" in text


@pytest.mark.parametrize("key", ["q", "ctrl+q"])
async def test_quit_keys(key):
    app = ShaperApp(sample_source())
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        assert app.is_running
        await pilot.press(key)
        await wait_until(lambda: not app.is_running, what="app exit")
    assert app.return_code == 0
