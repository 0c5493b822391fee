"""Faults in the display, with Pilot against a real engine: the header lists them, the
faults dialog adds and removes them (a bad entry refused inline), the offline key holds
every connection and lets it go."""

from __future__ import annotations

import asyncio
import random

from helpers import EngineEnv, engine_env, read_to_end, source, wait_until
from textual.widgets import Input, OptionList
from tui_fixtures import DEFAULT_LIMITS

from tui.app import ShaperApp
from tui.format import fault_label
from tui.screens.faults import FaultsScreen, fault_body
from tui.source import ControlSource
from tui.widgets.header import HeaderBar

SIZE = (120, 36)


def header_text(app: ShaperApp) -> str:
    return str(app.dashboard.query_one(HeaderBar).render())


async def started(pilot) -> ShaperApp:
    app = pilot.app
    await wait_until(lambda: app.snapshots_received > 0, what="first snapshot", pilot=pilot)
    return app


def test_fault_label_and_body():
    assert fault_label({"name": "cut", "type": "timeout", "toxicity": 1.0}) == "cut (timeout)"
    assert fault_label({"name": "flaky", "type": "reset_peer", "toxicity": 0.2}) == (
        "flaky 20% (reset_peer)"
    )
    assert fault_label({"name": "timeout", "type": "timeout", "toxicity": 1.0}) == "timeout"
    assert "name" not in fault_body("timeout:after=2s")  # the engine names it
    assert fault_body("timeout:name=cut")["name"] == "cut"


async def test_header_shows_faults_added_elsewhere(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    app.faults_interval = 0.2
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "faults" not in header_text(app)
        status, _ = await env.request(
            "POST", "/v1/faults", json={"name": "flaky", "type": "reset_peer", "toxicity": 0.2}
        )
        assert status == 201
        await wait_until(
            lambda: "faults flaky 20% (reset_peer)" in header_text(app), pilot=pilot,
            what="fault in the header",
        )
        await env.request("DELETE", "/v1/faults/flaky")
        await wait_until(lambda: "faults" not in header_text(app), pilot=pilot,
                         what="fault gone from the header")


async def test_dialog_adds_refuses_inline_and_removes(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("f")
        await wait_until(lambda: isinstance(app.screen, FaultsScreen), pilot=pilot,
                         what="faults dialog")
        dialog = app.screen
        entry = dialog.query_one("#fault-entry", Input)
        # a bad value: refused inline with the field, the value and the accepted forms
        await pilot.press(*"timeout:after=soon")
        await pilot.press("enter")
        await pilot.pause(0.1)
        message = str(dialog.query_one("#message").render())
        assert "after" in message and "soon" in message and "ms" in message
        assert entry.has_class("-invalid")
        assert env.engine.fault_specs() == []
        # an unknown type names the types there are
        entry.value = ""
        await pilot.press(*"nonsense")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert "reset_peer" in str(dialog.query_one("#message").render())
        # a good one reaches the engine and the list
        entry.value = ""
        await pilot.press(*"timeout:name=cut,direction=downstream")
        await pilot.press("enter")
        await wait_until(lambda: [s.name for s in env.engine.fault_specs()] == ["cut"],
                         pilot=pilot, what="fault in the engine")
        assert not entry.has_class("-invalid") and entry.value == ""
        options = dialog.query_one("#fault-list", OptionList)
        await wait_until(lambda: dialog.selected_name() == "cut", pilot=pilot,
                         what="fault listed")
        assert "cut (timeout)" in header_text(app)
        # the engine's refusal (the name is in force) is inline too
        await pilot.press(*"timeout:name=cut")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "cut" in str(dialog.query_one("#message").render())
        assert dialog.query_one("#message").has_class("-error")
        # del in the list removes the selected fault
        options.focus()
        await pilot.press("delete")
        await wait_until(lambda: not list(env.engine.fault_specs()), pilot=pilot,
                         what="fault removed")
        await wait_until(lambda: dialog.selected_name() is None, pilot=pilot,
                         what="list emptied")
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, FaultsScreen), pilot=pilot,
                         what="dialog closed")
        assert "faults" not in header_text(app)


async def test_offline_key_holds_a_transfer_and_releases_it_intact():
    body = random.Random(11).randbytes(300 * 1024)
    async with engine_env(DEFAULT_LIMITS, handler=source(body)) as env:
        app = ShaperApp(ControlSource(env.url))
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await pilot.press("O")
            await wait_until(lambda: [s.name for s in env.engine.fault_specs()] == ["offline"],
                             pilot=pilot, what="offline fault")
            await wait_until(lambda: "OFFLINE" in header_text(app), pilot=pilot,
                             what="OFFLINE in the header")
            reader, writer = await asyncio.open_connection(*env.proxy)
            env.writers.append(writer)
            received = asyncio.create_task(read_to_end(reader))
            await wait_until(
                lambda: any(c.downstream.state == "held" and "offline" in c.faults
                            for c in app.connections),
                pilot=pilot, what="the connection held, with its fault",
            )
            await asyncio.sleep(0.5)
            assert not received.done()  # nothing delivered while offline
            await pilot.press("O")
            await wait_until(lambda: not list(env.engine.fault_specs()), pilot=pilot,
                             what="offline fault removed")
            assert await asyncio.wait_for(received, 20) == body
            await wait_until(lambda: "OFFLINE" not in header_text(app), pilot=pilot,
                             what="header back online")
