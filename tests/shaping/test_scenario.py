"""The scenario timeline, sans-IO, on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shaper.model import units
from shaper.model.limits import LimitError, Limits
from shaper.shaping.scenario import Scenario, ScenarioError

BASE = Limits.from_dict(
    {
        "upstream": {"rate": "10Mbit", "latency": "20ms"},
        "downstream": {"rate": "10Mbit", "latency": "20ms"},
    }
)

TUNNEL = [
    {"name": "open", "duration": "20s"},
    {
        "name": "tunnel",
        "duration": "5s",
        "upstream": {"stall": True},
        "downstream": {"stall": True},
    },
    {"name": "recovering", "duration": "5s", "downstream": {"rate": "2Mbit", "latency": "150ms"}},
]


def build(phases=TUNNEL, repeat=False, base=BASE) -> Scenario:
    return Scenario.build(base, phases, repeat=repeat)


def test_phases_switch_at_their_boundaries():
    scenario = build()
    expected = [
        (0.0, 0, "open", 20.0),
        (19.999, 0, "open", 0.001),
        (20.0, 1, "tunnel", 5.0),
        (24.5, 1, "tunnel", 0.5),
        (25.0, 2, "recovering", 5.0),
        (29.999999, 2, "recovering", 0.000001),
    ]
    for t, index, name, next_in in expected:
        pos = scenario.at(t)
        assert (pos.index, pos.name) == (index, name), t
        assert pos.next_in == pytest.approx(next_in, abs=1e-6), t


def test_phase_limits_apply_on_top_of_the_base_and_are_not_cumulative():
    scenario = build()
    open_, tunnel, recovering = (scenario.at(t).limits for t in (1, 21, 26))
    assert open_ == BASE
    assert tunnel.upstream.stall and tunnel.downstream.stall
    assert tunnel.downstream.rate == BASE.downstream.rate
    # The stall of the tunnel phase does not carry over into the next phase.
    assert not recovering.downstream.stall and not recovering.upstream.stall
    assert recovering.downstream.rate == 2_000_000
    assert recovering.downstream.latency == 150_000
    assert recovering.upstream == BASE.upstream


def test_one_shot_scenario_stays_in_its_last_phase():
    scenario = build(repeat=False)
    for t in (30.0, 31.0, 10_000.0):
        pos = scenario.at(t)
        assert pos.index == 2 and pos.name == "recovering"
        assert pos.next_in is None
        assert pos.ends_at is None
    assert scenario.at(29.0).next_in == pytest.approx(1.0)


def test_repeating_scenario_wraps_and_counts_cycles():
    scenario = build(repeat=True)
    assert scenario.total == 30.0
    pos = scenario.at(30.0)
    assert (pos.index, pos.name, pos.cycle) == (0, "open", 1)
    assert pos.next_in == pytest.approx(20.0)
    assert pos.ends_at == pytest.approx(50.0)
    pos = scenario.at(3 * 30 + 22.0)
    assert (pos.index, pos.cycle) == (1, 3)
    assert pos.next_in == pytest.approx(3.0)
    assert pos.ends_at == pytest.approx(115.0)


def test_negative_time_counts_as_start():
    assert build().at(-5).index == 0
    assert build().at(-5).next_in == pytest.approx(20.0)


def test_unnamed_phases_get_numbered_names():
    scenario = build([{"duration": "1s"}, {"duration": "2s"}])
    assert [p.name for p in scenario.phases] == ["phase 1", "phase 2"]


@pytest.mark.parametrize(
    "phases, field, needle",
    [
        ([], "scenario.phases", "at least one phase"),
        ([{"name": "a"}], "scenario.phases[0].duration", "phase 'a' has no duration"),
        ([{"name": "a", "duration": "0s"}], "scenario.phases[0].duration", "greater than 0"),
        ([{"name": "a", "duration": "10"}], "scenario.phases[0].duration", "did you mean 10ms"),
        ([{"name": "a", "duration": "8d"}], "scenario.phases[0].duration", "us, ms or s"),
        ([{"name": "a", "duration": "700000s"}], "scenario.phases[0].duration", "7 days"),
        ([{"name": "", "duration": "1s"}], "scenario.phases[0].name", "non-empty"),
        (["fast"], "scenario.phases[0]", "a table"),
    ],
)
def test_bad_phases_name_the_field(phases, field, needle):
    with pytest.raises(ScenarioError) as info:
        build(phases)
    assert info.value.field == field
    assert field in str(info.value)
    assert needle in str(info.value)


def test_bad_limit_in_a_phase_names_the_phase():
    phases = [{"name": "a", "duration": "1s"}, {"duration": "1s", "downstream": {"rate": "fast"}}]
    with pytest.raises(LimitError) as info:
        build(phases)
    assert info.value.field == "scenario.phases[1].downstream.rate"
    assert "'fast'" in str(info.value)
    assert "Mbit" in str(info.value)


def test_rebased_applies_overrides_over_every_phase():
    scenario = build()
    overrides = {"downstream": {"latency": "5ms"}}
    base = BASE.patched(overrides)
    rebased = scenario.rebased(base, overrides)
    for t in (1, 21, 26):
        assert rebased.at(t).limits.downstream.latency == 5_000
    assert rebased.at(26).limits.downstream.rate == 2_000_000
    assert rebased.at(21).limits.downstream.stall


durations = st.lists(st.integers(1, 10_000_000), min_size=1, max_size=6)


@given(durations, st.booleans(), st.integers(0, 200_000_000))
def test_position_agrees_with_cumulative_durations(phase_us, repeat, t_us):
    phases = [
        {"name": f"p{i}", "duration": units.format_duration(d)} for i, d in enumerate(phase_us)
    ]
    scenario = Scenario.build(BASE, phases, repeat=repeat)
    assert [p.duration_us for p in scenario.phases] == phase_us
    total = sum(phase_us)
    t = t_us / 1e6
    pos = scenario.at(t)
    if not repeat and t_us >= total:
        assert pos.index == len(phase_us) - 1 and pos.next_in is None
        return
    offset = t_us % total if repeat else t_us
    start = sum(phase_us[: pos.index])
    assert start <= offset < start + phase_us[pos.index]
    assert pos.name == f"p{pos.index}"
    assert 0 < pos.next_in <= phase_us[pos.index] / 1e6
    # Stepping to the end of the phase lands on the next one.
    following = scenario.at(t + pos.next_in)
    if repeat or pos.index + 1 < len(phase_us):
        assert following.index == (pos.index + 1) % len(phase_us)
    else:
        assert following.next_in is None
