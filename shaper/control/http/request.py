"""What a handler reads: method, path, query, headers, the path's parameters, the body (read
on demand, within the application's limit) and the application's state."""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from shaper.control.http.state import AppState


class Channel(Protocol):
    """The connection a request came on, as its request and response see it."""

    async def read_body(self) -> bytes: ...

    def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None: ...

    async def write_chunk(self, data: bytes) -> None: ...


class Headers:
    """Request headers by case-insensitive name; a repeated header's first value."""

    __slots__ = ("_values",)

    def __init__(self, items: list[tuple[bytes, bytes]]):
        values: dict[str, str] = {}
        for name, value in items:
            values.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._values = values

    def get(self, name: str, default: str = "") -> str:
        return self._values.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


class Request:
    def __init__(
        self,
        app: AppState,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        remote: str | None,
        channel: Channel,
    ):
        self.app = app
        self.method = method
        raw_path, _, raw_query = target.partition("?")
        self.raw_path = raw_path
        self.path = unquote(raw_path)
        # Split before decoding: a quoted '/' stays inside its segment.
        self.segments = [unquote(segment) for segment in raw_path.split("/")]
        self.query: dict[str, list[str]] = parse_qs(raw_query, keep_blank_values=True)
        self.headers = Headers(headers)
        self.match_info: dict[str, str] = {}
        self.remote = remote
        self._channel = channel

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, unquoted; None without one."""
        for param in self.headers.get("Content-Type").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip('"') or None
        return None

    async def read(self) -> bytes:
        """The whole body; HttpError 413 past the application's limit."""
        return await self._channel.read_body()

    async def text(self) -> str:
        return (await self.read()).decode(self.charset or "utf-8")

    async def json(self) -> Any:
        return json.loads(await self.text())
