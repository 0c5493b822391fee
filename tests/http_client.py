"""A raw HTTP/1.1 client for the server tests: bytes out on one socket, answers parsed with
h11 in the client role, so that a test sees exactly what went over the wire."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import h11

HOST = "127.0.0.1"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    informational: list[int] = field(default_factory=list)

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json; charset=utf-8", self.headers
        return json.loads(self.body)


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, method: str, path: str, body: bytes = b"", **headers: str) -> None:
        items = [("Host", "test")] + [(k.replace("_", "-"), v) for k, v in headers.items()]
        if body and "Transfer-Encoding" not in dict(items):
            items.append(("Content-Length", str(len(body))))
        out = self.conn.send(h11.Request(method=method, target=path, headers=items))
        if body:
            out += self.conn.send(h11.Data(data=body))
        out += self.conn.send(h11.EndOfMessage())
        self.writer.write(out)

    async def answer(self, method: str = "GET", timeout: float = 5.0) -> Answer:
        """The next whole answer (after any 1xx)."""
        informational: list[int] = []
        head: h11.Response | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                self.conn.receive_data(data)
                continue
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {k.decode().lower(): v.decode() for k, v in head.headers}
                return Answer(head.status_code, headers, bytes(body), informational)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed before a whole answer")

    def next_cycle(self) -> None:
        self.conn.start_next_cycle()

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the connection (no more bytes come)."""
        rest = await asyncio.wait_for(self.reader.read(), timeout)
        return rest == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
