"""Toxiproxy's API as its clients meet it: toxiproxy-python (from PyPI) against a real
`shaper toxiproxy`, plus raw requests shaped as the other clients send them (no
Content-Type, PATCH with one field, names with colons)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy_server import Upstream, connect, echo, roundtrip, toxiproxy_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server():
    with toxiproxy_server("-seed", "7") as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(server):
    yield
    server.clean()


@pytest.fixture
def toxi(server):
    client = Toxiproxy()
    client.update_api_consumer(*server.api)
    return client


@pytest.fixture
def upstream():
    with Upstream(echo) as running:
        yield running


def test_version_is_a_semantic_version_of_at_least_2_6(toxi):
    body = json.loads(toxi.version())
    major, minor, patch = (int(part) for part in body["version"].split("."))
    assert (major, minor, patch) >= (2, 6, 0)


def test_create_with_port_0_answers_the_real_port_and_relays(toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="localhost:6379")
    host, _, port = proxy.listen.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert proxy.enabled is True and proxy.upstream == upstream.upstream
    with connect(proxy.listen) as sock:
        roundtrip(sock, b"ping")
    listed = toxi.proxies()
    assert list(listed) == ["localhost:6379"]
    assert listed["localhost:6379"].listen == proxy.listen


def test_a_duplicate_name_is_409_with_toxiproxy_error_shape(toxi, server, upstream):
    toxi.create(upstream=upstream.upstream, name="db")
    with pytest.raises(ProxyExists):
        toxi.create(upstream=upstream.upstream, name="db")  # the client's own check
    status, body = server.request("POST", "/proxies", {"name": "db", "upstream": "127.0.0.1:1"})
    assert (status, body) == (409, {"error": "proxy already exists", "status": 409})


def test_toxics_on_both_streams_with_defaults_echoed(toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="redis")
    proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 10})
    proxy.add_toxic(type="latency", attributes={"latency": 20, "jitter": 5})
    proxy.add_toxic(type="slicer", stream="upstream", toxicity=0.5)
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_upstream", "latency_downstream", "slicer_upstream"}
    down = toxics["latency_downstream"]
    assert (down.type, down.stream, down.toxicity) == ("latency", "downstream", 1.0)
    assert down.attributes == {"latency": 20, "jitter": 5}
    assert toxics["latency_upstream"].attributes == {"latency": 10, "jitter": 0}
    assert toxics["slicer_upstream"].attributes == {
        "average_size": 0,
        "size_variation": 0,
        "delay": 0,
    }
    assert toxics["slicer_upstream"].toxicity == 0.5
    proxy.destroy_toxic("latency_upstream")
    assert set(proxy.toxics()) == {"latency_downstream", "slicer_upstream"}


def test_toxics_are_listed_upstream_first_as_toxiproxy_does(server, toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="order")
    proxy.add_toxic(type="timeout", name="t1")
    proxy.add_toxic(type="limit_data", name="l1", stream="upstream")
    proxy.add_toxic(type="bandwidth", name="b1", attributes={"rate": 100})
    status, toxics = server.request("GET", "/proxies/order/toxics")
    assert status == 200
    assert [t["name"] for t in toxics] == ["l1", "t1", "b1"]


def test_disable_closes_connections_and_stops_listening_enable_listens_again(toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="flaky")
    with connect(proxy.listen) as sock:
        roundtrip(sock, b"before")
        with proxy.down():
            sock.settimeout(5)
            assert sock.recv(10) == b""  # the open connection is closed
            with pytest.raises(ConnectionRefusedError):
                connect(proxy.listen).close()
            assert toxi.get_proxy("flaky").enabled is False
    assert toxi.get_proxy("flaky").enabled is True
    with connect(proxy.listen) as again:
        roundtrip(again, b"after")


def test_populate_creates_keeps_and_replaces(server, toxi, upstream):
    first = [
        {"name": "a", "listen": "127.0.0.1:0", "upstream": upstream.upstream},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": upstream.upstream, "enabled": False},
    ]
    status, body = server.request("POST", "/populate", first)
    assert status == 201
    assert [p["name"] for p in body["proxies"]] == ["a", "b"]
    assert [p["enabled"] for p in body["proxies"]] == [True, False]
    a_listen = body["proxies"][0]["listen"]
    # The same listen (now the bound one) and upstream: kept as it is; a new upstream:
    # replaced.
    second = [
        {"name": "a", "listen": a_listen, "upstream": upstream.upstream},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"},
    ]
    status, body = server.request("POST", "/populate", second)
    assert status == 201
    assert body["proxies"][0]["listen"] == a_listen
    assert body["proxies"][1]["upstream"] == "127.0.0.1:9"
    assert body["proxies"][1]["enabled"] is True
    # The client's own populate works over the same calls.
    made = toxi.populate([{"name": "c", "upstream": upstream.upstream, "listen": "127.0.0.1:0"}])
    assert [p.name for p in made] == ["c"]
    assert set(toxi.proxies()) == {"a", "b", "c"}


def test_populate_errors_are_400_and_make_nothing(server, toxi):
    status, body = server.request("POST", "/populate", [{"name": "x"}])
    assert status == 400
    assert body["status"] == 400 and "missing required field: upstream" in body["error"]
    assert body["proxies"] is None  # Toxiproxy's answer: none made
    status, body = server.request("POST", "/populate", {"name": "x"})
    assert status == 400 and body["error"].startswith("bad request body")
    assert toxi.proxies() == {}


def test_populate_applies_the_toxics_it_lists(server, upstream):
    listed = [
        {
            "name": "with-toxics",
            "listen": "127.0.0.1:0",
            "upstream": upstream.upstream,
            "toxics": [{"type": "latency", "attributes": {"latency": 50}}],
        }
    ]
    status, body = server.request("POST", "/populate", listed)
    assert status == 201
    assert body["proxies"][0]["toxics"][0]["name"] == "latency_downstream"
    status, route = server.control_request("GET", "/v1/routes/with-toxics")
    assert route["limits"]["downstream"]["latency"] == "50ms"


def test_reset_enables_every_proxy_and_removes_every_toxic(server, toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="r")
    proxy.add_toxic(type="timeout", stream="upstream")
    proxy.add_toxic(type="latency", attributes={"latency": 100})
    proxy.disable()
    assert toxi.reset() is True
    status, body = server.request("GET", "/proxies/r")
    assert status == 200 and body["enabled"] is True and body["toxics"] == []
    status, faults = server.control_request("GET", "/v1/faults")
    assert faults == []
    with connect(proxy.listen) as sock:
        assert roundtrip(sock, b"x") < 2.0


def test_errors_have_toxiproxy_statuses_and_shape(server, toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="e")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(NotFound):
        toxi.get_proxy("e").destroy_toxic("missing")
    cases = [
        ("GET", "/proxies/nope", None, 404, "proxy not found"),
        ("DELETE", "/proxies/nope", None, 404, "proxy not found"),
        ("GET", "/proxies/e/toxics/nope", None, 404, "toxic not found"),
        ("POST", "/proxies/e/toxics", {"type": "latency", "stream": "sideways"}, 400, "stream"),
        ("POST", "/proxies/e/toxics", {"type": "nope"}, 400, "invalid toxic type"),
        ("POST", "/proxies", {"upstream": "127.0.0.1:1"}, 400, "missing required field: name"),
        ("POST", "/proxies", {"name": "u"}, 400, "missing required field: upstream"),
        ("POST", "/proxies", {"name": 3, "upstream": "x:1"}, 400, "bad request body"),
        (
            "POST",
            "/proxies/e/toxics",
            {"type": "latency", "attributes": {"latency": -1}},
            400,
            "latency",
        ),
        ("POST", "/proxies/e/toxics", {"type": "latency", "toxicity": 2}, 400, "toxicity"),
    ]
    for method, path, body, status, words in cases:
        got, answer = server.request(method, path, body)
        assert got == status, (method, path, answer)
        assert answer["status"] == status and words in answer["error"], answer
    got, answer = server.request("POST", "/proxies", raw=b"{not json")
    assert got == 400 and answer["error"].startswith("bad request body")
    proxy.add_toxic(type="latency", name="dup")
    got, answer = server.request("POST", "/proxies/e/toxics", {"type": "timeout", "name": "dup"})
    assert (got, answer) == (409, {"error": "toxic already exists", "status": 409})


def test_requests_without_content_type_are_read(server, upstream):
    body = json.dumps({"name": "plain", "upstream": upstream.upstream}).encode()
    status, proxy = server.request("POST", "/proxies", raw=body, headers={})
    assert status == 201 and proxy["name"] == "plain"
    toxic = json.dumps({"type": "bandwidth", "attributes": {"rate": 50}}).encode()
    status, made = server.request(
        "POST", "/proxies/plain/toxics", raw=toxic, headers={"Content-Type": "text/plain"}
    )
    assert status == 200 and made["attributes"] == {"rate": 50}


def test_patch_updates_only_what_it_names(server, upstream):
    status, proxy = server.request("POST", "/proxies", {"name": "p", "upstream": upstream.upstream})
    listen = proxy["listen"]
    status, changed = server.request("PATCH", "/proxies/p", {"enabled": False})
    assert status == 200
    assert changed["listen"] == listen and changed["upstream"] == upstream.upstream
    assert changed["enabled"] is False
    status, changed = server.request("POST", "/proxies/p", {"enabled": True})
    assert status == 200 and changed["enabled"] is True and changed["listen"] == listen
    server.request(
        "POST",
        "/proxies/p/toxics",
        {"type": "latency", "toxicity": 0.25, "attributes": {"latency": 30}},
    )
    status, toxic = server.request(
        "PATCH", "/proxies/p/toxics/latency_downstream", {"attributes": {"jitter": 4}}
    )
    assert status == 200
    assert toxic["attributes"] == {"latency": 30, "jitter": 4} and toxic["toxicity"] == 0.25
    status, toxic = server.request("POST", "/proxies/p/toxics/latency_downstream", {"toxicity": 1})
    assert toxic["toxicity"] == 1.0 and toxic["attributes"] == {"latency": 30, "jitter": 4}
    status, route = server.control_request("GET", "/v1/routes/p")
    assert route["limits"]["downstream"]["latency"] == "30ms"
    assert route["limits"]["downstream"]["jitter"] == "4ms"


def test_patch_moves_a_proxy_to_a_new_upstream_keeping_its_toxics(server, upstream):
    with Upstream(echo) as other:
        server.request("POST", "/proxies", {"name": "m", "upstream": upstream.upstream})
        server.request("POST", "/proxies/m/toxics", {"type": "slow_close"})
        status, moved = server.request("PATCH", "/proxies/m", {"upstream": other.upstream})
        assert status == 200 and moved["upstream"] == other.upstream
        assert [t["name"] for t in moved["toxics"]] == ["slow_close_downstream"]
        with connect(moved["listen"]) as sock:
            roundtrip(sock, b"moved")
        assert other._conns, "the new upstream was dialed"


def test_proxies_are_routes_of_shaper_own_api(server, toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="seen:1")
    proxy.add_toxic(type="reset_peer", stream="upstream", toxicity=0)
    status, routes = server.control_request("GET", "/v1/routes")
    assert [(r["name"], r["listen"]) for r in routes] == [("seen:1", proxy.listen)]
    # toxiproxy proxies are plain relays until toxiced: no shared link, no emulated TCP.
    assert routes[0]["limits"]["upstream"]["link"] == "per-connection"
    assert routes[0]["limits"]["downstream"]["tcp"] == "off"
    status, faults = server.control_request("GET", "/v1/faults")
    assert [(f["name"], f["route"], f["toxicity"]) for f in faults] == [
        ("seen:1:reset_peer_upstream", "seen:1", 0.0)
    ]
    with connect(proxy.listen) as sock:
        roundtrip(sock, b"x")
        status, stats = server.control_request("GET", "/v1/stats?connections=true")
        assert [c["route_name"] for c in stats["connections"]] == ["seen:1"]
    # shaper's own API can remove it; Toxiproxy's then forgets it.
    server.control_request("DELETE", "/v1/routes/seen:1")
    assert toxi.proxies() == {}


def test_metrics_use_toxiproxy_names(server, toxi, upstream):
    proxy = toxi.create(upstream=upstream.upstream, name="metered")

    def sent_upstream(text: str) -> str:
        return next(
            x
            for x in text.splitlines()
            if x.startswith("toxiproxy_proxy_sent_bytes_total") and 'direction="upstream"' in x
        )

    with connect(proxy.listen) as sock:
        roundtrip(sock, b"12345")
        status, text = server.request("GET", "/metrics")
        assert status == 200
        line = sent_upstream(text)
        assert 'proxy="metered"' in line and line.endswith(" 5")
    # Still counted once the connection is gone.
    deadline = time.monotonic() + 10
    while server.control_request("GET", "/v1/stats")[1]["connections_open"]:
        assert time.monotonic() < deadline, "the connection did not close"
        time.sleep(0.05)
    assert sent_upstream(server.request("GET", "/metrics")[1]).endswith(" 5")


def test_browsers_are_turned_away(server):
    status, body = server.request("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert status == 403 and body["status"] == 403


def test_a_busy_listen_address_is_refused_and_changes_nothing(server, toxi, upstream):
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        status, body = server.request(
            "POST",
            "/proxies",
            {"name": "busy", "listen": f"127.0.0.1:{port}", "upstream": upstream.upstream},
        )
        assert status == 409 and "cannot listen" in body["error"]
        assert toxi.proxies() == {}
    finally:
        taken.close()


def test_config_file_makes_proxies_and_applies_their_toxics(tmp_path, upstream):
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [
                {
                    "name": "from-file",
                    "listen": "127.0.0.1:0",
                    "upstream": upstream.upstream,
                    "toxics": [
                        {"type": "latency", "stream": "upstream", "attributes": {"latency": 40}}
                    ],
                }
            ]
        )
    )
    with toxiproxy_server("-config", str(config)) as running:
        status, proxies = running.request("GET", "/proxies")
        assert list(proxies) == ["from-file"]
        assert proxies["from-file"]["toxics"][0]["attributes"] == {"latency": 40, "jitter": 0}
        status, route = running.control_request("GET", "/v1/routes/from-file")
        assert route["limits"]["upstream"]["latency"] == "40ms"


def test_the_rest_of_the_python_client(toxi, upstream):
    assert toxi.running() is True
    proxy = toxi.create(upstream=upstream.upstream, name="rest", listen="127.0.0.1:0")
    proxy.add_toxic(type="limit_data", name="cap", attributes={"bytes": 10})
    found = proxy.get_toxic("cap")
    assert found is not None and found.attributes == {"bytes": 10}
    assert proxy.get_toxic("absent") is None
    toxi.create(upstream=upstream.upstream, name="rest2")
    toxi.destroy_all()
    assert toxi.proxies() == {}
    assert toxi.get_proxy("rest") is None
