"""The faults' part of the OpenAPI document (shaper/control/openapi.py merges it in)."""

from __future__ import annotations

from typing import Any

from shaper.control.openapi_parts import BAD as _BAD
from shaper.control.openapi_parts import TOO_LARGE as _TOO_LARGE
from shaper.control.openapi_parts import error as _error
from shaper.control.openapi_parts import json_content as _json
from shaper.control.openapi_parts import ref as _ref
from shaper.faults import FAULT_TYPES
from shaper.faults.spec import DIRECTION_FORMS, NAME_FORMS, TOXICITY_FORMS


def _settings_help() -> str:
    parts = []
    for kind in FAULT_TYPES.values():
        names = ", ".join(
            f"{s.name} ({s.forms}; default {s.format(s.default)})" for s in kind.settings
        )
        parts.append(f"{kind.type}: {names or 'no settings'}")
    return "Settings by type. " + "; ".join(parts)


_SETTING_NAMES = sorted({s.name for kind in FAULT_TYPES.values() for s in kind.settings})
_TOXICITY = {
    "description": TOXICITY_FORMS,
    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string"}],
}
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,64}$", "description": NAME_FORMS}

FAULT_SCHEMAS: dict[str, Any] = {
    "Fault": {
        "type": "object",
        "description": "A fault in force, and how many open connections it touches",
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": list(FAULT_TYPES)},
            "direction": {"type": "string", "enum": list(DIRECTION_FORMS)},
            "toxicity": {"type": "number", "minimum": 0, "maximum": 1},
            "route": {"type": ["string", "null"]},
            "settings": {
                "type": "object",
                "description": _settings_help(),
                "additionalProperties": {"type": "string"},
            },
            "connections": {"type": "integer", "minimum": 0},
        },
        "required": ["name", "type", "direction", "toxicity", "route", "settings", "connections"],
        "additionalProperties": False,
    },
    "FaultRequest": {
        "type": "object",
        "description": "A fault to add: its type, and any of the common keys and its "
        "settings (flat, or under `settings`). " + _settings_help(),
        "properties": {
            "type": {"type": "string", "enum": list(FAULT_TYPES)},
            "name": _NAME,
            "direction": {"type": "string", "enum": list(DIRECTION_FORMS)},
            "toxicity": _TOXICITY,
            "route": {"type": ["string", "null"], "description": "A route's name"},
            "settings": {"type": "object"},
            **{name: {"type": "string"} for name in _SETTING_NAMES},
        },
        "required": ["type"],
        "additionalProperties": False,
        "examples": [{"type": "reset_peer", "after": "2s", "toxicity": 0.2}],
    },
    "FaultPatch": {
        "type": "object",
        "description": "Keys of the fault to change (not its name or type)",
        "properties": {
            "direction": {"type": "string", "enum": list(DIRECTION_FORMS)},
            "toxicity": _TOXICITY,
            "route": {"type": ["string", "null"]},
            "settings": {"type": "object"},
            **{name: {"type": "string"} for name in _SETTING_NAMES},
        },
        "additionalProperties": False,
        "examples": [{"toxicity": 0.5}],
    },
}

_FAULT_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The fault's name",
    "schema": {"type": "string"},
}
_UNKNOWN = _error("No fault of that name is in force")

FAULT_PATHS: dict[str, dict[str, Any]] = {
    "/v1/faults": {
        "get": {
            "summary": "The faults in force",
            "responses": {
                "200": {
                    "description": "Faults",
                    "content": _json({"type": "array", "items": _ref("Fault")}),
                }
            },
        },
        "post": {
            "summary": "Add a fault; it acts on open connections where its type allows",
            "requestBody": {"required": True, "content": _json(_ref("FaultRequest"))},
            "responses": {
                "201": {"description": "Added", "content": _json(_ref("Fault"))},
                "400": _BAD,
                "409": _error("A fault of that name is in force"),
                "413": _TOO_LARGE,
            },
        },
    },
    "/v1/faults/{name}": {
        "get": {
            "summary": "One fault",
            "parameters": [_FAULT_NAME],
            "responses": {
                "200": {"description": "The fault", "content": _json(_ref("Fault"))},
                "404": _UNKNOWN,
            },
        },
        "patch": {
            "summary": "Change a fault: undone where it acted, applied again as it now reads",
            "parameters": [_FAULT_NAME],
            "requestBody": {"required": True, "content": _json(_ref("FaultPatch"))},
            "responses": {
                "200": {"description": "The changed fault", "content": _json(_ref("Fault"))},
                "400": _BAD,
                "404": _UNKNOWN,
                "413": _TOO_LARGE,
            },
        },
        "delete": {
            "summary": "Remove a fault: what it held flows again, in order",
            "parameters": [_FAULT_NAME],
            "responses": {"204": {"description": "Removed"}, "404": _UNKNOWN},
        },
    },
}
