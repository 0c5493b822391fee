"""JSON answers of the control API, errors included: `{"error", "field", ...}`."""

from __future__ import annotations

import json
import math
from typing import Any

from shaper.control.http.response import Response


class ApiError(Exception):
    """Raised by handlers; rendered as a JSON error response."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra


def _finite(value: Any) -> Any:
    """JSON has no Infinity or NaN: an echoed value that holds one is sent as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(data: Any) -> str:
    try:
        return json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), separators=(",", ":"), default=str)


JSON_TYPE = "application/json; charset=utf-8"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data).encode(), status, JSON_TYPE)


def json_text(text: str) -> Response:
    """Already-encoded JSON (the snapshot encoders' output)."""
    return Response(text.encode(), 200, JSON_TYPE)


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {"error": message, "field": field, **extra}
    return Response(dumps(body).encode(), status, JSON_TYPE, headers)
