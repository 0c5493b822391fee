"""Toxiproxy's JSON and its toxics in shaper's terms, with no server: defaults, merges,
the Go decoder's leniency and where shaper refuses, and each toxic's limits or fault."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shaper.control.toxiproxy import mapping
from shaper.control.toxiproxy.shapes import (
    TOXIC_ATTRIBUTES,
    ProxyInput,
    ToxiproxyError,
    decode,
    parse_populate,
    parse_proxy,
    parse_toxic,
    patch_toxic,
)
from shaper.faults import FAULT_TYPES, make_fault


def test_a_toxic_gets_toxiproxy_defaults_and_echoes_every_attribute():
    toxic = parse_toxic({"type": "slicer"})
    assert toxic.to_dict() == {
        "name": "slicer_downstream",
        "type": "slicer",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"average_size": 0, "size_variation": 0, "delay": 0},
    }
    # Any case is taken and echoed as written, as Toxiproxy does.
    upstream = parse_toxic({"type": "latency", "stream": "UPSTREAM", "extra": 1})
    assert upstream.name == "latency_UPSTREAM" and upstream.stream == "UPSTREAM"
    assert upstream.direction == "upstream"
    assert (
        mapping.limits_for(
            [parse_toxic({**upstream.to_dict(), "attributes": {"latency": 5}})], mapping.at_full
        ).upstream.latency
        == 5000
    )


def test_unknown_attributes_are_ignored_and_bad_ones_refused():
    toxic = parse_toxic({"type": "timeout", "attributes": {"timeout": 5.0, "latency": 9}})
    assert toxic.to_dict()["attributes"] == {"timeout": 5}
    for bad in ({"timeout": 1.5}, {"timeout": "5"}, {"timeout": True}, {"timeout": -1}):
        with pytest.raises(ToxiproxyError) as caught:
            parse_toxic({"type": "timeout", "attributes": bad})
        assert caught.value.status == 400 and "timeout" in caught.value.message


def test_stream_is_checked_before_type_as_toxiproxy_does():
    with pytest.raises(ToxiproxyError, match="stream was invalid"):
        parse_toxic({"type": "nope", "stream": "both"})
    with pytest.raises(ToxiproxyError, match="invalid toxic type"):
        parse_toxic({"type": "nope"})


def test_a_patch_merges_attributes_and_keeps_toxicity_unless_given():
    toxic = parse_toxic({"type": "latency", "toxicity": 0.3, "attributes": {"latency": 10}})
    merged = patch_toxic(toxic, {"attributes": {"jitter": 2}, "name": "ignored"})
    assert merged.name == "latency_downstream" and merged.toxicity == 0.3
    assert merged.to_dict()["attributes"] == {"latency": 10, "jitter": 2}
    assert patch_toxic(merged, {"toxicity": 0}).toxicity == 0.0


def test_a_proxy_update_keeps_what_it_does_not_name():
    base = ProxyInput("db", "127.0.0.1:5000", "127.0.0.1:5432", True)
    assert parse_proxy({"enabled": False}, base) == ProxyInput(
        "db", "127.0.0.1:5000", "127.0.0.1:5432", False
    )
    assert parse_proxy({"upstream": "x:1", "name": "other"}, base).name == "db"


def test_bodies_toxiproxy_refuses_are_refused_with_its_words():
    assert decode(b'  {"a": 1}\n') == {"a": 1}
    with pytest.raises(ToxiproxyError, match="bad request body"):
        decode(b"")
    with pytest.raises(ToxiproxyError, match="missing required field: name at proxy 2"):
        parse_populate([{"name": "a", "upstream": "x:1"}, {"upstream": "x:1"}])
    with pytest.raises(ToxiproxyError) as twice:
        parse_populate([{"name": "a", "upstream": "x:1"}] * 2)
    assert twice.value.status == 409


def test_latency_and_bandwidth_become_per_connection_limits():
    toxics = [
        parse_toxic({"type": "latency", "attributes": {"latency": 100, "jitter": 10}}),
        parse_toxic({"type": "latency", "name": "more", "attributes": {"latency": 50}}),
        parse_toxic({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100}}),
        parse_toxic(
            {"type": "bandwidth", "name": "b2", "stream": "upstream", "attributes": {"rate": 30}}
        ),
    ]
    limits = mapping.limits_for(toxics, mapping.at_full)
    assert (limits.downstream.latency, limits.downstream.jitter) == (150_000, 10_000)
    assert limits.upstream.rate == 30 * 8000  # the slowest wins; KB/s in bits
    assert limits.downstream.rate == 0 and limits.upstream.latency == 0
    for direction in (limits.upstream, limits.downstream):
        assert (direction.link, direction.tcp) == ("per-connection", "off")
    assert limits.downstream.buffer == mapping.LATENCY_BUFFER
    assert limits.upstream.buffer == mapping.PLAIN.buffer
    assert mapping.limits_for([], mapping.at_full) == mapping.BASE


def test_a_rate_of_zero_stalls():
    toxic = parse_toxic({"type": "bandwidth", "attributes": {"rate": 0}})
    limits = mapping.limits_for([toxic], mapping.at_full)
    assert limits.downstream.stall and not limits.upstream.stall


def test_a_latency_beyond_what_shaper_takes_is_a_400():
    toxic = parse_toxic({"type": "latency", "attributes": {"latency": 700_000}})
    with pytest.raises(ToxiproxyError) as caught:
        mapping.limits_for([toxic], mapping.at_full)
    assert caught.value.status == 400 and "latency" in caught.value.message


@pytest.mark.parametrize(
    ("body", "direction", "settings"),
    [
        ({"type": "timeout", "attributes": {"timeout": 250}}, "downstream", {"after": 250_000}),
        ({"type": "reset_peer", "stream": "upstream"}, "both", {"after": 0}),
        ({"type": "limit_data", "attributes": {"bytes": 9}}, "downstream", {"bytes": 9}),
        ({"type": "slow_close", "attributes": {"delay": 3}}, "downstream", {"delay": 3000}),
        (
            {"type": "slicer", "attributes": {"average_size": 0, "size_variation": 5}},
            "downstream",
            {"average_size": 1, "size_variation": 0, "delay": 0},
        ),
        (
            {
                "type": "slicer",
                "stream": "upstream",
                "attributes": {"average_size": 10, "delay": 7},
            },
            "upstream",
            {"average_size": 10, "size_variation": 0, "delay": 7},
        ),
    ],
)
def test_the_other_toxics_become_faults_on_the_route(body, direction, settings):
    toxic = parse_toxic({**body, "toxicity": 0.5})
    spec = mapping.fault_for(toxic, "db", "db:x")
    assert (spec.name, spec.type, spec.route, spec.toxicity) == ("db:x", body["type"], "db", 0.5)
    assert spec.direction == direction and dict(spec.settings) == settings
    assert set(spec.settings) == {s.name for s in FAULT_TYPES[spec.type].settings}
    make_fault(spec)  # a fault the engine can run


def test_every_standard_toxic_is_mapped():
    for type_ in TOXIC_ATTRIBUTES:
        toxic = parse_toxic({"type": type_})
        if mapping.is_limit(toxic):
            mapping.limits_for([toxic], mapping.at_full)
        else:
            assert mapping.fault_for(toxic, "r", "f").type == type_


@given(st.floats(0.05, 0.95), st.integers(0, 2**32))
def test_the_draw_is_seeded_and_near_its_toxicity(toxicity, seed):
    toxic = parse_toxic({"type": "latency", "toxicity": toxicity})
    draws = [mapping.chosen_for(seed, "p", toxic, conn) for conn in range(400)]
    assert draws == [mapping.chosen_for(seed, "p", toxic, conn) for conn in range(400)]
    assert abs(sum(draws) / 400 - toxicity) < 0.15


def test_toxicity_zero_and_one_are_never_drawn():
    never = parse_toxic({"type": "latency", "toxicity": 0})
    always = parse_toxic({"type": "latency", "toxicity": 1})
    assert not any(mapping.chosen_for(1, "p", never, c) for c in range(100))
    assert all(mapping.chosen_for(1, "p", always, c) for c in range(100))
