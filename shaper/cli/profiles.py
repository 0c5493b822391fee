"""`shaper profiles list | show | validate | apply | save`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from shaper.cli import exits
from shaper.cli.flags import add_client_flags
from shaper.control.endpoint import ControlError
from shaper.model import units
from shaper.model.limits import DIRECTIONS, LIMIT_KEYS, LimitError, Limits
from shaper.profiles import (
    ORIGIN_PRESET,
    Profile,
    ProfileError,
    dump_profile,
    list_profiles,
    load_file,
    load_profile,
    looks_like_path,
    profile_to_dict,
    save_profile,
    user_profiles_dir,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "profiles",
        help="list, show, validate and save shaping profiles",
        description="Profiles are named network conditions stored as TOML. Names resolve from "
        "--profiles-dir, then ./profiles, then the user's directory "
        f"({user_profiles_dir()}), then the built-in presets. A path works wherever a name does.",
    )
    verbs = parser.add_subparsers(dest="profiles_command", metavar="VERB")
    verbs.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profiles-dir", metavar="DIR", help="look for profiles here first")

    p_list = verbs.add_parser("list", help="list the profiles by name, with where they come from")
    common(p_list)
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.set_defaults(func=cmd_list, parser=p_list)

    p_show = verbs.add_parser("show", help="show a profile's limits and scenario")
    common(p_show)
    p_show.add_argument("name", metavar="NAME|PATH")
    fmt = p_show.add_mutually_exclusive_group()
    fmt.add_argument("--toml", action="store_true", help="print the profile as TOML")
    fmt.add_argument("--json", action="store_true", help="print the profile as JSON")
    p_show.set_defaults(func=cmd_show, parser=p_show)

    p_validate = verbs.add_parser("validate", help="check profile files; exit 2 if any is invalid")
    common(p_validate)
    p_validate.add_argument("files", nargs="+", metavar="FILE|NAME")
    p_validate.set_defaults(func=cmd_validate, parser=p_validate)

    p_apply = verbs.add_parser(
        "apply",
        help="apply a profile to a running engine",
        description="Apply a profile to a running engine through its control API: its open "
        "connections take the new limits at once, and the profile's scenario starts. A NAME is "
        "looked up by the engine (shaper profiles list on its machine); a FILE (a path, or a "
        "name ending in .toml) is read here and sent whole, so it need not exist where the "
        "engine runs. Example: shaper profiles apply 3g --control 127.0.0.1:8475",
    )
    p_apply.add_argument("profile", metavar="NAME|FILE")
    add_client_flags(p_apply)
    p_apply.add_argument("--json", action="store_true", help="print the engine's answer as JSON")
    p_apply.set_defaults(func=cmd_apply, parser=p_apply)

    p_save = verbs.add_parser(
        "save",
        help="save the limits of a running engine as a profile",
        description="Read the limits of a running engine through its control API and write "
        f"them as a profile to the user's directory ({user_profiles_dir()}).",
    )
    p_save.add_argument("name", metavar="NAME")
    add_client_flags(p_save)
    p_save.add_argument("--description", default="", help="one line saying what this profile is")
    p_save.add_argument(
        "--force",
        action="store_true",
        help="overwrite an existing profile, or hide a preset of the same name",
    )
    p_save.add_argument(
        "--dir",
        dest="directory",
        metavar="DIR",
        default=None,
        help="write here instead of the user's directory",
    )
    p_save.set_defaults(func=cmd_save, parser=p_save)


def _error(message: str) -> int:
    print(f"shaper: error: {message}", file=sys.stderr)
    return exits.USAGE


# --- list -----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    infos = list_profiles(args.profiles_dir)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return exits.OK
    if not infos:
        print("no profiles found")
        return exits.OK
    width = max(len(i.name) for i in infos)
    origin_width = max(len(i.origin) for i in infos)
    places: dict[str, str] = {}
    for info in infos:
        description = info.description or ""
        if info.error:
            description = "(invalid: run `shaper profiles validate " + info.path + "`)"
        print(f"{info.name.ljust(width)}  {info.origin.ljust(origin_width)}  {description}")
        if info.origin != ORIGIN_PRESET:
            places.setdefault(info.origin, str(_parent(info.path)))
    for origin, place in places.items():
        print(f"\n{origin}: {place}", end="")
    if places:
        print()
    return exits.OK


def _parent(path: str) -> str:
    return str(Path(path).parent)


# --- show -----------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        profile = load_profile(args.name, args.profiles_dir)
    except ProfileError as exc:
        return _error(str(exc))
    if args.toml:
        sys.stdout.write(dump_profile(profile))
    elif args.json:
        print(json.dumps(profile.to_dict(), indent=2))
    else:
        print(describe_profile(profile))
    return exits.OK


def describe_profile(profile: Profile) -> str:
    lines = [f"{profile.name}  ({profile.origin}: {profile.path or 'inline'})"]
    if profile.description:
        lines.append(f"  {profile.description}")
    if profile.source:
        lines.append(f"  source: {profile.source}")
    lines.append("")
    lines.extend(_limits_table(profile.limits))
    if profile.scenario is not None:
        scenario = profile.scenario
        kind = "repeats" if scenario.repeat else "runs once, then keeps the last phase"
        lines.append("")
        lines.append(
            f"scenario: {len(scenario.phases)} phases, "
            f"{units.format_duration(scenario.total_us)} per pass, {kind}"
        )
        start = 0
        for i, phase in enumerate(scenario.phases, 1):
            changes = []
            for direction in DIRECTIONS:
                for key, value in (phase.changes.get(direction) or {}).items():
                    changes.append(f"{direction}.{key}={_show_value(value)}")
            what = ", ".join(changes) if changes else "base limits"
            lines.append(
                f"  {i}. {phase.name}: {units.format_duration(phase.duration_us)} "
                f"(from {units.format_duration(start) if start else '0s'}): {what}"
            )
            start += phase.duration_us
    return "\n".join(lines)


def _show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _limits_table(limits: Limits) -> list[str]:
    data = limits.to_dict()
    width = max(len(k) for k in LIMIT_KEYS)
    column = max(12, *(len(_show_value(v)) for v in data["upstream"].values()))
    rows = [f"  {''.ljust(width)}  {'upstream':<{column}}  downstream"]
    for key in LIMIT_KEYS:
        up = _show_value(data["upstream"][key])
        down = _show_value(data["downstream"][key])
        rows.append(f"  {key.ljust(width)}  {up:<{column}}  {down}")
        if key == "rate" and any("trace_rate" in data[d] for d in DIRECTIONS):
            # A trace's mean rate, under the trace:NAME it comes from.
            up, down = (f"~{data[d].get('trace_rate', '-')} mean" for d in DIRECTIONS)
            rows.append(f"  {''.ljust(width)}  {up:<{column}}  {down}")
    return rows


# --- validate -------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    failed = 0
    for item in args.files:
        try:
            profile = load_profile(item, args.profiles_dir)
        except ProfileError as exc:
            failed += 1
            print(f"invalid  {exc}", file=sys.stderr)
            continue
        extra = f", scenario of {len(profile.scenario.phases)} phases" if profile.scenario else ""
        print(f"ok       {profile.path or item} (profile {profile.name}{extra})")
    if failed:
        print(f"{failed} of {len(args.files)} invalid", file=sys.stderr)
        return exits.USAGE
    return exits.OK


# --- apply ----------------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from shaper.cli.remote import client_for, format_limits, report

    body = None
    if looks_like_path(args.profile) or Path(args.profile).is_file():
        try:
            body = profile_to_dict(load_file(Path(args.profile).expanduser()))
        except ProfileError as exc:
            return _error(str(exc))

    async def apply() -> dict[str, Any]:
        async with client_for(args) as client:
            if body is not None:
                return await client.apply_profile(body=body)
            return await client.apply_profile(name=args.profile)

    try:
        state = asyncio.run(apply())
    except ControlError as exc:
        return report("profiles apply", exc)
    if args.json:
        print(json.dumps(state, indent=2))
        return exits.OK
    where = "read from " + args.profile if body is not None else "by name"
    print(f"applied profile {state.get('profile')} ({where})")
    scenario = state.get("scenario")
    if scenario:
        print(f"scenario: {scenario.get('phases')} phases, now {scenario.get('phase')!r}")
    print(format_limits(Limits.from_dict(state["limits"]), title="engine limits"))
    return exits.OK


# --- save -----------------------------------------------------------------------------------


def cmd_save(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from shaper.cli.remote import client_for, report

    async def engine_limits() -> tuple[str, Limits]:
        async with client_for(args) as client:
            return client.url, await client.limits()

    try:
        url, limits = asyncio.run(engine_limits())
    except ControlError as exc:
        return report("profiles save", exc)
    except LimitError as exc:
        print(f"shaper: error: the engine sent limits that do not validate: {exc}", file=sys.stderr)
        return exits.FAILED
    try:
        path = save_profile(
            args.name,
            limits,
            description=args.description,
            force=args.force,
            directory=args.directory,
            source=f"saved from the engine at {url}",
        )
    except ProfileError as exc:
        return _error(str(exc))
    print(f"saved profile {args.name} to {path}")
    return exits.OK
