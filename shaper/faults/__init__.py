"""Faults: what can go wrong on a connection besides being slow, one file per kind.

A new fault is a module with a Fault subclass and one line in FAULT_TYPES. Everything
else (the CLI's --fault, the API, profiles, help and errors) reads the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shaper.faults.base import Fault, FaultTarget, Setting, Undo
from shaper.faults.connect_delay import ConnectDelay
from shaper.faults.limit_data import LimitData
from shaper.faults.refuse import Refuse
from shaper.faults.reset_peer import ResetPeer
from shaper.faults.slicer import Slicer
from shaper.faults.slow_close import SlowClose
from shaper.faults.spec import (
    DIRECTION_FORMS,
    FaultError,
    FaultSpec,
    parse_direction,
    parse_name,
    parse_toxicity,
)
from shaper.faults.timeout import Timeout

FAULT_TYPES: dict[str, type[Fault]] = {
    kind.type: kind
    for kind in (Timeout, ResetPeer, LimitData, Slicer, SlowClose, Refuse, ConnectDelay)
}
TYPE_FORMS = ", ".join(FAULT_TYPES)
COMMON_KEYS = ("name", "type", "direction", "toxicity", "route")

__all__ = [
    "DIRECTION_FORMS",
    "FAULT_TYPES",
    "Fault",
    "FaultError",
    "FaultSpec",
    "FaultTarget",
    "Setting",
    "Undo",
    "fault_from_dict",
    "fault_to_dict",
    "make_fault",
    "parse_fault_flag",
    "patch_fault",
]


def fault_kind(type_: object) -> type[Fault]:
    kind = FAULT_TYPES.get(type_) if isinstance(type_, str) else None
    if kind is None:
        raise FaultError("type", type_, TYPE_FORMS)
    return kind


def fault_from_dict(data: Mapping[str, Any], default_name: str | None = None) -> FaultSpec:
    """A fault from its JSON/TOML form: {"type": "timeout", "direction": "both",
    "toxicity": 0.5, "route": "db", "after": "2s", ...}. Settings may also sit under
    "settings". Unknown keys are refused by name."""
    if not isinstance(data, Mapping):
        raise FaultError("fault", data, 'an object such as {"type": "timeout"}')
    kind = fault_kind(data.get("type"))
    flat = dict(data)
    nested = flat.pop("settings", None)
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise FaultError("settings", nested, "an object of the type's settings")
        flat.update(nested)
    known = {s.name: s for s in kind.settings}
    for key in flat:
        if key not in COMMON_KEYS and key not in known:
            accepted = ", ".join([*COMMON_KEYS, *known])
            raise FaultError(
                key,
                flat[key],
                f"one of the keys {accepted}",
                f"{key}: not a setting of {kind.type} (accepted: {accepted})",
            )
    name = flat.get("name", default_name or kind.type)
    route = flat.get("route")
    if route is not None and (not isinstance(route, str) or not route):
        raise FaultError("route", route, "a route's name (see GET /v1/routes)")
    settings: dict[str, int | str] = {}
    for setting in kind.settings:
        raw = flat.get(setting.name)
        settings[setting.name] = setting.default if raw is None else setting.parse(raw)
    check = getattr(kind, "check", None)
    if check is not None:
        check(settings)
    return FaultSpec(
        name=parse_name(name),
        type=kind.type,
        direction=parse_direction(flat.get("direction", kind.default_direction), kind.directions),
        toxicity=parse_toxicity(flat.get("toxicity", 1.0)),
        route=route,
        settings=settings,
    )


def fault_to_dict(spec: FaultSpec) -> dict[str, Any]:
    """The form fault_from_dict reads back, with settings written with their units."""
    kind = fault_kind(spec.type)
    return {
        "name": spec.name,
        "type": spec.type,
        "direction": spec.direction,
        "toxicity": spec.toxicity,
        "route": spec.route,
        "settings": kind.describe_settings(dict(spec.settings)),
    }


def patch_fault(spec: FaultSpec, changes: Mapping[str, Any]) -> FaultSpec:
    """The fault with `changes` merged in (any key fault_from_dict reads but the type)."""
    if not isinstance(changes, Mapping):
        raise FaultError("fault", changes, "an object of the keys to change")
    if "type" in changes and changes["type"] != spec.type:
        raise FaultError("type", changes["type"], f"{spec.type} (a fault's type cannot change)")
    if "name" in changes and changes["name"] != spec.name:
        raise FaultError("name", changes["name"], f"{spec.name} (a fault's name cannot change)")
    merged = fault_to_dict(spec)
    settings = dict(merged.pop("settings"))
    nested = changes.get("settings")
    for key, value in changes.items():
        if key == "settings":
            continue
        if key in COMMON_KEYS:
            merged[key] = value
        else:
            settings[key] = value
    if isinstance(nested, Mapping):
        settings.update(nested)
    elif nested is not None:
        raise FaultError("settings", nested, "an object of the type's settings")
    merged["settings"] = settings
    return fault_from_dict(merged)


def parse_fault_flag(text: str) -> FaultSpec:
    """--fault TYPE[:key=value,...], e.g. reset_peer:after=2s,toxicity=0.2"""
    type_, _, rest = text.partition(":")
    data: dict[str, Any] = {"type": type_.strip()}
    fault_kind(data["type"])
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FaultError(
                "fault", item, "key=value pairs after the type, e.g. timeout:after=2s,toxicity=0.5"
            )
        data[key.strip()] = value.strip()
    return fault_from_dict(data)


def make_fault(spec: FaultSpec) -> Fault:
    return fault_kind(spec.type)(spec)

