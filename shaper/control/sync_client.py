"""A blocking client of the control API, on the standard library alone (http.client): for
code without an event loop (a sync test, a script), and for code inside one that must not
start another. The answers and errors are the async ControlClient's.

    client = SyncControlClient("http://127.0.0.1:8475")
    client.patch_limits({"downstream": {"rate": "2Mbit"}})
    print(client.stats().downstream.queue)
    client.close()

One keep-alive connection, reopened once when the engine closed it; calls from several
threads take turns.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from shaper.control.endpoint import (
    TOKEN_ENV,
    ControlError,
    check_status,
    default_control_url,
    error_from,
    fault_path,
    normalize_url,
    not_an_engine,
    route_body,
    route_path,
)
from shaper.model.limits import Limits
from shaper.model.routes import RouteState
from shaper.model.snapshots import (
    ConnectionStats,
    EngineStats,
    connection_from_dict,
    engine_from_dict,
)

T = TypeVar("T")


class SyncControlClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 10.0):
        self.url = normalize_url(url or default_control_url())
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(
                f"control URL: invalid value {url!r}: expected http://HOST:PORT, HOST:PORT "
                "or a port"
            )
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> SyncControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- one request ---------------------------------------------------------------

    def _send(self, method: str, target: str, body: bytes | None) -> tuple[int, str, str]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):
            connection = self._connection
            if connection is None:
                connection = self._connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                text = response.read().decode("utf-8", errors="replace")
                content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
                if response.will_close:
                    self._drop()
                return response.status, content_type, text
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The engine closed the idle keep-alive connection: one fresh try.
                self._drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(
        self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        target = self._prefix + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        with self._lock:
            try:
                status, content_type, text = self._send(method, target, data)
            except TimeoutError:
                self._drop()
                raise ControlError(
                    0,
                    f"the shaper control API at {self.url} did not answer within {self.timeout:g}s",
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise ControlError(
                    0, f"cannot reach the shaper control API at {self.url}: {exc}"
                ) from None
        is_json = content_type == "application/json"
        if status >= 400:
            raise error_from(self.url, status, text, is_json)
        if status == 204:  # done, nothing to say
            return None
        if not is_json:
            raise not_an_engine(self.url, status, content_type)
        return json.loads(text)

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _typed(self, path: str, build: Callable[[Any], T], data: Any) -> T:
        try:
            return build(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ControlError(
                0,
                f"{self.url} is not a shaper engine: its JSON answer to {path} is not the "
                f"control API's ({type(exc).__name__}: {exc})",
            ) from None

    # -- the engine ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._typed("/v1/status", check_status, self._request("GET", "/v1/status"))

    def stats(self, connections: bool = False) -> EngineStats:
        params = {"connections": "1"} if connections else None
        return self._typed("/v1/stats", engine_from_dict, self._request("GET", "/v1/stats", params))

    def limits(self) -> Limits:
        return self._typed("/v1/limits", Limits.from_dict, self._request("GET", "/v1/limits"))

    def patch_limits(self, changes: dict[str, Any]) -> Limits:
        data = self._request("PATCH", "/v1/limits", body=changes)
        return self._typed("/v1/limits", Limits.from_dict, data)

    def connections(self) -> list[ConnectionStats]:
        data = self._request("GET", "/v1/connections")
        return self._typed("/v1/connections", lambda d: [connection_from_dict(c) for c in d], data)

    def close_connection(self, conn_id: int, mode: str = "close") -> None:
        self._request("DELETE", f"/v1/connections/{int(conn_id)}", {"mode": mode})

    # -- faults (the same calls as the async client) ----------------------------

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/v1/faults")
        return result

    def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Add a fault: {"type": "timeout", "after": "2s", ...}; the fault as it is in force."""
        result: dict[str, Any] = self._request("POST", "/v1/faults", body=fault)
        return result

    def patch_fault(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("PATCH", fault_path(name), body=changes)
        return result

    def remove_fault(self, name: str) -> None:
        self._request("DELETE", fault_path(name))

    def apply_profile(
        self, name: str | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Apply a listed profile by name, or an inline profile (the same keys as a file)."""
        if (name is None) == (body is None):
            raise ValueError("apply_profile: give exactly one of name or body")
        payload = {"name": name} if name is not None else {"profile": body}
        return self._request("POST", "/v1/profile", body=payload)

    # -- routes ----------------------------------------------------------------------

    def routes(self) -> list[RouteState]:
        data = self._request("GET", "/v1/routes")
        return self._typed("/v1/routes", lambda d: [RouteState.from_dict(r) for r in d], data)

    def route(self, name: str) -> RouteState:
        return self._typed(
            "/v1/routes", RouteState.from_dict, self._request("GET", route_path(name))
        )

    def add_route(
        self,
        listen: str,
        upstream: str,
        name: str | None = None,
        limits: dict[str, Any] | None = None,
    ) -> RouteState:
        """Listen for a new route now; the answer has its bound address (port 0 picks one)."""
        data = self._request("POST", "/v1/routes", body=route_body(listen, upstream, name, limits))
        return self._typed("/v1/routes", RouteState.from_dict, data)

    def set_route_enabled(self, name: str, enabled: bool) -> RouteState:
        data = self._request("PATCH", route_path(name), body={"enabled": enabled})
        return self._typed("/v1/routes", RouteState.from_dict, data)

    def set_route_limits(self, name: str, changes: dict[str, Any] | None) -> RouteState:
        data = self._request("PATCH", route_path(name), body={"limits": changes})
        return self._typed("/v1/routes", RouteState.from_dict, data)

    def remove_route(self, name: str) -> None:
        self._request("DELETE", route_path(name))
