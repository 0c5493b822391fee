"""The pieces every part of the OpenAPI document is built of: references, JSON bodies,
exact response objects, the error answers and the one switch rule."""

from __future__ import annotations

from typing import Any

from shaper.model.units import SWITCH_FORMS

REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema)}


def error(description: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref("Error"))}


def exact(
    properties: dict[str, Any], optional: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """A response object: exactly these keys, all present but the `optional` ones."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        **extra,
    }


BAD = error("A bad value, body or query parameter; `field` names it")
TOO_LARGE = error("The body is larger than 1 MiB")

# One rule for every switch (the README's Limits section says the same): true or false, also
# written 1 or 0: a JSON boolean, the numbers 1 or 0, or exactly the text true/false/1/0.
# "yes", "on" or "True" are refused.
SWITCH_RULE = (
    f"A switch: {SWITCH_FORMS}. In JSON: true, false, 1, 0, or exactly the text "
    '"true", "false", "1" or "0"; anything else ("yes", "on", "True") is refused.'
)
SWITCH = {
    "description": SWITCH_RULE,
    "anyOf": [{"type": "boolean"}, {"enum": [0, 1, "true", "false", "1", "0"]}],
}
