"""Where profiles live and how a name resolves: an explicit profiles directory, then
./profiles, then the user's config directory, then the presets shipped inside the
package (first match wins). A path to a .toml file works anywhere a name does."""

from __future__ import annotations

import difflib
import importlib.resources
import os
import re
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import platformdirs

from shaper.model.limits import Limits
from shaper.profiles.document import dump_profile, parse_profile
from shaper.profiles.model import (
    NAME_FORM,
    NAME_RE,
    ORIGIN_DIR,
    ORIGIN_FILE,
    ORIGIN_LOCAL,
    ORIGIN_PRESET,
    ORIGIN_USER,
    SUFFIX,
    Profile,
    ProfileError,
    ProfileInfo,
)
from shaper.shaping.scenario import Scenario

# --- where profiles live -------------------------------------------------------------------


def user_profiles_dir() -> Path:
    """The user's own profiles: <user config dir>/shaper/profiles (platformdirs)."""
    return Path(platformdirs.user_config_dir("shaper")) / "profiles"


def presets_dir() -> Traversable | None:
    """The presets shipped with the package (shaper/presets in a wheel), else the checkout's
    profiles/ directory."""
    try:
        shipped = importlib.resources.files("shaper").joinpath("presets")
        if shipped.is_dir():
            return shipped
    except (ModuleNotFoundError, OSError):  # pragma: no cover - always importable
        pass
    checkout = Path(__file__).resolve().parents[2] / "profiles"
    return checkout if checkout.is_dir() else None


def search_dirs(profiles_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, Any]]:
    """(origin, directory) pairs in resolution order; the same directory appears once."""
    candidates: list[tuple[str, Any]] = []
    if profiles_dir is not None:
        candidates.append((ORIGIN_DIR, Path(profiles_dir)))
    candidates.append((ORIGIN_LOCAL, Path.cwd() / "profiles"))
    candidates.append((ORIGIN_USER, user_profiles_dir()))
    presets = presets_dir()
    if presets is not None:
        candidates.append((ORIGIN_PRESET, presets))
    # In a checkout, ./profiles may be the presets directory itself: call it what it is.
    preset_key = _identity(presets) if presets is not None else None
    result = []
    seen: set[str] = set()
    for origin, directory in candidates:
        key = _identity(directory)
        if key in seen:
            continue
        seen.add(key)
        result.append((ORIGIN_PRESET if key == preset_key else origin, directory))
    return result


def _identity(directory: Any) -> str:
    try:
        return str(Path(str(directory)).resolve())
    except OSError:  # pragma: no cover
        return str(directory)


def _entries(directory: Any) -> list[Any]:
    try:
        if not directory.is_dir():
            return []
        return sorted(
            (e for e in directory.iterdir() if e.name.endswith(SUFFIX) and e.is_file()),
            key=lambda e: e.name,
        )
    except OSError:
        return []


def looks_like_path(name: str) -> bool:
    """Is this a path to a profile file rather than a name (a .toml suffix, a directory
    part, a leading '.' or '~')?"""
    return (
        name.endswith(SUFFIX)
        or "/" in name
        or (os.sep in name)
        or (os.altsep is not None and os.altsep in name)
        or name.startswith(".")
        or name.startswith("~")
    )


def available_names(profiles_dir: str | os.PathLike[str] | None = None) -> list[str]:
    names: set[str] = set()
    for _origin, directory in search_dirs(profiles_dir):
        names.update(e.name[: -len(SUFFIX)] for e in _entries(directory))
    return sorted(names)


def resolve_profile(
    name_or_path: str | os.PathLike[str], profiles_dir: str | os.PathLike[str] | None = None
) -> tuple[str, Any]:
    """(origin, file) for a name or path; raises ProfileError listing the existing names."""
    text = os.fspath(name_or_path)
    if not text.strip():
        raise ProfileError(
            "empty profile name", field="profile", value=text, accepted="a profile name or a path"
        )
    if isinstance(name_or_path, os.PathLike) or looks_like_path(text):
        path = Path(text).expanduser()
        if path.is_file():
            return ORIGIN_FILE, path
        if path.is_dir():
            raise ProfileError(
                f"{text} is a directory, not a profile file (give a .toml file, or a "
                "directory of profiles with --profiles-dir)",
                field="profile",
                value=text,
                accepted="an existing .toml file or a profile name",
            )
        if not (path.suffix == SUFFIX or "/" in text or os.sep in text):
            pass  # fall through: a dotted name such as "my.profile" may still be a name
        else:
            raise ProfileError(
                f"profile file not found: {text}",
                field="profile",
                value=text,
                accepted="an existing .toml file or a profile name",
            )
    for origin, directory in search_dirs(profiles_dir):
        candidate = directory.joinpath(text + SUFFIX)
        try:
            if candidate.is_file():
                return origin, candidate
        except OSError:
            continue
    names = available_names(profiles_dir)
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    places = ", ".join(_describe_dir(o, d) for o, d in search_dirs(profiles_dir))
    listing = ", ".join(names) if names else "(none)"
    raise ProfileError(
        f"no profile named {text!r}.{hint} Available profiles: {listing}. Looked in: {places}",
        field="profile",
        value=text,
        accepted="one of: " + listing,
    )


def _describe_dir(origin: str, directory: Any) -> str:
    if origin == ORIGIN_PRESET:
        return "built-in presets"
    return str(directory)


# --- loading -------------------------------------------------------------------------------


def load_profile(
    name_or_path: str | os.PathLike[str], profiles_dir: str | os.PathLike[str] | None = None
) -> Profile:
    """Load a profile by name (see the resolution order above) or by path."""
    origin, file = resolve_profile(name_or_path, profiles_dir)
    return _load_file(file, origin)


def load_file(path: str | os.PathLike[str]) -> Profile:
    """Load one profile file, whatever its location."""
    file = Path(path)
    if file.is_dir():
        raise ProfileError(
            f"{file} is a directory, not a profile file", field="profile", value=str(file)
        )
    if not file.is_file():
        raise ProfileError(f"profile file not found: {file}", field="profile", value=str(file))
    return _load_file(file, ORIGIN_FILE)


def _load_file(file: Any, origin: str) -> Profile:
    label = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"not UTF-8 text: {exc.reason}", file=label) from None
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror or exc}", file=label) from None
    stem = file.name[: -len(SUFFIX)] if file.name.endswith(SUFFIX) else file.name
    return parse_profile(text, file=label, default_name=stem, origin=origin)


# --- listing -------------------------------------------------------------------------------


def list_profiles(profiles_dir: str | os.PathLike[str] | None = None) -> list[ProfileInfo]:
    """Every profile name that resolves, with the file it resolves to (first match wins)."""
    found: dict[str, ProfileInfo] = {}
    for origin, directory in search_dirs(profiles_dir):
        for entry in _entries(directory):
            name = entry.name[: -len(SUFFIX)]
            if name in found:
                continue
            try:
                profile = _load_file(entry, origin)
                info = ProfileInfo(name, _one_line(profile.description), origin, str(entry))
            except ProfileError as exc:
                info = ProfileInfo(name, "", origin, str(entry), error=str(exc))
            found[name] = info
    return sorted(found.values(), key=_sort_key)


def _sort_key(info: ProfileInfo) -> tuple[str, ...]:
    # Natural order: "2g" < "3g" < "10g"
    return tuple(
        part.zfill(8) if part.isdigit() else part for part in re.split(r"(\d+)", info.name.lower())
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def save_profile(
    name: str,
    limits: Limits,
    description: str = "",
    force: bool = False,
    directory: str | os.PathLike[str] | None = None,
    source: str = "",
    scenario: Scenario | None = None,
) -> Path:
    """Write a profile file to `directory` (default: the user's profiles directory).

    Refuses, unless `force`, to overwrite an existing file or to hide a profile of the same
    name found later in the search order (a preset, say). Returns the path written.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ProfileError(
            f"invalid profile name {name!r}: expected {NAME_FORM}",
            field="name",
            value=name,
            accepted=NAME_FORM,
        )
    target_dir = Path(directory) if directory is not None else user_profiles_dir()
    path = target_dir / (name + SUFFIX)
    if path.exists() and not force:
        raise ProfileError(
            f"{path} already exists; use --force to overwrite it",
            field="name",
            value=name,
            accepted="a new name, or --force",
        )
    if not force:
        hidden = shadowed_by(target_dir, name)
        if hidden is not None:
            raise ProfileError(
                f"saving {name!r} in {target_dir} would hide the {hidden[0]} profile of that "
                f"name ({hidden[1]}) wherever profiles are looked up by name; choose another "
                "name, or use --force to hide it",
                field="name",
                value=name,
                accepted="a name no other profile has, or --force",
            )
        first = hidden_by(target_dir, name)
        if first is not None:
            raise ProfileError(
                f"saving {name!r} in {target_dir} would be hidden: the name loads {first}, "
                "searched first; choose another name, or use --force to save it anyway",
                field="name",
                value=name,
                accepted="a name no other profile has, or --force",
            )
    profile = Profile(
        name=name, limits=limits, description=description, source=source, scenario=scenario
    )
    text = dump_profile(profile)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ProfileError(
            f"cannot write {path}: {exc.strerror or exc}", field="name", value=name
        ) from None
    return path


def shadowed_by(directory: Path, name: str) -> tuple[str, str] | None:
    """(origin, where) of the profile `name` that a file in `directory` would hide: one found
    in a directory searched after it. None when nothing would be hidden (or `directory` is
    not searched at all)."""
    searched = search_dirs()
    keys = [_identity(d) for _, d in searched]
    target = _identity(directory)
    if target not in keys:
        return None
    for origin, found in searched[keys.index(target) + 1 :]:
        candidate = found.joinpath(name + SUFFIX)
        try:
            if candidate.is_file():
                where = "built-in presets" if origin == ORIGIN_PRESET else str(candidate)
                return origin, where
        except OSError:
            continue
    return None


def hidden_by(directory: Path, name: str) -> str | None:
    """The file that keeps the name `name` ahead of a file in `directory`: one in a directory
    searched before it (./profiles, say, which in a checkout holds the presets)."""
    searched = search_dirs()
    keys = [_identity(d) for _, d in searched]
    target = _identity(directory)
    before = searched[: keys.index(target)] if target in keys else []
    for origin, found in before:
        candidate = found.joinpath(name + SUFFIX)
        try:
            if candidate.is_file():
                return (
                    f"the built-in preset ({candidate})"
                    if origin == ORIGIN_PRESET
                    else (str(candidate))
                )
        except OSError:
            continue
    return None
