"""The examples in docs/examples run, as a user's project runs them (plain pytest, the
plugin from the installed package, pytest-asyncio in its default strict mode), and the
README shows them as they are: neither can rot."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
TESTS = sorted(EXAMPLES.glob("test_*.py"))


@pytest.mark.timeout(240)
def test_the_examples_pass_under_strict_asyncio(pytester: pytest.Pytester):
    for path in EXAMPLES.glob("*.py"):
        (pytester.path / path.name).write_text(path.read_text())
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("path", TESTS, ids=[p.name for p in TESTS])
def test_the_readme_shows_the_example_as_it_is(path: Path):
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n# docs/examples/{path.name}\n{path.read_text()}```" in readme
