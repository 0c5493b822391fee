"""What the control client and the CLI verbs share, without loading the clients' HTTP
library (aiohttp costs a third of a second and 10 MB at start; `shaper serve` never needs
it: the engine's servers are shaper.control.http)."""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import Any

DEFAULT_CONTROL_URL = "http://127.0.0.1:8475"
CONTROL_ENV = "SHAPER_CONTROL"
TOKEN_ENV = "SHAPER_CONTROL_TOKEN"


def default_control_url() -> str:
    return os.environ.get(CONTROL_ENV) or DEFAULT_CONTROL_URL


def normalize_url(url: str) -> str:
    """Accept 'http://h:p', 'h:p' or a bare port."""
    url = url.strip().rstrip("/")
    if url.isdigit():
        return f"http://127.0.0.1:{url}"
    if "://" not in url:
        return "http://" + url
    return url


class ControlError(Exception):
    """An error answer of the control API (or status 0: the engine could not be reached)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


def check_status(data: Any) -> dict[str, Any]:
    """The answer to /v1/status, if it is one (ValueError otherwise)."""
    if not (
        isinstance(data, dict)
        and isinstance(data.get("version"), str)
        and isinstance(data.get("routes"), list)
    ):
        raise ValueError("no version and routes")
    return data


def not_an_engine(url: str, status: int, content_type: str) -> ControlError:
    # Status 0, like an unreachable engine: there is no shaper to answer there.
    return ControlError(
        0,
        f"{url} is not a shaper engine: it answered HTTP {status} with {content_type or 'no'} "
        "content instead of the control API's JSON",
    )


def error_from(url: str, status: int, text: str, is_json: bool) -> ControlError:
    """The ControlError an error answer stands for: the engine's message and field, or a
    'not a shaper engine' error when the answer is not the control API's."""
    data = None
    if is_json:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if isinstance(data, dict) and "error" in data:
        return ControlError(status, str(data["error"]), data.get("field"))
    return not_an_engine(url, status, "non-JSON" if not is_json else "unexpected JSON")


def fault_path(name: str) -> str:
    """/v1/faults/{name}, the name quoted (it may hold colons, never a slash)."""
    return "/v1/faults/" + urllib.parse.quote(name, safe=":")


def route_path(name: str) -> str:
    # Names hold no character a path needs escaped, but a bad one must reach the engine
    # whole, to be refused there with the accepted forms.
    return "/v1/routes/" + urllib.parse.quote(name, safe="")


def route_body(
    listen: str, upstream: str, name: str | None, limits: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"listen": listen, "upstream": upstream}
    if name is not None:
        body["name"] = name
    if limits is not None:
        body["limits"] = limits
    return body
