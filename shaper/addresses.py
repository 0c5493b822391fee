"""Parse HOST:PORT, [v6]:PORT and LISTEN=UPSTREAM routes."""

from __future__ import annotations

ADDRESS_FORMS = "HOST:PORT, [IPv6]:PORT or PORT (e.g. 127.0.0.1:5432, [::1]:6379, localhost:8080)"


class AddressError(ValueError):
    pass


def parse_address(
    text: str, default_host: str | None = None, what: str = "address"
) -> tuple[str, int]:
    raw = text.strip()
    host: str | None
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or not raw[end + 1 :].startswith(":"):
            raise AddressError(f"invalid {what} {text!r}: expected {ADDRESS_FORMS}")
        host, port_text = raw[1:end], raw[end + 2 :]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    elif ":" not in raw and default_host is not None:
        host, port_text = default_host, raw
    else:
        hint = " (write IPv6 addresses in brackets)" if raw.count(":") > 1 else ""
        raise AddressError(f"invalid {what} {text!r}{hint}: expected {ADDRESS_FORMS}")
    if not host:
        if default_host is None:
            raise AddressError(
                f"invalid {what} {text!r}: the host is missing; expected {ADDRESS_FORMS}"
            )
        host = default_host
    try:
        port = int(port_text)
    except ValueError:
        raise AddressError(
            f"invalid {what} {text!r}: port {port_text!r} is not a number; expected {ADDRESS_FORMS}"
        ) from None
    if not 0 <= port <= 65535:
        raise AddressError(f"invalid {what} {text!r}: port {port} is outside 0-65535")
    return host, port
