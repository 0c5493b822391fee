"""One HTTP/1.1 connection: bytes in through h11, one request at a time, keep-alive.

Every buffer is bounded: a request's head by h11 (16 KiB), its body by the application's
limit (past it the rest is read and dropped, and the handler gets a 413), bytes a client
sends ahead while its request is answered by pausing the socket, and a stream's output by
waiting for the socket to drain. A client that goes away mid-stream ends the stream's
handler at once; a client that goes away while a plain request is handled lets the handler
finish (it may be changing the engine) and its answer is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from http import HTTPStatus
from typing import Any

import h11

from shaper.control.http.app import App
from shaper.control.http.errors import HttpError
from shaper.control.http.request import Request
from shaper.control.http.response import Response, StreamResponse

KEEPALIVE_TIMEOUT = 75.0  # seconds an idle connection is kept; aiohttp's and nginx's figure
MAX_HEAD = 16 * 1024
MAX_AHEAD = 64 * 1024  # bytes held for the next request while one is answered
LARGE_BODY = 64 * 1024  # a body written apart from its head, not copied to join them
_log = logging.getLogger("shaper.control.http")
_BYTES_REPR = re.compile(r"bytearray\((b'.*?')\)")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    """The Date header's value (RFC 9110's IMF-fixdate), made once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        text = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
        _date_cache = (now, text.encode())
    return _date_cache[1]


_REASONS = {int(status): status.phrase.encode() for status in HTTPStatus}


def _head(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    items = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    items.append((b"Date", _date()))
    return h11.Response(status_code=status, headers=items, reason=_REASONS.get(status, b""))


class HttpProtocol(asyncio.Protocol):
    def __init__(self, app: App, live: set[HttpProtocol]):
        self._app = app
        self._live = live
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._transport: asyncio.Transport | None = None
        self._remote: str | None = None
        self.task: asyncio.Task[None] | None = None
        self._lost = False
        self._closed = False
        self._shutting_down = False
        self._streaming = False
        self._reading_paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._reset_body()

    def _reset_body(self) -> None:
        self._body = bytearray()
        self._body_done = False
        self._dropping = False  # past the limit, or answered without reading it
        self._too_large = False
        self._body_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self._live.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        self._conn.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        if self._streaming and self.task is not None:
            # An event stream's client sends nothing: its end of input means it is gone.
            self._lost = True
            self.task.cancel()
            self._close()
            return False
        self._conn.receive_data(b"")
        self._pump()
        return True  # keep the socket for the answer to a request already read

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._live.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        self._wake(self._body_waiter)
        if self._drained is not None and not self._drained.done():
            self._wake(self._drained)  # the stream's write raises ConnectionResetError
        elif self._streaming and self.task is not None:
            self.task.cancel()  # a stream between two writes: it would notice only at the next

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake(self._drained)

    # -- reading ------------------------------------------------------------------------

    def _pump(self) -> None:
        """Run h11's events until it needs more bytes or a request is being answered."""
        conn = self._conn
        while not (self._lost or self._closed):
            if self.task is None and conn.our_state is h11.DONE:
                if conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                    self._reset_body()
                    self._arm_idle()
                    if self._reading_paused:
                        self._reading_paused = False
                        self._transport_().resume_reading()
                elif conn.their_state is not h11.SEND_BODY:
                    self._close()
                    return
            elif self.task is None and conn.our_state is h11.MUST_CLOSE:
                self._close()
                return
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc)
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                if len(conn.trailing_data[0]) > MAX_AHEAD and not self._reading_paused:
                    self._reading_paused = True
                    self._transport_().pause_reading()
                return
            if isinstance(event, h11.Request):
                self._start(event)
            elif isinstance(event, h11.Data):
                self._take(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._body_done = True
                self._wake(self._body_waiter)
            elif isinstance(event, h11.ConnectionClosed):
                self._wake(self._body_waiter)
                if self.task is None:
                    self._close()
                return

    def _start(self, event: h11.Request) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        target = event.target.decode("latin-1")
        if target.startswith(("http://", "https://")):  # absolute-form: the path in it
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        if not target.startswith("/"):
            self._refuse(
                h11.RemoteProtocolError(
                    f"request target {target!r}: expected a path such as /v1/status", 400
                )
            )
            return
        request = Request(
            self._app,
            event.method.decode("ascii", "replace"),
            target,
            list(event.headers),
            self._remote,
            self,
        )
        declared = request.headers.get("Content-Length")
        if declared.isdigit() and int(declared) > self._app.max_body:
            self._too_large = self._dropping = True
        self.task = asyncio.get_running_loop().create_task(self._respond(request))

    def _take(self, data: bytes) -> None:
        if self._dropping:
            return
        if len(self._body) + len(data) > self._app.max_body:
            self._too_large = self._dropping = True
            self._body = bytearray()
            self._wake(self._body_waiter)
            return
        self._body += data

    async def read_body(self) -> bytes:
        if self._conn.they_are_waiting_for_100_continue and not self._too_large:
            self._send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
        while not (self._body_done or self._too_large):
            if self._lost or self._conn.their_state in (h11.CLOSED, h11.ERROR):
                raise ConnectionResetError("the client closed the connection mid-body")
            self._body_waiter = asyncio.get_running_loop().create_future()
            await self._body_waiter
        if self._too_large:
            raise HttpError(413, f"body: larger than {self._app.max_body} bytes")
        return bytes(self._body)

    # -- answering ----------------------------------------------------------------------

    async def _respond(self, request: Request) -> None:
        answer: Response | StreamResponse | None
        try:
            answer = await self._app.handle(request)
        except asyncio.CancelledError:
            if not (self._lost or self._shutting_down):
                raise
            answer = None
        except ConnectionError:
            answer = None
        except HttpError as exc:
            answer = self._app.render_error(exc.status, exc.message, {})
        except Exception:
            _log.exception("%s %s failed", request.method, request.path)
            answer = self._app.render_error(500, "internal error: see the engine's log", {})
        self.task = None
        if self._lost:
            return
        if answer is None:
            self._close()
            return
        try:
            if isinstance(answer, StreamResponse):
                if not self._streaming:
                    answer.headers.setdefault("Content-Type", "application/octet-stream")
                    self.start_stream(answer.status, list(answer.headers.items()))
                self._send(h11.EndOfMessage())
            else:
                self._send_whole(answer, request.method)
        except h11.LocalProtocolError:
            _log.exception("%s %s: an answer HTTP cannot carry", request.method, request.path)
            self._close()
            return
        self._streaming = False
        self._dropping = True  # what is left of the request's body is read and dropped
        if self._shutting_down:
            self._close()
            return
        self._pump()

    def _send_whole(self, response: Response, method: str) -> None:
        conn = self._conn
        body = response.body
        events: list[h11.Response | h11.Data | h11.EndOfMessage] = [
            _head(response.status, response.header_list())
        ]
        if body and method != "HEAD" and response.status not in (204, 304):
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        pieces: list[bytes] = []
        for event in events:  # None only for ConnectionClosed, which is never sent here
            pieces += conn.send_with_data_passthrough(event) or []
        transport = self._transport_()
        if len(body) < LARGE_BODY:
            transport.write(b"".join(pieces))
        else:
            # Not joined to its head: that would copy a 1.2 MB snapshot of 1,000
            # connections once more (55 us; growing a bytearray instead took 1.1 ms).
            for piece in pieces:
                transport.write(piece)

    def _refuse(self, exc: h11.RemoteProtocolError) -> None:
        """A request h11 cannot read: 400 (or h11's status) and close, if nothing has been
        answered on it yet; otherwise just close."""
        if self.task is not None:
            self._wake(self._body_waiter)  # its read fails; the socket closes after it
            return
        if self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
            problem = _BYTES_REPR.sub(r"\1", str(exc))
            answer = self._app.render_error(
                status, f"malformed HTTP/1.1 request: {problem}", {"Connection": "close"}
            )
            try:
                self._send_whole(answer, "GET")
            except h11.LocalProtocolError:
                pass
        self._close()

    def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        self._streaming = True
        self._send(_head(status, headers))

    async def write_chunk(self, data: bytes) -> None:
        if self._lost:
            raise ConnectionResetError("the client went away")
        if data:
            self._send(h11.Data(data=data))
        while self._write_paused and not self._lost:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        if self._lost:
            raise ConnectionResetError("the client went away")

    def _send(self, event: Any) -> None:
        out = self._conn.send(event)
        if out and not self._lost:
            self._transport_().write(out)

    # -- closing --------------------------------------------------------------------------

    def shut_down(self) -> None:
        """The server stops: an idle connection closes now, a busy one after its answer."""
        self._shutting_down = True
        if self.task is None:
            self._close()

    def abort(self) -> None:
        """Past the shutdown's grace: the handler is cancelled and the socket dropped."""
        self._shutting_down = True
        if self.task is not None:
            self.task.cancel()
        if self._transport is not None:
            self._transport.abort()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(KEEPALIVE_TIMEOUT, self._close)

    def _close(self) -> None:
        self._closed = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _transport_(self) -> asyncio.Transport:
        assert self._transport is not None
        return self._transport

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
