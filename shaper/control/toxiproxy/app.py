"""Toxiproxy's HTTP API (the paths, methods and status codes of its api.go) over a
ProxyCollection. Bodies are read as JSON whatever their Content-Type, or without one, as
Toxiproxy's Go decoder does; every error is {"error": message, "status": N}."""

from __future__ import annotations

from typing import Any

from shaper.control.http.app import App
from shaper.control.http.errors import HttpError
from shaper.control.http.request import Request
from shaper.control.http.response import Response, StreamResponse, text_response
from shaper.control.http.router import Handler
from shaper.control.http.serving import Runner, serve
from shaper.control.http.state import AppKey
from shaper.control.responses import JSON_TYPE, dumps
from shaper.control.security import check_bind, token_problem
from shaper.control.toxiproxy.collection import ProxyCollection, ToxiproxyEngine
from shaper.control.toxiproxy.metrics import render_metrics
from shaper.control.toxiproxy.shapes import (
    API_VERSION,
    ToxiproxyError,
    decode,
    parse_populate,
    parse_proxy,
)

DEFAULT_TOXIPROXY_PORT = 8474
MAX_BODY = 1024**2
COLLECTION = AppKey[ProxyCollection]("toxiproxy_collection")
TOKEN = AppKey[str]("toxiproxy_token")  # "" = none asked for


def _json(data: Any, status: int = 200) -> Response:
    return Response(dumps(data).encode(), status, JSON_TYPE)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps({"error": message, "status": status}).encode(), status, JSON_TYPE, headers
    )


async def _errors(request: Request, handler: Handler) -> Response | StreamResponse:
    # Toxiproxy turns browsers away: a page open in one must not be able to drive the
    # API on loopback with a form post.
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return _error(403, "User agent not allowed")
    token = request.app[TOKEN]
    if token:
        problem = token_problem(request.headers.get("Authorization", ""), token)
        if problem is not None:
            return _error(401, problem, {"WWW-Authenticate": "Bearer"})
    try:
        return await handler(request)
    except ToxiproxyError as exc:
        return _error(exc.status, exc.message)
    except HttpError as exc:
        if exc.status == 405:
            return _error(
                405,
                f"method {request.method} not allowed on {request.path}; "
                f"allowed: {', '.join(exc.allowed)}",
                {"Allow": ", ".join(exc.allowed)},
            )
        if exc.status == 404:
            return _error(404, f"no such path {request.path}")
        if exc.status == 413:
            return _error(413, f"body: larger than {MAX_BODY} bytes")
        return _error(exc.status, exc.message)


def _render_error(status: int, message: str, headers: dict[str, str]) -> Response:
    return _error(status, message, headers)


def _collection(request: Request) -> ProxyCollection:
    return request.app[COLLECTION]


async def _body(request: Request) -> Any:
    return decode(await request.read())


def _proxy(request: Request) -> str:
    return request.match_info["proxy"]


async def version(request: Request) -> Response:
    return text_response(f'{{"version": "{API_VERSION}"}}\n', content_type="application/json")


async def proxy_index(request: Request) -> Response:
    return _json(_collection(request).index())


async def proxy_create(request: Request) -> Response:
    spec = parse_proxy(await _body(request))
    return _json(await _collection(request).create(spec), status=201)


async def populate(request: Request) -> Response:
    """201 with the proxies; on an error, its status with the error and the proxies made
    before it (null for none, as Toxiproxy answers)."""
    try:
        specs = parse_populate(await _body(request))
        proxies, problem = await _collection(request).populate(specs)
    except ToxiproxyError as exc:
        proxies, problem = [], exc
    if problem is not None:
        return _json({**problem.to_dict(), "proxies": proxies or None}, status=problem.status)
    return _json({"proxies": proxies}, status=201)


async def proxy_show(request: Request) -> Response:
    return _json(_collection(request).show(_proxy(request)))


async def proxy_update(request: Request) -> Response:
    collection = _collection(request)
    collection.route_of(_proxy(request))  # 404 before the body is read
    return _json(await collection.update(_proxy(request), await _body(request)))


async def proxy_delete(request: Request) -> Response:
    await _collection(request).delete(_proxy(request))
    return Response(status=204)


async def toxic_index(request: Request) -> Response:
    return _json(_collection(request).toxics(_proxy(request)))


async def toxic_create(request: Request) -> Response:
    collection = _collection(request)
    collection.route_of(_proxy(request))
    # 200, not 201: what Toxiproxy answers, and what its clients check.
    return _json(await collection.add_toxic(_proxy(request), await _body(request)))


async def toxic_show(request: Request) -> Response:
    return _json(_collection(request).toxic(_proxy(request), request.match_info["toxic"]))


async def toxic_update(request: Request) -> Response:
    collection = _collection(request)
    name, toxic = _proxy(request), request.match_info["toxic"]
    collection.toxic(name, toxic)
    return _json(await collection.update_toxic(name, toxic, await _body(request)))


async def toxic_delete(request: Request) -> Response:
    await _collection(request).remove_toxic(_proxy(request), request.match_info["toxic"])
    return Response(status=204)


async def reset(request: Request) -> Response:
    await _collection(request).reset()
    return Response(status=204)


async def metrics(request: Request) -> Response:
    collection = _collection(request)
    return text_response(render_metrics(collection), headers={"X-Content-Type-Options": "nosniff"})


TOXIPROXY_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/reset", reset),
    ("GET", "/proxies", proxy_index),
    ("POST", "/proxies", proxy_create),
    ("POST", "/populate", populate),
    ("GET", "/proxies/{proxy}", proxy_show),
    ("POST", "/proxies/{proxy}", proxy_update),
    ("PATCH", "/proxies/{proxy}", proxy_update),
    ("DELETE", "/proxies/{proxy}", proxy_delete),
    ("GET", "/proxies/{proxy}/toxics", toxic_index),
    ("POST", "/proxies/{proxy}/toxics", toxic_create),
    ("GET", "/proxies/{proxy}/toxics/{toxic}", toxic_show),
    ("POST", "/proxies/{proxy}/toxics/{toxic}", toxic_update),
    ("PATCH", "/proxies/{proxy}/toxics/{toxic}", toxic_update),
    ("DELETE", "/proxies/{proxy}/toxics/{toxic}", toxic_delete),
    ("GET", "/version", version),
    ("GET", "/metrics", metrics),
]


def build_app(collection: ProxyCollection, token: str | None = None) -> App:
    app = App(_render_error, middleware=_errors, max_body=MAX_BODY)
    app[COLLECTION] = collection
    app[TOKEN] = token or ""
    for method, path, handler in TOXIPROXY_ROUTES:
        app.router.add_route(method, path, handler)
    return app


async def start_toxiproxy(
    engine: ToxiproxyEngine,
    host: str = "127.0.0.1",
    port: int = DEFAULT_TOXIPROXY_PORT,
    token: str | None = None,
) -> tuple[Runner, ProxyCollection, tuple[str, int]]:
    """Serve Toxiproxy's API for `engine`: the runner (`await runner.cleanup()`), the
    collection of proxies and the bound address. ControlSecurityError off loopback
    without a token; OSError if the address cannot be bound."""
    check_bind(host, token)
    collection = ProxyCollection(engine)
    try:
        runner = await serve(build_app(collection, token), host, port)
    except BaseException:
        collection.close()
        raise
    return runner, collection, runner.address
