"""Deferred imports stay deferred: each check runs in a fresh interpreter, since
import-linter sees neither string imports nor what a package root loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def under(modules: set[str], *packages: str) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def test_the_headless_engine_loads_no_display():
    modules = loaded_after(
        "import shaper.engine.engine, shaper.testing.aio, shaper.cli.serve, shaper.control.server\n"
        "from shaper.cli.main import build_parser\nbuild_parser()"
    )
    assert "shaper.engine.engine" in modules  # the probe did load the engine
    assert not under(modules, "textual", "tui", "rich")


SERVE_BOTH_APIS = """
import asyncio, urllib.request
from shaper.control.server import start_control
from shaper.control.toxiproxy.app import start_toxiproxy
from shaper.engine.engine import Engine

def get(address, path):
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}{path}", timeout=10) as r:
        return r.status

async def main():
    engine = Engine()
    await engine.start()
    control, control_at = await start_control(engine, "127.0.0.1", 0)
    toxiproxy, collection, toxiproxy_at = await start_toxiproxy(engine, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, get, control_at, "/v1/stats?connections=1") == 200
    assert await loop.run_in_executor(None, get, toxiproxy_at, "/proxies") == 200
    await control.cleanup()
    await toxiproxy.cleanup()
    collection.close()
    await engine.stop()

asyncio.run(main())
"""


def test_the_engine_serving_its_apis_loads_no_aiohttp():
    # aiohttp is the clients' library; loaded in the engine it cost some 15 MB of RSS.
    modules = loaded_after(SERVE_BOTH_APIS)
    assert "shaper.control.http.protocol" in modules  # the probe did serve over HTTP
    assert "h11" in modules
    assert not under(modules, "aiohttp", "multidict", "yarl", "textual")


def test_the_command_line_loads_the_engine_and_aiohttp_only_when_a_verb_needs_them():
    modules = loaded_after("from shaper.cli.main import build_parser\nbuild_parser()")
    assert not under(modules, "shaper.engine", "shaper.control.server", "aiohttp", "textual")


def test_the_display_loads_no_data_path():
    modules = loaded_after("import tui.app, tui.run, tui.source")
    assert "textual" in modules
    assert not under(
        modules,
        "shaper.engine",
        "shaper.cli",
        "shaper.launcher",
        "shaper.demo",
        "shaper.profiles",
        "shaper.shaping",
        "shaper.control.server",
    )


def test_plain_values_load_nothing_of_the_engine():
    modules = loaded_after("import shaper.model.units, shaper.model.limits")
    assert not under(modules, "shaper.engine", "shaper.control", "asyncio", "socket", "aiohttp")


@pytest.mark.parametrize(
    "name",
    [
        "Proxy",
        "AsyncProxy",
        "open_proxy",
        "ProxyError",
        "UnknownConnection",
        "Limits",
        "DirectionLimits",
        "LimitError",
        "Profile",
        "ProfileError",
    ],
)
def test_the_package_root_loads_its_names_on_first_use(name):
    modules = loaded_after(f"import shaper\nassert shaper.__version__\nshaper.{name}")
    assert "shaper.model.limits" in modules
    modules = loaded_after("import shaper")
    assert not under(modules, "shaper.engine", "shaper.model", "asyncio")


def test_the_pytest_plugin_loads_nothing_of_the_proxy_until_a_test_asks():
    # pytest loads it in every run of a project that has shaper installed.
    modules = loaded_after("import shaper.testing.plugin")
    assert "pytest" in modules
    assert not under(
        modules,
        "shaper.engine",
        "shaper.control",
        "shaper.launcher",
        "shaper.testing.sync",
        "shaper.testing.aio",
        "shaper.profiles",
        "aiohttp",
    )


def test_the_sync_proxy_loads_no_http_library_nor_the_engine():
    modules = loaded_after("import shaper\nshaper.Proxy")
    assert "shaper.control.sync_client" in modules
    assert not under(modules, "aiohttp", "shaper.engine", "textual")


def test_an_unknown_root_name_is_an_attribute_error():
    import shaper

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = shaper.nope
