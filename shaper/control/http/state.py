"""The application's state as its handlers see it: values under typed keys, and the event
that tells long-running handlers (streams) the server is stopping."""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AppKey(Generic[T]):
    """A key of the application's state; its type argument is the value's type."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"AppKey({self.name!r})"


class AppState:
    def __init__(self) -> None:
        # Set when the server shuts down: streams end on it.
        self.closing = asyncio.Event()
        self._state: dict[AppKey[Any], Any] = {}

    def __setitem__(self, key: AppKey[T], value: T) -> None:
        self._state[key] = value

    def __getitem__(self, key: AppKey[T]) -> T:
        value: T = self._state[key]
        return value
