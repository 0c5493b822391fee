"""The typed keys under which the control application keeps its state."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from shaper.control.engine_view import ControlledEngine
from shaper.control.metrics import MetricsCollector

# A key's type is its type argument. AppKey's second argument must be a concrete class,
# which a Protocol or a union is not: those keys are subscripted instead.
ENGINE = web.AppKey[ControlledEngine]("engine")
TOKEN = web.AppKey[str | None]("token")  # None: no token is asked for
# None: the user's profiles directory (see shaper.profiles.store)
PROFILES_DIR = web.AppKey[str | os.PathLike[str] | None]("profiles_dir")
CLOSING = web.AppKey("closing", asyncio.Event)
METRICS = web.AppKey("metrics", MetricsCollector)
