"""Reading a request: query parameters, switches, the JSON body. Anything malformed is an
ApiError 400 that names the part of the request at fault; nothing here changes state."""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

from shaper.control.http.request import Request
from shaper.control.responses import ApiError
from shaper.model.units import SWITCH_FORMS, UnitError, parse_switch

MIN_STREAM_INTERVAL = 0.05
MAX_STREAM_INTERVAL = 60.0
MAX_BODY = 1024**2
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?")


def query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, refusing any not in `allowed` (and repeated ones)."""
    for key, values in request.query.items():
        if key not in allowed:
            accepted = ", ".join(allowed) if allowed else "no query parameters"
            raise ApiError(400, f"{key}: unknown query parameter; accepted: {accepted}", field=key)
        if len(values) > 1:
            raise ApiError(400, f"{key}: given more than once; give it once", field=key)
    return {k: request.query[k][0] for k in allowed if k in request.query}


def switch(params: dict[str, str], name: str) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    try:
        return parse_switch(raw)
    except UnitError:
        raise ApiError(
            400,
            f"{name}: invalid value {raw!r}: expected {SWITCH_FORMS}",
            field=name,
            value=raw,
            accepted=SWITCH_FORMS,
        ) from None


def interval(params: dict[str, str]) -> float:
    raw = params.get("interval")
    if raw is None:
        return 0.5
    # A plain decimal number, as the schema's "number" says: float() alone would also take
    # " 1", "1_0", "inf" or other scripts' digits.
    value = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
    if not MIN_STREAM_INTERVAL <= value <= MAX_STREAM_INTERVAL:
        raise ApiError(
            400,
            f"interval: invalid value {raw!r}: expected seconds from {MIN_STREAM_INTERVAL} "
            f"to {MAX_STREAM_INTERVAL:g} (e.g. 0.1)",
            field="interval",
        )
    return value


def _no_constant(name: str) -> Any:
    raise ApiError(
        400, f"body: {name} is not a JSON number; expected finite numbers or strings", field="body"
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ApiError(
            400,
            f"body: the number {text} is too large; write limits as strings such as '2Mbit'",
            field="body",
        )
    return value


_MAX_INT_DIGITS = 40  # far beyond any limit; Python refuses to convert past 4300 digits


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ApiError(
            400,
            f"body: the number {text[:20]}... ({len(text)} digits) is too large; write "
            "limits as strings such as '2Mbit'",
            field="body",
        )
    return int(text)


async def json_body(request: Request) -> Any:
    """The body as JSON. Refused with a 400 naming the problem: an unknown charset, bytes
    that are not text in it, invalid JSON, nesting too deep to read, numbers too large or not
    finite."""
    charset = request.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise ApiError(
            400,
            f"Content-Type: unknown charset {charset!r}; send JSON as UTF-8 "
            "(Content-Type: application/json)",
            field="Content-Type",
        ) from None
    raw = await request.read()
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            f"body: not {charset} text (byte {exc.start} is {raw[exc.start]:#04x}); "
            "send JSON as UTF-8",
            field="body",
        ) from None
    if not text.strip():
        raise ApiError(400, "body: empty request body: expected a JSON object", field="body")
    try:
        return json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"body: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            "expected a JSON object",
            field="body",
        ) from None
    except RecursionError:
        raise ApiError(
            400,
            "body: JSON nested too deeply to read: expected a JSON object of limits",
            field="body",
        ) from None


async def json_object(request: Request, example: str) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            400,
            f"body: expected a JSON object such as {example}, got {type(body).__name__}",
            field="body",
        )
    return body


def connection_id(request: Request, known: Any) -> int:
    """The {id} of the path, which must name an open connection (a 404 otherwise)."""
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(400, f"id: invalid connection id {raw!r}: expected a number", field="id")
    conn_id = int(raw)
    if conn_id not in known:
        raise ApiError(404, f"no open connection with id {conn_id}", field="id")
    return conn_id
