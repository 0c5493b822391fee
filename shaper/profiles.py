"""Profiles: named network conditions stored as TOML, one profile per file.

A profile has a name, a description, a source (where its numbers come from),
base limits for each direction (the same unit strings as the CLI) and,
optionally, a scenario: phases whose changes are applied on top of the base
limits for a while each.

Names resolve, first match wins, from: an explicit profiles directory, then
./profiles, then the user's config directory, then the presets shipped inside
the package. A path to a .toml file works anywhere a name does.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from shaper import units
from shaper.limits import DIRECTIONS, LIMIT_KEYS, LimitError, Limits
from shaper.scenario import Scenario, ScenarioError, apply_profile, stop_scenario

__all__ = [
    "Profile",
    "ProfileError",
    "ProfileInfo",
    "apply_profile",
    "dump_profile",
    "list_profiles",
    "load_profile",
    "profile_from_dict",
    "resolve_profile",
    "save_profile",
    "search_dirs",
    "stop_scenario",
    "user_profiles_dir",
]

SUFFIX = ".toml"
TOP_KEYS = ("name", "description", "source", "upstream", "downstream", "scenario")
SCENARIO_KEYS = ("repeat", "phases")
PHASE_KEYS = ("name", "duration", "upstream", "downstream")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
NAME_FORM = "letters, digits, '.', '_', '+' and '-', starting with a letter or digit (e.g. 3g-slow)"

# Where a profile was found, in resolution order.
ORIGIN_DIR = "profiles-dir"
ORIGIN_LOCAL = "local"
ORIGIN_USER = "user"
ORIGIN_PRESET = "preset"
ORIGIN_FILE = "file"
ORIGIN_INLINE = "inline"


class ProfileError(ValueError):
    """A profile that cannot be found, read or used.

    The message starts with the location (`file:line:column:` where known) and names the key
    path, the bad value and the accepted form. `field` is the key path (e.g. 'downstream.rate').
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        value: object = None,
        accepted: str | None = None,
    ):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.value = value
        self.accepted = accepted
        location = ""
        if file:
            location = file
            if line:
                location += f":{line}"
                if column:
                    location += f":{column}"
        super().__init__(f"{location}: {message}" if location else message)


@dataclass(frozen=True)
class Profile:
    name: str
    limits: Limits
    description: str = ""
    source: str = ""  # where the numbers come from
    scenario: Scenario | None = None
    origin: str = ORIGIN_INLINE  # profiles-dir, local, user, preset, file or inline
    path: str | None = None  # file it was read from

    def with_overrides(self, changes: Mapping[str, Any]) -> Profile:
        """A copy where `changes` (partial limits of unit strings) win over the base limits and
        over every phase of the scenario. Raises LimitError."""
        limits = self.limits.patched(dict(changes))
        scenario = self.scenario.rebased(limits, changes) if self.scenario else None
        return dataclasses.replace(self, limits=limits, scenario=scenario)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for the control API): unit strings throughout."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "origin": self.origin,
            "path": self.path,
            "limits": self.limits.to_dict(),
            "scenario": self.scenario.to_dict() if self.scenario else None,
        }


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    description: str
    origin: str
    path: str
    error: str | None = None  # set when the file does not load; the listing still shows it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    checkout = Path(__file__).resolve().parent.parent / "profiles"
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


def _looks_like_path(name: str) -> bool:
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
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        path = Path(text).expanduser()
        if path.is_file():
            return ORIGIN_FILE, path
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


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_profile(
    text: str, file: str = "<inline>", default_name: str | None = None, origin: str = ORIGIN_FILE
) -> Profile:
    """Parse the TOML text of a profile; errors carry the file, line and column."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = column = None
        match = _TOML_POSITION.search(message)
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()]
        elif _TOML_END.search(message):
            rows = text.split("\n")
            line, column = len(rows), len(rows[-1]) + 1
            message = _TOML_END.sub("", message) + " (at end of file)"
        raise ProfileError(
            f"TOML syntax error: {message}", file=file, line=line, column=column
        ) from None
    return profile_from_dict(data, source=file, default_name=default_name, origin=origin, text=text)


def profile_from_dict(
    data: Mapping[str, Any],
    source: str = "<inline>",
    *,
    default_name: str | None = None,
    origin: str | None = None,
    text: str | None = None,
) -> Profile:
    """Build and validate a profile from its table form (the TOML document, or a JSON body).

    `source` names where the data came from in error messages (a file path or '<inline>');
    `text`, when given, is the TOML text, used to find the line of a bad key.
    """
    lines = _key_lines(text) if text else {}

    def fail(field: str, message: str, value: object = None, accepted: str | None = None):
        return ProfileError(
            message,
            file=source,
            line=_line_of(lines, field),
            field=field,
            value=value,
            accepted=accepted,
        )

    if not isinstance(data, Mapping):
        raise fail("", "a profile must be a table (object)", data, "a table")
    for key in data:
        if key not in TOP_KEYS:
            raise fail(key, _unknown(key, key, TOP_KEYS, "key"), data[key], ", ".join(TOP_KEYS))

    name = data.get("name", default_name)
    if name is None:
        raise fail("name", "missing 'name'", None, NAME_FORM)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise fail(
            "name", f"name: invalid profile name {name!r}: expected {NAME_FORM}", name, NAME_FORM
        )
    strings = {}
    for key in ("description", "source"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise fail(key, f"{key}: expected a string, got {value!r}", value, "a string")
        strings[key] = value

    base: dict[str, Any] = {}
    for direction in DIRECTIONS:
        if direction in data:
            table = data[direction]
            if not isinstance(table, Mapping):
                raise fail(
                    direction,
                    f"{direction}: expected a table of limits, got {table!r}",
                    table,
                    f"a [{direction}] table with keys {', '.join(LIMIT_KEYS)}",
                )
            base[direction] = dict(table)
    try:
        limits = Limits().patched(base)
    except LimitError as exc:
        raise fail(exc.field, str(exc), exc.value, exc.accepted) from None

    scenario = None
    if "scenario" in data:
        scenario = _scenario(data["scenario"], limits, fail)

    return Profile(
        name=name,
        limits=limits,
        description=strings["description"],
        source=strings["source"],
        scenario=scenario,
        origin=origin or (ORIGIN_INLINE if source == "<inline>" else ORIGIN_FILE),
        path=None if source == "<inline>" else source,
    )


def _scenario(table: Any, limits: Limits, fail) -> Scenario:
    form = "a [scenario] table with repeat = true|false and [[scenario.phases]] entries"
    if not isinstance(table, Mapping):
        raise fail("scenario", f"scenario: expected a table, got {table!r}", table, form)
    for key in table:
        if key not in SCENARIO_KEYS:
            raise fail(
                f"scenario.{key}",
                _unknown(f"scenario.{key}", key, SCENARIO_KEYS, "key"),
                table[key],
                ", ".join(SCENARIO_KEYS),
            )
    repeat = table.get("repeat", False)
    if not isinstance(repeat, bool):
        raise fail(
            "scenario.repeat",
            f"scenario.repeat: expected true or false, got {repeat!r}",
            repeat,
            "true or false",
        )
    phases = table.get("phases")
    if not isinstance(phases, list) or not phases:
        raise fail(
            "scenario.phases",
            "scenario.phases: expected at least one phase ([[scenario.phases]] with name and "
            f"duration), got {phases!r}",
            phases,
            "one or more [[scenario.phases]] tables",
        )
    for i, phase in enumerate(phases):
        path = f"scenario.phases[{i}]"
        if not isinstance(phase, Mapping):
            raise fail(
                path,
                f"{path}: expected a table, got {phase!r}",
                phase,
                "a table with " + ", ".join(PHASE_KEYS),
            )
        for key in phase:
            if key not in PHASE_KEYS:
                raise fail(
                    f"{path}.{key}",
                    _unknown(f"{path}.{key}", key, PHASE_KEYS, "key"),
                    phase[key],
                    ", ".join(PHASE_KEYS),
                )
        name = phase.get("name")
        if name is not None and not isinstance(name, str):
            raise fail(
                f"{path}.name", f"{path}.name: expected a string, got {name!r}", name, "a string"
            )
        for direction in DIRECTIONS:
            if direction in phase and not isinstance(phase[direction], Mapping):
                raise fail(
                    f"{path}.{direction}",
                    f"{path}.{direction}: expected a table of limits, got {phase[direction]!r}",
                    phase[direction],
                    "a table of limits",
                )
    try:
        return Scenario.build(limits, phases, repeat=repeat)
    except (LimitError, ScenarioError) as exc:
        raise fail(exc.field, str(exc), exc.value, exc.accepted) from None


def _unknown(path: str, key: str, known: tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path}: unknown {what} {key!r}{hint}; expected one of: {', '.join(known)}"


# --- finding the line of a key in TOML text (best effort, for messages) --------------------

_HEADER = re.compile(r"^\[(\[)?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in text.split(".")]


def _key_lines(text: str) -> dict[str, int]:
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


def _line_of(lines: dict[str, int], field: str | None) -> int | None:
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


# --- saving --------------------------------------------------------------------------------


def _format_rate(bits: int) -> str:
    """Rates as people write them: 1600kbit rather than 200000B/s."""
    text = units.format_rate(bits)
    if bits and "B/s" in text and bits % 1000 == 0:
        return f"{bits // 1000}kbit"
    return text


def _limits_tables(limits: Limits) -> dict[str, dict[str, Any]]:
    tables = limits.to_dict()
    for direction in DIRECTIONS:
        tables[direction]["rate"] = _format_rate(limits.direction(direction).rate)
    return tables


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """The TOML document of a profile (base limits in full, phases as their changes)."""
    data: dict[str, Any] = {"name": profile.name}
    if profile.description:
        data["description"] = profile.description
    if profile.source:
        data["source"] = profile.source
    data.update(_limits_tables(profile.limits))
    if profile.scenario is not None:
        data["scenario"] = profile.scenario.to_dict()
    return data


def dump_profile(profile: Profile) -> str:
    return tomli_w.dumps(profile_to_dict(profile))


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

    Refuses to overwrite an existing file unless `force`. Returns the path written.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
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
