"""Profile errors a person can act on: file, line, key, value and the accepted forms."""

from __future__ import annotations

import pytest
from profile_samples import GOOD, REQUIRED, write

from shaper.profiles import (
    ProfileError,
    load_profile,
    parse_profile,
)


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
        (('latency = "20ms"', "latency = 20"), "upstream.latency", 7, ["20", "ms"]),
        (('buffer = "64KiB"', 'buffer = "2GiB"'), "downstream.buffer", 14, ["2GiB", "1GiB"]),
        (('sockbuf = "32KiB"', 'sockbuf = "lots"'), "downstream.sockbuf", 15, ["'lots'", "KiB"]),
        (
            ('jitter_distribution = "normal"', 'jitter_distribution = "pareto"'),
            "downstream.jitter_distribution",
            13,
            ["'pareto'", "uniform or normal"],
        ),
        (('name = "office"', 'name = "my office"'), "name", 1, ["'my office'", "letters"]),
        (('source = "measured"', "source = 3"), "source", 3, ["a string"]),
        (
            ('[upstream]\nrate = "2Mbit"\nlatency = "20ms"\n', "upstream = 5\n"),
            "upstream",
            5,
            ["a table of limits"],
        ),
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
        (("description = ", "descripton = "), "descripton", "description"),
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
        (('duration = "2s"', 'duration = "2"'), "scenario.phases[1].duration", 14, ["'2'", "2ms"]),
        (
            ('duration = "2s"', 'duraton = "2s"'),
            "scenario.phases[1].duraton",
            14,
            ["did you mean 'duration'?"],
        ),
        (
            ('latency = "300ms"', 'latency = "soon"'),
            "scenario.phases[1].downstream.latency",
            15,
            ["'soon'", "us, ms or s"],
        ),
        (("repeat = true", "repeat = 'yes'"), "scenario.repeat", 6, ["true or false"]),
        (("repeat = true", "repeats = true"), "scenario.repeats", 6, ["did you mean 'repeat'?"]),
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


@pytest.mark.parametrize(
    ("written", "expected"),
    [("true", True), ("false", False), ("1", True), ("0", False), ("'true'", True), ("'0'", False)],
)
def test_scenario_repeat_is_a_switch_like_every_other(written, expected):
    # One rule for every switch (stall, ?connections=, force, --stall): true or false, also
    # written 1 or 0. repeat demanded a TOML boolean.
    profile = parse_profile(SCENARIO.replace("repeat = true", f"repeat = {written}"), file="s")
    assert profile.scenario.repeat is expected


@pytest.mark.parametrize("written", ["'yes'", "'on'", "'True'", "2", "0.5", "[true]"])
def test_scenario_repeat_refuses_what_no_switch_takes(written):
    with pytest.raises(ProfileError) as info:
        parse_profile(SCENARIO.replace("repeat = true", f"repeat = {written}"), file="s.toml")
    err = info.value
    assert err.field == "scenario.repeat" and err.line == 6
    assert "true or false (or 1 or 0)" in str(err) and err.accepted == "true or false (or 1 or 0)"


@pytest.mark.parametrize(("written", "expected"), [("true", True), ("1", True), ("'0'", False)])
def test_stall_in_a_file_is_a_switch(written, expected):
    profile = parse_profile(f'name = "s"\n[upstream]\nstall = {written}\n', file="s.toml")
    assert profile.limits.upstream.stall is expected


@pytest.mark.parametrize("written", ["'yes'", "'on'", "'True'", "2"])
def test_stall_in_a_file_refuses_other_words(written):
    # A file with stall = "yes" was taken; the API, the flags and the schema refuse it.
    with pytest.raises(ProfileError) as info:
        parse_profile(f'name = "s"\n[upstream]\nstall = {written}\n', file="s.toml")
    assert info.value.field == "upstream.stall" and info.value.line == 3
    assert "true or false (or 1 or 0)" in str(info.value)


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
    path.write_bytes(b'name = "\xff\xfe"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert str(info.value).startswith(f"{path}: not UTF-8")
