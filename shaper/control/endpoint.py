"""What the control client and the CLI verbs share, without loading the HTTP library
(aiohttp costs a third of a second and 10 MB at start; `shaper serve` without
--control never needs it)."""

from __future__ import annotations

import os

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
