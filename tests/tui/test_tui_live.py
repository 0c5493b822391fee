"""The display driven with Pilot against a real engine through the control API."""

from __future__ import annotations

import asyncio
import random

from helpers import EngineEnv, engine_env, read_to_end, source, wait_until
from textual.color import Color
from textual.widgets import DataTable, Input, OptionList

from shaper.model.limits import Limits
from shaper.profiles import user_profiles_dir
from tui.app import ShaperApp
from tui.screens.limits import LimitsEditor
from tui.screens.profiles import ProfilePicker
from tui.source import ControlSource
from tui.widgets.pipe import DirectionPanel

SIZE = (100, 32)


async def started(env: EngineEnv, pilot) -> ShaperApp:
    app = pilot.app
    await wait_until(lambda: app.snapshots_received > 0, what="first snapshot", pilot=pilot)
    return app


async def type_into(pilot, selector: str, text: str) -> Input:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*text)
    return field


async def test_editor_change_reaches_engine_and_comes_back(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        await type_into(pilot, "#downstream-rate", "3Mbit")
        await type_into(pilot, "#upstream-latency", "25ms")
        await pilot.press("enter")
        await wait_until(
            lambda: not isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor closed"
        )
        assert env.engine.limits.downstream.rate == 3_000_000
        assert env.engine.limits.upstream.latency == 25_000
        # the display shows what the engine reports in its snapshots
        await wait_until(
            lambda: app.snapshot and app.snapshot.limits["downstream"]["rate"] == "3Mbit",
            pilot=pilot,
            what="engine report of the new rate",
        )
        panel = app.screen.query_one("#downstream", DirectionPanel)
        assert "3.0 Mbit/s" in str(panel.border_subtitle)  # in bits, as it was written
        await pilot.press("b")
        await pilot.pause()
        assert "366 KiB/s" in str(panel.border_subtitle)  # 3 Mbit/s in bytes


async def test_invalid_entry_is_refused_and_old_limit_kept(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        field = await type_into(pilot, "#downstream-rate", "5 mbps")
        await pilot.press("enter")
        await pilot.pause(0.2)
        editor = app.screen
        assert isinstance(editor, LimitsEditor)  # still open
        message = str(editor.query_one("#message").render())
        assert "downstream.rate" in message and "ambiguous" in message
        assert field.has_class("-invalid")
        assert env.engine.limits.downstream.rate == 8_000_000
        # a unitless size is fine but a negative-looking one is not
        await type_into(pilot, "#downstream-rate", "8Mbit")
        await type_into(pilot, "#upstream-buffer", "lots")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LimitsEditor)
        assert "upstream.buffer" in str(app.screen.query_one("#message").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LimitsEditor)
        assert env.engine.limits == env.engine.limits.patched({})
        assert env.engine.limits.upstream.buffer == 64 * 1024
        assert env.engine.limits.downstream.rate == 8_000_000


async def test_stall_fills_the_queue_and_changes_the_state(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await env.client()
        await wait_until(
            lambda: app.snapshot and app.snapshot.downstream.bytes_out > 0,
            pilot=pilot,
            what="bytes flowing downstream",
        )
        await pilot.press("d")
        await wait_until(lambda: env.engine.limits.downstream.stall, pilot=pilot, what="stall")
        panel = app.screen.query_one("#downstream", DirectionPanel)

        def stalled_and_held() -> bool:
            # The link releases nothing: the queue holds what the sender's window let in,
            # and the rest waits in the kernel, at the real sender's door.
            snap = app.snapshot
            return bool(
                snap
                and snap.downstream.state == "stalled"
                and snap.downstream.queue > 0
                and (snap.downstream.source_kernel_rx or 0) > 0
            )

        await wait_until(stalled_and_held, pilot=pilot, what="stalled, queue holding bytes")
        await pilot.pause(0.2)
        assert panel.has_class("-stalled")
        assert "STALL" in str(panel.border_subtitle)
        table = app.screen.query_one(DataTable)
        await wait_until(lambda: table.row_count == 1, pilot=pilot, what="connection row")
        # release: the queue drains and the state leaves "stalled"
        await pilot.press("d")
        await wait_until(
            lambda: (
                app.snapshot
                and app.snapshot.downstream.state != "stalled"
                and not env.engine.limits.downstream.stall
            ),
            pilot=pilot,
            what="released",
        )
        assert not panel.has_class("-stalled")


async def test_step_keys_change_the_selected_limit(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        assert app.selected == ("downstream", "rate")
        await pilot.press("minus")
        await wait_until(
            lambda: env.engine.limits.downstream.rate < 8_000_000,
            pilot=pilot,
            what="rate stepped down",
        )
        lowered = env.engine.limits.downstream.rate
        await pilot.press("plus")
        await wait_until(
            lambda: env.engine.limits.downstream.rate > lowered, pilot=pilot, what="rate stepped up"
        )
        await pilot.press("right_square_bracket")  # downstream latency
        assert app.selected == ("downstream", "latency")
        await pilot.press("plus")
        await wait_until(
            lambda: env.engine.limits.downstream.latency == 20_000,
            pilot=pilot,
            what="latency 10ms -> 20ms",
        )


async def test_apply_profile_from_the_picker(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await pilot.press("p")
        await wait_until(lambda: isinstance(app.screen, ProfilePicker), pilot=pilot, what="picker")
        picker = app.screen
        await wait_until(lambda: "crawl" in picker.names, pilot=pilot, what="profile list")
        options = picker.query_one(OptionList)
        options.focus()
        options.highlighted = picker.names.index("crawl")
        await pilot.press("enter")
        await wait_until(
            lambda: env.engine.profile_name == "crawl", pilot=pilot, what="profile applied"
        )
        assert env.engine.limits.downstream.rate == 128_000
        await wait_until(
            lambda: app.snapshot and app.snapshot.profile == "crawl",
            pilot=pilot,
            what="engine reports the profile",
        )
        assert not isinstance(app.screen, ProfilePicker)


async def test_save_current_limits_as_profile(env: EngineEnv, tmp_path):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await pilot.press("ctrl+s")
        await wait_until(lambda: isinstance(app.screen, ProfilePicker), pilot=pilot, what="picker")
        await type_into(pilot, "#save-name", "mylink")
        await pilot.press("enter")
        saved = user_profiles_dir() / "mylink.toml"  # the engine saved it
        await wait_until(saved.exists, pilot=pilot, what="profile file")
        assert "8Mbit" in saved.read_text()


async def test_close_the_selected_connection(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url), connections_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await env.client()
        await env.client()
        table = app.screen.query_one(DataTable)
        await wait_until(lambda: table.row_count == 2, pilot=pilot, what="connection rows")
        first = app.dashboard.selected_connection()
        await pilot.press("k")
        await wait_until(lambda: first not in env.engine.connections, pilot=pilot, what="closed")
        await wait_until(lambda: table.row_count == 1, pilot=pilot, what="row removed")
        await pilot.press("K")  # reset the other one
        await wait_until(lambda: not env.engine.connections, pilot=pilot, what="reset")
        await wait_until(lambda: table.row_count == 0, pilot=pilot, what="row removed")
        await wait_until(
            lambda: app.snapshot and any(e.kind == "reset" for e in app.snapshot.events),
            pilot=pilot,
            what="reset in the event log",
        )


async def test_connection_view_and_reset(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url), connections_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await env.client()
        await env.client()
        table = app.screen.query_one(DataTable)
        await wait_until(lambda: table.row_count == 2, pilot=pilot, what="two rows")
        await pilot.press("enter")
        from tui.screens.connection import ConnectionScreen

        await wait_until(
            lambda: isinstance(app.screen, ConnectionScreen), pilot=pilot, what="connection view"
        )
        conn_id = app.screen.conn_id
        await pilot.press("r")
        await wait_until(lambda: conn_id not in env.engine.connections, pilot=pilot, what="reset")
        assert len(env.engine.connections) == 1
        await pilot.press("escape")
        await wait_until(lambda: table.row_count == 1, pilot=pilot, what="row removed")


async def test_freeze_keeps_the_display_still(env: EngineEnv):
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await pilot.press("space")
        frozen_at = app.snapshot
        received = app.snapshots_received
        await wait_until(
            lambda: app.snapshots_received > received + 3,
            pilot=pilot,
            what="snapshots while frozen",
        )
        assert app.snapshot is frozen_at
        assert "FROZEN" in str(app.screen.query_one("#header").render())
        await pilot.press("space")
        await wait_until(lambda: app.snapshot is not frozen_at, pilot=pilot, what="resumed")


async def test_connection_gets_its_own_limits(env: EngineEnv):
    from tui.screens.connection import ConnectionScreen

    app = ShaperApp(ControlSource(env.url), connections_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await env.client()
        table = app.screen.query_one(DataTable)
        await wait_until(lambda: table.row_count == 1, pilot=pilot, what="connection row")
        await pilot.press("enter")
        await wait_until(
            lambda: isinstance(app.screen, ConnectionScreen), pilot=pilot, what="connection view"
        )
        view = app.screen
        conn_id = view.conn_id
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        await type_into(pilot, "#downstream-rate", "1Mbit")
        await pilot.press("enter")
        await wait_until(lambda: app.screen is view, pilot=pilot, what="back to the view")
        assert env.engine.connection_limits(conn_id).downstream.rate == 1_000_000
        assert env.engine.limits.downstream.rate == 8_000_000  # the others keep theirs
        panel = view.query_one("#conn-downstream", DirectionPanel)
        await wait_until(
            lambda: "1.0 Mbit/s" in str(panel.border_subtitle), pilot=pilot, what="own rate shown"
        )
        await pilot.press("x")
        await wait_until(
            lambda: env.engine.connection_limits(conn_id).downstream.rate == 8_000_000,
            pilot=pilot,
            what="override dropped",
        )
        await wait_until(
            lambda: "8.0 Mbit/s" in str(panel.border_subtitle),
            pilot=pilot,
            what="engine rate shown again",
        )


async def test_unreachable_engine_is_shown_and_keys_do_not_crash(unused_port):
    app = ShaperApp(ControlSource(f"http://127.0.0.1:{unused_port}"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            lambda: app.engine_state == "disconnected", pilot=pilot, what="disconnected state"
        )
        assert "DISCONNECTED" in str(app.screen.query_one("#header").render())
        await pilot.press("minus", "d", "k")
        await pilot.pause(0.2)
        assert app.engine_state == "disconnected"
        assert app.is_running


async def test_display_follows_an_engine_that_comes_back(env: EngineEnv):
    """The display reconnects on its own when the control API comes back."""
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await env.stop_control()
        await wait_until(
            lambda: app.engine_state == "disconnected", pilot=pilot, what="stream lost"
        )
        received = app.snapshots_received
        await env.start_control()
        await wait_until(
            lambda: app.engine_state == "live" and app.snapshots_received > received,
            pilot=pilot,
            what="reconnected",
        )


async def test_a_direction_draining_after_the_senders_fin_is_half_closed_in_cyan():
    """The server sends its body and FIN through a slow link: the downstream panel says
    HALF-CLOSED in its own colour while the queue drains (it said idle)."""
    body = random.Random(4).randbytes(200 * 1024)
    limits = Limits.from_dict({"downstream": {"rate": "1Mbit"}})
    async with engine_env(limits, handler=source(body)) as env:
        app = ShaperApp(ControlSource(env.url))
        async with app.run_test(size=SIZE) as pilot:
            await started(env, pilot)
            reader, writer = await asyncio.open_connection(*env.proxy)
            env.writers.append(writer)
            received = asyncio.create_task(read_to_end(reader))
            panel = app.screen.query_one("#downstream", DirectionPanel)
            await wait_until(
                lambda: panel.has_class("-half-closed"), pilot=pilot, what="half-closed panel"
            )
            assert "HALF-CLOSED" in str(panel.border_title)
            assert panel.styles.border_top[1] == Color.parse("cyan")
            assert await asyncio.wait_for(received, 20) == body


async def test_editor_stall_field_follows_the_switch_rule(env: EngineEnv):
    """The stall field shows what it takes back (false/true, not off/on, which a switch
    refuses) and refuses "on" inline with the accepted forms."""
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=SIZE) as pilot:
        await started(env, pilot)
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        field = app.screen.query_one("#upstream-stall", Input)
        assert field.value == "false" and field.placeholder == "true or false"
        await type_into(pilot, "#upstream-stall", "on")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LimitsEditor)
        message = str(app.screen.query_one("#message").render())
        assert "upstream.stall" in message and "true or false (or 1 or 0)" in message
        assert env.engine.limits.upstream.stall is False
        await type_into(pilot, "#upstream-stall", "1")
        await pilot.press("enter")
        await wait_until(
            lambda: not isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor closed"
        )
        assert env.engine.limits.upstream.stall is True
        await wait_until(
            lambda: app.snapshot and app.snapshot.limits["upstream"]["stall"],
            pilot=pilot,
            what="stall reported",
        )
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        assert app.screen.query_one("#upstream-stall", Input).value == "true"
