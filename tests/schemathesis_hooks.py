"""A check schemathesis runs beside its own (loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks,
this directory on PYTHONPATH): every JSON answer is strict JSON. Python's parser, and so
schemathesis's, reads NaN and Infinity, which JSON does not have."""

from __future__ import annotations

import json

import schemathesis


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


@schemathesis.check
def strict_json_body(ctx, response, case) -> None:
    """A JSON answer parses with a strict parser: no NaN, Infinity or -Infinity."""
    content_type = response.headers.get("content-type") or [""]
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if content_type.split(";")[0].strip() == "application/json":
        try:
            json.loads(response.text, parse_constant=_refuse)
        except ValueError as exc:
            raise AssertionError(f"the body is not strict JSON: {exc}") from None
