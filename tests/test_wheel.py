"""The built wheel works on its own: the presets ship inside it, the command runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


@pytest.mark.timeout(180)
def test_an_installed_wheel_lists_and_loads_the_shipped_presets(tmp_path):
    uv = shutil.which("uv")
    assert uv, "the test command runs under uv; uv must be on PATH"
    # Offline: everything needed is in uv's cache once the project has been synced.
    built = run([uv, "build", "--wheel", "--offline", "-o", str(tmp_path / "dist")], ROOT)
    assert built.returncode == 0, built.stderr
    wheels = list((tmp_path / "dist").glob("shaper-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    made = run([uv, "venv", "--offline", "--python", sys.executable, str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    # The wheel alone; its dependencies come from the test's own environment (resolving
    # them offline needs index pages uv's cache may not hold).
    installed = run(
        [uv, "pip", "install", "--offline", "--no-deps", str(wheels[0])],
        tmp_path,
        VIRTUAL_ENV=str(venv),
    )
    assert installed.returncode == 0, installed.stderr
    shaper = venv / "bin" / "shaper"
    # From an empty directory: no ./profiles, no checkout to fall back on. The test's
    # site-packages lends aiohttp and the rest; this checkout is not on that path (it is
    # installed there as a .pth file, which PYTHONPATH entries do not read).
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    home = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
    }
    listed = run([str(shaper), "profiles", "list"], empty, **home)
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert {"3g", "satellite-geo", "tiny-buffers", "tunnel"} <= names
    assert "preset" in listed.stdout
    shown = run([str(shaper), "profiles", "show", "3g"], empty, **home)
    assert shown.returncode == 0, shown.stderr
    assert "site-packages/shaper/presets/3g.toml" in shown.stdout  # from the wheel itself
    assert "1.6Mbit" in shown.stdout and "768kbit" in shown.stdout
