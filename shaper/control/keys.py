"""The typed keys under which the control application keeps its state."""

from __future__ import annotations

import os

from shaper.control.encoding import TextMemo
from shaper.control.engine_view import ControlledEngine
from shaper.control.http.state import AppKey
from shaper.control.metrics import MetricsCollector

# A key's type is its type argument.
ENGINE = AppKey[ControlledEngine]("engine")
TOKEN = AppKey[str | None]("token")  # None: no token is asked for
# None: the user's profiles directory (see shaper.profiles.store)
PROFILES_DIR = AppKey[str | os.PathLike[str] | None]("profiles_dir")
METRICS = AppKey[MetricsCollector]("metrics")
# The text of the last GET /v1/stats's connection parts (each stream keeps its own).
SNAPSHOT_TEXT = AppKey[TextMemo]("snapshot_text")
