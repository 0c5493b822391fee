"""The JSON of Toxiproxy's API: what its clients send (proxies, toxics, the populate array)
and what they read back. Plain values and checks, no I/O.

Toxiproxy decodes bodies with Go's encoding/json: unknown keys are ignored, a missing key
keeps its default, and a value of the wrong JSON type is a 400 "bad request body". The
same here, with two additions where Toxiproxy takes nonsense silently: a negative
attribute or a toxicity outside 0..1 is a 400 naming the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Every attribute of every standard toxic, in the order Toxiproxy's structs declare them.
# All are whole numbers with 0 as default; every one is echoed, defaults included, since
# toxiproxy-java reads each of them back.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),  # ms
    "bandwidth": ("rate",),  # KB/s
    "slow_close": ("delay",),  # ms
    "timeout": ("timeout",),  # ms; 0 = hold forever
    "reset_peer": ("timeout",),  # ms
    "slicer": ("average_size", "size_variation", "delay"),  # bytes, bytes, µs
    "limit_data": ("bytes",),
}
STREAMS = ("upstream", "downstream")
# What /version answers: Toxiproxy's API at this release. Clients compare it (toxiproxy-ruby
# uses PATCH from 2.6.0 on), so it must read as a plain semantic version.
API_VERSION = "2.12.0"
# Ints beyond this are not a duration, size or rate anyone means (Go's int64 bound).
MAX_ATTRIBUTE = 2**63 - 1


class ToxiproxyError(Exception):
    """An answer of Toxiproxy's API other than success: {"error": message, "status": N}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(detail: str) -> ToxiproxyError:
    return ToxiproxyError(400, f"bad request body: {detail}")


def missing_field(what: str) -> ToxiproxyError:
    return ToxiproxyError(400, f"missing required field: {what}")


PROXY_NOT_FOUND = (404, "proxy not found")
PROXY_EXISTS = (409, "proxy already exists")
TOXIC_NOT_FOUND = (404, "toxic not found")
TOXIC_EXISTS = (409, "toxic already exists")
INVALID_STREAM = (400, "stream was invalid, can be either upstream or downstream")
INVALID_TYPE = (400, "invalid toxic type")


def error(known: tuple[int, str], detail: str = "") -> ToxiproxyError:
    status, message = known
    return ToxiproxyError(status, f"{message}: {detail}" if detail else message)


def decode(body: bytes) -> Any:
    """The JSON of a request body (whatever its Content-Type says, or without one)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise bad_body("EOF (the body is empty; send a JSON object)")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise bad_body(f"invalid JSON: {exc}") from None


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise bad_body(f"{what}: expected a JSON object, got {json.dumps(data)[:80]}")
    return data


def _string(data: Mapping[str, Any], key: str, default: str, where: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_body(f"{where}{key}: expected a string, got {json.dumps(value)[:80]}")
    return value


def _switch(data: Mapping[str, Any], key: str, default: bool, where: str = "") -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_body(f"{where}{key}: expected true or false, got {json.dumps(value)[:80]}")
    return value


# -- proxies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyInput:
    """A proxy as a client asks for it. `toxics` is None unless the input listed some
    (populate and the config file may)."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: tuple[Toxic, ...] | None = None


def parse_proxy(data: Any, base: ProxyInput | None = None, where: str = "") -> ProxyInput:
    """A create body (no base: name and upstream required) or an update body (every key
    missing keeps the proxy's current value; a name in it is ignored, as Toxiproxy does)."""
    body = _object(data, "proxy")
    if base is None:
        name = _string(body, "name", "", where)
        if not name:
            raise missing_field("name" + (f" at {where.rstrip(': ')}" if where else ""))
        upstream = _string(body, "upstream", "", where)
        if not upstream:
            raise missing_field("upstream" + (f" at {where.rstrip(': ')}" if where else ""))
        toxics = None
        # An empty list is no list: the Go client's populate sends its proxies' (empty)
        # toxics, and a proxy that stays must keep the ones it has.
        if body.get("toxics"):
            raw = body["toxics"]
            if not isinstance(raw, list):
                raise bad_body(f"{where}toxics: expected an array of toxics")
            toxics = tuple(parse_toxic(item) for item in raw)
            names = [t.name for t in toxics]
            for name_ in names:
                if names.count(name_) > 1:
                    raise error(TOXIC_EXISTS, name_)
        return ProxyInput(
            name=name,
            listen=_string(body, "listen", "", where),
            upstream=upstream,
            enabled=_switch(body, "enabled", True, where),
            toxics=toxics,
        )
    return replace(
        base,
        listen=_string(body, "listen", base.listen, where) or base.listen,
        upstream=_string(body, "upstream", base.upstream, where) or base.upstream,
        enabled=_switch(body, "enabled", base.enabled, where),
        toxics=None,
    )


def parse_populate(data: Any) -> list[ProxyInput]:
    """POST /populate and the config file: an array of proxies, all checked before any is
    made. A name given twice is refused rather than made twice."""
    if not isinstance(data, list):
        raise bad_body(f"expected an array of proxies, got {json.dumps(data)[:80]}")
    proxies = [parse_proxy(item, where=f"proxy {i}: ") for i, item in enumerate(data, 1)]
    seen: set[str] = set()
    for proxy in proxies:
        if proxy.name in seen:
            raise error(PROXY_EXISTS, f"{proxy.name!r} is listed twice")
        seen.add(proxy.name)
    return proxies


def proxy_dict(
    name: str, listen: str, upstream: str, enabled: bool, toxics: list[Toxic]
) -> dict[str, Any]:
    return {
        "name": name,
        "listen": listen,
        "upstream": upstream,
        "enabled": enabled,
        "toxics": [toxic.to_dict() for toxic in toxics],
    }


# -- toxics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        """The stream as a direction: Toxiproxy takes it in any case and echoes it as
        written (`UPSTREAM` stays `UPSTREAM`, in the default name too)."""
        return self.stream.lower()

    def attribute(self, key: str) -> int:
        return int(self.attributes.get(key, 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": {key: self.attribute(key) for key in TOXIC_ATTRIBUTES[self.type]},
        }


def _toxicity(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise bad_body(f"toxicity: expected a number from 0 to 1, got {json.dumps(raw)[:80]}")
    if not 0.0 <= raw <= 1.0:
        raise ToxiproxyError(
            400, f"toxicity: {raw!r} is not a probability; expected a number from 0 to 1"
        )
    return float(raw)


def _attributes(type_: str, raw: Any, base: Mapping[str, int]) -> dict[str, int]:
    """`raw` merged over `base`: keys of other toxics are ignored, as Toxiproxy does."""
    if raw is None:
        return dict(base)
    attrs = _object(raw, "attributes")
    merged = dict(base)
    for key in TOXIC_ATTRIBUTES[type_]:
        if key not in attrs or attrs[key] is None:
            continue
        value = attrs[key]
        whole = isinstance(value, int | float) and not isinstance(value, bool)
        if not whole or not math.isfinite(value) or value != int(value):
            raise bad_body(
                f"attributes.{key}: expected a whole number, got {json.dumps(value)[:80]}"
            )
        if not 0 <= value <= MAX_ATTRIBUTE:
            raise ToxiproxyError(
                400, f"attributes.{key}: {value!r} is negative; expected a whole number from 0"
            )
        merged[key] = int(value)
    return merged


def parse_toxic(data: Any) -> Toxic:
    """A create body: type required; stream downstream, toxicity 1.0, every attribute 0 and
    the name <type>_<stream> by default. Checked in Toxiproxy's order: stream, type."""
    body = _object(data, "toxic")
    stream = _string(body, "stream", "") or "downstream"
    if stream.lower() not in STREAMS:
        raise error(INVALID_STREAM)
    type_ = _string(body, "type", "")
    if type_ not in TOXIC_ATTRIBUTES:
        detail = f"{type_!r}; types: {', '.join(TOXIC_ATTRIBUTES)}"
        raise error(INVALID_TYPE, detail)
    name = _string(body, "name", "") or f"{type_}_{stream}"
    toxicity = _toxicity(body["toxicity"]) if body.get("toxicity") is not None else 1.0
    defaults = dict.fromkeys(TOXIC_ATTRIBUTES[type_], 0)
    return Toxic(
        name, type_, stream, toxicity, _attributes(type_, body.get("attributes"), defaults)
    )


def patch_toxic(toxic: Toxic, data: Any) -> Toxic:
    """An update body: attributes merged over the toxic's, toxicity kept unless given. Its
    name, type and stream stay (Toxiproxy ignores them in an update)."""
    body = _object(data, "toxic")
    toxicity = _toxicity(body["toxicity"]) if body.get("toxicity") is not None else toxic.toxicity
    attributes = _attributes(toxic.type, body.get("attributes"), toxic.attributes)
    return replace(toxic, toxicity=toxicity, attributes=attributes)
