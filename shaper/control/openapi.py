"""The OpenAPI 3.1 description of the control API, served at /v1/openapi.json.

Kept beside the handlers (shaper/control/handlers.py). The tests compare its paths and
methods with the application's routes and run schemathesis against a live engine: every
response the server sends must match it (response objects list their keys exactly), and
every request it calls invalid must be refused.
"""

from __future__ import annotations

import copy
from typing import Any

from shaper.control.openapi_faults import FAULT_PATHS, FAULT_SCHEMAS

# The shared pieces, under the names this module has always used for them.
from shaper.control.openapi_parts import BAD as _BAD
from shaper.control.openapi_parts import SWITCH as _SWITCH
from shaper.control.openapi_parts import SWITCH_RULE as _SWITCH_RULE
from shaper.control.openapi_parts import TOO_LARGE as _TOO_LARGE
from shaper.control.openapi_parts import error as _error
from shaper.control.openapi_parts import exact as _exact
from shaper.control.openapi_parts import json_content as _json_content
from shaper.control.openapi_parts import ok as _ok
from shaper.control.openapi_parts import ref as _ref
from shaper.control.openapi_routes import ROUTE_PATHS, ROUTE_SCHEMAS
from shaper.engine.connection import CLOSED, CLOSING, CONNECTING, OPEN
from shaper.model.chance import BURST_FORMS, LOSS_FORMS
from shaper.model.limits import (
    JITTER_DISTRIBUTIONS,
    LIMIT_KEYS,
    LINK_MODES,
    SOCKBUF_FORMS,
    TCP_MODES,
)
from shaper.model.snapshots import STATES
from shaper.model.units import DURATION_FORMS, RATE_FORMS, SIZE_FORMS, SWITCH_FORMS
from shaper.profiles.model import (
    NAME_FORM,
    NAME_RE,
    ORIGIN_DIR,
    ORIGIN_FILE,
    ORIGIN_INLINE,
    ORIGIN_LOCAL,
    ORIGIN_PRESET,
    ORIGIN_USER,
)
from shaper.shaping.window import PHASES

_UNKNOWN_CONNECTION = _error("No open connection with that id")
_CONN_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Connection id (integers increasing from 1)",
    "schema": {"type": "integer", "minimum": 1},
}
_QUERY_SWITCH = {
    "type": "string",
    "enum": ["true", "false", "1", "0"],
    "description": "A switch in a query: exactly true, false, 1 or 0",
}

_WITH_CONNECTIONS = {
    "name": "connections",
    "in": "query",
    "required": False,
    "description": "1 (or true) to add every open connection's snapshot",
    "schema": _QUERY_SWITCH,
}
_LIMITS_BODY = {
    "required": True,
    "content": _json_content(_ref("LimitsPatch")),
}

_NULLABLE_INT = {"type": ["integer", "null"]}

_DIRECTION_LIMITS: dict[str, Any] = {
    "type": "object",
    "description": "Limits of one direction, as unit strings",
    "properties": {
        "rate": {"type": "string", "description": RATE_FORMS, "examples": ["2Mbit", "off"]},
        "burst": {"type": "string", "description": SIZE_FORMS, "examples": ["0B", "16KiB"]},
        "latency": {"type": "string", "description": DURATION_FORMS, "examples": ["20ms"]},
        "jitter": {"type": "string", "description": DURATION_FORMS, "examples": ["5ms"]},
        "jitter_distribution": {"type": "string", "enum": list(JITTER_DISTRIBUTIONS)},
        "buffer": {"type": "string", "description": SIZE_FORMS, "examples": ["256KiB"]},
        "sockbuf": {
            "type": "string",
            "description": SOCKBUF_FORMS + " (not null)",
            "examples": ["default", "64KiB"],
        },
        "stall": {"type": "boolean", "description": "Release nothing: the queue fills"},
        "link": {"type": "string", "enum": list(LINK_MODES)},
        "tcp": {"type": "string", "enum": list(TCP_MODES)},
        "loss": {"type": "string", "description": LOSS_FORMS, "examples": ["0%", "1%"]},
        "loss_burst": {"type": "number", "minimum": 1, "description": BURST_FORMS},
        "trace_rate": {
            "type": "string",
            "description": "Reported when rate is trace:NAME: the trace's mean rate "
            "(read-only; accepted back only beside that rate)",
            "examples": ["4.2Mbit"],
        },
    },
    "required": list(LIMIT_KEYS),
    "additionalProperties": False,
}
assert set(_DIRECTION_LIMITS["properties"]) == {*LIMIT_KEYS, "trace_rate"}

_DIRECTION_PATCH = copy.deepcopy(_DIRECTION_LIMITS)
_DIRECTION_PATCH["description"] = (
    "Any subset of the limits of one direction, in the unit strings of the command line. "
    "A value of the right form can still be refused for its range (e.g. buffer above 1GiB): "
    "the 400 answer says which values are accepted."
)
del _DIRECTION_PATCH["required"]
for _schema in _DIRECTION_PATCH["properties"].values():
    if _schema.get("type") == "string" and "enum" not in _schema:
        _schema["type"] = ["string", "number"]
_DIRECTION_PATCH["properties"]["loss_burst"] = {
    "type": ["number", "string"],
    "description": BURST_FORMS,
    "examples": [1, 3],
}
_DIRECTION_PATCH["properties"]["stall"] = {
    **_SWITCH,
    "description": "Release nothing: the queue fills. " + SWITCH_FORMS,
}

_DIRECTION_STATS = _exact(
    {
        "direction": {"type": "string", "enum": ["upstream", "downstream"]},
        "state": {"type": "string", "enum": list(STATES)},
        "bytes_in": {"type": "integer", "description": "Bytes read from the source"},
        "bytes_out": {"type": "integer", "description": "Bytes written to the sink"},
        "rate_in": {"type": "number", "description": "Bytes per second, smoothed"},
        "rate_out": {"type": "number", "description": "Bytes per second, smoothed"},
        "queue": {"type": "integer", "description": "Bytes in the bounded queue"},
        "queue_capacity": {"type": "integer"},
        "wire": {"type": "integer", "description": "Bytes waiting out their latency"},
        "sink_buffer": {"type": "integer", "description": "Bytes in the sink's write buffer"},
        "source_kernel_rx": _NULLABLE_INT,
        "sink_kernel_tx": _NULLABLE_INT,
        "source_rcvbuf": _NULLABLE_INT,
        "sink_sndbuf": _NULLABLE_INT,
        "link": {
            "type": "string",
            "enum": ["shared", "own"],
            "description": "The engine's shared link, or a link of the connection's own",
        },
        "cwnd": {
            **_NULLABLE_INT,
            "description": "The emulated sender's congestion window, bytes (null: tcp = off)",
        },
        "in_flight": {
            **_NULLABLE_INT,
            "description": "Bytes on the path the emulated sender has not seen acknowledged",
        },
        "tcp_phase": {
            "type": ["string", "null"],
            "enum": [*PHASES, None],
            "description": "The emulated sender's phase",
        },
        "srtt_us": {
            "type": ["number", "null"],
            "description": "The emulated sender's smoothed round-trip time, microseconds",
        },
        "lost": {
            **_NULLABLE_INT,
            "description": "Packets of this direction the path lost (data, retransmissions, "
            "SYN or SYN-ACK); null: loss never set",
        },
        "lost_acks": {
            **_NULLABLE_INT,
            "description": "Acknowledgements of this direction's data lost on the way back",
        },
        "timeouts": {
            **_NULLABLE_INT,
            "description": "Retransmission timeouts of the emulated sender (handshake too)",
        },
        "retransmit_delay_us": {
            "type": ["number", "null"],
            "description": "Lateness the repairs added to the lost packets, summed, us",
        },
        "stalled_us": {
            "type": ["number", "null"],
            "description": "Time delivery stood still waiting for a retransmission, us",
        },
    }
)

_KERNEL_STATS = _exact(
    {name: _NULLABLE_INT for name in ("rx_queue", "tx_queue", "rcvbuf", "sndbuf", "rtt_us", "cwnd")}
)

_CONNECTION_STATS = _exact(
    {
        "id": {"type": "integer"},
        "route": {"type": "string", "examples": ["127.0.0.1:15432 -> 127.0.0.1:5432"]},
        "client": {"type": "string"},
        "server": {"type": "string"},
        "age": {"type": "number"},
        "state": {"type": "string", "enum": [CONNECTING, OPEN, CLOSING, CLOSED]},
        "upstream": _ref("DirectionStats"),
        "downstream": _ref("DirectionStats"),
        "client_kernel": _ref("KernelStats"),
        "server_kernel": _ref("KernelStats"),
        "limits_override": {"type": "boolean"},
        "faults": {"type": "array", "items": {"type": "string"}},
        "route_name": {
            "type": "string",
            "description": "The name of its route",
            "examples": ["main"],
        },
    }
)

_EVENT = _exact(
    {
        "time": {"type": "number"},
        "kind": {"type": "string"},
        "message": {"type": "string"},
        "connection": _NULLABLE_INT,
    }
)

_SCENARIO = {
    "description": "The running scenario's position; null when none runs",
    "oneOf": [
        {"type": "null"},
        _exact(
            {
                "phase": {"type": "string", "description": "The current phase's name"},
                "index": {"type": "integer", "minimum": 0},
                "phases": {"type": "integer", "minimum": 1},
                "next_in": {
                    "type": ["number", "null"],
                    "description": "Seconds to the next phase; null once a scenario that does "
                    "not repeat has run through",
                },
                "next": {"type": ["string", "null"], "description": "The next phase's name"},
                "repeat": {"type": "boolean"},
                "cycle": {"type": "integer", "minimum": 0},
                "done": {"type": "boolean"},
            }
        ),
    ],
}

_MODIFIED = {
    "type": "array",
    "items": {"type": "string", "examples": ["downstream.rate"]},
    "description": "Limits changed by hand since the profile set them (the profile is then "
    "shown as modified, e.g. 3g*); empty when none was",
}

_ENGINE_STATS = _exact(
    {
        "time": {"type": "number"},
        "uptime": {"type": "number"},
        "connections_open": {"type": "integer"},
        "connections_total": {"type": "integer"},
        "resets": {"type": "integer"},
        "errors": {"type": "integer"},
        "upstream": _ref("DirectionStats"),
        "downstream": _ref("DirectionStats"),
        "events": {"type": "array", "items": _ref("Event")},
        "connections": {
            "type": "array",
            "items": _ref("ConnectionStats"),
            "description": "Only with ?connections=1",
        },
        "scenario": _ref("Scenario"),
        "profile": {"type": ["string", "null"]},
        "limits": _ref("Limits"),
        "profile_changes": _MODIFIED,
        "bytes_upstream": {
            "type": "integer",
            "minimum": 0,
            "description": "Bytes delivered upstream (to the servers) since the engine "
            "started, closed connections included; `upstream.bytes_out` counts the open ones",
        },
        "bytes_downstream": {
            "type": "integer",
            "minimum": 0,
            "description": "Bytes delivered downstream (to the clients) since the engine "
            "started, closed connections included",
        },
    },
    optional=("connections",),
)

_FAULT_IN_STATUS = {
    k: v for k, v in FAULT_SCHEMAS["Fault"].items() if k not in ("properties", "required")
} | {
    "properties": {
        k: v for k, v in FAULT_SCHEMAS["Fault"]["properties"].items() if k != "connections"
    },
    "required": [r for r in FAULT_SCHEMAS["Fault"]["required"] if r != "connections"],
}

_STATUS = _exact(
    {
        "version": {"type": "string"},
        "pid": {"type": "integer"},
        "routes": {
            "type": "array",
            "items": _exact(
                {
                    "name": {"type": "string"},
                    "listen": {"type": "string"},
                    "upstream": {"type": "string"},
                    "description": {"type": "string"},
                    "enabled": {"type": "boolean"},
                }
            ),
        },
        "uptime": {"type": "number"},
        "started_at": {"type": "number"},
        "profile": {"type": ["string", "null"]},
        "modified": _MODIFIED,
        "scenario": _ref("Scenario"),
        "limits": _ref("Limits"),
        "connections_open": {"type": "integer"},
        "seed": {"type": "integer", "description": "The seed of every random draw"},
        "faults": {"type": "array", "items": _FAULT_IN_STATUS},
    }
)

_PROFILE_STATE = _exact(
    {
        "profile": {"type": ["string", "null"]},
        "modified": _MODIFIED,
        "scenario": _ref("Scenario"),
        "limits": _ref("Limits"),
    }
)

_PROFILE_NAME = {"type": "string", "pattern": NAME_RE.pattern, "description": NAME_FORM}

_PHASE = {
    "type": "object",
    "description": "One phase: its changes apply on top of the profile's base limits",
    "properties": {
        "name": {"type": "string"},
        "duration": {
            "type": ["string", "number"],
            "description": "More than 0 and at most 7 days: " + DURATION_FORMS,
            "examples": ["30s"],
        },
        "upstream": _ref("DirectionLimitsPatch"),
        "downstream": _ref("DirectionLimitsPatch"),
        "faults": {
            "type": "array",
            "description": "Faults in force while the phase holds",
            "items": _ref("FaultRequest"),
        },
        "offline": {
            **_SWITCH,
            "description": "A timeout fault named offline, both ways, while the phase holds. "
            + _SWITCH_RULE,
        },
    },
    "required": ["duration"],
    "additionalProperties": False,
}

_INLINE_PROFILE = {
    "type": "object",
    "description": "A profile in the table form of a profile file (see the README's Profiles)",
    "properties": {
        "name": _PROFILE_NAME,
        "description": {"type": "string"},
        "source": {"type": "string", "description": "Where the numbers come from"},
        "seed": {
            "type": "integer",
            "minimum": 0,
            "description": "The engine's seed while applied (loss, jitter, faults), unless "
            "the engine was started with one",
        },
        "upstream": _ref("DirectionLimitsPatch"),
        "downstream": _ref("DirectionLimitsPatch"),
        "scenario": {
            "type": "object",
            "properties": {
                "repeat": {
                    **_SWITCH,
                    "description": "Start again after the last phase. " + _SWITCH_RULE,
                },
                "phases": {"type": "array", "items": _PHASE, "minItems": 1},
            },
            "required": ["phases"],
            "additionalProperties": False,
        },
        "faults": {
            "type": "array",
            "description": "Faults put in force with the profile (the previous profile's go)",
            "items": _ref("FaultRequest"),
        },
    },
    "required": ["name"],
    "additionalProperties": False,
    "examples": [{"name": "mine", "downstream": {"rate": "4Mbit", "latency": "30ms"}}],
}

_SCHEMAS = {
    "Error": _exact(
        {
            "error": {"type": "string", "description": "What is wrong and what is accepted"},
            "field": {
                "type": ["string", "null"],
                "description": "The part of the request at fault, e.g. downstream.rate, body, "
                "interval, Content-Type",
            },
            "value": {"description": "The rejected value, when there is one"},
            "accepted": {"type": "string", "description": "The accepted forms"},
        },
        optional=("value", "accepted"),
    ),
    "Switch": _SWITCH,
    "DirectionLimits": _DIRECTION_LIMITS,
    "Limits": _exact(
        {
            "upstream": _ref("DirectionLimits"),
            "downstream": _ref("DirectionLimits"),
        }
    ),
    "DirectionLimitsPatch": _DIRECTION_PATCH,
    "LimitsPatch": {
        "type": "object",
        "description": "Partial limits; only the given keys change",
        "properties": {
            "upstream": _ref("DirectionLimitsPatch"),
            "downstream": _ref("DirectionLimitsPatch"),
        },
        "additionalProperties": False,
        "examples": [{"downstream": {"rate": "2Mbit", "latency": "40ms"}}],
    },
    "DirectionStats": _DIRECTION_STATS,
    "KernelStats": _KERNEL_STATS,
    "ConnectionStats": _CONNECTION_STATS,
    "Event": _EVENT,
    "EngineStats": _ENGINE_STATS,
    "Scenario": _SCENARIO,
    "Status": _STATUS,
    "ProfileState": _PROFILE_STATE,
    "InlineProfile": _INLINE_PROFILE,
    "ProfileInfo": _exact(
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "origin": {
                "type": "string",
                "enum": [
                    ORIGIN_DIR,
                    ORIGIN_LOCAL,
                    ORIGIN_USER,
                    ORIGIN_PRESET,
                    ORIGIN_FILE,
                    ORIGIN_INLINE,
                ],
                "description": "Where the name resolves: profiles-dir, local (./profiles), "
                "user (the user's directory) or preset (shipped)",
            },
            "error": {"type": "string", "description": "Only for a file that does not load"},
        },
        optional=("error",),
    ),
    **FAULT_SCHEMAS,
}

_PATHS: dict[str, dict[str, Any]] = {
    "/v1/status": {
        "get": {
            "summary": "Version, routes, uptime, current limits and profile",
            "responses": {"200": _ok("Engine status", _ref("Status"))},
        }
    },
    "/v1/stats": {
        "get": {
            "summary": "One snapshot: totals and each direction's stages",
            "parameters": [_WITH_CONNECTIONS],
            "responses": {"200": _ok("Snapshot", _ref("EngineStats")), "400": _BAD},
        }
    },
    "/v1/stream": {
        "get": {
            "summary": "Snapshots pushed as server-sent events (event: snapshot)",
            "description": "A stream of server-sent events that ends only when the engine "
            "stops or the client goes away. Every event is the same three lines:\n\n"
            "    event: snapshot\n    data: <one EngineStats object as JSON, on one line>\n"
            "    <an empty line>\n\n"
            "The first comes at once, the next ones every `interval` seconds on absolute "
            "deadlines; a slow reader skips ticks instead of receiving a burst. The response "
            "schema of text/event-stream is the raw text; the data of each event is described "
            "by the media type's `x-event-data` (a reference to EngineStats), its event name by "
            "`x-event-name`.",
            "parameters": [
                {
                    "name": "interval",
                    "in": "query",
                    "required": False,
                    "description": "Seconds between snapshots, 0.05 to 60 (default 0.5)",
                    "schema": {"type": "number", "minimum": 0.05, "maximum": 60},
                },
                _WITH_CONNECTIONS,
            ],
            "responses": {
                "200": {
                    "description": "An event stream: `event: snapshot` and `data:` one "
                    "EngineStats JSON object, per event",
                    "content": {
                        "text/event-stream": {
                            "schema": {
                                "type": "string",
                                "description": "Events separated by an empty line, each "
                                "'event: snapshot' then 'data: ' and one EngineStats as JSON",
                            },
                            "x-event-name": "snapshot",
                            "x-event-data": _ref("EngineStats"),
                        }
                    },
                },
                "400": _BAD,
            },
        }
    },
    "/v1/limits": {
        "get": {
            "summary": "The engine-wide limits",
            "responses": {"200": _ok("Limits", _ref("Limits"))},
        },
        "patch": {
            "summary": "Change some limits of either or both directions, live",
            "requestBody": _LIMITS_BODY,
            "responses": {
                "200": _ok("The new full limits", _ref("Limits")),
                "400": _BAD,
                "413": _TOO_LARGE,
            },
        },
    },
    "/v1/connections": {
        "get": {
            "summary": "Snapshots of the open connections",
            "responses": {
                "200": _ok("Connections", {"type": "array", "items": _ref("ConnectionStats")})
            },
        }
    },
    "/v1/connections/{id}": {
        "delete": {
            "summary": "Close a connection (FIN both ways) or reset it (RST)",
            "parameters": [
                _CONN_ID,
                {
                    "name": "mode",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["close", "reset"], "default": "close"},
                },
            ],
            "responses": {
                "200": _ok(
                    "Closed",
                    _exact(
                        {
                            "id": {"type": "integer"},
                            "mode": {"type": "string", "enum": ["close", "reset"]},
                            "closed": {"type": "boolean"},
                        }
                    ),
                ),
                "400": _BAD,
                "404": _UNKNOWN_CONNECTION,
                "409": _error("The connection is already closing"),
            },
        }
    },
    "/v1/connections/{id}/limits": {
        "get": {
            "summary": "The limits in effect for one connection",
            "parameters": [_CONN_ID],
            "responses": {
                "200": _ok("Limits", _ref("Limits")),
                "404": _UNKNOWN_CONNECTION,
            },
        },
        "patch": {
            "summary": "Override some limits for one connection (engine-wide changes then "
            "no longer apply to it)",
            "parameters": [_CONN_ID],
            "requestBody": _LIMITS_BODY,
            "responses": {
                "200": _ok("The connection's new full limits", _ref("Limits")),
                "400": _BAD,
                "404": _UNKNOWN_CONNECTION,
                "413": _TOO_LARGE,
            },
        },
        "delete": {
            "summary": "Remove the override: the connection follows the engine-wide limits",
            "parameters": [_CONN_ID],
            "responses": {
                "200": _ok("The limits now in effect", _ref("Limits")),
                "404": _UNKNOWN_CONNECTION,
            },
        },
    },
    "/v1/profiles": {
        "get": {
            "summary": "Profiles that can be applied by name (shipped and saved)",
            "responses": {"200": _ok("Profiles", {"type": "array", "items": _ref("ProfileInfo")})},
        },
        "post": {
            "summary": "Save the engine-wide limits as a profile in the engine's user profile "
            "directory (then listed and applicable by name)",
            "requestBody": {
                "required": True,
                "content": _json_content(
                    {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": _PROFILE_NAME,
                            "description": {"type": "string"},
                            "force": {
                                **_SWITCH,
                                "description": "Overwrite a saved profile of that name, or "
                                "hide a preset or another profile of that name. " + _SWITCH_RULE,
                            },
                        },
                        "additionalProperties": False,
                        "examples": [{"name": "office-wifi", "description": "desk 4"}],
                    }
                ),
            },
            "responses": {
                "201": _ok(
                    "Saved",
                    _exact(
                        {
                            "name": {"type": "string"},
                            "path": {"type": "string"},
                            "directory": {"type": "string"},
                        }
                    ),
                ),
                "400": _BAD,
                "409": _error("A profile of that name exists, or would be hidden: use force"),
                "413": _TOO_LARGE,
            },
        },
    },
    "/v1/profile": {
        "get": {
            "summary": "The applied profile, its scenario phase and the limits",
            "responses": {"200": _ok("Profile state", _ref("ProfileState"))},
        },
        "post": {
            "summary": "Apply a listed profile by name, or an inline profile",
            "description": "The body has exactly one of `name` (a profile GET /v1/profiles "
            "lists) or `profile` (an inline one); an empty object, or both, is refused.",
            "requestBody": {
                "required": True,
                "content": _json_content(
                    {
                        "type": "object",
                        "properties": {
                            "name": {
                                "type": "string",
                                "minLength": 1,
                                "description": "A name GET /v1/profiles lists (never a path)",
                            },
                            "profile": _ref("InlineProfile"),
                        },
                        "oneOf": [{"required": ["name"]}, {"required": ["profile"]}],
                        "additionalProperties": False,
                        "examples": [{"name": "3g"}],
                    }
                ),
            },
            "responses": {
                "200": _ok("Profile state", _ref("ProfileState")),
                "400": _BAD,
                "404": _error("No listed profile has that name"),
                "413": _TOO_LARGE,
            },
        },
    },
    **FAULT_PATHS,
    "/metrics": {
        "get": {
            "summary": "Prometheus text exposition (format 0.0.4)",
            "responses": {
                "200": {
                    "description": "Metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": _ok("OpenAPI document", {"type": "object"})},
        }
    },
}

_COMMON_RESPONSES = {
    "401": _error("Missing or wrong bearer token (only when the engine has a control token)"),
}


def openapi_document(version: str = "0") -> dict[str, Any]:
    """A fresh copy of the document."""
    paths = copy.deepcopy({**_PATHS, **ROUTE_PATHS})
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"].update(copy.deepcopy(_COMMON_RESPONSES))
            # Every operation rejects unknown query parameters with a 400.
            operation["responses"].setdefault("400", copy.deepcopy(_BAD))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shaper control API",
            "version": version,
            "description": "Drive a running shaper engine: limits, connections, routes, "
            "profiles, snapshots. Loopback only unless the engine has a token; then send "
            '\'Authorization: Bearer TOKEN\'. Errors are {"error", "field"} JSON (with the '
            '"value" and the "accepted" forms for a bad value). ' + _SWITCH_RULE,
        },
        "components": {
            "schemas": copy.deepcopy({**_SCHEMAS, **ROUTE_SCHEMAS}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": paths,
    }
