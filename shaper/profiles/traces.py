"""Where capacity traces live and how `trace:NAME` resolves: a `traces/` folder in each
directory of the profile search path (an explicit profiles directory, ./profiles, the
user's directory, the shipped presets), as NAME.trace or NAME; first match wins. A path
(with a '/', a leading '.' or '~', or a .trace suffix) is read as it is.

Installed as the model's trace loader when this package is imported, so every limit that
the engine, the command line or the API parses can read its trace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shaper.model import traces
from shaper.model.traces import Trace, TraceError
from shaper.profiles.store import search_dirs

FOLDER = "traces"
SUFFIX = ".trace"

_profiles_dir: str | os.PathLike[str] | None = None
# Parsed traces by (file, mtime, size): a scenario re-applies its phases' limits every
# phase, and a 60 s trace is tens of thousands of lines.
_cache: dict[tuple[str, int, int], Trace] = {}
_CACHE_MAX = 32


def use_profiles_dir(directory: str | os.PathLike[str] | None) -> None:
    """Look in this directory's traces/ folder first (the command line's --profiles-dir)."""
    global _profiles_dir
    _profiles_dir = directory


def looks_like_path(name: str) -> bool:
    return (
        name.endswith(SUFFIX)
        or "/" in name
        or os.sep in name
        or name.startswith(".")
        or name.startswith("~")
    )


def available_names() -> list[str]:
    names: set[str] = set()
    for _origin, directory in search_dirs(_profiles_dir):
        folder = directory.joinpath(FOLDER)
        try:
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name.endswith(SUFFIX) and entry.is_file():
                    names.add(entry.name[: -len(SUFFIX)])
        except OSError:
            continue
    return sorted(names)


def find(name: str) -> Any:
    """The file for `name` (a Path or a packaged resource); raises TraceError."""
    spec = traces.PREFIX + name
    if looks_like_path(name):
        path = Path(name).expanduser()
        if path.is_file():
            return path
        raise TraceError(spec, f"trace file not found: {name}")
    for _origin, directory in search_dirs(_profiles_dir):
        folder = directory.joinpath(FOLDER)
        for candidate in (folder.joinpath(name + SUFFIX), folder.joinpath(name)):
            try:
                if candidate.is_file():
                    return candidate
            except OSError:
                continue
    listing = ", ".join(available_names()) or "(none)"
    raise TraceError(
        spec,
        f"no trace named {name!r}; traces on the search path: {listing} "
        "(or give a path to a trace file)",
    )


def load_trace(name: str) -> Trace:
    file = find(name)
    key = None
    if isinstance(file, Path):
        try:
            info = file.stat()
            key = (str(file.resolve()), info.st_mtime_ns, info.st_size)
        except OSError:
            key = None
        if key is not None and key in _cache:
            return _cache[key]
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TraceError(
            traces.PREFIX + name, f"{file} is not text (a trace is UTF-8 lines of digits)"
        ) from None
    except OSError as exc:
        raise TraceError(
            traces.PREFIX + name, f"cannot read {file}: {exc.strerror or exc}"
        ) from None
    trace = traces.parse_trace(text, name, label=str(file))
    if key is not None:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = trace
    return trace


def install() -> None:
    traces.set_loader(load_trace)
