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
