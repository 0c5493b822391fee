"""shaper: a TCP proxy that makes a fast link slow, laggy and shallow-buffered.

The names below load on first use (PEP 562), so `import shaper.model.units` or the
display's process never pulls in the engine's data path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shaper._version import __version__

if TYPE_CHECKING:
    from shaper.engine.api import Proxy, open_proxy
    from shaper.model.limits import DirectionLimits, LimitError, Limits

_LAZY = {
    "Proxy": "shaper.engine.api",
    "open_proxy": "shaper.engine.api",
    "DirectionLimits": "shaper.model.limits",
    "LimitError": "shaper.model.limits",
    "Limits": "shaper.model.limits",
}
__all__ = ["DirectionLimits", "LimitError", "Limits", "Proxy", "__version__", "open_proxy"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shaper' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
