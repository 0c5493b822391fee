"""The scenario runner on a real loop, and the engine that owns it (apply_profile,
stop_scenario, the status in snapshots)."""

from __future__ import annotations

import asyncio

import pytest
from helpers import running, wait_until

from shaper.engine.engine import Engine
from shaper.engine.scenario_runner import ScenarioRunner
from shaper.model.limits import LimitError, Limits
from shaper.model.routes import Route
from shaper.profiles import Profile
from shaper.shaping.scenario import Scenario

BASE = Limits.from_dict(
    {
        "upstream": {"rate": "10Mbit", "latency": "20ms"},
        "downstream": {"rate": "10Mbit", "latency": "20ms"},
    }
)
SHORT = [
    {"name": "a", "duration": "150ms"},
    {"name": "b", "duration": "150ms", "downstream": {"latency": "100ms"}},
]


def build(phases=SHORT, repeat=False) -> Scenario:
    return Scenario.build(BASE, phases, repeat=repeat)


class Recorder:
    """The two callbacks a runner is given, recording what it does."""

    def __init__(self):
        self.applied: list[Limits] = []
        self.events: list[tuple[str, str]] = []

    def set_limits(self, limits: Limits) -> None:
        self.applied.append(limits)

    def record(self, kind: str, message: str) -> None:
        self.events.append((kind, message))


def runner_for(scenario: Scenario, recorder: Recorder) -> ScenarioRunner:
    return ScenarioRunner(
        scenario, asyncio.get_running_loop(), recorder.set_limits, recorder.record
    )


def an_engine() -> Engine:
    return Engine([Route(("127.0.0.1", 0), ("127.0.0.1", 9))])


async def test_runner_switches_limits_at_phase_boundaries():
    recorder = Recorder()
    scenario = build(repeat=False)
    runner = runner_for(scenario, recorder)
    loop = asyncio.get_running_loop()
    started = loop.time()
    runner.start()
    try:
        assert recorder.applied == [scenario.phases[0].limits]
        status = runner.status()
        assert (status["phase"], status["index"], status["phases"]) == ("a", 0, 2)
        assert status["repeat"] is False
        assert 0.1 < status["next_in"] <= 0.15
        await wait_until(lambda: len(recorder.applied) == 2)
        assert 0.14 <= loop.time() - started < 0.5
        assert recorder.applied[-1].downstream.latency == 100_000
        assert runner.status()["phase"] == "b"
        # One-shot: after the last phase nothing more changes and the status says so.
        await wait_until(lambda: runner.status()["done"])
        assert runner.status()["next_in"] is None
        await asyncio.sleep(0.2)
        assert len(recorder.applied) == 2
        assert [kind for kind, _ in recorder.events] == ["phase", "phase"]
        assert "b" in recorder.events[-1][1]
    finally:
        runner.stop()


async def test_runner_repeats_and_its_status_counts_down():
    recorder = Recorder()
    runner = runner_for(build(repeat=True), recorder)
    runner.start()
    try:
        first = runner.status()["next_in"]
        await asyncio.sleep(0.05)
        assert runner.status()["next_in"] < first  # computed when asked, without a tick
        await wait_until(lambda: len(recorder.applied) >= 3)  # a, b, a again
        assert [lim.downstream.latency for lim in recorder.applied[:3]] == [20_000, 100_000, 20_000]
        assert runner.status()["cycle"] >= 1
    finally:
        runner.stop()
    count = len(recorder.applied)
    await asyncio.sleep(0.2)
    assert len(recorder.applied) == count  # stopped: no more switches


async def test_apply_profile_replaces_a_running_scenario():
    async with running(an_engine()) as engine:
        engine.apply_profile(Profile("moving", BASE, scenario=build(repeat=True)))
        assert engine.profile_name == "moving"
        first = engine.scenario
        assert first is not None and first.running
        assert engine.scenario_status()["phase"] == "a"
        still = Limits().with_both({"rate": "1Mbit"})
        engine.apply_profile(Profile("still", still))
        assert not first.running
        assert engine.scenario is None and engine.scenario_status() is None
        assert engine.profile_name == "still"
        assert engine.limits == still
        await asyncio.sleep(0.35)
        assert engine.limits == still  # the old scenario does not come back
        assert any(e.message == "profile still applied" for e in engine.events)


async def test_apply_profile_overrides_win_in_every_phase():
    async with running(an_engine()) as engine:
        profile = Profile("moving", BASE, scenario=build(repeat=True))
        engine.apply_profile(profile, {"downstream": {"latency": "1ms"}})
        assert engine.limits.downstream.latency == 1_000
        await wait_until(lambda: engine.scenario_status()["phase"] == "b")
        assert engine.limits.downstream.latency == 1_000
        engine.stop_scenario()
        assert engine.scenario is None


async def test_apply_profile_with_a_bad_override_changes_nothing():
    async with running(an_engine()) as engine:
        with pytest.raises(LimitError):
            engine.apply_profile(Profile("p", BASE), {"downstream": {"rate": "quick"}})
        assert engine.profile_name is None
        assert engine.limits == Limits()


async def test_the_scenario_shows_in_the_engine_snapshot():
    async with running(an_engine()) as engine:
        engine.apply_profile(Profile("moving", BASE, scenario=build(repeat=False)))
        snap = engine.snapshot()
        assert snap.profile == "moving"
        assert snap.scenario["phase"] == "a"
        assert snap.limits["downstream"]["latency"] == "20ms"
        await wait_until(lambda: engine.snapshot().scenario["phase"] == "b")
        snap = engine.snapshot()
        assert snap.limits["downstream"]["latency"] == "100ms"
        assert snap.scenario["index"] == 1 and snap.scenario["phases"] == 2
        assert any(e.kind == "phase" for e in snap.events)
        # A phase is the profile's own doing: the profile is not modified by it.
        assert snap.profile_changes == ()


async def test_a_snapshot_never_names_a_phase_whose_limits_are_not_in_force():
    import time

    async with running(an_engine()) as engine:
        engine.apply_profile(Profile("moving", BASE, scenario=build(repeat=False)))
        time.sleep(0.2)  # a busy loop: the boundary at 150 ms passes, its timer cannot fire
        snap = engine.snapshot()
        assert snap.scenario["phase"] == "b"
        assert snap.limits["downstream"]["latency"] == "100ms"


async def test_limits_changed_by_hand_mark_the_profile_modified():
    async with running(an_engine()) as engine:
        engine.apply_profile(Profile("3g", BASE))
        assert engine.profile_changes() == []
        engine.patch_limits({"downstream": {"rate": "1Mbit"}})
        assert engine.profile_changes() == ["downstream.rate"]
        assert engine.snapshot().profile_changes == ("downstream.rate",)
        engine.patch_limits({"downstream": {"rate": "10Mbit"}})  # back as the profile had it
        assert engine.profile_changes() == []
        engine.stop_scenario()
