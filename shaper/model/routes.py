"""A route: where clients connect and the real server their bytes go to, under a name.

Names are what the API, the command line and the events call a route by. Colons are
allowed because a Toxiproxy-style client names its proxies `host:port`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shaper.model.addresses import format_address, parse_address
from shaper.model.errors import FieldError
from shaper.model.limits import Limits

NAME_MAX = 64
NAME_RE = re.compile(rf"[A-Za-z0-9._:-]{{1,{NAME_MAX}}}")
NAME_FORM = (
    f"1 to {NAME_MAX} letters, digits, '.', '_', '-' or ':' (e.g. main, db, api-v2, localhost:6379)"
)
# The first route without a name is `main`; later ones are named by their place in the
# order routes were added: route2, route3, ...
FIRST_ROUTE = "main"
# Listeners an engine keeps at most: each one is a socket, and the API may add them.
MAX_ROUTES = 256


class RouteError(FieldError):
    """A route value that cannot be taken (400 on the API, exit 2 on the command line)."""


class RouteConflict(ValueError):
    """The name or the address is taken (409 on the API)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class UnknownRoute(LookupError):
    """No route has that name (404 on the API)."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        listed = ", ".join(known) if known else "none"
        super().__init__(f"no route named {name!r}; routes: {listed}")

    def __str__(self) -> str:
        return str(self.args[0])


def check_route_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RouteError(field, name, NAME_FORM)
    return name


def default_route_name(position: int) -> str:
    """The name of the unnamed route added `position`-th (from 1)."""
    return FIRST_ROUTE if position == 1 else f"route{position}"


@dataclass(frozen=True)
class Route:
    listen: tuple[str, int]
    upstream: tuple[str, int]
    # Empty: the engine names it when it is added (see default_route_name).
    name: str = ""

    def describe(self, bound: tuple[str, int] | None = None) -> str:
        return f"{format_address(bound or self.listen)} -> {format_address(self.upstream)}"


@dataclass(frozen=True)
class RouteState:
    """A route as the engine holds it now (GET /v1/routes)."""

    name: str
    listen: tuple[str, int]  # the bound address once listened on (the real port for 0)
    upstream: tuple[str, int]
    enabled: bool
    limits: Limits | None  # its own limits; None: the engine-wide ones apply
    connections_open: int

    @property
    def description(self) -> str:
        return Route(self.listen, self.upstream).describe()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": format_address(self.listen),
            "upstream": format_address(self.upstream),
            "enabled": self.enabled,
            "limits": self.limits.to_dict() if self.limits is not None else None,
            "connections_open": self.connections_open,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouteState:
        limits = data["limits"]
        return cls(
            name=str(data["name"]),
            listen=parse_address(data["listen"]),
            upstream=parse_address(data["upstream"]),
            enabled=bool(data["enabled"]),
            limits=Limits.from_dict(limits) if limits is not None else None,
            connections_open=int(data["connections_open"]),
        )
