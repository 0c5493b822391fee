"""Capacity traces through the control API and the command line: set, shown back as
trace:NAME with the mean rate beside it, and refused with a 400 (the API) or exit 2 (the
command line) that names the field, the file, the line and the accepted form."""

from __future__ import annotations

import pytest
from helpers import HOST, EngineEnv, engine_env, run_serve_to_exit

from shaper.model.limits import Limits


@pytest.fixture
async def env():
    async with engine_env(Limits()) as value:
        yield value


async def test_a_trace_is_set_and_shown_back_with_its_mean_rate(env: EngineEnv, tmp_path):
    file = tmp_path / "steady.trace"
    file.write_text("".join(f"{t}\n" for t in range(1, 11)))  # 1 packet/ms: 12 Mbit/s
    status, body = await env.request(
        "PATCH", "/v1/limits", json={"downstream": {"rate": f"trace:{file}"}}
    )
    assert status == 200, body
    assert body["downstream"]["rate"] == f"trace:{file}"
    assert body["downstream"]["trace_rate"] == "12Mbit"
    assert "trace_rate" not in body["upstream"]
    assert env.engine.limits.downstream.trace is not None
    status, stats = await env.request("GET", "/v1/stats")
    assert status == 200 and stats["limits"]["downstream"]["trace_rate"] == "12Mbit"
    # Back to a number: the trace is gone.
    status, body = await env.request("PATCH", "/v1/limits", json={"downstream": {"rate": "1Mbit"}})
    assert status == 200 and body["downstream"]["rate"] == "1Mbit"
    assert "trace_rate" not in body["downstream"]
    assert env.engine.limits.downstream.trace is None


async def test_a_bad_trace_is_a_400_naming_the_field_and_line(env: EngineEnv, tmp_path):
    file = tmp_path / "bad.trace"
    file.write_text("1\n2\n1\n")
    status, body = await env.request(
        "PATCH", "/v1/limits", json={"upstream": {"rate": f"trace:{file}"}}
    )
    assert status == 400
    assert body["field"] == "upstream.rate"
    assert "line 3" in body["error"] and "must not decrease" in body["error"]
    assert "one integer millisecond timestamp per line" in body["accepted"]
    assert env.engine.limits == Limits()  # nothing changed


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "content, mentions",
    [
        ("1\nfast\n", ["--down-rate", "line 2", "'fast' is not an integer millisecond"]),
        ("", ["--down-rate", "empty trace"]),
        (None, ["--down-rate", "trace file not found"]),
    ],
    ids=["not-an-integer", "empty", "missing"],
)
async def test_a_bad_trace_flag_exits_2_naming_the_flag(tmp_path, content, mentions):
    file = tmp_path / "t.trace"
    if content is not None:
        file.write_text(content)
    code, out, err = await run_serve_to_exit(
        "--listen", f"{HOST}:0", "--upstream", f"{HOST}:9", "--down-rate", f"trace:{file}"
    )
    assert code == 2, (code, out, err)
    assert "Traceback" not in err, err
    for word in mentions:
        assert word in err, f"{word!r} not in stderr: {err}"


async def test_the_metrics_give_a_trace_s_mean_rate(env: EngineEnv, tmp_path):
    file = tmp_path / "half.trace"
    file.write_text("2\n4\n6\n8\n10\n")  # a packet every 2 ms: 6 Mbit/s
    status, _ = await env.request(
        "PATCH", "/v1/limits", json={"downstream": {"rate": f"trace:{file}"}}
    )
    assert status == 200
    status, text = await env.request("GET", "/metrics")
    assert status == 200
    lines = [line for line in text.splitlines() if line.startswith("shaper_limit_rate_bits")]
    assert 'shaper_limit_rate_bits_per_second{direction="downstream"} 6000000' in lines, lines


def test_the_display_shows_a_trace_s_mean_rate_as_such():
    from shaper.model.limits import DirectionLimits
    from shaper.model.traces import Trace
    from tui import format as fmt

    limits = DirectionLimits(rate=6_000_000, trace=Trace("x", mean_rate=6_000_000))
    assert fmt.trace_rate(limits, bits=True) == "~6.0 Mbit/s (trace)"
    assert "~6.0 Mbit/s (trace)" in fmt.limits_summary(limits, bits=True).plain
    assert fmt.trace_rate(DirectionLimits(rate=6_000_000), bits=True) == "6.0 Mbit/s"


def test_shaper_limits_prints_a_trace_and_its_mean_under_it():
    from shaper.cli.remote import format_limits

    limits = Limits().patched({"downstream": {"rate": "trace:cellular-drive-down"}})
    lines = format_limits(limits).splitlines()
    rate = next(i for i, line in enumerate(lines) if line.split()[:1] == ["rate"])
    assert lines[rate].split() == ["rate", "off", "trace:cellular-drive-down"]
    assert lines[rate + 1].split() == ["~5.994Mbit", "mean"]
