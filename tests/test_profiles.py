"""Profiles: format, validation errors, resolution, listing, saving, the CLI and the presets."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shaper import units
from shaper.cli import main
from shaper.limits import LIMIT_KEYS, DirectionLimits, Limits
from shaper.profiles import (
    Profile,
    ProfileError,
    dump_profile,
    list_profiles,
    load_file,
    load_profile,
    parse_profile,
    presets_dir,
    profile_from_dict,
    save_profile,
    search_dirs,
    user_profiles_dir,
)

REPO = Path(__file__).resolve().parent.parent
PRESETS = REPO / "profiles"
PRESET_FILES = sorted(PRESETS.glob("*.toml"))
REQUIRED = [
    "2g", "edge", "3g-slow", "3g", "3g-fast", "4g", "lte", "dsl", "cable", "fios", "dial-up",
    "wifi", "satellite-geo", "starlink", "very-bad-network", "tiny-buffers", "bufferbloat",
    "tunnel", "handover", "degrading",
]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in an empty directory with its own user config directory."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SHAPER_CONTROL", raising=False)
    return work


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = """\
name = "office"
description = "the office wifi on a bad day"
source = "measured"

[upstream]
rate = "2Mbit"
latency = "20ms"

[downstream]
rate = "8Mbit"
latency = "25ms"
jitter = "5ms"
jitter_distribution = "normal"
buffer = "64KiB"
sockbuf = "32KiB"
"""


# --- the shipped presets -------------------------------------------------------------------


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
        assert "RTT" in profile.source or "round trip" in profile.source or (
            "Teaching" in profile.source
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
    saved = save_profile("copy", profile.limits, description=profile.description,
                         directory=tmp_path / "saved")
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


# --- the format ----------------------------------------------------------------------------


def test_good_profile_parses_with_defaults_for_missing_keys():
    profile = parse_profile(GOOD, file="office.toml")
    assert profile.name == "office"
    assert profile.description == "the office wifi on a bad day"
    assert profile.source == "measured"
    assert profile.scenario is None
    down = profile.limits.downstream
    assert down == DirectionLimits(
        rate=8_000_000, latency=25_000, jitter=5_000, jitter_distribution="normal",
        buffer=64 * 1024, sockbuf=32 * 1024,
    )
    assert profile.limits.upstream == DirectionLimits(rate=2_000_000, latency=20_000)


def test_name_defaults_to_the_file_name(isolated):
    write(isolated / "profiles" / "plain.toml", "[downstream]\nrate = '1Mbit'\n")
    profile = load_profile("plain")
    assert profile.name == "plain" and profile.origin == "local"
    assert profile.limits.upstream == DirectionLimits()


def test_profile_from_dict_accepts_a_json_body():
    profile = profile_from_dict(
        {"name": "inline", "downstream": {"rate": "1Mbit"},
         "scenario": {"phases": [{"name": "x", "duration": "1s"}]}}
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


# --- errors a person can act on ------------------------------------------------------------


def test_syntax_error_names_file_line_and_column(isolated):
    path = write(isolated / "broken.toml", 'name = "x"\n[downstream]\nrate = 2Mbit"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    err = info.value
    assert (err.file, err.line, err.column) == (str(path), 3, 9)
    assert str(err).startswith(f"{path}:3:9: TOML syntax error: ")
    assert "(at line" not in str(err)  # not repeated in tomllib's own words


def test_syntax_error_at_end_of_file_still_has_a_line(isolated):
    path = write(isolated / "cut.toml", 'name = "x"\ndescription = "unfinished')
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert info.value.line == 2
    assert f"{path}:2:" in str(info.value)
    assert "end of file" in str(info.value)


def test_schema_error_names_file_key_value_and_accepted_form(isolated):
    path = write(isolated / "bad.toml", GOOD.replace('rate = "8Mbit"', 'rate = "8mbps"'))
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    err = info.value
    message = str(err)
    assert err.field == "downstream.rate"
    assert message.startswith(f"{path}:10: downstream.rate: ")
    assert "'8mbps'" in message
    assert "ambiguous" in message and "8Mbit" in message and "8MB/s" in message


@pytest.mark.parametrize(
    "replace, field, line, needles",
    [
        (('latency = "20ms"', 'latency = 20'), "upstream.latency", 7, ["20", "ms"]),
        (('buffer = "64KiB"', 'buffer = "2GiB"'), "downstream.buffer", 14, ["2GiB", "1GiB"]),
        (('sockbuf = "32KiB"', 'sockbuf = "lots"'), "downstream.sockbuf", 15,
         ["'lots'", "KiB"]),
        (('jitter_distribution = "normal"', 'jitter_distribution = "pareto"'),
         "downstream.jitter_distribution", 13, ["'pareto'", "uniform or normal"]),
        (('name = "office"', 'name = "my office"'), "name", 1, ["'my office'", "letters"]),
        (('source = "measured"', "source = 3"), "source", 3, ["a string"]),
        (('[upstream]\nrate = "2Mbit"\nlatency = "20ms"\n', "upstream = 5\n"), "upstream", 5,
         ["a table of limits"]),
    ],
)
def test_schema_errors(isolated, replace, field, line, needles):
    path = write(isolated / "bad.toml", GOOD.replace(*replace))
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    err = info.value
    assert err.field == field
    assert str(err).startswith(f"{path}:{line}: "), str(err)
    for needle in needles:
        assert needle in str(err)


@pytest.mark.parametrize(
    "replace, field, suggestion",
    [
        (('description = ', 'descripton = '), "descripton", "description"),
        (('latency = "25ms"', 'latncy = "25ms"'), "downstream.latncy", "latency"),
        (("[downstream]", "[downstram]"), "downstram", "downstream"),
    ],
)
def test_unknown_key_suggests_the_closest(isolated, replace, field, suggestion):
    path = write(isolated / "typo.toml", GOOD.replace(*replace))
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert info.value.field == field
    assert f"did you mean {suggestion!r}?" in message
    assert field in message and str(path) in message


SCENARIO = """\
name = "s"
[downstream]
rate = "10Mbit"

[scenario]
repeat = true

[[scenario.phases]]
name = "fine"
duration = "10s"

[[scenario.phases]]
name = "spike"
duration = "2s"
downstream = { latency = "300ms" }
"""


def test_scenario_in_a_file():
    profile = parse_profile(SCENARIO, file="s.toml")
    scenario = profile.scenario
    assert scenario.repeat
    assert [p.name for p in scenario.phases] == ["fine", "spike"]
    assert scenario.at(11).limits.downstream.latency == 300_000
    assert scenario.at(11).limits.downstream.rate == 10_000_000
    assert scenario.at(12).limits.downstream.latency == 0


@pytest.mark.parametrize(
    "replace, field, line, needles",
    [
        (('duration = "2s"', 'duration = "2"'), "scenario.phases[1].duration", 14,
         ["'2'", "2ms"]),
        (('duration = "2s"', 'duraton = "2s"'), "scenario.phases[1].duraton", 14,
         ["did you mean 'duration'?"]),
        (('latency = "300ms"', 'latency = "soon"'), "scenario.phases[1].downstream.latency",
         15, ["'soon'", "us, ms or s"]),
        (("repeat = true", "repeat = 'yes'"), "scenario.repeat", 6, ["true or false"]),
        (("repeat = true", "repeats = true"), "scenario.repeats", 6,
         ["did you mean 'repeat'?"]),
    ],
)
def test_scenario_errors(replace, field, line, needles):
    with pytest.raises(ProfileError) as info:
        parse_profile(SCENARIO.replace(*replace), file="s.toml")
    err = info.value
    assert err.field == field
    assert str(err).startswith(f"s.toml:{line}: {field}"), str(err)
    for needle in needles:
        assert needle in str(err)


def test_scenario_without_phases():
    text = 'name = "s"\n[scenario]\nrepeat = true\n'
    with pytest.raises(ProfileError) as info:
        parse_profile(text, file="s.toml")
    assert info.value.field == "scenario.phases"
    assert "at least one phase" in str(info.value)


def test_missing_profile_lists_the_names_that_exist():
    with pytest.raises(ProfileError) as info:
        load_profile("3h")
    message = str(info.value)
    assert "no profile named '3h'" in message
    assert "Did you mean '3g'" in message
    for name in REQUIRED:
        assert name in message
    assert "built-in presets" in message


def test_missing_file_path():
    with pytest.raises(ProfileError) as info:
        load_profile("nowhere/at-all.toml")
    assert "profile file not found: nowhere/at-all.toml" in str(info.value)


def test_file_that_is_not_utf8(isolated):
    path = isolated / "binary.toml"
    path.write_bytes(b"name = \"\xff\xfe\"\n")
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert str(info.value).startswith(f"{path}: not UTF-8")


# --- where profiles come from --------------------------------------------------------------


def test_resolution_order(isolated, tmp_path):
    body = '[downstream]\nrate = "{}"\n'
    explicit = tmp_path / "explicit"
    write(explicit / "3g.toml", body.format("1Mbit"))
    write(isolated / "profiles" / "3g.toml", body.format("2Mbit"))
    write(isolated / "profiles" / "dsl.toml", body.format("2Mbit"))
    write(user_profiles_dir() / "3g.toml", body.format("3Mbit"))
    write(user_profiles_dir() / "dsl.toml", body.format("3Mbit"))
    write(user_profiles_dir() / "lte.toml", body.format("3Mbit"))

    def rate(name, profiles_dir=None):
        return load_profile(name, profiles_dir).limits.downstream.rate

    assert rate("3g", explicit) == 1_000_000
    assert load_profile("3g", explicit).origin == "profiles-dir"
    assert rate("3g") == 2_000_000 and rate("dsl") == 2_000_000
    assert load_profile("dsl").origin == "local"
    assert rate("lte") == 3_000_000 and load_profile("lte").origin == "user"
    assert rate("cable") == 5_000_000 and load_profile("cable").origin == "preset"
    assert [origin for origin, _ in search_dirs(explicit)] == [
        "profiles-dir", "local", "user", "preset"
    ]


def test_user_dir_comes_from_platformdirs(tmp_path):
    assert user_profiles_dir() == tmp_path / "config" / "shaper" / "profiles"


def test_a_path_works_where_a_name_does(isolated, tmp_path):
    path = write(tmp_path / "elsewhere" / "mine.toml", GOOD)
    for spelling in (str(path), path, os.path.relpath(path, isolated)):
        profile = load_profile(spelling)
        assert profile.name == "office" and profile.origin == "file"
        assert profile.path == str(spelling)


def test_presets_are_found_from_anywhere():
    # The test runs in an empty directory: the presets come from the package.
    origin, directory = search_dirs()[-1]
    assert origin == "preset"
    assert directory.joinpath("3g.toml").is_file()
    assert presets_dir() is not None


def test_list_shows_names_descriptions_and_origins(isolated):
    write(isolated / "profiles" / "3g.toml", 'description = "my own 3g"\n')
    write(user_profiles_dir() / "home.toml", 'description = "home\\nwifi"\n')
    write(user_profiles_dir() / "broken.toml", "name = \n")
    infos = {i.name: i for i in list_profiles()}
    assert set(REQUIRED) <= set(infos)
    assert infos["3g"].origin == "local" and infos["3g"].description == "my own 3g"
    assert infos["home"].origin == "user" and infos["home"].description == "home wifi"
    assert infos["cable"].origin == "preset" and infos["cable"].description.startswith("Cable")
    assert infos["broken"].error and "broken.toml:1" in infos["broken"].error
    assert all(i.error is None for n, i in infos.items() if n != "broken")
    names = [i.name for i in list_profiles()]
    assert names.index("2g") < names.index("3g") < names.index("4g")


# --- saving --------------------------------------------------------------------------------


def test_save_writes_to_the_user_dir_and_refuses_to_overwrite():
    limits = Limits().with_both({"rate": "3Mbit", "latency": "30ms"})
    path = save_profile("mine", limits, description="three megabit")
    assert path == user_profiles_dir() / "mine.toml"
    assert load_profile("mine").limits == limits
    assert load_profile("mine").origin == "user"
    with pytest.raises(ProfileError) as info:
        save_profile("mine", Limits())
    assert "already exists" in str(info.value) and "--force" in str(info.value)
    assert load_profile("mine").limits == limits
    save_profile("mine", Limits(), force=True)
    assert load_profile("mine").limits == Limits()


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "with space", "-dash"])
def test_save_rejects_bad_names(name):
    with pytest.raises(ProfileError) as info:
        save_profile(name, Limits())
    assert "invalid profile name" in str(info.value)
    assert not user_profiles_dir().exists() or not any(user_profiles_dir().iterdir())


# --- generated profiles --------------------------------------------------------------------


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
    {}, optional={"latency": st.integers(0, 10_000_000).map(units.format_duration),
                  "rate": st.integers(0, 10**9).map(units.format_rate),
                  "stall": st.booleans()},
)
phase = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=12).filter(str.strip),
     "duration": st.integers(1, 3_600_000_000).map(units.format_duration)},
    optional={"upstream": change, "downstream": change},
)
names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names, st.text(max_size=40), limits_strategy,
       st.one_of(st.none(), st.lists(phase, min_size=1, max_size=4)), st.booleans())
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
@given(st.sampled_from(["upstream", "downstream"]), st.sampled_from(LIMIT_KEYS),
       st.sampled_from(["fast", "-1", "12 parsecs", "[]"]))
def test_generated_bad_values_name_their_key(direction, key, value):
    with pytest.raises(ProfileError) as info:
        profile_from_dict({"name": "x", direction: {key: value}}, source="gen.toml")
    assert info.value.field == f"{direction}.{key}"
    assert str(info.value).startswith(f"gen.toml: {direction}.{key}")


# --- the CLI -------------------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list(capsys, isolated):
    write(user_profiles_dir() / "home.toml", 'description = "home wifi"\n')
    code, out, err = run_cli(capsys, "profiles", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert any(line.split()[:2] == ["3g", "preset"] and "1.6 Mbit/s" in line for line in lines)
    assert any(line.split()[:3] == ["home", "user", "home"] for line in lines)
    assert f"user: {user_profiles_dir()}" in out
    code, out, _ = run_cli(capsys, "profiles", "list", "--json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["tunnel"]["origin"] == "preset" and listed["home"]["origin"] == "user"


def test_cli_show(capsys):
    code, out, err = run_cli(capsys, "profiles", "show", "tunnel")
    assert code == 0 and err == ""
    assert out.startswith("tunnel  (preset: ")
    assert "rate                 12Mbit        12Mbit" in out
    assert "scenario: 3 phases, 30s per pass, repeats" in out
    assert "2. tunnel: 5s (from 20s): upstream.stall=true, downstream.stall=true" in out
    code, out, _ = run_cli(capsys, "profiles", "show", "3g", "--toml")
    assert code == 0
    assert parse_profile(out).limits == load_profile("3g").limits
    code, out, _ = run_cli(capsys, "profiles", "show", "3g", "--json")
    assert json.loads(out)["limits"]["downstream"]["latency"] == "150ms"


def test_cli_show_missing_exits_2_without_traceback(capsys):
    code, out, err = run_cli(capsys, "profiles", "show", "sattelite-geo")
    assert code == 2 and out == ""
    assert err.startswith("shaper: error: no profile named 'sattelite-geo'.")
    assert "Did you mean 'satellite-geo'" in err
    assert "Traceback" not in err


def test_cli_validate(capsys, isolated):
    good = write(isolated / "good.toml", GOOD)
    bad = write(isolated / "bad.toml", GOOD.replace('"2Mbit"', '"2 potatoes"'))
    code, out, err = run_cli(capsys, "profiles", "validate", str(good), "3g")
    assert code == 0 and err == ""
    assert f"ok       {good} (profile office)" in out
    code, out, err = run_cli(capsys, "profiles", "validate", str(good), str(bad))
    assert code == 2
    assert f"ok       {good}" in out
    assert f"invalid  {bad}:6: upstream.rate: invalid rate '2 potatoes'" in err
    assert "1 of 2 invalid" in err and "Traceback" not in err
    assert run_cli(capsys, "profiles", "validate", *map(str, PRESET_FILES))[0] == 0


async def test_cli_save_reads_a_running_engine(capsys, tmp_path):
    from shaper.control import start_control
    from shaper.proxy import Engine, Route

    engine = Engine([Route(("127.0.0.1", 0), ("127.0.0.1", 9))])
    await engine.start()
    runner, (host, port) = await start_control(engine, "127.0.0.1", 0, None)
    try:
        engine.patch_limits({"downstream": {"rate": "1500kbit", "latency": "30ms"},
                             "upstream": {"buffer": "32KiB"}})
        url = f"http://{host}:{port}"
        argv = ["profiles", "save", "captured", "--control", url, "--description", "from test"]
        code = await asyncio.to_thread(main, argv)
        assert code == 0
        saved = load_profile("captured")
        assert saved.limits == engine.limits
        assert saved.description == "from test" and saved.origin == "user"
        assert url in saved.source
        code = await asyncio.to_thread(main, argv)
        assert code == 2
        code = await asyncio.to_thread(main, [*argv, "--force"])
        assert code == 0
    finally:
        await runner.cleanup()
        await engine.stop()
    out, err = capsys.readouterr()
    assert f"saved profile captured to {user_profiles_dir() / 'captured.toml'}" in out
    assert "already exists; use --force" in err and "Traceback" not in err


def test_cli_save_without_an_engine(capsys):
    code, out, err = run_cli(capsys, "profiles", "save", "x", "--control", "127.0.0.1:9")
    assert code == 1
    assert "127.0.0.1:9" in err and "Traceback" not in err
    assert not (user_profiles_dir() / "x.toml").exists()


def test_profile_dataclass_is_plain():
    profile = Profile(name="p", limits=Limits())
    assert profile.to_dict()["scenario"] is None and profile.origin == "inline"


# --- profiles on a live engine (real sockets on 127.0.0.1) ---------------------------------


class Upstream:
    """A server for measuring through the proxy. The first byte of a connection picks a mode:
    b"E" echoes; b"D" + 8-byte length sends that many bytes; b"U" + 8-byte length reads that
    many bytes and records when the first and the last arrived."""

    def __init__(self):
        self.received: asyncio.Queue[tuple[float, float, int]] = asyncio.Queue()
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer) -> None:
        loop = asyncio.get_running_loop()
        _nodelay(writer)
        try:
            mode = await reader.readexactly(1)
            if mode == b"E":
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            elif mode == b"D":
                remaining = int.from_bytes(await reader.readexactly(8), "big")
                chunk = bytes(65536)
                while remaining:
                    writer.write(chunk[: min(remaining, len(chunk))])
                    remaining -= min(remaining, len(chunk))
                    await writer.drain()
                await reader.read()  # until the client closes
            elif mode == b"U":
                size = int.from_bytes(await reader.readexactly(8), "big")
                first = await reader.read(65536)
                start, got = loop.time(), len(first)
                while got < size:
                    data = await reader.read(65536)
                    if not data:
                        break
                    got += len(data)
                self.received.put_nowait((start, loop.time(), got - len(first)))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _nodelay(writer) -> None:
    import socket

    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _connect(port: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    _nodelay(writer)
    return reader, writer


async def measure_rtt(port: int, pings: int = 3) -> float:
    """Median seconds for one byte to go through the proxy and come back."""
    loop = asyncio.get_running_loop()
    reader, writer = await _connect(port)
    try:
        writer.write(b"E")
        times = []
        for _ in range(pings):
            start = loop.time()
            writer.write(b"x")
            await asyncio.wait_for(reader.readexactly(1), 10)
            times.append(loop.time() - start)
        return sorted(times)[len(times) // 2]
    finally:
        writer.close()


async def measure_downstream(port: int, size: int) -> float:
    """Bits per second arriving at the client, from the first byte to the last."""
    loop = asyncio.get_running_loop()
    reader, writer = await _connect(port)
    try:
        writer.write(b"D" + size.to_bytes(8, "big"))
        first = await asyncio.wait_for(reader.read(65536), 10)
        start, got = loop.time(), 0
        while got < size - len(first):
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "the stream ended early"
            got += len(data)
        return got * 8 / (loop.time() - start)
    finally:
        writer.close()


async def measure_upstream(port: int, upstream: Upstream, size: int) -> float:
    """Bits per second arriving at the server, from the first byte to the last."""
    reader, writer = await _connect(port)
    try:
        writer.write(b"U" + size.to_bytes(8, "big"))
        writer.write(bytes(size))
        await asyncio.wait_for(writer.drain(), 20)
        start, end, got = await asyncio.wait_for(upstream.received.get(), 20)
        return got * 8 / (end - start)
    finally:
        writer.close()


async def test_profile_applied_to_a_live_engine_changes_rate_and_latency():
    from shaper.proxy import Engine, Route
    from shaper.scenario import apply_profile

    async with Upstream() as upstream:
        engine = Engine([Route(("127.0.0.1", 0), ("127.0.0.1", upstream.port))])
        await engine.start()
        try:
            port = engine.addresses[0][1]
            # Unshaped: fast and no added delay.
            assert await measure_rtt(port) < 0.05

            slow = profile_from_dict({
                "name": "slow",
                "upstream": {"rate": "2Mbit", "latency": "60ms"},
                "downstream": {"rate": "2Mbit", "latency": "60ms"},
            })
            apply_profile(engine, slow)
            assert engine.profile_name == "slow"
            rtt = await measure_rtt(port)
            assert 0.11 <= rtt < 0.25, rtt
            rate = await measure_downstream(port, 250_000)  # about 1 s at 2 Mbit/s
            assert 1.4e6 < rate < 2.6e6, rate

            # A shipped preset, applied on the same engine, changes both again.
            apply_profile(engine, load_profile("cable"))  # 5 Mbit/s down, 14 ms each way
            assert engine.profile_name == "cable"
            rtt = await measure_rtt(port)
            assert 0.025 <= rtt < 0.12, rtt
            rate = await measure_downstream(port, 600_000)
            assert 3.5e6 < rate < 6.5e6, rate
            assert engine.snapshot().profile == "cable"
        finally:
            await engine.stop()


async def test_shaper_serve_with_the_3g_preset_shapes_as_it_says():
    """`shaper serve --profile 3g`: 1600 kbit/s down, 768 kbit/s up, 150 ms each way."""
    import sys

    async with Upstream() as upstream:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shaper", "serve", "--profile", "3g",
            "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream.port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line.startswith("listening on 127.0.0.1:"), line
            port = int(line.split()[2].rsplit(":", 1)[1])

            rtt = await measure_rtt(port)
            assert 0.29 <= rtt < 0.45, rtt
            down = await measure_downstream(port, 300_000)  # about 1.5 s
            assert 0.75 * 1.6e6 < down < 1.25 * 1.6e6, down
            up = await measure_upstream(port, upstream, 120_000)  # about 1.25 s
            assert 0.75 * 768e3 < up < 1.25 * 768e3, up
        finally:
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
        stderr = (await proc.stderr.read()).decode()
        assert "Traceback" not in stderr


def test_shaper_serve_with_a_missing_profile_exits_2(capsys):
    code, out, err = run_cli(
        capsys, "serve", "--profile", "5g", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"
    )
    assert code == 2
    assert "no profile named '5g'" in err and "Traceback" not in err


async def test_switching_profiles_mid_transfer_loses_no_byte():
    import hashlib

    from shaper.proxy import Engine, Route
    from shaper.scenario import apply_profile, stop_scenario

    payload = hashlib.sha256(b"seed").digest() * (1_500_000 // 32)

    async def serve(reader, writer):
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    engine = Engine([Route(("127.0.0.1", 0), ("127.0.0.1", server.sockets[0].getsockname()[1]))])
    await engine.start()
    moving = profile_from_dict({
        "name": "moving",
        "downstream": {"rate": "20Mbit", "latency": "5ms"},
        "scenario": {"repeat": True, "phases": [
            {"name": "fast", "duration": "100ms"},
            {"name": "stalled", "duration": "50ms", "downstream": {"stall": True}},
            {"name": "slow", "duration": "100ms",
             "downstream": {"rate": "4Mbit", "latency": "40ms", "jitter": "10ms"}},
        ]},
    })
    try:
        apply_profile(engine, load_profile("fios"))
        reader, writer = await _connect(engine.addresses[0][1])
        received = bytearray()
        switches = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(received) < len(payload):
            assert loop.time() < deadline, "transfer did not finish"
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            received += data
            if len(received) > 300_000 and switches == 0:
                apply_profile(engine, moving)
                switches += 1
            elif len(received) > 1_000_000 and switches == 1:
                apply_profile(engine, load_profile("cable"))
                switches += 1
        writer.close()
        assert switches == 2
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
        assert engine.profile_name == "cable"
    finally:
        stop_scenario(engine)
        await engine.stop()
        server.close()
        await server.wait_closed()


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
