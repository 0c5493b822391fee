"""The header says when the limits are no longer the profile's own: `3g*` and the changed
limits, within 80 columns."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import EngineEnv, wait_until

from tui.app import ShaperApp
from tui.sample import sample_connections, sample_snapshots
from tui.source import ControlSource, FixedSource
from tui.widgets.header import HeaderBar, changes_text


def header_text(app: ShaperApp) -> str:
    return str(app.dashboard.query_one(HeaderBar).render())


def test_changes_text_is_compact():
    assert changes_text(["downstream.rate"]) == "▼rate"
    assert changes_text(["upstream.rate", "downstream.rate", "upstream.latency"]) == (
        "▲▼rate ▲latency"
    )
    assert changes_text([]) == ""


def fixed(changes: tuple[str, ...], profile: str | None = "demo") -> FixedSource:
    snapshots = [
        dataclasses.replace(s, profile=profile, profile_changes=changes) for s in sample_snapshots()
    ]
    return FixedSource(
        snapshots,
        sample_connections(),
        status={
            "version": "0.1.0",
            "profile": profile,
            "limits": snapshots[-1].limits,
            "routes": [
                {
                    "listen": "127.0.0.1:8080",
                    "upstream": "127.0.0.1:8000",
                    "description": "127.0.0.1:8080 -> 127.0.0.1:8000",
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("columns", "changes", "shown", "hidden"),
    [
        (80, (), "profile demo ", "*"),
        (80, ("downstream.rate",), "profile demo* ▼rate", ""),
        (
            80,
            ("upstream.latency", "downstream.latency", "downstream.rate"),
            "profile demo* ▲▼latency ▼rate",
            "",
        ),
        # Too many to list at 80 columns: their count instead (the tooltip lists them).
        (
            80,
            tuple(
                f"{d}.{k}"
                for d in ("upstream", "downstream")
                for k in ("rate", "latency", "jitter", "buffer", "sockbuf", "burst")
            ),
            "profile demo* 12 changed",
            "▲▼rate",
        ),
        (140, ("downstream.rate",), "127.0.0.1:8080 → 127.0.0.1:8000  profile demo* ▼rate", ""),
    ],
)
async def test_header_marks_a_modified_profile(columns, changes, shown, hidden):
    app = ShaperApp(fixed(changes))
    async with app.run_test(size=(columns, 24)) as pilot:
        await wait_until(lambda: app.source.served >= 30, pilot=pilot, what="fixed data")
        await pilot.pause(0.1)
        text = header_text(app)
        assert shown in text, text
        if hidden:
            assert hidden not in text, text
        assert len(text) <= columns - 2  # one line inside the padding
        assert "conn 4/5" in text  # the right part stays
        header = app.dashboard.query_one(HeaderBar)
        if changes:
            assert str(header.tooltip) == f"profile demo changed by hand: {', '.join(changes)}"
        else:
            assert header.tooltip is None


async def test_header_follows_the_engine_report(env: EngineEnv):
    """A real engine running a profile: a change by hand shows `crawl*` and what changed;
    setting the profile's value again (or applying the profile) clears it."""
    app = ShaperApp(ControlSource(env.url))
    async with app.run_test(size=(80, 24)) as pilot:
        status, _ = await env.request("POST", "/v1/profile", json={"name": "crawl"})
        assert status == 200
        await wait_until(
            lambda: "profile crawl " in header_text(app), pilot=pilot, what="profile shown"
        )
        status, _ = await env.request("PATCH", "/v1/limits", json={"downstream": {"rate": "1Mbit"}})
        assert status == 200
        await wait_until(
            lambda: "profile crawl* ▼rate" in header_text(app),
            pilot=pilot,
            what="modified profile shown",
        )
        assert len(header_text(app)) <= 78
        await env.request("PATCH", "/v1/limits", json={"downstream": {"rate": "128kbit"}})
        await wait_until(
            lambda: "profile crawl " in header_text(app), pilot=pilot, what="modification cleared"
        )
        assert "*" not in header_text(app)


@pytest.mark.parametrize(("columns", "shown"), [(80, "control "), (120, "control http://")])
async def test_header_shows_the_control_api_of_the_engine(env: EngineEnv, columns, shown):
    """The engine's control address, for `shaper limits --control` and curl: the whole URL
    where it fits, the address alone where not; and always in the tooltip."""
    app = ShaperApp(ControlSource(env.url))
    address = env.url.removeprefix("http://")
    async with app.run_test(size=(columns, 24)) as pilot:
        await wait_until(lambda: "conn " in header_text(app), pilot=pilot, what="a snapshot")
        text = header_text(app)
        assert f"{shown}{address}" in text, text
        assert len(text) <= columns - 2
        header = app.dashboard.query_one(HeaderBar)
        assert f"control API: {env.url}" in str(header.tooltip)
        # Too little room once the profile's changes are listed: they go first.
        await env.request("POST", "/v1/profile", json={"name": "crawl"})
        await env.request(
            "PATCH",
            "/v1/limits",
            json={"downstream": {"rate": "1Mbit"}, "upstream": {"latency": "5ms"}},
        )
        await wait_until(
            lambda: "crawl*" in header_text(app), pilot=pilot, what="modified profile shown"
        )
        text = header_text(app)
        assert "crawl* ▲latency ▼rate" in text and len(text) <= columns - 2
        assert (address in text) == (columns == 120), text
