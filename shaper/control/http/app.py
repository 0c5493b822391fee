"""The application: its routes, its state (see state), one middleware around every handler
(the 404 and 405 of unknown paths and methods reach it as HttpError) and the hook that
renders the errors the server answers by itself (a request it cannot read, a handler that
failed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from shaper.control.http.request import Request
from shaper.control.http.response import Response, StreamResponse
from shaper.control.http.router import Handler, Router
from shaper.control.http.state import AppKey, AppState

__all__ = ["App", "AppKey", "ErrorRenderer", "Middleware"]

Middleware: TypeAlias = Callable[[Request, Handler], Awaitable[Response | StreamResponse]]
# (status, message, extra headers) -> the answer
ErrorRenderer: TypeAlias = Callable[[int, str, dict[str, str]], Response]


class App(AppState):
    def __init__(
        self,
        render_error: ErrorRenderer,
        middleware: Middleware | None = None,
        max_body: int = 1024**2,
    ):
        super().__init__()
        self.router = Router()
        self.render_error = render_error
        self.middleware = middleware
        self.max_body = max_body

    async def handle(self, request: Request) -> Response | StreamResponse:
        handler, request.match_info = self.router.resolve(
            request.method, request.segments, request.path
        )
        if self.middleware is None:
            return await handler(request)
        return await self.middleware(request, handler)
