"""The shipped presets: all there, sourced, and as the references give them."""

from __future__ import annotations

import tomllib

import pytest
from profile_samples import PRESET_FILES, REPO, REQUIRED

from shaper.model.limits import LIMIT_KEYS
from shaper.profiles import (
    dump_profile,
    list_profiles,
    load_file,
    load_profile,
    parse_profile,
    save_profile,
)


def test_all_required_presets_are_shipped():
    names = {p.stem for p in PRESET_FILES}
    assert set(REQUIRED) <= names
    assert len(names) >= 15


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_preset_loads_and_states_its_source(path):
    profile = load_file(path)
    assert profile.name == path.stem
    assert profile.description and "\n" not in profile.description
    assert len(profile.source) > 30
    data = tomllib.loads(path.read_text())
    for direction in ("upstream", "downstream"):
        # Every limit is spelled out, so a preset documents itself.
        assert set(data[direction]) == set(LIMIT_KEYS), direction
    if profile.scenario is None:
        # Plain presets cite the tool or report and how its RTT was read.
        assert (
            "RTT" in profile.source
            or "round trip" in profile.source
            or ("Teaching" in profile.source)
        )


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_preset_round_trips_through_save_and_load(path, tmp_path):
    profile = load_file(path)
    # Through dump/parse, scenario included.
    again = parse_profile(dump_profile(profile), file="dumped.toml")
    assert again.limits == profile.limits
    assert again.description == profile.description and again.source == profile.source
    if profile.scenario is not None:
        assert again.scenario == profile.scenario
    # Through save_profile/load_profile, as `shaper profiles save` writes it.
    saved = save_profile(
        "copy", profile.limits, description=profile.description, directory=tmp_path / "saved"
    )
    loaded = load_profile(saved)
    assert loaded.limits == profile.limits
    assert loaded.name == "copy" and loaded.description == profile.description


@pytest.mark.parametrize(
    "name, up_rate, down_rate, up_ms, down_ms",
    [
        ("3g", 768_000, 1_600_000, 150, 150),  # WebPageTest 3G, 300 ms RTT
        ("3g-fast", 768_000, 1_600_000, 75, 75),
        ("2g", 256_000, 280_000, 400, 400),
        ("edge", 200_000, 240_000, 420, 420),
        ("dial-up", 30_000, 49_000, 60, 60),
        ("cable", 1_000_000, 5_000_000, 14, 14),
        ("fios", 5_000_000, 20_000_000, 2, 2),
        ("lte", 12_000_000, 12_000_000, 35, 35),
        ("wifi", 30_000_000, 30_000_000, 20, 20),
        ("satellite-geo", 2_400_000, 19_700_000, 362, 362),
        ("starlink", 13_900_000, 97_200_000, 22.5, 22.5),
        ("very-bad-network", 1_000_000, 1_000_000, 500, 500),
    ],
)
def test_preset_values_match_the_reference(name, up_rate, down_rate, up_ms, down_ms):
    limits = load_profile(name).limits
    assert (limits.upstream.rate, limits.downstream.rate) == (up_rate, down_rate)
    assert limits.upstream.latency == up_ms * 1000
    assert limits.downstream.latency == down_ms * 1000
    assert not limits.upstream.stall and not limits.downstream.stall


def test_teaching_presets_teach_what_they_say():
    tiny = load_profile("tiny-buffers").limits
    assert tiny.downstream.buffer <= 16 * 1024 and tiny.downstream.sockbuf <= 16 * 1024
    bloat = load_profile("bufferbloat").limits
    # Seconds of queueing at the link rate.
    assert bloat.upstream.buffer * 8 / bloat.upstream.rate > 5
    assert bloat.downstream.buffer * 8 / bloat.downstream.rate > 5


def test_scenario_presets():
    tunnel = load_profile("tunnel").scenario
    assert tunnel is not None and tunnel.repeat
    stall = [p for p in tunnel.phases if p.limits.downstream.stall]
    assert len(stall) == 1 and stall[0].duration == 5.0
    assert not tunnel.phases[-1].limits.downstream.stall  # recovery

    handover = load_profile("handover").scenario
    assert handover.repeat and handover.total == 30.0
    base = load_profile("handover").limits
    spikes = [p for p in handover.phases if p.limits.downstream.latency > base.downstream.latency]
    assert len(spikes) == 1

    degrading = load_profile("degrading").scenario
    assert not degrading.repeat
    rates = [p.limits.downstream.rate for p in degrading.phases]
    latencies = [p.limits.downstream.latency for p in degrading.phases]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == len(rates)
    assert latencies == sorted(latencies) and len(set(latencies)) == len(latencies)


def test_the_checkout_presets_are_labelled_presets_from_the_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)
    infos = {i.name: i for i in list_profiles()}
    assert infos["3g"].origin == "preset"
    assert load_profile("3g").origin == "preset"


def test_the_wheel_carries_the_presets_where_the_package_looks():
    # Built and checked by hand with `uv build` and a fresh venv; this guards the mapping.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    force = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force["profiles"] == "shaper/presets"
