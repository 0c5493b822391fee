"""What every way of starting and driving a proxy takes, checked the same way: addresses,
a profile (name, path or Profile), limits as a Limits, a partial dict or keywords
(rate="2Mbit" for both directions, down_rate="1Mbit" for one), connection counts.

A mistake raises at once, before anything starts or changes, naming the argument, the
value and what is accepted: LimitError and ProfileError (both ValueErrors, with `.field`),
or ValueError.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from typing import Any

from shaper.control.endpoint import ControlError
from shaper.model.addresses import ADDRESS_FORMS, AddressError, format_address, parse_address
from shaper.model.limits import DIRECTIONS, LIMIT_KEYS, LimitError, Limits
from shaper.profiles import Profile, load_profile

Address = tuple[str, int] | str
ProfileArg = str | os.PathLike[str] | Profile
# One-direction keywords, as the command line's --up-X and --down-X.
PREFIXES = {"up_": "upstream", "down_": "downstream"}
STALL_DIRECTIONS = ("upstream", "downstream", "both")


class ProxyError(RuntimeError):
    """The engine refused a request, or could not be reached (its process died)."""


class UnknownConnection(ProxyError, LookupError):
    """No open connection has that id."""


def fault_body(
    type_: str,
    name: str | None,
    direction: str | None,
    toxicity: float | str | None,
    route: str | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """A fault as the API takes it, checked here first (FaultError, a ValueError, names the
    field, the value and the accepted forms)."""
    from shaper.faults import fault_from_dict

    body: dict[str, Any] = {"type": type_, **settings}
    for key, value in (
        ("name", name),
        ("direction", direction),
        ("toxicity", toxicity),
        ("route", route),
    ):
        if value is not None:
            body[key] = value
    fault_from_dict(body)
    return body


def proxy_error(exc: ControlError) -> ProxyError:
    """The surface's error for a control API error."""
    if exc.status == 404 and exc.field == "id":
        return UnknownConnection(exc.message)
    return ProxyError(exc.message)


# -- addresses --------------------------------------------------------------------------


def address(value: Address, what: str, default_host: str | None) -> tuple[str, int]:
    """'HOST:PORT', '[v6]:PORT' or (HOST, PORT), checked."""
    if isinstance(value, str):
        return parse_address(value, default_host, what)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and isinstance(value[0], str)
        and value[0]
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and 0 <= value[1] <= 65535
    ):
        return value[0], value[1]
    raise AddressError(f"invalid {what} {value!r}: expected {ADDRESS_FORMS}, or (HOST, PORT)")


# -- limits -----------------------------------------------------------------------------


def _unknown_keyword(name: str, value: Any) -> LimitError:
    known = [*LIMIT_KEYS, *(p + k for p in PREFIXES for k in LIMIT_KEYS)]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if name == "profile":
        hint = " (a profile is applied with apply_profile(), or given when the proxy starts)"
    accepted = f"a limit ({', '.join(LIMIT_KEYS)}), or one prefixed up_ or down_"
    return LimitError(
        name, value, accepted, message=f"{name}: unknown limit {name!r}{hint}; expected {accepted}"
    )


def limit_changes(
    changes: Limits | dict[str, Any] | None = None,
    upstream: dict[str, Any] | None = None,
    downstream: dict[str, Any] | None = None,
    keywords: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """One partial limits dict from every way of writing limits, checked (LimitError).

    Later forms win: keywords for both directions, then `changes` (a Limits or a partial
    dict), then the upstream= and downstream= dicts, then up_X and down_X keywords."""
    merged: dict[str, dict[str, Any]] = {d: {} for d in DIRECTIONS}
    one_way: dict[str, dict[str, Any]] = {d: {} for d in DIRECTIONS}
    for name, value in (keywords or {}).items():
        if name in LIMIT_KEYS:
            for direction in DIRECTIONS:
                merged[direction][name] = value
            continue
        prefix = next((p for p in PREFIXES if name.startswith(p)), None)
        if prefix is None or name[len(prefix) :] not in LIMIT_KEYS:
            raise _unknown_keyword(name, value)
        one_way[PREFIXES[prefix]][name[len(prefix) :]] = value
    if isinstance(changes, Limits):
        changes = changes.to_dict()
    if changes is not None and not isinstance(changes, dict):
        raise LimitError(
            "limits", changes, "a Limits, or a dict such as {'downstream': {'rate': '2Mbit'}}"
        )
    for direction, part in (changes or {}).items():
        if direction in DIRECTIONS and isinstance(part, dict):
            merged[direction].update(part)
        else:
            Limits().patched({direction: part})  # raises, naming the direction or the value
    for direction, part in (("upstream", upstream), ("downstream", downstream)):
        if part is None:
            continue
        if not isinstance(part, dict):
            raise LimitError(direction, part, "a dict of limits such as {'rate': '2Mbit'}")
        merged[direction].update(part)
    for direction in DIRECTIONS:
        merged[direction].update(one_way[direction])
    result = {d: c for d, c in merged.items() if c}
    Limits().patched(result)  # every value checked before anything is sent
    return result


def stall_changes(direction: str, stall: bool) -> dict[str, dict[str, Any]]:
    if direction not in STALL_DIRECTIONS:
        raise ValueError(
            f"direction: invalid value {direction!r}: expected upstream, downstream or both"
        )
    targets = DIRECTIONS if direction == "both" else (direction,)
    return {d: {"stall": stall} for d in targets}


# -- profiles ---------------------------------------------------------------------------


def profile_from(
    profile: ProfileArg, profiles_dir: str | os.PathLike[str] | None = None
) -> Profile:
    """A Profile from a name (./profiles, the user's directory, the presets), a path to a
    .toml file, or a Profile. Raises ProfileError."""
    if isinstance(profile, Profile):
        return profile
    if not isinstance(profile, str | os.PathLike):
        raise ValueError(
            f"profile: invalid value {profile!r}: expected a profile name, a path to a .toml "
            "file or a Profile"
        )
    return load_profile(profile, profiles_dir)


# -- waiting ----------------------------------------------------------------------------


def check_wait(count: int, timeout: float) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(
            f"n: invalid value {count!r}: expected a whole number of open connections, 0 or more"
        )
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"timeout: invalid value {timeout!r}: expected seconds, more than 0")


def wait_failed(count: int, timeout: float, seen: int) -> TimeoutError:
    plural = "" if count == 1 else "s"
    return TimeoutError(
        f"wait_for_connections: expected {count} open connection{plural} within "
        f"{timeout:g}s; {seen} open"
    )


# -- starting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxySettings:
    """A proxy to start: checked, nothing started yet."""

    upstream: tuple[str, int]
    listen: tuple[str, int]
    changes: dict[str, dict[str, Any]]  # the limits given: they win over the profile's
    profile: Profile | None
    connect_timeout: float
    profiles_dir: str | None

    @classmethod
    def build(
        cls,
        upstream: Address,
        listen: Address = ("127.0.0.1", 0),
        limits: Limits | dict[str, Any] | None = None,
        connect_timeout: float = 5.0,
        profile: ProfileArg | None = None,
        profiles_dir: str | os.PathLike[str] | None = None,
        keywords: dict[str, Any] | None = None,
    ) -> ProxySettings:
        if (
            isinstance(connect_timeout, bool)
            or not isinstance(connect_timeout, int | float)
            or not math.isfinite(connect_timeout)
            or connect_timeout <= 0
        ):
            raise ValueError(
                f"connect_timeout: invalid value {connect_timeout!r}: expected seconds, more than 0"
            )
        changes = limit_changes(limits, keywords=keywords)
        loaded = profile_from(profile, profiles_dir) if profile is not None else None
        if loaded is not None and changes:
            loaded.with_overrides(changes)  # raises what the engine would
        return cls(
            upstream=address(upstream, "upstream address", None),
            listen=address(listen, "listen address", "127.0.0.1"),
            changes=changes,
            profile=loaded,
            connect_timeout=float(connect_timeout),
            profiles_dir=os.fspath(profiles_dir) if profiles_dir is not None else None,
        )

    @property
    def start_profile(self) -> Profile | None:
        """The profile to apply once the engine runs, the explicit limits folded in (they
        win over its base limits and every phase of its scenario)."""
        if self.profile is None:
            return None
        return self.profile.with_overrides(self.changes) if self.changes else self.profile

    def serve_argv(self) -> list[str]:
        """The `shaper serve` arguments of an engine process for these settings (its limits
        and profile follow through the control API once it runs)."""
        argv = [
            "--listen",
            format_address(self.listen),
            "--upstream",
            format_address(self.upstream),
            "--connect-timeout",
            f"{round(self.connect_timeout * 1_000_000)}us",
        ]
        if self.profiles_dir is not None:
            argv += ["--profiles-dir", self.profiles_dir]
        return argv
