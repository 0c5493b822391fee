"""HOST:PORT in and out: the one parser and the one formatter of addresses."""

from __future__ import annotations

ADDRESS_FORMS = "HOST:PORT, [IPv6]:PORT or PORT (e.g. 127.0.0.1:5432, [::1]:6379, localhost:8080)"


class AddressError(ValueError):
    pass


def parse_address(
    text: str, default_host: str | None = None, what: str = "address"
) -> tuple[str, int]:
    """'host:port', '[v6]:port', or (with a default host) 'port' and ':port'."""
    if not isinstance(text, str):
        raise AddressError(f"invalid {what} {text!r}: expected {ADDRESS_FORMS}")
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
    if not (port_text.isascii() and port_text.isdigit()):
        raise AddressError(
            f"invalid {what} {text!r}: port {port_text!r} is not a number; expected {ADDRESS_FORMS}"
        )
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise AddressError(f"invalid {what} {text!r}: port {port} is outside 0-65535")
    return host, port


def format_address(address: object) -> str:
    """(host, port[, ...]) as 'host:port', IPv6 hosts in brackets; a string is kept as is."""
    if isinstance(address, str):
        return address
    if isinstance(address, tuple | list) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)
