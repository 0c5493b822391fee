"""The control API's faults: GET/POST /v1/faults, GET/PATCH/DELETE /v1/faults/{name}.

Bodies are read in full and checked (shaper.faults) before the engine is touched; adding
or removing a fault runs on the engine's loop without waiting on any socket, so these
calls answer at once whatever the traffic.
"""

from __future__ import annotations

from typing import Any

from shaper.control import keys
from shaper.control.engine_view import ControlledEngine
from shaper.control.http.request import Request
from shaper.control.http.response import Response
from shaper.control.requests import json_object, query
from shaper.control.responses import ApiError, json_response
from shaper.faults import FaultError, FaultSpec, fault_from_dict, fault_to_dict, patch_fault

_EXAMPLE = '{"type": "reset_peer", "after": "2s", "toxicity": 0.2}'


def _engine(request: Request) -> ControlledEngine:
    return request.app[keys.ENGINE]


def _fault_error(exc: FaultError) -> ApiError:
    return ApiError(400, str(exc), field=exc.field, value=exc.value, accepted=exc.accepted)


def fault_json(engine: ControlledEngine, spec: FaultSpec) -> dict[str, Any]:
    touched = sum(1 for conn in engine.connections.values() if spec.name in conn.faults)
    return {**fault_to_dict(spec), "connections": touched}


def _check_route(engine: ControlledEngine, spec: FaultSpec) -> None:
    names = [route.name for route in engine.routes if route.name]
    if spec.route is not None and spec.route not in names:
        known = ", ".join(names) or "none"
        raise ApiError(
            400,
            f"route: no route named {spec.route!r}; routes: {known}",
            field="route",
            value=spec.route,
            accepted=known,
        )


def _named(request: Request) -> FaultSpec:
    name = request.match_info["name"]
    for spec in _engine(request).fault_specs():
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in _engine(request).fault_specs()) or "none"
    raise ApiError(404, f"name: no fault named {name!r}; faults in force: {known}", field="name")


async def get_faults(request: Request) -> Response:
    query(request, ())
    engine = _engine(request)
    return json_response([fault_json(engine, spec) for spec in engine.fault_specs()])


async def post_faults(request: Request) -> Response:
    query(request, ())
    body = await json_object(request, _EXAMPLE)
    engine = _engine(request)
    try:
        spec = fault_from_dict(body)
    except FaultError as exc:
        raise _fault_error(exc) from None
    _check_route(engine, spec)
    if any(s.name == spec.name for s in engine.fault_specs()):
        raise ApiError(
            409,
            f'name: a fault named {spec.name!r} is in force; give another "name" '
            "or change it with PATCH",
            field="name",
        )
    engine.add_fault(spec)
    return json_response(fault_json(engine, spec), status=201)


async def get_fault(request: Request) -> Response:
    query(request, ())
    return json_response(fault_json(_engine(request), _named(request)))


async def patch_fault_handler(request: Request) -> Response:
    query(request, ())
    spec = _named(request)
    body = await json_object(request, '{"toxicity": 0.5}')
    try:
        changed = patch_fault(spec, body)
    except FaultError as exc:
        raise _fault_error(exc) from None
    engine = _engine(request)
    _check_route(engine, changed)
    try:
        engine.replace_fault(changed)
    except KeyError:  # removed while the body was read
        raise ApiError(404, f"name: no fault named {spec.name!r}", field="name") from None
    return json_response(fault_json(engine, changed))


async def delete_fault(request: Request) -> Response:
    query(request, ())
    spec = _named(request)
    try:
        _engine(request).remove_fault(spec.name)
    except KeyError:
        raise ApiError(404, f"name: no fault named {spec.name!r}", field="name") from None
    return Response(status=204)


FAULT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/faults", get_faults),
    ("POST", "/v1/faults", post_faults),
    ("GET", "/v1/faults/{name}", get_fault),
    ("PATCH", "/v1/faults/{name}", patch_fault_handler),
    ("DELETE", "/v1/faults/{name}", delete_fault),
]
