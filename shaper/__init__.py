"""shaper: a TCP proxy that makes a fast link slow, laggy and shallow-buffered."""

from shaper.api import Proxy, open_proxy
from shaper.limits import DirectionLimits, LimitError, Limits

__version__ = "0.1.0"
__all__ = ["DirectionLimits", "LimitError", "Limits", "Proxy", "__version__", "open_proxy"]
