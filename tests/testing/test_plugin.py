"""The pytest plugin in a project of its own (pytester, in a fresh pytest process): shaper
installed is all it needs (the pytest11 entry point, no conftest); the shaper_proxy fixture
and the shaper_profile marker work in sync tests, under pytest-asyncio in strict and auto
modes, and under anyio; every engine is stopped after its test."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)

# What a user writes: a real server (Python's own, on loopback) and a test or two.
SERVER = """
import json, threading, time, urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web(tmp_path):
    (tmp_path / "page.html").write_bytes(b"x" * 20000)
    handler = lambda *a, **k: Quiet(*a, directory=str(tmp_path), **k)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def get(proxy, path="/page.html"):
    started = time.monotonic()
    body = urllib.request.urlopen(f"http://{proxy.host}:{proxy.port}{path}", timeout=30).read()
    return body, time.monotonic() - started


def engine_pid(proxy):
    status = json.load(urllib.request.urlopen(proxy.control_url + "/v1/status", timeout=5))
    with open("pids.txt", "a") as out:
        out.write(f"{status['pid']}\\n")
    return status["pid"]
"""

STRICT = (
    SERVER
    + """
pytestmark = pytest.mark.shaper_profile("3g")


def test_sync_on_the_module_profile(shaper_proxy, web):
    proxy = shaper_proxy(upstream=web)
    engine_pid(proxy)
    body, elapsed = get(proxy)
    assert len(body) == 20000
    assert elapsed > 0.45  # 3g: 150 ms each way, several round trips
    assert proxy.stats().profile == "3g"


def test_keyword_limits_win_and_none_means_no_profile(shaper_proxy, web):
    fast = shaper_proxy(upstream=web, profile=None)
    engine_pid(fast)
    assert fast.stats().profile is None
    tuned = shaper_proxy(web, down_latency="5ms")
    engine_pid(tuned)
    assert tuned.limits().downstream.latency == 5000 and tuned.stats().profile == "3g"


class TestAClassMarker:
    pytestmark = pytest.mark.shaper_profile("satellite-geo")

    def test_the_closest_marker_wins(self, shaper_proxy, web):
        proxy = shaper_proxy(upstream=web)
        engine_pid(proxy)
        assert proxy.stats().profile == "satellite-geo"


@pytest.mark.asyncio
async def test_strict_asyncio(shaper_proxy, web):
    proxy = shaper_proxy(upstream=web)
    engine_pid(proxy)
    proxy.set_limits(rate="off", latency="0ms")
    assert (await proxy.aio.stats()).profile == "3g"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_anyio(shaper_proxy, web):
    proxy = shaper_proxy(upstream=web, latency="1ms")
    engine_pid(proxy)
    assert (await proxy.aio.limits()).upstream.latency == 1000


@pytest.mark.shaper_profile()
def test_a_marker_without_a_profile(shaper_proxy, web):
    shaper_proxy(upstream=web)


@pytest.mark.shaper_profile("3gg")
def test_a_marker_with_an_unknown_profile(shaper_proxy, web):
    shaper_proxy(upstream=web)
"""
)

AUTO = (
    SERVER
    + """
async def test_auto_asyncio_without_a_marker(shaper_proxy, web):
    proxy = shaper_proxy(upstream=web, profile="edge")
    engine_pid(proxy)
    assert proxy.stats().profile == "edge"
    await proxy.aio.stall()
    assert proxy.limits().downstream.stall


def test_sync_beside_it(shaper_proxy, web):
    proxy = shaper_proxy(web)
    engine_pid(proxy)
    body, _ = get(proxy)
    assert len(body) == 20000
    assert proxy.stats().bytes_downstream > 20000
"""
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def engines_gone(pytester: pytest.Pytester, expected: int) -> None:
    pids = [int(line) for line in (pytester.path / "pids.txt").read_text().split()]
    assert len(pids) == expected
    assert not [pid for pid in pids if alive(pid)], "an engine outlived its test"


def test_strict_mode_sync_tests_markers_and_anyio(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_strict=STRICT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=5, errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_a_marker_without_a_profile*",
            "@pytest.mark.shaper_profile(): expected one profile, a name or a path to a .toml*",
        ]
    )
    result.stdout.fnmatch_lines(["E *ProfileError: no profile named '3gg'. Did you mean '3g'?*"])
    engines_gone(pytester, 6)


def test_auto_mode(pytester: pytest.Pytester):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_auto=AUTO)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    engines_gone(pytester, 2)


def test_the_marker_is_registered_and_the_fixture_listed(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.shaper_profile(profile): *"])
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest_subprocess("--fixtures")
    result.stdout.fnmatch_lines(["shaper_proxy*", "*Start shaped proxies*"])
