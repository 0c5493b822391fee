"""Where a key sits in TOML text: best effort, so error messages can name the line."""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\[(\[)?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in text.split(".")]


def key_lines(text: str) -> dict[str, int]:
    """Map key paths ('downstream.rate', 'scenario.phases[1].duration') to 1-based lines."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    table = ""

    def indexed(parts: list[str]) -> str:
        out, plain = [], []
        for part in parts:
            plain.append(part)
            out.append(part)
            key = ".".join(plain)
            if key in arrays:
                out[-1] = f"{part}[{arrays[key]}]"
        return ".".join(out)

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            parts = _dotted(header.group(2))
            if header.group(1):  # [[array.of.tables]]
                key = ".".join(parts)
                arrays[key] = arrays.get(key, -1) + 1
            table = indexed(parts)
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            path = ".".join(p for p in [table, *_dotted(assign.group(1))] if p)
            lines.setdefault(path, number)
    return lines


def line_of(lines: dict[str, int], field: str | None) -> int | None:
    if not lines or not field:
        return None
    path = field
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return lines.get(path)
