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
_MEMO_ENCODERS: dict[type, Callable[[Any, TextMemo], str]] = {}


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


# Fields that change at every snapshot (a connection's age): a record's text is kept in
# two pieces around them.
_VOLATILE = frozenset({"age"})


class TextMemo:
    """The JSON text of a snapshot's records and their parts, kept for the next snapshot.

    A resting connection's snapshot is made of the very same direction and kernel records
    from one snapshot to the next (shaper.engine.resting), and only its age differs: its
    text is written once, then reused around the new age. 1,000 idle connections' JSON
    took 9.5 ms of CPU here, nearly all of it writing what the last snapshot wrote. Parts
    are known by object (a part's entry holds it, so its id names no other while the entry
    lives), records by their first field (a connection's id), each checked against all
    its other fields. Each writer (a stats handler, one stream) has its own; what a
    snapshot did not use is forgotten at the next, so it holds one snapshot's text at most."""

    __slots__ = ("_texts", "_used", "records", "records_used")

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}
        self._used: dict[int, tuple[Any, str]] = {}
        self.records: dict[Any, tuple[tuple[Any, ...], str, str]] = {}
        self.records_used: dict[Any, tuple[tuple[Any, ...], str, str]] = {}

    def text(self, encode: Callable[[Any], str], value: Any) -> str:
        key = id(value)
        found = self._texts.get(key)
        if found is None or found[0] is not value:
            found = (value, encode(value))
        self._used[key] = found
        return found[1]

    def turn(self) -> None:
        """One snapshot written: keep what it used, forget the rest."""
        self._texts, self._used = self._used, {}
        self.records, self.records_used = self.records_used, {}


def encoder(cls: type) -> Callable[[Any], str]:
    """A function writing an instance of dataclass `cls` as compact JSON."""
    found = _ENCODERS.get(cls)
    if found is not None:
        return found
    function = _generate(cls, memo=False)
    _ENCODERS[cls] = function
    return function


def memo_encoder(cls: type) -> Callable[[Any, TextMemo], str]:
    """Like `encoder`, called as `encode(value, memo)`: the text of `value` and of its
    dataclass fields is taken from the memo where it holds it."""
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
        parts.append((field.name, f"{key}:{{{expr}}}"))
    if not memo:
        body = ",".join(text for _, text in parts)
        return _compile(cls, f"def encode(v):\n    return f'{{{{{body}}}}}'\n", namespace)
    # The record's text in two pieces around its volatile field (if it has one), kept under
    # its first field and good while its other fields are the same (the same objects, for
    # the parts of a resting connection: the tuple compares them by identity first).
    names = [name for name, _ in parts]
    split = next((i for i, name in enumerate(names) if name in _VOLATILE), len(parts))
    head = ",".join(text for _, text in parts[:split])
    tail = ",".join(text for _, text in parts[split + 1 :])
    if split < len(parts):
        volatile = parts[split][1]
        label, value = volatile.split(":", 1)
        head = f"{head},{label}:" if head else f"{label}:"
        tail = f",{tail}" if tail else ""
    else:
        value = ""
    same = ", ".join(f"v.{name}" for i, name in enumerate(names) if i != split)
    source = (
        "def encode(v, memo):\n"
        f"    same = ({same},)\n"
        f"    found = memo.records.get(v.{names[0]})\n"
        "    if found is None or found[0] != same:\n"
        "        _m = memo.text\n"
        f"        found = (same, f'{{{{{head}', f'{tail}}}}}')\n"
        f"    memo.records_used[v.{names[0]}] = found\n"
        f"    return f'{{found[1]}}{value}{{found[2]}}'\n"
    )
    return _compile(cls, source, namespace)


def _compile(cls: type, source: str, namespace: dict[str, Any]) -> Any:
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
            write = memo_encoder(type(connections[0]))
            items = ",".join([write(c, memo) for c in connections])
            memo.turn()
        elif connections:
            encode = encoder(type(connections[0]))
            items = ",".join([encode(c) for c in connections])
        else:
            items = ""
        return f'{text[:-1]},"connections":[{items}]}}'
    except (TypeError, ValueError, KeyError):  # an unexpected value: the generic way
        return _dumps(stats.to_dict())
