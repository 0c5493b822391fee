"""A profile's seed: read, written back, refused when it is not a whole number, and used
by the engine unless the engine was given a seed of its own."""

from __future__ import annotations

import pytest

from shaper.engine.engine import Engine
from shaper.model.routes import Route
from shaper.profiles import dump_profile, parse_profile
from shaper.profiles.model import ProfileError
from shaper.profiles.schema import profile_from_dict

TEXT = 'name = "lossy"\nseed = 42\n[downstream]\nloss = "1%"\n'


def test_a_profile_seed_reads_and_writes_back():
    profile = parse_profile(TEXT, "lossy.toml")
    assert profile.seed == 42
    assert profile.limits.downstream.loss == pytest.approx(0.01)
    again = parse_profile(dump_profile(profile), "again.toml")
    assert again.seed == 42 and again.limits == profile.limits
    assert profile_from_dict({"name": "plain"}).seed is None


@pytest.mark.parametrize("bad", [-1, "7", 1.5, True])
def test_a_seed_that_is_not_a_whole_number_is_refused(bad):
    with pytest.raises(ProfileError) as caught:
        profile_from_dict({"name": "x", "seed": bad})
    assert caught.value.field == "seed"
    assert "whole number" in str(caught.value)


async def test_the_engine_takes_the_profile_seed_unless_given_one():
    route = [Route(("127.0.0.1", 0), ("127.0.0.1", 9))]
    profile = parse_profile(TEXT, "lossy.toml")
    engine = Engine(route)
    engine.apply_profile(profile)
    assert engine.seed == 42
    assert any(e.kind == "seed" and "42" in e.message for e in engine.snapshot().events)
    given = Engine(route, seed=7)
    given.apply_profile(profile)
    assert given.seed == 7
