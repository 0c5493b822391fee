"""Async client of the control API, used by the TUI, the CLI verbs and tests.

    async with ControlClient("http://127.0.0.1:8475") as c:
        print((await c.stats()).downstream.rate_out)
        await c.patch_limits({"downstream": {"rate": "2Mbit"}})

Errors from the server are raised as ControlError carrying the server's
message and the offending field; an unreachable engine is a ControlError
with status 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import aiohttp

from shaper.control.endpoint import (
    CONTROL_ENV,
    DEFAULT_CONTROL_URL,
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

# The endpoint's names are re-exported: they are the client's public names too.
__all__ = [
    "CONTROL_ENV",
    "DEFAULT_CONTROL_URL",
    "TOKEN_ENV",
    "ControlClient",
    "ControlError",
    "default_control_url",
    "normalize_url",
]


class ControlClient:
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ):
        self.url = normalize_url(url or default_control_url())
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ControlClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        json_answer: bool = True,
    ) -> Any:
        session = self._ensure_session()
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            async with session.request(
                method,
                self.url + path,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                **kwargs,
            ) as response:
                text = await response.text(errors="replace")
                is_json = response.content_type == "application/json"
                if response.status >= 400:
                    raise error_from(self.url, response.status, text, is_json)
                if response.status == 204:  # done, nothing to say
                    return None
                if not json_answer:
                    return text
                if not is_json:
                    raise not_an_engine(self.url, response.status, response.content_type)
                return json.loads(text)
        except aiohttp.ClientConnectionError as exc:
            raise ControlError(
                0, f"cannot reach the shaper control API at {self.url}: {exc}"
            ) from None
        except TimeoutError:
            raise ControlError(
                0, f"the shaper control API at {self.url} did not answer within {self.timeout:g}s"
            ) from None

    def _typed(self, path: str, build: Callable[[Any], T], data: Any) -> T:
        """`build(data)`, or a ControlError saying the server is not a shaper engine when its
        JSON is not the control API's (a web server that answers JSON to anything)."""
        try:
            return build(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ControlError(
                0,
                f"{self.url} is not a shaper engine: its JSON answer to {path} is not the "
                f"control API's ({type(exc).__name__}: {exc})",
            ) from None

    # -- engine ---------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        return self._typed("/v1/status", check_status, await self._request("GET", "/v1/status"))

    async def stats(self, connections: bool = False) -> EngineStats:
        params = {"connections": "1"} if connections else None
        data = await self._request("GET", "/v1/stats", params)
        return self._typed("/v1/stats", engine_from_dict, data)

    async def stream(
        self, interval: float = 0.5, connections: bool = False
    ) -> AsyncIterator[EngineStats]:
        """Snapshots pushed by the server (server-sent events) until the engine stops."""
        session = self._ensure_session()
        params = {"interval": repr(float(interval))}
        if connections:
            params["connections"] = "1"
        try:
            async with session.get(self.url + "/v1/stream", params=params) as response:
                if response.status >= 400:
                    is_json = response.content_type == "application/json"
                    raise error_from(self.url, response.status, await response.text(), is_json)
                if response.content_type != "text/event-stream":
                    raise not_an_engine(self.url, response.status, response.content_type)
                data: list[bytes] = []
                async for raw in response.content:
                    line = raw.rstrip(b"\r\n")
                    if not line:
                        if data:
                            payload = b"\n".join(data)
                            data = []
                            yield self._typed("/v1/stream", engine_from_dict, json.loads(payload))
                        continue
                    if line.startswith(b"data:"):
                        data.append(line[5:].lstrip(b" "))
        except aiohttp.ClientConnectionError as exc:
            raise ControlError(
                0, f"lost the shaper control API stream at {self.url}: {exc}"
            ) from None

    # -- limits ---------------------------------------------------------------

    async def limits(self) -> Limits:
        return self._typed("/v1/limits", Limits.from_dict, await self._request("GET", "/v1/limits"))

    async def patch_limits(self, changes: dict[str, Any]) -> Limits:
        data = await self._request("PATCH", "/v1/limits", body=changes)
        return self._typed("/v1/limits", Limits.from_dict, data)

    # -- connections ------------------------------------------------------------

    async def connections(self) -> list[ConnectionStats]:
        data = await self._request("GET", "/v1/connections")
        return self._typed("/v1/connections", lambda d: [connection_from_dict(c) for c in d], data)

    async def close_connection(self, conn_id: int, mode: str = "close") -> None:
        await self._request("DELETE", f"/v1/connections/{int(conn_id)}", {"mode": mode})

    async def connection_limits(self, conn_id: int) -> Limits:
        data = await self._request("GET", f"/v1/connections/{int(conn_id)}/limits")
        return Limits.from_dict(data)

    async def patch_connection_limits(self, conn_id: int, changes: dict[str, Any]) -> Limits:
        data = await self._request("PATCH", f"/v1/connections/{int(conn_id)}/limits", body=changes)
        return Limits.from_dict(data)

    async def clear_connection_limits(self, conn_id: int) -> Limits:
        data = await self._request("DELETE", f"/v1/connections/{int(conn_id)}/limits")
        return Limits.from_dict(data)

    # -- routes -----------------------------------------------------------------

    async def routes(self) -> list[RouteState]:
        data = await self._request("GET", "/v1/routes")
        return self._typed("/v1/routes", lambda d: [RouteState.from_dict(r) for r in d], data)

    async def route(self, name: str) -> RouteState:
        data = await self._request("GET", route_path(name))
        return self._typed("/v1/routes", RouteState.from_dict, data)

    async def add_route(
        self,
        listen: str,
        upstream: str,
        name: str | None = None,
        limits: dict[str, Any] | None = None,
    ) -> RouteState:
        """Listen for a new route now; the answer has its bound address (port 0 picks one).
        `limits`: changes on top of the engine-wide limits, for the route alone."""
        data = await self._request(
            "POST", "/v1/routes", body=route_body(listen, upstream, name, limits)
        )
        return self._typed("/v1/routes", RouteState.from_dict, data)

    async def set_route_enabled(self, name: str, enabled: bool) -> RouteState:
        data = await self._request("PATCH", route_path(name), body={"enabled": enabled})
        return self._typed("/v1/routes", RouteState.from_dict, data)

    async def set_route_limits(self, name: str, changes: dict[str, Any] | None) -> RouteState:
        """Change the route's own limits (on top of those in force); None: the engine-wide
        limits apply to it again."""
        data = await self._request("PATCH", route_path(name), body={"limits": changes})
        return self._typed("/v1/routes", RouteState.from_dict, data)

    async def remove_route(self, name: str) -> None:
        await self._request("DELETE", route_path(name))

    # -- profiles ---------------------------------------------------------------

    async def profiles(self) -> list[dict[str, Any]]:
        return await self._request("GET", "/v1/profiles")

    async def profile(self) -> dict[str, Any]:
        return await self._request("GET", "/v1/profile")

    async def apply_profile(
        self, name: str | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Apply a listed profile by name, or an inline profile (the same keys as a file)."""
        if (name is None) == (body is None):
            raise ValueError("apply_profile: give exactly one of name or body")
        payload = {"name": name} if name is not None else {"profile": body}
        return await self._request("POST", "/v1/profile", body=payload)

    # -- faults -----------------------------------------------------------------

    async def faults(self) -> list[dict[str, Any]]:
        return await self._request("GET", "/v1/faults")

    async def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Add a fault: {"type": "timeout", "after": "2s", ...}; the fault as it is in force."""
        return await self._request("POST", "/v1/faults", body=fault)

    async def patch_fault(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        return await self._request("PATCH", fault_path(name), body=changes)

    async def remove_fault(self, name: str) -> None:
        await self._request("DELETE", fault_path(name))

    # -- other ------------------------------------------------------------------

    async def save_profile(
        self, name: str, description: str = "", force: bool = False
    ) -> dict[str, Any]:
        """Save the engine-wide limits as a profile in the engine's user profile directory."""
        body = {"name": name, "description": description, "force": force}
        return await self._request("POST", "/v1/profiles", body=body)

    async def metrics(self) -> str:
        return await self._request("GET", "/metrics", json_answer=False)

    async def openapi(self) -> dict[str, Any]:
        return await self._request("GET", "/v1/openapi.json")
