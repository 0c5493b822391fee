"""A suite's Toxiproxy proxies in the display: `shaper toxiproxy` as a child, a proxy and a
toxic made through Toxiproxy's API, and the display attached to the control API beside it
shows the route, its limits and the fault, and follows their removal."""

from __future__ import annotations

import asyncio

from helpers import wait_until
from toxiproxy_server import toxiproxy_server

from tui.app import ShaperApp
from tui.source import ControlSource
from tui.widgets.header import HeaderBar

SIZE = (120, 36)


def header_text(app: ShaperApp) -> str:
    return str(app.dashboard.query_one(HeaderBar).render())


async def test_proxies_and_toxics_show_while_a_suite_runs():
    with toxiproxy_server() as server:
        call = server.request
        app = ShaperApp(ControlSource("http://{}:{}".format(*server.control)))
        app.faults_interval = 0.2
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(lambda: app.snapshots_received > 0, pilot=pilot, what="snapshot")
            status, _ = await asyncio.to_thread(
                call, "POST", "/proxies", {"name": "suite:6379", "upstream": "127.0.0.1:9"}
            )
            assert status == 201
            status, _ = await asyncio.to_thread(
                call, "POST", "/proxies/suite:6379/toxics", {"type": "reset_peer"}
            )
            assert status == 200
            await wait_until(
                lambda: "suite:6379:reset_peer_downstream" in header_text(app),
                pilot=pilot,
                what="the toxic's fault in the header",
            )
            assert "suite:6379" in header_text(app)
            await asyncio.to_thread(call, "DELETE", "/proxies/suite:6379")
            await wait_until(
                lambda: "suite:6379" not in header_text(app),
                pilot=pilot,
                what="the proxy gone from the header",
            )
