"""A route: where clients connect and the real server their bytes go to."""

from __future__ import annotations

from dataclasses import dataclass

from shaper.model.addresses import format_address


@dataclass(frozen=True)
class Route:
    listen: tuple[str, int]
    upstream: tuple[str, int]
    name: str = ""

    def describe(self, bound: tuple[str, int] | None = None) -> str:
        return f"{format_address(bound or self.listen)} -> {format_address(self.upstream)}"
