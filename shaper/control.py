"""The control API: HTTP/JSON on loopback, served from the engine's own loop.

`build_app(engine)` returns an aiohttp application; `start_control` binds it.
Every error is JSON `{"error": message, "field": name}` with 400 (a bad value:
the message names the field, the value and the accepted forms), 401 (token),
404 (unknown connection, profile or path), 405 or 409. A bad request never
changes state: bodies are validated in full before anything is applied.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.metadata
import ipaddress
import json
import time
from typing import Any

from aiohttp import web

from shaper.limits import LimitError
from shaper.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shaper.metrics import MetricsCollector
from shaper.openapi import openapi_document
from shaper.snapshot_json import encoder, snapshot_json

DEFAULT_CONTROL_PORT = 8475
MIN_STREAM_INTERVAL = 0.05
MAX_STREAM_INTERVAL = 60.0
CLOSE_MODES = ("close", "reset")

ENGINE_KEY: web.AppKey[Any] = web.AppKey("engine", object)
TOKEN_KEY: web.AppKey[str | None] = web.AppKey("token", object)
PROFILES_DIR_KEY: web.AppKey[Any] = web.AppKey("profiles_dir", object)
CLOSING_KEY: web.AppKey[asyncio.Event] = web.AppKey("closing", asyncio.Event)
METRICS_KEY: web.AppKey[MetricsCollector] = web.AppKey("metrics", MetricsCollector)


class ControlSecurityError(ValueError):
    """The control API would be reachable from other hosts without a token."""


class ApiError(Exception):
    """Raised by handlers; rendered as a JSON error response."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra


def version() -> str:
    try:
        return importlib.metadata.version("shaper")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(data), status=status, content_type="application/json")


def _error_response(status: int, message: str, field: str | None = None, **extra: Any):
    body = {"error": message, "field": field, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.Response(
        text=_dumps(body), status=status, content_type="application/json", headers=headers
    )


# -- addresses --------------------------------------------------------------


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def control_url(host: str, port: int) -> str:
    return f"http://{format_hostport(host, port)}"


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_control_address(text: str) -> tuple[str, int]:
    """'127.0.0.1:8475', '[::1]:8475', 'localhost:0' or ':8475' (loopback) -> (host, port)."""
    raw = text.strip()
    if raw.startswith("http://"):
        raw = raw[len("http://") :].rstrip("/")
    if raw.startswith("["):
        host, sep, port_text = raw[1:].partition("]:")
    else:
        host, sep, port_text = raw.rpartition(":")
    if not sep:
        if raw.isdigit():
            host, port_text = "127.0.0.1", raw
        else:
            raise ValueError(
                f"--control: invalid address {text!r}: expected HOST:PORT such as "
                f"127.0.0.1:{DEFAULT_CONTROL_PORT}, [::1]:{DEFAULT_CONTROL_PORT} or a bare port"
            )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"--control: invalid port {port_text!r} in {text!r}: expected a number from 0 to 65535"
        )
    return host or "127.0.0.1", int(port_text)


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback control address unless a token is set."""
    if token is not None and not token.strip():
        raise ControlSecurityError("--control-token: the token must not be empty")
    if not is_loopback(host) and not token:
        raise ControlSecurityError(
            f"refusing to serve the control API on {host!r} without a token: anyone who can "
            "reach that address could change limits and close connections. Bind 127.0.0.1 "
            "(the default), or pass --control-token TOKEN (clients then send "
            "'Authorization: Bearer TOKEN')."
        )


# -- request parsing --------------------------------------------------------

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _query(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    for key in request.query:
        if key not in allowed:
            accepted = ", ".join(allowed) if allowed else "no query parameters"
            raise ApiError(400, f"{key}: unknown query parameter; accepted: {accepted}", field=key)
    return {k: request.query[k] for k in allowed if k in request.query}


def _flag(query: dict[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError(400, f"{name}: invalid value {raw!r}: expected 1 or 0", field=name)


def _interval(query: dict[str, str]) -> float:
    raw = query.get("interval")
    if raw is None:
        return 0.5
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not MIN_STREAM_INTERVAL <= value <= MAX_STREAM_INTERVAL:
        raise ApiError(
            400,
            f"interval: invalid value {raw!r}: expected seconds from {MIN_STREAM_INTERVAL} "
            f"to {MAX_STREAM_INTERVAL:g} (e.g. 0.1)",
            field="interval",
        )
    return value


async def _json_body(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        raise ApiError(400, "body: empty request body: expected a JSON object", field="body")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"body: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            "expected a JSON object",
            field="body",
        ) from None


def _limit_error(exc: LimitError) -> ApiError:
    return ApiError(400, str(exc), field=exc.field, value=exc.value, accepted=exc.accepted)


async def _limit_changes(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            400,
            f'body: expected a JSON object such as {{"downstream": {{"rate": "2Mbit"}}}}, '
            f"got {type(body).__name__}",
            field="body",
        )
    return body


def _connection_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        conn_id = int(raw)
    except ValueError:
        raise ApiError(
            400, f"id: invalid connection id {raw!r}: expected a number", field="id"
        ) from None
    if conn_id not in request.app[ENGINE_KEY].connections:
        raise ApiError(404, f"no open connection with id {conn_id}", field="id")
    return conn_id


# -- snapshots --------------------------------------------------------------


def _json_text(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json")


def _routes(engine: Any) -> list[dict[str, Any]]:
    result = []
    addresses = list(getattr(engine, "addresses", []) or [])
    for index, route in enumerate(engine.routes):
        bound = addresses[index] if index < len(addresses) else route.listen
        result.append(
            {
                "listen": format_hostport(str(bound[0]), int(bound[1])),
                "upstream": format_hostport(str(route.upstream[0]), int(route.upstream[1])),
                "description": _describe(route, bound),
            }
        )
    return result


def _describe(route: Any, bound: Any) -> str:
    try:
        return route.describe(tuple(bound))
    except TypeError:
        return route.describe()


# -- handlers ---------------------------------------------------------------


async def get_status(request: web.Request) -> web.Response:
    _query(request, ())
    engine = request.app[ENGINE_KEY]
    return _json(
        {
            "version": version(),
            "pid": _pid(),
            "routes": _routes(engine),
            "uptime": max(0.0, time.time() - engine.started_at) if engine.started_at else 0.0,
            "started_at": engine.started_at,
            "limits": engine.limits.to_dict(),
            "profile": engine.profile_name,
            "scenario": _scenario(engine),
            "connections_open": len(engine.connections),
        }
    )


def _scenario(engine: Any) -> Any:
    status = engine.scenario_status
    return status() if callable(status) else status


def _pid() -> int:
    import os

    return os.getpid()


async def get_stats(request: web.Request) -> web.Response:
    query = _query(request, ("connections",))
    engine = request.app[ENGINE_KEY]
    stats = engine.snapshot(connections=_flag(query, "connections"))
    return _json_text(snapshot_json(stats))


async def get_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `snapshot` event per interval, on absolute deadlines."""
    query = _query(request, ("interval", "connections"))
    interval = _interval(query)
    with_connections = _flag(query, "connections")
    engine = request.app[ENGINE_KEY]
    closing = request.app[CLOSING_KEY]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    try:
        while not closing.is_set():
            stats = engine.snapshot(connections=with_connections)
            payload = snapshot_json(stats)
            await response.write(f"event: snapshot\ndata: {payload}\n\n".encode())
            deadline += interval
            now = loop.time()
            if deadline < now:  # a slow reader: skip the missed ticks rather than burst
                deadline = now + interval
            try:
                await asyncio.wait_for(closing.wait(), deadline - now)
            except TimeoutError:
                pass
    except (ConnectionResetError, ConnectionError):
        pass
    return response


async def get_limits(request: web.Request) -> web.Response:
    _query(request, ())
    return _json(request.app[ENGINE_KEY].limits.to_dict())


async def patch_limits(request: web.Request) -> web.Response:
    _query(request, ())
    changes = await _limit_changes(request)
    engine = request.app[ENGINE_KEY]
    try:
        limits = engine.patch_limits(changes)
    except LimitError as exc:
        raise _limit_error(exc) from None
    return _json(limits.to_dict())


async def get_connections(request: web.Request) -> web.Response:
    _query(request, ())
    conns = request.app[ENGINE_KEY].snapshot(connections=True).connections or ()
    if not conns:
        return _json_text("[]")
    encode = encoder(type(conns[0]))
    return _json_text("[" + ",".join([encode(c) for c in conns]) + "]")


async def delete_connection(request: web.Request) -> web.Response:
    query = _query(request, ("mode",))
    mode = query.get("mode", "close")
    if mode not in CLOSE_MODES:
        raise ApiError(400, f"mode: invalid value {mode!r}: expected close or reset", field="mode")
    conn_id = _connection_id(request)
    engine = request.app[ENGINE_KEY]
    state = getattr(engine.connections[conn_id], "state", None)
    if state in ("closing", "closed"):
        raise ApiError(409, f"connection {conn_id} is already {state}", field="id")
    try:
        engine.close_connection(conn_id, mode=mode)
    except KeyError:
        raise ApiError(404, f"no open connection with id {conn_id}", field="id") from None
    return _json({"id": conn_id, "mode": mode, "closed": True})


async def get_connection_limits(request: web.Request) -> web.Response:
    _query(request, ())
    conn_id = _connection_id(request)
    try:
        limits = request.app[ENGINE_KEY].connection_limits(conn_id)
    except KeyError:
        raise ApiError(404, f"no open connection with id {conn_id}", field="id") from None
    return _json(limits.to_dict())


async def patch_connection_limits(request: web.Request) -> web.Response:
    _query(request, ())
    conn_id = _connection_id(request)
    changes = await _limit_changes(request)
    engine = request.app[ENGINE_KEY]
    try:
        limits = engine.connection_limits(conn_id).patched(changes)
        engine.set_connection_limits(conn_id, limits)
    except LimitError as exc:
        raise _limit_error(exc) from None
    except KeyError:
        raise ApiError(404, f"no open connection with id {conn_id}", field="id") from None
    return _json(limits.to_dict())


async def delete_connection_limits(request: web.Request) -> web.Response:
    _query(request, ())
    conn_id = _connection_id(request)
    engine = request.app[ENGINE_KEY]
    try:
        engine.set_connection_limits(conn_id, None)
        limits = engine.connection_limits(conn_id)
    except KeyError:
        raise ApiError(404, f"no open connection with id {conn_id}", field="id") from None
    return _json(limits.to_dict())


def _profiles_module() -> Any:
    try:
        from shaper import profiles
    except ImportError as exc:  # pragma: no cover - only in a partial install
        raise ApiError(501, f"profiles are not available: {exc}") from None
    return profiles


def _apply_profile_function(profiles: Any) -> Any:
    apply = getattr(profiles, "apply_profile", None)
    if apply is None:
        from shaper.scenario import apply_profile as apply
    return apply


def _profile_error(exc: Exception) -> ApiError:
    field = getattr(exc, "field", None) or getattr(exc, "key", None) or "profile"
    return ApiError(400, str(exc), field=str(field))


async def get_profiles(request: web.Request) -> web.Response:
    _query(request, ())
    profiles = _profiles_module()
    infos = profiles.list_profiles(request.app[PROFILES_DIR_KEY])
    return _json(
        [
            {
                "name": i.name,
                "description": i.description,
                "origin": i.origin,
                **({"error": i.error} if getattr(i, "error", None) else {}),
            }
            for i in infos
        ]
    )


def _profile_state(engine: Any) -> dict[str, Any]:
    return {
        "profile": engine.profile_name,
        "scenario": _scenario(engine),
        "limits": engine.limits.to_dict(),
    }


async def get_profile(request: web.Request) -> web.Response:
    _query(request, ())
    return _json(_profile_state(request.app[ENGINE_KEY]))


async def post_profile(request: web.Request) -> web.Response:
    """Apply a shipped/saved profile by name, or an inline profile object."""
    _query(request, ())
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            400,
            'body: expected a JSON object: {"name": "3g"} or {"profile": {...}}',
            field="body",
        )
    for key in body:
        if key not in ("name", "profile"):
            raise ApiError(400, f"{key}: unknown field; expected 'name' or 'profile'", field=key)
    if ("name" in body) == ("profile" in body):
        raise ApiError(
            400,
            'body: give exactly one of "name" (a listed profile) or "profile" (an inline one)',
            field="body",
        )
    profiles = _profiles_module()
    profiles_dir = request.app[PROFILES_DIR_KEY]
    error_type = getattr(profiles, "ProfileError", ValueError)
    engine = request.app[ENGINE_KEY]
    try:
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not name:
                raise ApiError(
                    400, f"name: invalid value {name!r}: expected a profile name", field="name"
                )
            # Only listed profiles: the API never opens a path the caller chose.
            infos = {i.name: i for i in profiles.list_profiles(profiles_dir)}
            if name not in infos:
                known = ", ".join(sorted(infos)) or "none"
                raise ApiError(404, f"name: no profile {name!r}; known: {known}", field="name")
            profile = profiles.load_profile(name, profiles_dir=profiles_dir)
        else:
            data = body["profile"]
            if not isinstance(data, dict):
                raise ApiError(
                    400,
                    f"profile: expected a JSON object, got {type(data).__name__}",
                    field="profile",
                )
            profile = profiles.profile_from_dict(data, source="<request>")
    except LimitError as exc:
        raise _limit_error(exc) from None
    except error_type as exc:
        raise _profile_error(exc) from None
    _apply_profile_function(profiles)(engine, profile)
    return _json(_profile_state(engine))


async def get_metrics(request: web.Request) -> web.Response:
    _query(request, ())
    text = request.app[METRICS_KEY].render(request.app[ENGINE_KEY])
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def get_openapi(request: web.Request) -> web.Response:
    _query(request, ())
    return _json(openapi_document(version()))


# -- middleware ---------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[TOKEN_KEY]
    if token is not None:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            message = (
                "missing token: send 'Authorization: Bearer TOKEN'"
                if not header
                else "wrong token in the Authorization header"
            )
            return _error_response(401, message, field="Authorization")
    try:
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc.status, exc.message, exc.field, **exc.extra)
    except web.HTTPException as exc:
        if exc.status == 405:
            allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
            return _error_response(
                405, f"method {request.method} not allowed on {request.path}; allowed: {allowed}"
            )
        if exc.status == 404:
            return _error_response(
                404, f"no such path {request.path}; see /v1/openapi.json", field=None
            )
        if exc.status >= 400:
            return _error_response(exc.status, exc.reason)
        raise


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/status", get_status),
    ("GET", "/v1/stats", get_stats),
    ("GET", "/v1/stream", get_stream),
    ("GET", "/v1/limits", get_limits),
    ("PATCH", "/v1/limits", patch_limits),
    ("GET", "/v1/connections", get_connections),
    ("DELETE", "/v1/connections/{id}", delete_connection),
    ("GET", "/v1/connections/{id}/limits", get_connection_limits),
    ("PATCH", "/v1/connections/{id}/limits", patch_connection_limits),
    ("DELETE", "/v1/connections/{id}/limits", delete_connection_limits),
    ("GET", "/v1/profiles", get_profiles),
    ("GET", "/v1/profile", get_profile),
    ("POST", "/v1/profile", post_profile),
    ("GET", "/metrics", get_metrics),
    ("GET", "/v1/openapi.json", get_openapi),
]


async def _on_shutdown(app: web.Application) -> None:
    app[CLOSING_KEY].set()


def build_app(engine: Any, token: str | None = None, profiles_dir: Any = None) -> web.Application:
    """The control application for `engine` (not yet bound; see start_control)."""
    app = web.Application(middlewares=[_errors], client_max_size=1024**2)
    app[ENGINE_KEY] = engine
    app[TOKEN_KEY] = token or None
    app[PROFILES_DIR_KEY] = profiles_dir
    app[CLOSING_KEY] = asyncio.Event()
    app[METRICS_KEY] = MetricsCollector()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.on_shutdown.append(_on_shutdown)
    return app


async def start_control(
    engine: Any,
    host: str = "127.0.0.1",
    port: int = DEFAULT_CONTROL_PORT,
    token: str | None = None,
    profiles_dir: Any = None,
) -> tuple[web.AppRunner, tuple[str, int]]:
    """Serve the control API; returns the runner (call `await runner.cleanup()`) and the
    bound (host, port). Raises ControlSecurityError for a non-loopback host without a token,
    OSError if the address cannot be bound."""
    check_bind(host, token)
    app = build_app(engine, token=token, profiles_dir=profiles_dir)
    # Started as a child by EngineProcess: stop when that parent goes away.
    from shaper.engine_process import watch_parent

    watch = watch_parent(asyncio.get_running_loop())
    if watch is not None:
        app.on_cleanup.append(lambda _app: _cancel(watch))
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


async def _cancel(watch: Any) -> None:
    watch.cancel()
