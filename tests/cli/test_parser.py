"""Every verb's argument mistakes: the message and one line on where to get help, exit 2 (not
the whole usage text first); and `shaper --version`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shaper._version import __version__
from shaper.cli.main import main

MISTAKES = [
    # (argv, the parser's prog, words of the message)
    (["nosuchverb"], "shaper", "invalid choice: 'nosuchverb'"),
    ([], "shaper", "required: COMMAND"),
    (
        ["serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--rate", "5mbps"],
        "shaper serve",
        "argument --rate",
    ),
    (
        ["serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--down-loss", "5"],
        "shaper serve",
        "for 5% write '5%'",
    ),
    (
        ["serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--loss", "1%"]
        + ["--tcp", "off"],
        "shaper serve",
        "needs tcp = emulated",
    ),
    (["serve", "--listen", "127.0.0.1:0"], "shaper serve", "--upstream is required"),
    (["limits", "--connection", "one"], "shaper limits", "argument --connection"),
    (["profiles"], "shaper profiles", "required: VERB"),
    (["profiles", "show"], "shaper profiles show", "required: NAME|PATH"),
    (["demo", "--size", "3x2"], "shaper demo", "argument --size"),
]


@pytest.mark.parametrize(
    ("argv", "prog", "words"), MISTAKES, ids=[" ".join(m[0]) or "nothing" for m in MISTAKES]
)
def test_a_mistake_is_two_lines_exit_2(capsys, argv, prog, words):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2, captured.err
    assert lines[0].startswith(f"{prog}: error: ") and words in lines[0], lines
    assert lines[1] == f"  ('{prog} --help' lists what it accepts)"
    assert "usage:" not in captured.err


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: shaper serve")


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "shaper", "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"shaper {__version__}\n"
    assert __version__ and __version__[0].isdigit()
