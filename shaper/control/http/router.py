"""Path patterns such as /v1/connections/{id} to handlers. A `{name}` matches one whole
path segment, percent-decoded (so a quoted '/' reaches the handler inside the value)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from shaper.control.http.errors import HttpError

if TYPE_CHECKING:
    from shaper.control.http.request import Request
    from shaper.control.http.response import Response, StreamResponse

Handler: TypeAlias = Callable[["Request"], Awaitable["Response | StreamResponse"]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler


@dataclass
class _Resource:
    pattern: str
    parts: tuple[tuple[bool, str], ...]  # (is a parameter, literal text or parameter name)
    handlers: dict[str, Handler] = field(default_factory=dict)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        found: dict[str, str] = {}
        for (is_param, text), segment in zip(self.parts, segments, strict=True):
            if is_param:
                if not segment:
                    return None
                found[text] = segment
            elif segment != text:
                return None
        return found


def _parts(pattern: str) -> tuple[tuple[bool, str], ...]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r}: expected a path starting with '/'")
    parts = []
    for segment in pattern.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append((True, segment[1:-1]))
        else:
            parts.append((False, segment))
    return tuple(parts)


def _refuse(error: HttpError) -> Handler:
    async def refuse(request: Any) -> Any:
        raise error

    return refuse


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._resources: list[_Resource] = []

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        method = method.upper()
        resource = next((r for r in self._resources if r.pattern == pattern), None)
        if resource is None:
            resource = _Resource(pattern, _parts(pattern))
            self._resources.append(resource)
        if method in resource.handlers:
            raise ValueError(f"route {method} {pattern}: added twice")
        resource.handlers[method] = handler
        self.routes.append(Route(method, pattern, handler))

    def resolve(
        self, method: str, segments: list[str], path: str
    ) -> tuple[Handler, dict[str, str]]:
        """The handler and the path's parameters; for a path no route has, a handler that
        raises 404, and for a method the path does not take, one that raises 405 naming the
        methods it does take."""
        allowed: set[str] = set()
        for resource in self._resources:
            found = resource.match(segments)
            if found is None:
                continue
            handler = resource.handlers.get(method)
            if handler is not None:
                return handler, found
            allowed.update(resource.handlers)
        if allowed:
            return _refuse(
                HttpError(405, f"method {method} not allowed", tuple(sorted(allowed)))
            ), {}
        return _refuse(HttpError(404, f"no such path {path}")), {}
