"""Every profile test runs in an empty directory (see the `isolated` fixture)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated):
    return isolated
