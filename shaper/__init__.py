"""shaper: a TCP proxy that makes a fast link slow, laggy and shallow-buffered.

The names below load on first use (PEP 562), so `import shaper.model.units` or the
display's process never pulls in the engine's data path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shaper._version import __version__

if TYPE_CHECKING:
    from shaper.model.limits import DirectionLimits, LimitError, Limits
    from shaper.profiles.model import Profile, ProfileError
    from shaper.testing.aio import AsyncProxy, open_proxy
    from shaper.testing.options import ProxyError, UnknownConnection
    from shaper.testing.sync import Proxy

_LAZY = {
    "Proxy": "shaper.testing.sync",
    "AsyncProxy": "shaper.testing.aio",
    "open_proxy": "shaper.testing.aio",
    "ProxyError": "shaper.testing.options",
    "UnknownConnection": "shaper.testing.options",
    "DirectionLimits": "shaper.model.limits",
    "LimitError": "shaper.model.limits",
    "Limits": "shaper.model.limits",
    "Profile": "shaper.profiles.model",
    "ProfileError": "shaper.profiles.model",
}
__all__ = [
    "AsyncProxy",
    "DirectionLimits",
    "LimitError",
    "Limits",
    "Profile",
    "ProfileError",
    "Proxy",
    "ProxyError",
    "UnknownConnection",
    "__version__",
    "open_proxy",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shaper' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
