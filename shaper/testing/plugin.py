"""The pytest plugin, registered through the `pytest11` entry point: installing shaper is
enough, no conftest needed.

    def test_checkout_survives_3g(shaper_proxy):
        proxy = shaper_proxy(upstream="127.0.0.1:5432", profile="3g")
        connect(proxy.host, proxy.port)

    @pytest.mark.shaper_profile("satellite-geo")
    def test_slow_link(shaper_proxy):
        proxy = shaper_proxy(upstream=...)   # starts on satellite-geo

`shaper_proxy(...)` takes the arguments of `shaper.Proxy`, returns a started proxy (its
engine in a child process, so a sync test works and the test's own CPU does not distort
the shaping) and stops it after the test. It is a plain fixture: sync tests, pytest-asyncio
(strict or auto) and anyio all use it the same way.

This module loads only pytest at import: the proxy's modules load when a test asks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from shaper.model.limits import Limits
    from shaper.testing.options import Address, ProfileArg
    from shaper.testing.sync import Proxy

MARKER = "shaper_profile"


class _FromMarker:
    def __repr__(self) -> str:
        return "<the test's shaper_profile marker>"


FROM_MARKER: Any = _FromMarker()


class ProxyFactory(Protocol):
    """The type of the `shaper_proxy` fixture, for annotations."""

    def __call__(
        self,
        upstream: Address,
        listen: Address = ...,
        limits: Limits | dict[str, Any] | None = ...,
        connect_timeout: float = ...,
        *,
        profile: ProfileArg | None = ...,
        profiles_dir: str | os.PathLike[str] | None = ...,
        startup_timeout: float = ...,
        **limit_values: Any,
    ) -> Proxy: ...


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(profile): the profile (a name such as '3g', or a path to a .toml file) "
        "the test's shaper_proxy proxies start with when they are not given one",
    )


def marker_profile(node: pytest.Item | pytest.Collector) -> Any:
    """The profile the closest shaper_profile marker names (test, class or module), or None."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return None
    if len(marker.args) != 1 or marker.kwargs or not isinstance(marker.args[0], str | os.PathLike):
        given = ", ".join(
            [*map(repr, marker.args), *(f"{k}={v!r}" for k, v in marker.kwargs.items())]
        )
        pytest.fail(
            f"@pytest.mark.{MARKER}({given}): expected one profile, a name or a path to a "
            f".toml file, e.g. @pytest.mark.{MARKER}('3g')",
            pytrace=False,
        )
    return marker.args[0]


@pytest.fixture
def shaper_proxy(request: pytest.FixtureRequest) -> Iterator[ProxyFactory]:
    """Start shaped proxies: `shaper_proxy(upstream="127.0.0.1:5432", profile="3g",
    **limits)` returns a started `shaper.Proxy`; every one is stopped after the test."""
    from shaper.testing.sync import Proxy

    default_profile = marker_profile(request.node)
    started: list[Proxy] = []

    def start(*args: Any, profile: Any = FROM_MARKER, **kwargs: Any) -> Proxy:
        chosen = default_profile if profile is FROM_MARKER else profile
        proxy = Proxy(*args, profile=chosen, **kwargs)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in reversed(started):
        proxy.stop()
