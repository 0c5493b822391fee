"""The path on fixed data: the panels' queue (the shared link's, with its capacity), who
holds it, the senders' windows; a connection's sender in its view; link and tcp in the
editor and the border; rates in bits by default."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import wait_until
from textual.widgets import DataTable, Input

from shaper.model.limits import DirectionLimits, Limits
from shaper.model.snapshots import ConnectionStats, EngineStats
from tui import format as fmt
from tui.app import ShaperApp
from tui.sample import KIB, direction, sample_connections, sample_snapshots, sample_source
from tui.screens.connection import ConnectionScreen
from tui.screens.limits import LimitsEditor
from tui.source import FixedSource
from tui.widgets.header import HeaderBar
from tui.widgets.path import LinkView, PathInfo, fit, holders, holders_forms, link_view
from tui.widgets.pipe import DirectionPanel, PipeDiagram


def source_with(
    conns: list[ConnectionStats], last: EngineStats | None = None, limits: Limits | None = None
) -> FixedSource:
    snapshots = sample_snapshots()
    if last is not None:
        snapshots.append(last)
    if limits is not None:
        snapshots = [dataclasses.replace(s, limits=limits.to_dict()) for s in snapshots]
    return FixedSource(snapshots, conns)


async def shown(pilot) -> ShaperApp:
    app = pilot.app
    await wait_until(
        lambda: app.snapshots_received >= len(app.source._initial) and app.connections,
        pilot=pilot,
        what="fixed data shown",
    )
    await pilot.pause(0.2)
    return app


def panel_text(app: ShaperApp, panel_id: str) -> tuple[str, str]:
    """(the stages' two lines, the path line(s)) of a direction panel, as shown."""
    panel = app.screen.query_one(panel_id, DirectionPanel)
    return panel.query_one(PipeDiagram).render().plain, panel.query_one(PathInfo).render().plain


# ---- who holds the queue ---------------------------------------------------------------


def test_holders_are_shares_of_the_queued_bytes_largest_first():
    assert holders([(1, 0), (2, 30), (3, 10)]) == ((2, 0.75), (3, 0.25))
    assert holders([(1, 0)]) == ()


def test_link_view_keeps_the_shared_link_apart_from_own_links():
    conns = sample_connections()  # 1-3 on the shared link, 4 with a link of its own
    view = link_view(conns, "downstream", DirectionLimits(buffer=64 * KIB))
    assert (view.queued, view.capacity, view.label) == (52 * KIB, 64 * KIB, "queue")
    assert [conn_id for conn_id, _ in view.holders] == [1, 3]
    assert view.own == ((4, 16 * KIB, 64 * KIB),)
    assert view.links == 2
    assert view.window == (1, 96 * KIB)
    # no own links: the engine's aggregate is the queue (queued None: take it as it is)
    shared = [
        dataclasses.replace(
            c, limits_override=False, downstream=dataclasses.replace(c.downstream, link="shared")
        )
        for c in conns
    ]
    assert link_view(shared, "downstream", DirectionLimits()).queued is None


def test_link_view_with_a_link_per_connection_shows_them_all():
    conns = [
        dataclasses.replace(c, downstream=dataclasses.replace(c.downstream, link="own"))
        for c in sample_connections()
    ]
    view = link_view(conns, "downstream", DirectionLimits(link="per-connection"))
    assert view.label == "queues"
    assert (view.queued, view.capacity) == ((40 + 12 + 16) * KIB, 4 * 64 * KIB)
    assert view.holders[0][0] == 1 and view.own == ()


def test_fit_shortens_the_least_important_first_then_drops_it():
    from rich.text import Text

    pieces = [[Text("held by #1 77%"), Text("#1 77%")], [Text("in flight 9K"), Text("flight 9K")]]
    assert fit(pieces, 40).plain == "held by #1 77%  in flight 9K"
    assert fit(pieces, 25).plain == "held by #1 77%  flight 9K"
    assert fit(pieces, 17).plain == "#1 77%  flight 9K"
    assert fit(pieces, 10).plain == "#1 77%"


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 36), (160, 50)])
async def test_panel_shows_the_shared_queue_and_who_holds_it(size):
    app = ShaperApp(sample_source())
    async with app.run_test(size=size) as pilot:
        await shown(pilot)
        stages, path = panel_text(app, "#downstream")
        # the shared link's queue with its own capacity (the border's buf 64KiB), not the
        # aggregate's 68K/128K that counts connection 4's link of its own too
        assert "52K/64K 81%" in stages
        assert "#1 77%" in path
        assert "flight 102K" in path
        if size[1] >= 36:  # the path on lines of its own: the whole story
            assert "held by #1 77% #3 23%" in path
            assert "+ own #4" in path
            assert "max cwnd 96K" in path


async def test_the_only_uploader_fills_the_shared_queue_and_the_panel_says_so():
    """One uploader among four connections fills the 64 KiB shared queue: the panel reads
    64K/64K 100%, held by that connection (the engine counts the shared link once)."""
    conns = [
        dataclasses.replace(
            c,
            limits_override=False,
            upstream=direction(
                "upstream",
                "backpressured" if c.id == 2 else "idle",
                64 * KIB if c.id == 2 else 0,
                cwnd=80 * KIB if c.id == 2 else 14480,
                in_flight=70 * KIB if c.id == 2 else 0,
            ),
        )
        for c in sample_connections()
    ]
    last = dataclasses.replace(
        sample_snapshots()[-1],
        upstream=direction(
            "upstream", "backpressured", 64 * KIB, capacity=64 * KIB, in_flight=70 * KIB
        ),
    )
    app = ShaperApp(source_with(conns, last))
    async with app.run_test(size=(120, 36)) as pilot:
        await shown(pilot)
        stages, path = panel_text(app, "#upstream")
        assert "queue 64K/64K 100%" in stages
        assert "held by #2 100%" in path
        assert "in flight 70K" in path and "max cwnd 80K" in path
        assert "own" not in path


async def test_own_links_alone_show_as_queues_with_their_capacities():
    """link = per-connection: every connection has its own link and queue; the panel shows
    them together, not the idle shared link."""
    limits = Limits.from_dict({"downstream": {"link": "per-connection", "buffer": "64KiB"}})
    conns = [
        dataclasses.replace(c, downstream=dataclasses.replace(c.downstream, link="own"))
        for c in sample_connections()
    ]
    app = ShaperApp(source_with(conns, limits=limits))
    async with app.run_test(size=(120, 36)) as pilot:
        await shown(pilot)
        stages, path = panel_text(app, "#downstream")
        assert "queues 68K/256K" in stages
        assert "held by #1 59%" in path
        panel = app.screen.query_one("#downstream", DirectionPanel)
        assert "link per-conn" in str(panel.border_subtitle)


# ---- one connection's sender -----------------------------------------------------------


async def open_connection(pilot, row: int) -> ConnectionScreen:
    app = await shown(pilot)
    for _ in range(row):
        await pilot.press("down")
    await pilot.press("enter")
    await wait_until(
        lambda: isinstance(app.screen, ConnectionScreen), pilot=pilot, what="connection view"
    )
    await pilot.pause(0.3)
    return app.screen


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_connection_view_shows_its_senders(size):
    app = ShaperApp(sample_source())
    async with app.run_test(size=size) as pilot:
        await open_connection(pilot, 0)  # connection 1: a download on the shared link
        _, down = panel_text(app, "#conn-downstream")
        for shown_text in (
            "cwnd 96K",
            "in flight 58K",
            "congestion-avoidance",
            "srtt 182 ms",
            "shared link",
        ):
            assert shown_text in down, (shown_text, down)
        _, up = panel_text(app, "#conn-upstream")
        assert "cwnd 14K" in up and "slow-start" in up and "in flight 0B" in up


async def test_connection_view_shows_an_own_link_and_tcp_off():
    conns = sample_connections()
    conns[3] = dataclasses.replace(
        conns[3],
        downstream=dataclasses.replace(
            conns[3].downstream, cwnd=None, in_flight=None, tcp_phase=None, srtt_us=None
        ),
    )
    app = ShaperApp(source_with(conns))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_connection(pilot, 3)  # connection 4: limits of its own
        _, down = panel_text(app, "#conn-downstream")
        assert "tcp off" in down and "own link" in down and "cwnd" not in down
        _, up = panel_text(app, "#conn-upstream")
        assert "own link" in up


# ---- link and tcp in the editor and the border ------------------------------------------


async def test_editor_offers_link_and_tcp_and_sends_a_choice():
    app = ShaperApp(sample_source())
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        editor = app.screen
        assert editor.query_one("#downstream-link", Input).value == "shared"
        assert editor.query_one("#upstream-tcp", Input).value == "emulated"
        link = editor.query_one("#downstream-link", Input)
        link.focus()
        await pilot.pause()
        link.value = ""
        await pilot.press("p")
        await pilot.pause(0.2)
        await pilot.press("right")  # takes the offered rest of the word
        assert link.value == "per-connection"
        tcp = editor.query_one("#upstream-tcp", Input)
        tcp.focus()
        await pilot.pause()
        tcp.value = "sometimes"
        await pilot.pause()
        assert tcp.has_class("-invalid")
        tcp.value = "off"
        await pilot.press("enter")
        await wait_until(
            lambda: not isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor closed"
        )
        assert (
            "patch_limits",
            {"upstream": {"tcp": "off"}, "downstream": {"link": "per-connection"}},
        ) in app.source.commands
        assert app.limits.downstream.link == "per-connection"
        assert app.limits.upstream.tcp == "off"
        await pilot.pause(0.2)
        up = app.screen.query_one("#upstream", DirectionPanel)
        down = app.screen.query_one("#downstream", DirectionPanel)
        assert "tcp off" in str(up.border_subtitle)
        assert "link per-conn" in str(down.border_subtitle)


async def test_a_connections_editor_shows_its_own_link_and_does_not_send_it():
    app = ShaperApp(sample_source())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_connection(pilot, 3)
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor")
        editor = app.screen
        field = editor.query_one("#downstream-link", Input)
        assert field.disabled and field.value.startswith("own")
        rate = editor.query_one("#downstream-rate", Input)
        rate.focus()
        rate.value = "512kbit"
        await pilot.press("enter")
        await wait_until(
            lambda: not isinstance(app.screen, LimitsEditor), pilot=pilot, what="editor closed"
        )
        assert ("patch_connection_limits", (4, {"downstream": {"rate": "512kbit"}})) in (
            app.source.commands
        )


def test_border_shows_link_and_tcp_where_they_fit():
    default = DirectionLimits(rate=2_000_000, latency=40_000, buffer=64 * KIB)
    assert "link shared tcp emulated" in fmt.limits_summary(default, True, width=80).plain
    narrow = fmt.limits_summary(default, True, width=40).plain
    assert "link" not in narrow and "tcp" not in narrow
    changed = dataclasses.replace(default, link="per-connection", tcp="off")
    narrow = fmt.limits_summary(changed, True, width=40).plain
    assert "link per-conn" in narrow and "tcp off" in narrow  # not defaults: always


# ---- bits by default ---------------------------------------------------------------------


async def test_rates_are_in_bits_by_default_and_b_switches_to_bytes():
    app = ShaperApp(sample_source())
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot)
        panel = app.screen.query_one("#downstream", DirectionPanel)
        table = app.screen.query_one(DataTable)
        header = app.screen.query_one(HeaderBar)

        def texts() -> tuple[str, str, str, str]:
            rates = str(panel.query_one(".rate-value").render())
            cell = str(table.get_cell("1", "down_rate"))
            return rates, str(panel.border_subtitle), cell, str(header.render())

        rates, border, cell, head = texts()
        assert app.bits
        assert "Mbit/s" in rates and "rate 2.0 Mbit/s" in border and "1.2 Mbit/s" in cell
        assert "bit/s" in head
        await pilot.press("b")
        await pilot.pause(0.2)
        rates, border, cell, head = texts()
        assert "KiB/s" in rates and "rate 244 KiB/s" in border and "146 KiB/s" in cell
        assert "B/s" in head and "bit/s" not in head


def test_an_empty_queue_and_no_connections_read_plainly():
    assert fit([holders_forms(LinkView())], 40).plain == "no connections"
    assert fit([holders_forms(LinkView(connections=2))], 40).plain == "queue empty"
    held = LinkView(connections=2, holders=((3, 0.998), (1, 0.002)))
    assert fit([holders_forms(held)], 40).plain == "held by #3 100%"  # no '#1 0%'
    # the engine's figure is newer than the connection list: an empty queue is empty,
    # and bytes nobody was seen holding yet are the next poll's to tell
    assert fit([holders_forms(held, queued=0)], 40).plain == "queue empty"
    assert fit([holders_forms(LinkView(connections=2), queued=4096)], 40).plain == "held by …"


# ---- loss ---------------------------------------------------------------------------------


async def test_connection_view_and_panel_show_losses():
    conns = sample_connections()
    conns[0] = dataclasses.replace(
        conns[0],
        downstream=dataclasses.replace(
            conns[0].downstream, lost=7, lost_acks=1, timeouts=2, retransmit_delay_us=9e5,
            stalled_us=1_500_000.0,
        ),
    )
    app = ShaperApp(source_with(conns))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_connection(pilot, 0)
        _, down = panel_text(app, "#conn-downstream")
        assert "lost 7" in down, down
        _, up = panel_text(app, "#conn-upstream")
        assert "lost" not in up  # loss never set there: nothing to say


def test_loss_forms_shorten_to_the_count():
    from tui.widgets.path import loss_forms

    forms = [f.plain for f in loss_forms((3, 1, 2_500_000.0))]
    assert forms[0] == "lost 3 pkts, 1 rto, stalled 2.5s"
    assert forms[-1] == "lost 3"
    assert loss_forms(None) == []
