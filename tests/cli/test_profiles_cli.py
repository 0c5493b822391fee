"""`shaper profiles list | show | validate | apply | save`."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import engine_env
from profile_samples import GOOD, PRESET_FILES, write

from shaper.cli.main import main
from shaper.model.limits import Limits
from shaper.profiles import (
    load_profile,
    parse_profile,
    user_profiles_dir,
)

pytestmark = pytest.mark.usefixtures("isolated")


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
    from shaper.control.server import start_control
    from shaper.engine.engine import Engine
    from shaper.model.routes import Route

    engine = Engine([Route(("127.0.0.1", 0), ("127.0.0.1", 9))])
    await engine.start()
    runner, (host, port) = await start_control(engine, "127.0.0.1", 0, None)
    try:
        engine.patch_limits(
            {"downstream": {"rate": "1500kbit", "latency": "30ms"}, "upstream": {"buffer": "32KiB"}}
        )
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


async def test_cli_save_refuses_to_hide_a_preset(capsys):
    async with engine_env(Limits.from_dict({"downstream": {"rate": "700kbit"}})) as env:
        argv = ["profiles", "save", "3g", "--control", env.url]
        assert await asyncio.to_thread(main, argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and "Traceback" not in err
        assert err.startswith("shaper: error: saving '3g' in ")
        assert "would hide the preset profile of that name (built-in presets)" in err
        assert "--force" in err
        assert not (user_profiles_dir() / "3g.toml").exists()
        assert load_profile("3g").origin == "preset"
        assert await asyncio.to_thread(main, [*argv, "--force"]) == 0
    assert load_profile("3g").origin == "user"
    assert load_profile("3g").limits.downstream.rate == 700_000


def test_cli_save_without_an_engine(capsys):
    code, out, err = run_cli(capsys, "profiles", "save", "x", "--control", "127.0.0.1:9")
    assert code == 1
    assert "127.0.0.1:9" in err and "Traceback" not in err
    assert not (user_profiles_dir() / "x.toml").exists()


def test_shaper_serve_with_a_missing_profile_exits_2(capsys):
    code, out, err = run_cli(
        capsys, "serve", "--profile", "5g", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"
    )
    assert code == 2
    assert "no profile named '5g'" in err and "Traceback" not in err


# -- apply -----------------------------------------------------------------------------------


MY_LINK = """\
name = "my-link"
description = "written for this test, in a directory the engine does not search"
[upstream]
rate = "300kbit"
[downstream]
rate = "900kbit"
latency = "70ms"
[scenario]
repeat = true
[[scenario.phases]]
name = "steady"
duration = "60s"
[[scenario.phases]]
name = "dip"
duration = "5s"
downstream = { rate = "100kbit" }
"""


async def test_cli_apply_reads_a_file_and_sends_it_whole(capsys, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = write(elsewhere / "link.toml", MY_LINK)
    async with engine_env() as env:
        await env.connect()  # an open connection takes the new limits at once
        code = await asyncio.to_thread(main, ["profiles", "apply", str(path), "--control", env.url])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith(f"applied profile my-link (read from {path})\n")
        assert "scenario: 2 phases, now 'steady'" in out
        assert "900kbit" in out and "70ms" in out
        engine = env.engine
        assert engine.profile_name == "my-link"
        assert engine.limits.downstream.rate == 900_000
        assert engine.limits.upstream.rate == 300_000
        assert engine.scenario_status()["phase"] == "steady"
        [conn] = engine.connections.values()
        assert conn.limits.downstream.latency == 70_000

        # A name is the engine's to look up: a preset, here.
        code = await asyncio.to_thread(
            main, ["profiles", "apply", "edge", "--control", env.url, "--json"]
        )
        out, _ = capsys.readouterr()
        assert code == 0
        assert json.loads(out)["profile"] == "edge" and engine.profile_name == "edge"
        assert engine.scenario_status() is None  # applying another profile stops the scenario


async def test_cli_apply_refuses_a_bad_file_or_an_unknown_name(capsys, tmp_path):
    bad = write(tmp_path / "bad.toml", 'name = "bad"\n[downstream]\nrate = "2mbps"\n')
    async with engine_env() as env:
        code = await asyncio.to_thread(main, ["profiles", "apply", str(bad), "--control", env.url])
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert err.startswith(f"shaper: error: {bad}:3: downstream.rate: invalid rate '2mbps'")
        assert "Traceback" not in err
        code = await asyncio.to_thread(main, ["profiles", "apply", "3gg", "--control", env.url])
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert "no profile '3gg'" in err and "3g" in err  # the engine's list of names
        missing = tmp_path / "missing.toml"
        code = await asyncio.to_thread(
            main, ["profiles", "apply", str(missing), "--control", env.url]
        )
        _, err = capsys.readouterr()
        assert code == 2 and f"profile file not found: {missing}" in err
        assert env.engine.profile_name is None  # nothing reached the engine


def test_cli_apply_without_an_engine(capsys):
    code, out, err = run_cli(capsys, "profiles", "apply", "3g", "--control", "127.0.0.1:9")
    assert code == 1 and out == ""
    assert "cannot reach the shaper control API at http://127.0.0.1:9" in err
