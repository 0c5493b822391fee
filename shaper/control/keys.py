"""The typed keys under which the control application keeps its state."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from shaper.control.metrics import MetricsCollector

ENGINE: web.AppKey[Any] = web.AppKey("engine", object)
TOKEN: web.AppKey[str | None] = web.AppKey("token", object)
PROFILES_DIR: web.AppKey[Any] = web.AppKey("profiles_dir", object)
CLOSING: web.AppKey[asyncio.Event] = web.AppKey("closing", asyncio.Event)
METRICS: web.AppKey[MetricsCollector] = web.AppKey("metrics", MetricsCollector)
