"""What a handler returns: a whole response, or a stream it writes as it goes (chunked on
HTTP/1.1, until the connection closes on HTTP/1.0)."""

from __future__ import annotations

from shaper.control.http.request import Channel, Request


class Response:
    """A status, headers and a body sent with its Content-Length. `content_type` (if given)
    is sent after `headers`, as Content-Type."""

    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header_list(self) -> list[tuple[str, str]]:
        items = list(self.headers.items())
        if self.content_type is not None:
            items.append(("Content-Type", self.content_type))
        if self.status >= 200 and self.status not in (204, 304):
            items.append(("Content-Length", str(len(self.body))))
        return items


def text_response(
    text: str,
    status: int = 200,
    content_type: str = "text/plain",
    headers: dict[str, str] | None = None,
) -> Response:
    """`text` in UTF-8, the charset named in Content-Type."""
    return Response(text.encode(), status, f"{content_type}; charset=utf-8", headers)


class StreamResponse:
    """Headers first (`prepare`), then the body in parts (`write`); the server ends the body
    when the handler returns. `write` raises ConnectionResetError once the client is gone."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None):
        self.status = status
        self.headers = headers or {}
        self._channel: Channel | None = None

    @property
    def prepared(self) -> bool:
        return self._channel is not None

    async def prepare(self, request: Request) -> None:
        if self._channel is None:
            self._channel = request._channel
            self._channel.start_stream(self.status, list(self.headers.items()))

    async def write(self, data: bytes) -> None:
        if self._channel is None:
            raise RuntimeError("StreamResponse.write before prepare")
        await self._channel.write_chunk(data)
