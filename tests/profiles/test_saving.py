"""Saving profiles: the user directory, no silent overwrite, no silent shadowing."""

from __future__ import annotations

import pytest

from shaper.model.limits import Limits
from shaper.profiles import (
    ProfileError,
    load_profile,
    profile_from_dict,
    save_profile,
    user_profiles_dir,
)


def test_save_writes_to_the_user_dir_and_refuses_to_overwrite():
    limits = Limits().with_both({"rate": "3Mbit", "latency": "30ms"})
    path = save_profile("mine", limits, description="three megabit")
    assert path == user_profiles_dir() / "mine.toml"
    assert load_profile("mine").limits == limits
    assert load_profile("mine").origin == "user"
    with pytest.raises(ProfileError) as info:
        save_profile("mine", Limits())
    assert "already exists" in str(info.value) and "--force" in str(info.value)
    assert load_profile("mine").limits == limits
    save_profile("mine", Limits(), force=True)
    assert load_profile("mine").limits == Limits()


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "with space", "-dash", "mine\n"])
def test_save_rejects_bad_names(name):
    with pytest.raises(ProfileError) as info:
        save_profile(name, Limits())
    assert "invalid profile name" in str(info.value)
    assert not user_profiles_dir().exists() or not any(user_profiles_dir().iterdir())
    with pytest.raises(ProfileError) as info:
        profile_from_dict({"name": name})
    assert info.value.field == "name"


def test_save_refuses_to_hide_a_preset_without_force():
    with pytest.raises(ProfileError) as info:
        save_profile("3g", Limits().with_both({"rate": "1Mbit"}))
    message = str(info.value)
    assert "would hide the preset profile of that name (built-in presets)" in message
    assert "--force" in message and info.value.field == "name"
    assert not (user_profiles_dir() / "3g.toml").exists()
    assert load_profile("3g").origin == "preset"
    save_profile("3g", Limits().with_both({"rate": "1Mbit"}), force=True)
    assert load_profile("3g").origin == "user"
    assert load_profile("3g").limits.downstream.rate == 1_000_000


def test_save_refuses_a_name_a_directory_searched_first_keeps(isolated):
    # In a checkout, ./profiles holds the presets and is searched before the user's directory:
    # a saved "3g" there would never be the one loaded by name.
    (isolated / "profiles").mkdir()
    (isolated / "profiles" / "office.toml").write_text('[downstream]\nrate = "5Mbit"\n')
    with pytest.raises(ProfileError) as info:
        save_profile("office", Limits())
    message = str(info.value)
    assert "would be hidden: the name loads" in message
    assert str(isolated / "profiles" / "office.toml") in message and "--force" in message
    assert not (user_profiles_dir() / "office.toml").exists()
    save_profile("office", Limits(), force=True)
    assert (user_profiles_dir() / "office.toml").exists()
