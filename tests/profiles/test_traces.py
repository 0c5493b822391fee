"""Capacity traces: written trace:NAME (found in a traces/ folder on the profile search
path) or trace:PATH; bad files are refused naming the field, the file, the line and the
accepted form; the shipped traces are what their generator writes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from profile_samples import REPO, write

from shaper.model.limits import DirectionLimits, LimitError, Limits
from shaper.model.traces import PACKET_BYTES
from shaper.profiles import dump_profile, load_profile, parse_profile, user_profiles_dir
from shaper.profiles import traces as trace_files


def test_a_trace_name_resolves_on_the_search_path_first_match_wins(isolated):
    write(isolated / "profiles" / "traces" / "mine.trace", "1\n2\n")
    write(user_profiles_dir() / "traces" / "mine.trace", "1\n2\n3\n4\n")
    write(user_profiles_dir() / "traces" / "theirs.trace", "10\n")
    local = DirectionLimits().patched({"rate": "trace:mine"})
    assert local.trace is not None and len(local.trace.times) == 2
    assert local.rate == 2 * PACKET_BYTES * 8 * 1000 // 2  # 2 packets in 2 ms: 12 Mbit/s
    theirs = DirectionLimits().patched({"rate": "trace:theirs"})
    assert theirs.trace is not None and theirs.trace.times == (10,)


def test_the_shipped_traces_are_found_by_name_and_the_preset_uses_them():
    profile = load_profile("cellular-drive")
    down, up = profile.limits.downstream, profile.limits.upstream
    assert down.trace is not None and up.trace is not None
    assert down.trace.name == "cellular-drive-down" and up.trace.name == "cellular-drive-up"
    # The generator's stated means: about 6.0 down and 1.9 up.
    assert 5_500_000 < down.rate < 6_500_000 and 1_600_000 < up.rate < 2_200_000
    assert down.trace.period_ms == 60_000
    assert "ynthetic" in profile.source
    assert profile.limits.to_dict()["downstream"]["rate"] == "trace:cellular-drive-down"


def test_a_path_works_and_a_missing_name_lists_the_known_ones(tmp_path):
    file = tmp_path / "steady.trace"
    file.write_text("".join(f"{t}\n" for t in range(1, 11)))
    limits = DirectionLimits().patched({"rate": f"trace:{file}"})
    assert limits.trace is not None and limits.trace.period_ms == 10
    with pytest.raises(LimitError) as info:
        Limits().patched({"downstream": {"rate": "trace:nosuch"}})
    assert info.value.field == "downstream.rate"
    assert "no trace named 'nosuch'" in str(info.value)
    assert "cellular-drive-down" in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1\n2\nabc\n", "line 3: 'abc' is not an integer millisecond"),
        ("1\n2.5\n", "line 2: '2.5' is not an integer millisecond"),
        ("1\n-4\n", "line 2: '-4' is not an integer millisecond"),
        ("5\n3\n", "line 2: 3 comes after 5; timestamps must not decrease"),
        ("", "is an empty trace"),
        ("\n", "is an empty trace"),
        ("1\n\n2\n", "line 2 is empty"),
        ("0\n0\n", "lasts 0 ms"),
    ],
)
def test_bad_trace_files_name_the_field_the_line_and_the_form(tmp_path, text, expected):
    file = tmp_path / "bad.trace"
    file.write_text(text)
    with pytest.raises(LimitError) as info:
        Limits().patched({"upstream": {"rate": f"trace:{file}"}})
    message = str(info.value)
    assert info.value.field == "upstream.rate"
    assert message.startswith("upstream.rate: ")
    assert expected in message and str(file) in message
    assert "one integer millisecond timestamp per line" in info.value.accepted


def test_an_unreadable_trace_is_refused(tmp_path):
    folder = tmp_path / "dir.trace"
    folder.mkdir()
    with pytest.raises(LimitError, match="trace file not found"):
        DirectionLimits().patched({"rate": f"trace:{folder}"})
    binary = tmp_path / "binary.trace"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(LimitError, match="is not text"):
        DirectionLimits().patched({"rate": f"trace:{binary}"})


def test_a_changed_file_is_read_again(tmp_path):
    file = tmp_path / "t.trace"
    file.write_text("1\n2\n")
    first = DirectionLimits().patched({"rate": f"trace:{file}"})
    file.write_text("1\n2\n3\n4\n5\n")
    second = DirectionLimits().patched({"rate": f"trace:{file}"})
    assert first.trace != second.trace and second.trace is not None
    assert len(second.trace.times) == 5


def test_trace_rate_is_reported_not_set():
    with pytest.raises(LimitError, match="trace_rate is the mean rate of a trace"):
        DirectionLimits().patched({"trace_rate": "1Mbit"})
    # Beside its trace (a client sending back what the engine reported) it is accepted.
    limits = DirectionLimits().patched({"rate": "trace:cellular-drive-up"})
    again = DirectionLimits().patched(limits.to_dict())
    assert again == limits


def test_without_a_loader_a_trace_is_kept_by_name_with_the_reported_mean():
    # What a display does: it cannot read the file; it shows the mean the engine reported.
    code = (
        "from shaper.model.limits import Limits\n"
        "l = Limits.from_dict({'downstream': {'rate': 'trace:x', 'trace_rate': '4Mbit'}})\n"
        "d = l.downstream\n"
        "print(d.rate, d.trace.name, d.trace.resolved, d.to_dict()['rate'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == ["4000000", "x", "False", "trace:x"]


def test_the_shipped_traces_are_what_the_generator_writes(tmp_path):
    script = REPO / "profiles" / "traces" / "generate.py"
    copy = tmp_path / "generate.py"
    copy.write_text(script.read_text())
    subprocess.run([sys.executable, str(copy)], check=True, timeout=120, capture_output=True)
    names = sorted(p.name for p in tmp_path.glob("*.trace"))
    assert names == ["cellular-drive-down.trace", "cellular-drive-up.trace", "wifi-congested.trace"]
    for name in names:
        assert (tmp_path / name).read_bytes() == (REPO / "profiles" / "traces" / name).read_bytes()
    assert set(trace_files.available_names()) >= {n.removesuffix(".trace") for n in names}


def test_a_scenario_phase_may_switch_to_a_trace_and_back():
    text = (
        'name = "drive-then-office"\n'
        '[downstream]\nrate = "10Mbit"\nlatency = "20ms"\n'
        "[scenario]\nrepeat = true\n"
        '[[scenario.phases]]\nname = "office"\nduration = "5s"\n'
        '[[scenario.phases]]\nname = "drive"\nduration = "5s"\n'
        'downstream = { rate = "trace:cellular-drive-down" }\n'
    )
    profile = parse_profile(text, file="drive.toml")
    assert profile.scenario is not None
    office, drive = (p.limits.downstream for p in profile.scenario.phases)
    assert office.trace is None and office.rate == 10_000_000
    assert drive.trace is not None and drive.trace.name == "cellular-drive-down"
    assert drive.latency == 20_000  # the phase changes only the rate
    again = parse_profile(dump_profile(profile), file="again.toml")
    assert again.scenario == profile.scenario
