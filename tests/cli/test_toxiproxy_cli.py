"""`shaper toxiproxy` and `shaper serve --toxiproxy` as real processes: Toxiproxy's flags
(single and double dash), the loopback rule, the config file's errors, and the proxies
seen by shaper's own command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request

import pytest
from helpers import run_serve_to_exit, start_serve, stop_process
from toxiproxy_server import toxiproxy_server

pytestmark = pytest.mark.timeout(60)


def run_toxiproxy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shaper", "toxiproxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_off_loopback_without_a_token_exits_2():
    result = run_toxiproxy("-host", "0.0.0.0", "-port", "0")
    assert result.returncode == 2
    assert "-host" in result.stderr and "token" in result.stderr


def test_a_bad_config_file_exits_2_naming_it(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps([{"name": "no-upstream"}]))
    result = run_toxiproxy("-config", str(config), "-port", "0", "--control", "off")
    assert result.returncode == 2
    assert "missing required field: upstream" in result.stderr and "bad.json" in result.stderr
    result = run_toxiproxy("-config", str(tmp_path / "missing.json"), "--control", "off")
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_a_bad_seed_exits_2():
    result = run_toxiproxy("-seed", "minus-one", "--control", "off")
    assert result.returncode == 2 and "--seed" in result.stderr


def test_double_dash_flags_and_the_cli_verbs_see_the_proxies():
    with toxiproxy_server("--seed", "3", "--proxy-metrics") as running:
        status, proxy = running.request(
            "POST", "/proxies", {"name": "cli:1", "upstream": "127.0.0.1:9"}
        )
        assert status == 201
        control = "http://{}:{}".format(*running.control)
        listing = subprocess.run(
            [sys.executable, "-m", "shaper", "routes", "list", "--control", control],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listing.returncode == 0, listing.stderr
        assert "cli:1" in listing.stdout and proxy["listen"] in listing.stdout
        status, body = running.control_request("GET", "/v1/status")
        assert body["seed"] == 3


async def test_serve_with_toxiproxy_needs_no_route_and_serves_both_apis():
    process = await start_serve("--toxiproxy", "127.0.0.1:0", "--control", "127.0.0.1:0")
    try:
        lines: list[str] = []
        while not any(line.startswith("seed ") for line in lines):
            raw = await asyncio.wait_for(process.stdout.readline(), 20)
            assert raw, f"serve ended: {lines}"
            lines.append(raw.decode().strip())
        api = next(line for line in lines if line.startswith("toxiproxy API on ")).split()[-1]
        control = next(line for line in lines if line.startswith("control on ")).split()[-1]

        def call(method: str, url: str, body: object = None) -> tuple[int, object]:
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(url, data=data, method=method)
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")

        status, made = await asyncio.to_thread(
            call, "POST", api + "/proxies", {"name": "beside", "upstream": "127.0.0.1:9"}
        )
        assert status == 201
        status, routes = await asyncio.to_thread(call, "GET", control + "/v1/routes")
        assert [r["name"] for r in routes] == ["beside"]
    finally:
        await stop_process(process)


async def test_serve_toxiproxy_off_loopback_needs_a_token():
    code, _, err = await run_serve_to_exit("--toxiproxy", "0.0.0.0:0")
    assert code == 2 and "--toxiproxy" in err and "token" in err
