"""Fixtures for every test: no test reads or writes the real user's profile directory."""

from __future__ import annotations

import pytest

# The pytest plugin's tests run pytest on small projects of their own.
pytest_plugins = ("pytester",)


@pytest.fixture(autouse=True)
def private_config(tmp_path_factory, monkeypatch):
    """The user's config directory (saved profiles) points at a fresh temporary one."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty working directory (no ./profiles) and no control URL from the environment."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SHAPER_CONTROL", raising=False)
    return work
