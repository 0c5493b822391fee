"""The control API's handlers of routes at run time: list, add, show, change (enabled,
limits) and remove. Every body is checked in full before anything changes."""

from __future__ import annotations

from typing import Any

from shaper.control import keys
from shaper.control.engine_view import ControlledEngine
from shaper.control.http.request import Request
from shaper.control.http.response import Response
from shaper.control.requests import json_object, query
from shaper.control.responses import ApiError, json_response
from shaper.model.addresses import ADDRESS_FORMS, AddressError, parse_address
from shaper.model.limits import LimitError, Limits
from shaper.model.routes import (
    Route,
    RouteConflict,
    RouteError,
    UnknownRoute,
    check_route_name,
)
from shaper.model.units import SWITCH_FORMS, UnitError, parse_switch

_POST_FIELDS = ("name", "listen", "upstream", "limits")
_PATCH_FIELDS = ("enabled", "limits")
_POST_EXAMPLE = '{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"}'
_PATCH_EXAMPLE = '{"enabled": false}'


def _engine(request: Request) -> ControlledEngine:
    return request.app[keys.ENGINE]


def _route_error(exc: RouteError) -> ApiError:
    return ApiError(400, str(exc), field=exc.field, value=exc.value, accepted=exc.accepted)


def _known_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(
                400,
                f"{key}: unknown field; expected {', '.join(allowed)}",
                field=key,
                value=key,
                accepted=", ".join(allowed),
            )


def _name_in_path(request: Request) -> str:
    raw = request.match_info["name"]
    try:
        return check_route_name(raw)
    except RouteError as exc:
        raise _route_error(exc) from None


def _address(body: dict[str, Any], field: str, default_host: str | None) -> tuple[str, int]:
    if field not in body:
        raise ApiError(
            400,
            f"{field}: missing; expected {ADDRESS_FORMS}",
            field=field,
            accepted=ADDRESS_FORMS,
        )
    value = body[field]
    try:
        address = parse_address(value, default_host, f"{field} address")
    except AddressError as exc:
        raise ApiError(
            400, f"{field}: {exc}", field=field, value=value, accepted=ADDRESS_FORMS
        ) from None
    if field == "upstream" and address[1] == 0:
        raise ApiError(
            400,
            f"upstream: invalid value {value!r}: port 0 cannot be dialed; expected a "
            "port from 1 to 65535",
            field=field,
            value=value,
            accepted=ADDRESS_FORMS,
        )
    return address


def _limits(changes: Any, base: Limits) -> Limits:
    try:
        return base.patched(changes, where="limits")
    except LimitError as exc:
        raise ApiError(
            400, str(exc), field=exc.field, value=exc.value, accepted=exc.accepted
        ) from None


def _state(engine: ControlledEngine, name: str) -> dict[str, Any]:
    try:
        return engine.route_state(name).to_dict()
    except UnknownRoute as exc:
        raise ApiError(404, str(exc), field="name") from None


async def get_routes(request: Request) -> Response:
    query(request, ())
    return json_response([state.to_dict() for state in _engine(request).route_states()])


async def post_routes(request: Request) -> Response:
    query(request, ())
    body = await json_object(request, _POST_EXAMPLE)
    _known_fields(body, _POST_FIELDS)
    engine = _engine(request)
    try:
        name = check_route_name(body["name"]) if "name" in body else engine.new_route_name()
    except RouteError as exc:
        raise _route_error(exc) from None
    listen = _address(body, "listen", "127.0.0.1")
    upstream = _address(body, "upstream", None)
    # A route's own limits start from the engine-wide ones in force now.
    limits = _limits(body["limits"], engine.limits) if "limits" in body else None
    try:
        await engine.add_route(Route(listen, upstream, name), limits)
    except RouteConflict as exc:
        raise ApiError(409, str(exc), field=exc.field) from None
    except RouteError as exc:
        raise _route_error(exc) from None
    return json_response(_state(engine, name), status=201)


async def get_route(request: Request) -> Response:
    query(request, ())
    return json_response(_state(_engine(request), _name_in_path(request)))


async def patch_route(request: Request) -> Response:
    """`enabled` (a switch) and `limits` (changes on top of the route's limits in force, or
    null: follow the engine-wide ones again)."""
    query(request, ())
    engine = _engine(request)
    name = _name_in_path(request)
    _state(engine, name)  # 404 before the body is read
    body = await json_object(request, _PATCH_EXAMPLE)
    _known_fields(body, _PATCH_FIELDS)
    enabled = None
    if "enabled" in body:
        try:
            enabled = parse_switch(body["enabled"])
        except UnitError:
            raise ApiError(
                400,
                f"enabled: invalid value {body['enabled']!r}: expected {SWITCH_FORMS}",
                field="enabled",
                value=body["enabled"],
                accepted=SWITCH_FORMS,
            ) from None
    limits: Limits | None = None
    if body.get("limits") is not None:
        try:
            limits = _limits(body["limits"], engine.route_limits(name))
        except UnknownRoute as exc:  # removed while the body was read
            raise ApiError(404, str(exc), field="name") from None
    try:
        # Enabling is the one change that can fail (the address taken): first, so that a
        # refused request changes nothing.
        if enabled is not None:
            await engine.set_route_enabled(name, enabled)
        if "limits" in body:
            engine.set_route_limits(name, limits)
    except UnknownRoute as exc:
        raise ApiError(404, str(exc), field="name") from None
    except RouteConflict as exc:
        raise ApiError(409, str(exc), field=exc.field) from None
    return json_response(_state(engine, name))


async def delete_route(request: Request) -> Response:
    query(request, ())
    engine = _engine(request)
    try:
        await engine.remove_route(_name_in_path(request))
    except UnknownRoute as exc:
        raise ApiError(404, str(exc), field="name") from None
    return Response(status=204)


ROUTE_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/routes", get_routes),
    ("POST", "/v1/routes", post_routes),
    ("GET", "/v1/routes/{name}", get_route),
    ("PATCH", "/v1/routes/{name}", patch_route),
    ("DELETE", "/v1/routes/{name}", delete_route),
]
