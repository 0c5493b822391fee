"""The control API's server: HTTP/JSON on loopback, served from the engine's own loop.

`build_app(engine)` returns the aiohttp application; `start_control` binds it. Every
error is JSON `{"error": message, "field": name}` with 400 (a bad value: the message
names the field, the value and the accepted forms), 401 (token), 404 (unknown
connection, profile or path), 405 (with an Allow header) or 409.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from shaper.control import keys
from shaper.control.engine_view import ControlledEngine
from shaper.control.handlers import ROUTES
from shaper.control.metrics import MetricsCollector
from shaper.control.requests import MAX_BODY
from shaper.control.responses import ApiError, error_response
from shaper.control.security import check_bind, token_problem

DEFAULT_CONTROL_PORT = 8475


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
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
    except web.HTTPException as exc:
        if exc.status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
            return error_response(
                405,
                f"method {request.method} not allowed on {request.path}; "
                f"allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        if exc.status == 404:
            return error_response(404, f"no such path {request.path}; see /v1/openapi.json")
        if exc.status == 413:
            return error_response(
                413, f"body: larger than {MAX_BODY} bytes; limits fit in far less", field="body"
            )
        if exc.status >= 400:
            return error_response(exc.status, exc.reason)
        raise


async def _on_shutdown(app: web.Application) -> None:
    app[keys.CLOSING].set()


def build_app(
    engine: ControlledEngine,
    token: str | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
) -> web.Application:
    """The control application for `engine` (not yet bound; see start_control)."""
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
    app[keys.ENGINE] = engine
    app[keys.TOKEN] = token or None
    app[keys.PROFILES_DIR] = profiles_dir
    app[keys.CLOSING] = asyncio.Event()
    app[keys.METRICS] = MetricsCollector()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.on_shutdown.append(_on_shutdown)
    return app


async def start_control(
    engine: ControlledEngine,
    host: str = "127.0.0.1",
    port: int = DEFAULT_CONTROL_PORT,
    token: str | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
) -> tuple[web.AppRunner, tuple[str, int]]:
    """Serve the control API; returns the runner (call `await runner.cleanup()`) and the
    bound (host, port). Raises ControlSecurityError for a non-loopback host without a token,
    OSError if the address cannot be bound."""
    check_bind(host, token)
    app = build_app(engine, token=token, profiles_dir=profiles_dir)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    return runner, (str(bound[0]), int(bound[1]))
