"""The OpenAPI description of routes at run time (/v1/routes), merged into the document by
openapi.openapi_document."""

from __future__ import annotations

from typing import Any

from shaper.control.openapi_parts import (
    BAD,
    SWITCH,
    SWITCH_RULE,
    TOO_LARGE,
    error,
    exact,
    json_content,
    ok,
    ref,
)
from shaper.model.addresses import ADDRESS_FORMS
from shaper.model.routes import NAME_FORM, NAME_MAX

NAME_PATTERN = f"^[A-Za-z0-9._:-]{{1,{NAME_MAX}}}$"
_NAME = {"type": "string", "pattern": NAME_PATTERN, "description": NAME_FORM}
_UNKNOWN_ROUTE = error("No route has that name")
_ROUTE_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The route's name: " + NAME_FORM,
    "schema": {**_NAME, "examples": ["db"]},
}
_ADDRESS = {"type": "string", "description": ADDRESS_FORMS}
_OWN_LIMITS = (
    "The route's own limits, as changes on top of the engine-wide limits in force (when "
    "added) or of the route's limits in force (when changed); its connections then pass "
    "engine-wide changes by. With link = shared they share a pair of links of the route's own."
)

ROUTE_SCHEMAS: dict[str, Any] = {
    "Route": exact(
        {
            "name": _NAME,
            "listen": {
                "type": "string",
                "description": "The bound address (the real port "
                "when the route was added with port 0)",
            },
            "upstream": {"type": "string"},
            "enabled": {
                "type": "boolean",
                "description": "false: not listening, no connection open",
            },
            "limits": {
                "description": "The route's own limits; null: the engine-wide ones apply",
                "oneOf": [{"type": "null"}, ref("Limits")],
            },
            "connections_open": {"type": "integer", "minimum": 0},
        }
    ),
    "RouteNew": {
        "type": "object",
        "properties": {
            "name": {
                **_NAME,
                "description": "Default: main for the first route added "
                "without a name, then route2, route3, ... by place. " + NAME_FORM,
            },
            "listen": {
                **_ADDRESS,
                "description": "Where clients connect; port 0 picks a "
                "free port (the answer has it). " + ADDRESS_FORMS,
                "examples": ["127.0.0.1:0"],
            },
            "upstream": {**_ADDRESS, "examples": ["127.0.0.1:5432"]},
            "limits": {**ref("LimitsPatch"), "description": _OWN_LIMITS},
        },
        "required": ["listen", "upstream"],
        "additionalProperties": False,
        "examples": [{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"}],
    },
    "RoutePatch": {
        "type": "object",
        "properties": {
            "enabled": {
                **SWITCH,
                "description": "false: stop listening and close the route's connections; "
                "true: listen on the same address again. " + SWITCH_RULE,
            },
            "limits": {
                "description": _OWN_LIMITS + " null: follow the engine-wide limits again.",
                "oneOf": [{"type": "null"}, ref("LimitsPatch")],
            },
        },
        "additionalProperties": False,
        "examples": [{"enabled": False}, {"limits": {"downstream": {"rate": "1Mbit"}}}],
    },
}

ROUTE_PATHS: dict[str, dict[str, Any]] = {
    "/v1/routes": {
        "get": {
            "summary": "Every route, in the order added, disabled ones included",
            "responses": {"200": ok("Routes", {"type": "array", "items": ref("Route")})},
        },
        "post": {
            "summary": "Add a route and listen for it at once",
            "requestBody": {"required": True, "content": json_content(ref("RouteNew"))},
            "responses": {
                "201": ok("The route added, with its bound address", ref("Route")),
                "400": BAD,
                "409": error("A route has that name or address, or the address is in use"),
                "413": TOO_LARGE,
            },
        },
    },
    "/v1/routes/{name}": {
        "get": {
            "summary": "One route",
            "parameters": [_ROUTE_NAME],
            "responses": {"200": ok("The route", ref("Route")), "404": _UNKNOWN_ROUTE},
        },
        "patch": {
            "summary": "Disable or enable a route, or change its own limits",
            "parameters": [_ROUTE_NAME],
            "requestBody": {"required": True, "content": json_content(ref("RoutePatch"))},
            "responses": {
                "200": ok("The route now", ref("Route")),
                "400": BAD,
                "404": _UNKNOWN_ROUTE,
                "409": error("Enabled again, its address is taken now (it stays disabled)"),
                "413": TOO_LARGE,
            },
        },
        "delete": {
            "summary": "Remove a route: its listener and its connections are closed",
            "parameters": [_ROUTE_NAME],
            "responses": {"204": {"description": "Removed"}, "404": _UNKNOWN_ROUTE},
        },
    },
}
