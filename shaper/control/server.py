"""The control API's server: HTTP/JSON on loopback, served from the engine's own loop.

`build_app(engine)` returns the application (shaper.control.http); `start_control` binds
it. Every error is JSON `{"error": message, "field": name}` with 400 (a bad value: the
message names the field, the value and the accepted forms), 401 (token), 404 (unknown
connection, profile or path), 405 (with an Allow header), 409 or 413 (a body over 1 MiB).
"""

from __future__ import annotations

import os

from shaper.control import keys
from shaper.control.encoding import TextMemo
from shaper.control.engine_view import ControlledEngine
from shaper.control.handlers import ROUTES
from shaper.control.http.app import App
from shaper.control.http.errors import HttpError
from shaper.control.http.request import Request
from shaper.control.http.response import Response, StreamResponse
from shaper.control.http.router import Handler
from shaper.control.http.serving import Runner, serve
from shaper.control.metrics import MetricsCollector
from shaper.control.requests import MAX_BODY
from shaper.control.responses import ApiError, error_response
from shaper.control.security import check_bind, token_problem

DEFAULT_CONTROL_PORT = 8475


def _http_error(request: Request, exc: HttpError) -> Response:
    if exc.status == 405:
        return error_response(
            405,
            f"method {request.method} not allowed on {request.path}; "
            f"allowed: {', '.join(exc.allowed)}",
            headers={"Allow": ", ".join(exc.allowed)},
        )
    if exc.status == 404:
        return error_response(404, f"no such path {request.path}; see /v1/openapi.json")
    if exc.status == 413:
        return error_response(
            413, f"body: larger than {MAX_BODY} bytes; limits fit in far less", field="body"
        )
    return error_response(exc.status, exc.message)


async def _errors(request: Request, handler: Handler) -> Response | StreamResponse:
    token = request.app[keys.TOKEN]
    if token is not None:
        problem = token_problem(request.headers.get("Authorization", ""), token)
        if problem is not None:
            return error_response(
                401, problem, field="Authorization", headers={"WWW-Authenticate": "Bearer"}
            )
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.field, **exc.extra)
    except HttpError as exc:
        return _http_error(request, exc)


def _render_error(status: int, message: str, headers: dict[str, str]) -> Response:
    # What the server answers by itself: a request it could not read, a handler that failed.
    return error_response(status, message, headers=headers)


def build_app(
    engine: ControlledEngine | None,
    token: str | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
) -> App:
    """The control application for `engine` (not yet bound; see start_control)."""
    app = App(_render_error, middleware=_errors, max_body=MAX_BODY)
    if engine is not None:
        app[keys.ENGINE] = engine
    app[keys.TOKEN] = token or None
    app[keys.PROFILES_DIR] = profiles_dir
    app[keys.METRICS] = MetricsCollector()
    app[keys.SNAPSHOT_TEXT] = TextMemo()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app


async def start_control(
    engine: ControlledEngine,
    host: str = "127.0.0.1",
    port: int = DEFAULT_CONTROL_PORT,
    token: str | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
) -> tuple[Runner, tuple[str, int]]:
    """Serve the control API; returns the runner (call `await runner.cleanup()`) and the
    bound (host, port). Raises ControlSecurityError for a non-loopback host without a token,
    OSError if the address cannot be bound."""
    check_bind(host, token)
    runner = await serve(build_app(engine, token=token, profiles_dir=profiles_dir), host, port)
    return runner, runner.address
