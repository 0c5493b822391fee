"""Who may reach the control API: loopback without a token, anything else only with one."""

from __future__ import annotations

import hmac
import ipaddress


class ControlSecurityError(ValueError):
    """The control API would be reachable from other hosts without a token."""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback control address unless a token is set."""
    if token is not None and not token.strip():
        raise ControlSecurityError("--control-token: the token must not be empty")
    if not is_loopback(host) and not token:
        raise ControlSecurityError(
            f"refusing to serve the control API on {host!r} without a token: anyone who can "
            "reach that address could change limits and close connections. Bind 127.0.0.1 "
            "(the default), or pass --control-token TOKEN (clients then send "
            "'Authorization: Bearer TOKEN')."
        )


def token_problem(header: str, token: str) -> str | None:
    """Why an Authorization header does not carry `token` (None: it does)."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    if not header:
        return "missing token: send 'Authorization: Bearer TOKEN'"
    return "wrong token in the Authorization header"
