"""The profile format: defaults, names, JSON bodies, overrides, generated round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profile_samples import GOOD, write

from shaper.model import units
from shaper.model.limits import LIMIT_KEYS, DirectionLimits, Limits
from shaper.profiles import (
    Profile,
    ProfileError,
    dump_profile,
    load_profile,
    parse_profile,
    profile_from_dict,
)


def test_good_profile_parses_with_defaults_for_missing_keys():
    profile = parse_profile(GOOD, file="office.toml")
    assert profile.name == "office"
    assert profile.description == "the office wifi on a bad day"
    assert profile.source == "measured"
    assert profile.scenario is None
    down = profile.limits.downstream
    assert down == DirectionLimits(
        rate=8_000_000,
        latency=25_000,
        jitter=5_000,
        jitter_distribution="normal",
        buffer=64 * 1024,
        sockbuf=32 * 1024,
    )
    assert profile.limits.upstream == DirectionLimits(rate=2_000_000, latency=20_000)


def test_name_defaults_to_the_file_name(isolated):
    write(isolated / "profiles" / "plain.toml", "[downstream]\nrate = '1Mbit'\n")
    profile = load_profile("plain")
    assert profile.name == "plain" and profile.origin == "local"
    assert profile.limits.upstream == DirectionLimits()


def test_profile_from_dict_accepts_a_json_body():
    profile = profile_from_dict(
        {
            "name": "inline",
            "downstream": {"rate": "1Mbit"},
            "scenario": {"phases": [{"name": "x", "duration": "1s"}]},
        }
    )
    assert profile.origin == "inline" and profile.path is None
    assert profile.limits.downstream.rate == 1_000_000
    assert profile.scenario.phases[0].name == "x"
    as_json = json.loads(json.dumps(profile.to_dict()))
    assert as_json["limits"]["downstream"]["rate"] == "1Mbit"
    assert as_json["scenario"]["phases"] == [{"name": "x", "duration": "1s"}]


def test_with_overrides_wins_over_base_and_phases():
    profile = load_profile("tunnel").with_overrides({"downstream": {"rate": "3Mbit"}})
    assert profile.limits.downstream.rate == 3_000_000
    assert all(p.limits.downstream.rate == 3_000_000 for p in profile.scenario.phases)
    assert any(p.limits.downstream.stall for p in profile.scenario.phases)


direction_limits = st.builds(
    DirectionLimits,
    rate=st.one_of(st.just(0), st.integers(1, 10**11)),
    burst=st.integers(0, 2**30),
    latency=st.integers(0, 600_000_000),
    jitter=st.integers(0, 60_000_000),
    jitter_distribution=st.sampled_from(["uniform", "normal"]),
    buffer=st.integers(1, 2**30),
    sockbuf=st.one_of(st.none(), st.integers(1024, 256 * 1024**2)),
    stall=st.booleans(),
)
limits_strategy = st.builds(Limits, upstream=direction_limits, downstream=direction_limits)
change = st.fixed_dictionaries(
    {},
    optional={
        "latency": st.integers(0, 10_000_000).map(units.format_duration),
        "rate": st.integers(0, 10**9).map(units.format_rate),
        "stall": st.booleans(),
    },
)
phase = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=12).filter(str.strip),
        "duration": st.integers(1, 3_600_000_000).map(units.format_duration),
    },
    optional={"upstream": change, "downstream": change},
)
names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names,
    st.text(max_size=40),
    limits_strategy,
    st.one_of(st.none(), st.lists(phase, min_size=1, max_size=4)),
    st.booleans(),
)
def test_generated_profiles_round_trip(name, description, limits, phases, repeat):
    data = {"name": name, "description": description, **limits.to_dict()}
    if phases is not None:
        data["scenario"] = {"repeat": repeat, "phases": phases}
    profile = profile_from_dict(data)
    assert profile.limits == limits
    again = parse_profile(dump_profile(profile), file="gen.toml")
    assert again.name == name and again.description == description
    assert again.limits == limits
    assert again.scenario == profile.scenario
    if phases is not None:
        for spec, built in zip(phases, again.scenario.phases, strict=True):
            assert built.limits == limits.patched(
                {d: spec[d] for d in ("upstream", "downstream") if d in spec}
            )


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["upstream", "downstream"]),
    st.sampled_from(LIMIT_KEYS),
    st.sampled_from(["fast", "-1", "12 parsecs", "[]"]),
)
def test_generated_bad_values_name_their_key(direction, key, value):
    with pytest.raises(ProfileError) as info:
        profile_from_dict({"name": "x", direction: {key: value}}, source="gen.toml")
    assert info.value.field == f"{direction}.{key}"
    assert str(info.value).startswith(f"gen.toml: {direction}.{key}")


def test_profile_dataclass_is_plain():
    profile = Profile(name="p", limits=Limits())
    assert profile.to_dict()["scenario"] is None and profile.origin == "inline"
