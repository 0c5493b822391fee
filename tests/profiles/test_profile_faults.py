"""[[faults]] in a profile: read, checked with the key path, written back, applied."""

from __future__ import annotations

import pytest
from helpers import HOST, Server, echo, running

from shaper.engine.engine import Engine
from shaper.faults import fault_from_dict
from shaper.model.routes import Route
from shaper.profiles import ProfileError, profile_from_dict
from shaper.profiles.document import dump_profile, parse_profile

TEXT = """
name = "flaky"
[downstream]
rate = "2Mbit"

[[faults]]
type = "reset_peer"
name = "flaky"
toxicity = 0.2
after = "2s"

[[faults]]
type = "slicer"
average_size = "1KiB"
"""


def test_faults_are_read_and_written_back():
    profile = parse_profile(TEXT, "flaky.toml")
    assert [(f.name, f.type, f.toxicity) for f in profile.faults] == [
        ("flaky", "reset_peer", 0.2),
        ("slicer", "slicer", 1.0),
    ]
    again = parse_profile(dump_profile(profile), "again.toml")
    assert again.faults == profile.faults


@pytest.mark.parametrize(
    ("faults", "field", "words"),
    [
        ([{"type": "drop"}], "faults[0].type", ["timeout"]),
        ([{"type": "timeout", "after": "soon"}], "faults[0].after", ["ms"]),
        ([{"type": "timeout"}, {"type": "timeout"}], "faults[1].name", ["earlier fault"]),
        ({"type": "timeout"}, "faults", ["array"]),
    ],
)
def test_bad_faults_name_the_key_path(faults, field, words):
    with pytest.raises(ProfileError) as caught:
        profile_from_dict({"name": "p", "faults": faults})
    assert caught.value.field == field
    for word in words:
        assert word in str(caught.value)


async def test_a_profile_brings_its_faults_and_takes_the_previous_ones_away():
    async with (
        Server(echo) as server,
        running(Engine([Route((HOST, 0), server.address)])) as engine,
    ):
        engine.add_fault(fault_from_dict({"type": "timeout", "name": "by-hand"}))
        engine.apply_profile(profile_from_dict({"name": "a", "faults": [{"type": "slicer"}]}))
        assert [s.name for s in engine.fault_specs()] == ["by-hand", "slicer"]
        engine.apply_profile(
            profile_from_dict({"name": "b", "faults": [{"type": "slow_close", "delay": "1s"}]})
        )
        assert [s.name for s in engine.fault_specs()] == ["by-hand", "slow_close"]
        engine.apply_profile(profile_from_dict({"name": "c"}))
        assert [s.name for s in engine.fault_specs()] == ["by-hand"]


SCENARIO = """
name = "flapping"
[scenario]
repeat = true

[[scenario.phases]]
name = "up"
duration = "300ms"

[[scenario.phases]]
name = "down"
duration = "300ms"
offline = true

[[scenario.phases]]
name = "flaky"
duration = "300ms"
[[scenario.phases.faults]]
type = "reset_peer"
toxicity = "20%"
"""


def test_phase_faults_are_read_and_written_back():
    profile = parse_profile(SCENARIO, "flapping.toml")
    assert [[f.name for f in faults] for faults in profile.phase_faults] == [
        [],
        ["offline"],
        ["reset_peer"],
    ]
    assert profile.phase_faults[1][0].type == "timeout"
    assert parse_profile(dump_profile(profile), "again.toml").phase_faults == profile.phase_faults


def test_a_bad_phase_fault_names_its_key_path():
    with pytest.raises(ProfileError) as caught:
        profile_from_dict(
            {
                "name": "p",
                "scenario": {
                    "phases": [
                        {"duration": "1s"},
                        {"duration": "1s", "faults": [{"type": "slicer", "delay": "x"}]},
                    ]
                },
            }
        )
    assert caught.value.field == "scenario.phases[1].faults[0].delay"


async def test_an_offline_phase_holds_traffic_and_the_next_phase_releases_it():
    import asyncio

    async with (
        Server(echo) as server,
        running(Engine([Route((HOST, 0), server.address)])) as engine,
    ):
        engine.apply_profile(parse_profile(SCENARIO, "flapping.toml"))
        seen = []
        for _ in range(40):
            seen.append(tuple(s.name for s in engine.fault_specs()))
            await asyncio.sleep(0.025)
        assert () in seen and ("offline",) in seen and ("reset_peer",) in seen
        engine.stop_scenario()
        assert engine.fault_specs() == []
