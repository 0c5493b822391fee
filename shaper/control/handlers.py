"""The control API's handlers, one per route, and the route table.

A bad request never changes state: bodies are checked in full (limits with
`Limits.patched`, profiles with the schema) before anything is applied.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from shaper._version import __version__
from shaper.control import keys
from shaper.control.encoding import TextMemo, encoder, snapshot_json
from shaper.control.engine_view import ControlledEngine
from shaper.control.fault_handlers import FAULT_ROUTES
from shaper.control.http.request import Request
from shaper.control.http.response import Response, StreamResponse
from shaper.control.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shaper.control.openapi import openapi_document
from shaper.control.requests import (
    connection_id,
    interval,
    json_object,
    query,
    switch,
)
from shaper.control.responses import ApiError, json_response, json_text
from shaper.control.route_handlers import ROUTE_ROUTES
from shaper.faults import fault_to_dict
from shaper.model.addresses import format_address
from shaper.model.limits import LimitError
from shaper.model.units import SWITCH_FORMS, UnitError, parse_switch
from shaper.profiles import (
    ProfileError,
    list_profiles,
    load_profile,
    profile_from_dict,
    save_profile,
    user_profiles_dir,
)

CLOSE_MODES = ("close", "reset")
_LIMITS_EXAMPLE = '{"downstream": {"rate": "2Mbit"}}'


def _engine(request: Request) -> ControlledEngine:
    return request.app[keys.ENGINE]


def _limit_error(exc: LimitError) -> ApiError:
    return ApiError(400, str(exc), field=exc.field, value=exc.value, accepted=exc.accepted)


def _routes(engine: ControlledEngine) -> list[dict[str, Any]]:
    return [
        {
            "name": state.name,
            "listen": format_address(state.listen),
            "upstream": format_address(state.upstream),
            "description": state.description,
            "enabled": state.enabled,
        }
        for state in engine.route_states()
    ]


def _profile_state(engine: ControlledEngine) -> dict[str, Any]:
    return {
        "profile": engine.profile_name,
        "modified": engine.profile_changes(),
        "scenario": engine.scenario_status(),
        "limits": engine.limits.to_dict(),
    }


# -- engine -------------------------------------------------------------------------


async def get_status(request: Request) -> Response:
    query(request, ())
    engine = _engine(request)
    return json_response(
        {
            "version": __version__,
            "pid": os.getpid(),
            "routes": _routes(engine),
            "uptime": max(0.0, time.time() - engine.started_at),
            "started_at": engine.started_at,
            **_profile_state(engine),
            "connections_open": len(engine.connections),
            "seed": engine.seed,
            "faults": [fault_to_dict(spec) for spec in engine.fault_specs()],
        }
    )


async def get_stats(request: Request) -> Response:
    params = query(request, ("connections",))
    snapshot = _engine(request).snapshot(connections=switch(params, "connections"))
    return json_text(snapshot_json(snapshot, request.app[keys.SNAPSHOT_TEXT]))


async def get_stream(request: Request) -> StreamResponse:
    """Server-sent events: one `snapshot` event per interval, on absolute deadlines."""
    params = query(request, ("interval", "connections"))
    every = interval(params)
    with_connections = switch(params, "connections")
    engine = _engine(request)
    closing = request.app.closing
    response = StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    memo = TextMemo()
    try:
        while not closing.is_set():
            payload = snapshot_json(engine.snapshot(connections=with_connections), memo)
            await response.write(f"event: snapshot\ndata: {payload}\n\n".encode())
            deadline += every
            now = loop.time()
            if deadline < now:  # a slow reader: skip the missed ticks rather than burst
                deadline = now + every
            try:
                await asyncio.wait_for(closing.wait(), deadline - now)
            except TimeoutError:
                pass
    except (ConnectionResetError, ConnectionError):
        pass
    return response


# -- limits -------------------------------------------------------------------------


async def get_limits(request: Request) -> Response:
    query(request, ())
    return json_response(_engine(request).limits.to_dict())


async def patch_limits(request: Request) -> Response:
    query(request, ())
    changes = await json_object(request, _LIMITS_EXAMPLE)
    try:
        limits = _engine(request).patch_limits(changes)
    except LimitError as exc:
        raise _limit_error(exc) from None
    return json_response(limits.to_dict())


# -- connections ----------------------------------------------------------------------


async def get_connections(request: Request) -> Response:
    query(request, ())
    conns = _engine(request).snapshot(connections=True).connections or ()
    if not conns:
        return json_text("[]")
    encode = encoder(type(conns[0]))
    return json_text("[" + ",".join([encode(c) for c in conns]) + "]")


async def delete_connection(request: Request) -> Response:
    params = query(request, ("mode",))
    mode = params.get("mode", "close")
    if mode not in CLOSE_MODES:
        raise ApiError(400, f"mode: invalid value {mode!r}: expected close or reset", field="mode")
    engine = _engine(request)
    conn_id = connection_id(request, engine.connections)
    state = engine.connections[conn_id].state
    if state in ("closing", "closed"):
        raise ApiError(409, f"connection {conn_id} is already {state}", field="id")
    engine.close_connection(conn_id, mode=mode)
    return json_response({"id": conn_id, "mode": mode, "closed": True})


async def get_connection_limits(request: Request) -> Response:
    query(request, ())
    engine = _engine(request)
    conn_id = connection_id(request, engine.connections)
    return json_response(engine.connection_limits(conn_id).to_dict())


async def patch_connection_limits(request: Request) -> Response:
    query(request, ())
    engine = _engine(request)
    conn_id = connection_id(request, engine.connections)
    changes = await json_object(request, _LIMITS_EXAMPLE)
    if conn_id not in engine.connections:  # it closed while the body was read
        raise ApiError(404, f"no open connection with id {conn_id}", field="id")
    try:
        limits = engine.connection_limits(conn_id).patched(changes)
    except LimitError as exc:
        raise _limit_error(exc) from None
    engine.set_connection_limits(conn_id, limits)
    return json_response(limits.to_dict())


async def delete_connection_limits(request: Request) -> Response:
    query(request, ())
    engine = _engine(request)
    conn_id = connection_id(request, engine.connections)
    engine.set_connection_limits(conn_id, None)
    return json_response(engine.connection_limits(conn_id).to_dict())


# -- profiles -------------------------------------------------------------------------


def _profile_error(exc: ProfileError) -> ApiError:
    return ApiError(400, str(exc), field=exc.field or "profile")


async def get_profiles(request: Request) -> Response:
    query(request, ())
    infos = list_profiles(request.app[keys.PROFILES_DIR])
    return json_response(
        [
            {
                "name": i.name,
                "description": i.description,
                "origin": i.origin,
                **({"error": i.error} if i.error else {}),
            }
            for i in infos
        ]
    )


async def post_profiles(request: Request) -> Response:
    """Save the engine-wide limits as a profile in the engine's user profile directory,
    where the engine (and `shaper profiles`) find it by name at once."""
    query(request, ())
    body = await json_object(request, '{"name": "office-wifi", "description": "..."}')
    for key in body:
        if key not in ("name", "description", "force"):
            raise ApiError(
                400, f"{key}: unknown field; expected name, description, force", field=key
            )
    name = body.get("name")
    description = body.get("description", "")
    if not isinstance(name, str):
        raise ApiError(400, f"name: invalid value {name!r}: expected a profile name", field="name")
    if not isinstance(description, str):
        raise ApiError(400, "description: expected a string", field="description")
    raw_force = body.get("force", False)
    try:
        force = parse_switch(raw_force)
    except UnitError:
        raise ApiError(
            400,
            f"force: invalid value {raw_force!r}: expected {SWITCH_FORMS}",
            field="force",
            value=raw_force,
            accepted=SWITCH_FORMS,
        ) from None
    engine = _engine(request)
    try:
        path = save_profile(
            name,
            engine.limits,
            description=description,
            force=force,
            source="saved from the running engine",
        )
    except ProfileError as exc:
        # A conflict that force settles (an existing or hidden profile): 409, in API terms.
        conflict = "--force" in str(exc)
        message = str(exc).replace("--force", '"force": true')
        raise ApiError(409 if conflict else 400, message, field=exc.field or "name") from None
    return json_response(
        {"name": name, "path": str(path), "directory": str(user_profiles_dir())}, status=201
    )


async def get_profile(request: Request) -> Response:
    query(request, ())
    return json_response(_profile_state(_engine(request)))


async def post_profile(request: Request) -> Response:
    """Apply a shipped/saved profile by name, or an inline profile object."""
    query(request, ())
    body = await json_object(request, '{"name": "3g"} or {"profile": {...}}')
    for key in body:
        if key not in ("name", "profile"):
            raise ApiError(400, f"{key}: unknown field; expected 'name' or 'profile'", field=key)
    if ("name" in body) == ("profile" in body):
        raise ApiError(
            400,
            'body: give exactly one of "name" (a listed profile) or "profile" (an inline one)',
            field="body",
        )
    profiles_dir = request.app[keys.PROFILES_DIR]
    try:
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not name:
                raise ApiError(
                    400, f"name: invalid value {name!r}: expected a profile name", field="name"
                )
            # Only listed profiles: the API never opens a path the caller chose.
            listed = {i.name for i in list_profiles(profiles_dir)}
            if name not in listed:
                known = ", ".join(sorted(listed)) or "none"
                raise ApiError(404, f"name: no profile {name!r}; known: {known}", field="name")
            profile = load_profile(name, profiles_dir=profiles_dir)
        else:
            data = body["profile"]
            if not isinstance(data, dict):
                raise ApiError(
                    400,
                    f"profile: expected a JSON object, got {type(data).__name__}",
                    field="profile",
                )
            profile = profile_from_dict(data, source="<request>")
    except LimitError as exc:
        raise _limit_error(exc) from None
    except ProfileError as exc:
        raise _profile_error(exc) from None
    engine = _engine(request)
    engine.apply_profile(profile)
    return json_response(_profile_state(engine))


# -- other --------------------------------------------------------------------------


async def get_metrics(request: Request) -> Response:
    query(request, ())
    text = request.app[keys.METRICS].render(_engine(request), __version__)
    return Response(text.encode(), content_type=METRICS_CONTENT_TYPE)


async def get_openapi(request: Request) -> Response:
    query(request, ())
    return json_response(openapi_document(__version__))


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
    ("POST", "/v1/profiles", post_profiles),
    ("GET", "/v1/profile", get_profile),
    ("POST", "/v1/profile", post_profile),
    *FAULT_ROUTES,
    *ROUTE_ROUTES,
    ("GET", "/metrics", get_metrics),
    ("GET", "/v1/openapi.json", get_openapi),
]
