"""Fast JSON text for snapshots (the hot path of GET /v1/stats and the stream).

`json.dumps(stats.to_dict())` spends most of its time in `dataclasses.asdict`
(deep copies) and the generic encoder: ~80 ms for 1,000 connections here.
This module generates, once per dataclass, an f-string encoder from the
fields' annotations, which writes the same JSON (up to key order of the top
level) several times faster. Anything it does not recognise falls back to
`json.dumps`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
_BOOL = {True: "true", False: "false"}
_STRING_CACHE: dict[str, str] = {}
_ENCODERS: dict[type, Callable[[Any], str]] = {}
_MEMO_ENCODERS: dict[type, Callable[[Any, Callable[[Callable[[Any], str], Any], str]], str]] = {}


def _string(value: str) -> str:
    cached = _STRING_CACHE.get(value)
    if cached is None:
        if len(_STRING_CACHE) > 20000:
            _STRING_CACHE.clear()
        cached = _STRING_CACHE[value] = _dumps(value)
    return cached


def _number(value: Any) -> str:
    if value is None:
        return "null"
    if value.__class__ is int:
        return str(value)
    if value.__class__ is float and math.isfinite(value):
        return repr(value)
    return _any(value)


def _strings(values: tuple[str, ...]) -> str:
    # Most connections have no fault: "[]" without a trip through json.dumps (1.5 us each,
    # 1.5 ms of a 1,000-connection snapshot).
    if not values:
        return "[]"
    if all(value.__class__ is str for value in values):
        return f"[{','.join([_string(value) for value in values])}]"
    return _any(values)


def _plain(value: Any) -> Any:
    fields = getattr(type(value), "__dataclass_fields__", None)
    if fields is not None:
        return {name: _plain(getattr(value, name)) for name in fields}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _any(value: Any) -> str:
    return _dumps(_plain(value))


def _nested(type_name: str, owner: type) -> type | None:
    """The dataclass named `type_name` in the module that defines `owner`."""
    import sys

    candidate = getattr(sys.modules.get(owner.__module__), type_name, None)
    if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
        return candidate
    return None


class TextMemo:
    """The JSON text of a snapshot's parts, kept by object for the next snapshot.

    A resting connection's snapshot is made of the very same direction and kernel records
    from one snapshot to the next (shaper.engine.resting), so their text is written once:
    1,000 idle connections' JSON took 10.8 ms of CPU here, and most of it was theirs. Each
    writer (a stats handler, one stream) has its own; what a snapshot did not use is
    forgotten at the next, so it holds one snapshot's parts at most."""

    __slots__ = ("_texts", "_used")

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}
        self._used: dict[int, tuple[Any, str]] = {}

    def text(self, encode: Callable[[Any], str], value: Any) -> str:
        key = id(value)
        found = self._texts.get(key)
        # The entry holds the object, so its id names no other while the entry lives.
        if found is None or found[0] is not value:
            found = (value, encode(value))
        self._used[key] = found
        return found[1]

    def turn(self) -> None:
        """One snapshot written: keep what it used, forget the rest."""
        self._texts, self._used = self._used, {}


def encoder(cls: type) -> Callable[[Any], str]:
    """A function writing an instance of dataclass `cls` as compact JSON."""
    found = _ENCODERS.get(cls)
    if found is not None:
        return found
    function = _generate(cls, memo=False)
    _ENCODERS[cls] = function
    return function


def memo_encoder(
    cls: type,
) -> Callable[[Any, Callable[[Callable[[Any], str], Any], str]], str]:
    """Like `encoder`, called as `encode(value, memo.text)`: the dataclass fields of
    `value` are written through the memo."""
    found = _MEMO_ENCODERS.get(cls)
    if found is None:
        found = _MEMO_ENCODERS[cls] = _generate(cls, memo=True)
    return found


def _generate(cls: type, memo: bool) -> Any:
    """The source of an encoder for `cls`, compiled: one f-string over its fields."""
    namespace: dict[str, Any] = {
        "_s": _string,
        "_n": _number,
        "_a": _any,
        "_b": _BOOL,
        "_t": _strings,
    }
    parts = []
    for index, field in enumerate(dataclasses.fields(cls)):
        annotation = (
            field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
        )
        annotation = annotation.replace(" ", "")
        ref = f"v.{field.name}"
        # Integers are written inline (no call: a snapshot of 1,000 connections writes
        # 30,000 of them); floats go through _n, which refuses what JSON cannot hold.
        if annotation == "int":
            expr = f"{ref}"
        elif annotation == "int|None":
            expr = f'"null" if {ref} is None else {ref}'
        elif annotation in ("float", "float|None"):
            expr = f"_n({ref})"
        elif annotation == "str":
            expr = f"_s({ref})"
        elif annotation == "str|None":
            expr = f'"null" if {ref} is None else _s({ref})'
        elif annotation == "bool":
            expr = f"_b[{ref}]"
        elif annotation == "tuple[str,...]":
            expr = f"_t({ref})"
        elif (nested := _nested(annotation, cls)) is not None:
            name = f"_e{index}"
            namespace[name] = encoder(nested)
            expr = f"_m({name},{ref})" if memo else f"{name}({ref})"
        else:
            expr = f"_a({ref})"
        key = json.dumps(field.name).replace("{", "{{").replace("}", "}}")
        parts.append(f"{key}:{{{expr}}}")
    body = ",".join(parts)
    params = "v, _m" if memo else "v"
    source = f"def encode({params}):\n    return f'{{{{{body}}}}}'\n"
    exec(compile(source, f"<json encoder for {cls.__name__}>", "exec"), namespace)
    return namespace["encode"]


def snapshot_json(stats: Any, memo: TextMemo | None = None) -> str:
    """EngineStats as JSON text, equal (as parsed JSON) to `json.dumps(stats.to_dict())`.
    With `memo`, the parts of its connections already written are not written again."""
    try:
        connections = stats.connections
        top = {
            name: _plain(getattr(stats, name))
            for name in type(stats).__dataclass_fields__
            if name != "connections"
        }
        text = _dumps(top)
        if connections is None:
            return text
        if connections and memo is not None:
            write, remember = memo_encoder(type(connections[0])), memo.text
            items = ",".join([write(c, remember) for c in connections])
            memo.turn()
        elif connections:
            encode = encoder(type(connections[0]))
            items = ",".join([encode(c) for c in connections])
        else:
            items = ""
        return f'{text[:-1]},"connections":[{items}]}}'
    except (TypeError, ValueError, KeyError):  # an unexpected value: the generic way
        return _dumps(stats.to_dict())
