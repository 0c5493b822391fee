"""Where profiles come from: the resolution order, paths, listing."""

from __future__ import annotations

import os

from profile_samples import GOOD, REQUIRED, write

from shaper.profiles import (
    list_profiles,
    load_profile,
    presets_dir,
    search_dirs,
    user_profiles_dir,
)


def test_resolution_order(isolated, tmp_path):
    body = '[downstream]\nrate = "{}"\n'
    explicit = tmp_path / "explicit"
    write(explicit / "3g.toml", body.format("1Mbit"))
    write(isolated / "profiles" / "3g.toml", body.format("2Mbit"))
    write(isolated / "profiles" / "dsl.toml", body.format("2Mbit"))
    write(user_profiles_dir() / "3g.toml", body.format("3Mbit"))
    write(user_profiles_dir() / "dsl.toml", body.format("3Mbit"))
    write(user_profiles_dir() / "lte.toml", body.format("3Mbit"))

    def rate(name, profiles_dir=None):
        return load_profile(name, profiles_dir).limits.downstream.rate

    assert rate("3g", explicit) == 1_000_000
    assert load_profile("3g", explicit).origin == "profiles-dir"
    assert rate("3g") == 2_000_000 and rate("dsl") == 2_000_000
    assert load_profile("dsl").origin == "local"
    assert rate("lte") == 3_000_000 and load_profile("lte").origin == "user"
    assert rate("cable") == 5_000_000 and load_profile("cable").origin == "preset"
    assert [origin for origin, _ in search_dirs(explicit)] == [
        "profiles-dir",
        "local",
        "user",
        "preset",
    ]


def test_user_dir_comes_from_platformdirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert user_profiles_dir() == tmp_path / "config" / "shaper" / "profiles"


def test_a_path_works_where_a_name_does(isolated, tmp_path):
    path = write(tmp_path / "elsewhere" / "mine.toml", GOOD)
    for spelling in (str(path), path, os.path.relpath(path, isolated)):
        profile = load_profile(spelling)
        assert profile.name == "office" and profile.origin == "file"
        assert profile.path == str(spelling)


def test_presets_are_found_from_anywhere():
    # The test runs in an empty directory: the presets come from the package.
    origin, directory = search_dirs()[-1]
    assert origin == "preset"
    assert directory.joinpath("3g.toml").is_file()
    assert presets_dir() is not None


def test_list_shows_names_descriptions_and_origins(isolated):
    write(isolated / "profiles" / "3g.toml", 'description = "my own 3g"\n')
    write(user_profiles_dir() / "home.toml", 'description = "home\\nwifi"\n')
    write(user_profiles_dir() / "broken.toml", "name = \n")
    infos = {i.name: i for i in list_profiles()}
    assert set(REQUIRED) <= set(infos)
    assert infos["3g"].origin == "local" and infos["3g"].description == "my own 3g"
    assert infos["home"].origin == "user" and infos["home"].description == "home wifi"
    assert infos["cable"].origin == "preset" and infos["cable"].description.startswith("Cable")
    assert infos["broken"].error and "broken.toml:1" in infos["broken"].error
    assert all(i.error is None for n, i in infos.items() if n != "broken")
    names = [i.name for i in list_profiles()]
    assert names.index("2g") < names.index("3g") < names.index("4g")
