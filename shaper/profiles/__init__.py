"""Profiles: named network conditions stored as TOML, one profile per file.

model (the values), schema (checking a table), document (TOML text), store (where
profiles live, listing, loading, saving). No sockets, no event loop: files only.
"""

from shaper.profiles.document import dump_profile, parse_profile, profile_to_dict
from shaper.profiles.model import (
    ORIGIN_DIR,
    ORIGIN_FILE,
    ORIGIN_INLINE,
    ORIGIN_LOCAL,
    ORIGIN_PRESET,
    ORIGIN_USER,
    Profile,
    ProfileError,
    ProfileInfo,
)
from shaper.profiles.schema import profile_from_dict
from shaper.profiles.store import (
    available_names,
    list_profiles,
    load_file,
    load_profile,
    looks_like_path,
    presets_dir,
    resolve_profile,
    save_profile,
    search_dirs,
    user_profiles_dir,
)
from shaper.profiles.traces import install as _install_trace_loader

# Limits written trace:NAME are read from the search path from here on (see traces.py).
_install_trace_loader()

__all__ = [
    "ORIGIN_DIR",
    "ORIGIN_FILE",
    "ORIGIN_INLINE",
    "ORIGIN_LOCAL",
    "ORIGIN_PRESET",
    "ORIGIN_USER",
    "Profile",
    "ProfileError",
    "ProfileInfo",
    "available_names",
    "dump_profile",
    "list_profiles",
    "load_file",
    "load_profile",
    "looks_like_path",
    "parse_profile",
    "presets_dir",
    "profile_from_dict",
    "profile_to_dict",
    "resolve_profile",
    "save_profile",
    "search_dirs",
    "user_profiles_dir",
]
