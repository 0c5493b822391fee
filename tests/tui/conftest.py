"""Fixtures for the display tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from helpers import EngineEnv, engine_env, flood
from tui_fixtures import DEFAULT_LIMITS


@pytest.fixture
async def env(tmp_path) -> AsyncIterator[EngineEnv]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "crawl.toml").write_text(
        'name = "crawl"\ndescription = "a very slow test link"\n'
        '[upstream]\nrate = "64kbit"\n[downstream]\nrate = "128kbit"\nlatency = "100ms"\n'
    )
    async with engine_env(DEFAULT_LIMITS, flood, profiles_dir=profiles) as environment:
        yield environment


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
