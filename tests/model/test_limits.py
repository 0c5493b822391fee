"""Per-direction limits: validation, partial updates, dict form."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shaper.model import units
from shaper.model.limits import (
    DEFAULT_BUFFER,
    DIRECTIONS,
    LIMIT_KEYS,
    MAX_BUFFER,
    DirectionLimits,
    LimitError,
    Limits,
)

DEFAULT_DICT = {
    "rate": "off",
    "burst": "0B",
    "latency": "0ms",
    "jitter": "0ms",
    "jitter_distribution": "uniform",
    "buffer": "256KiB",
    "sockbuf": "default",
    "stall": False,
    "link": "shared",
    "tcp": "emulated",
    "loss": "0%",
    "loss_burst": 1,
}


def test_defaults():
    limits = Limits()
    for name in DIRECTIONS:
        direction = limits.direction(name)
        assert direction == DirectionLimits()
        assert direction.buffer == DEFAULT_BUFFER == 256 * 1024
        assert direction.rate == 0
        assert direction.sockbuf is None
        assert direction.shaped is False
    assert limits.to_dict() == {"upstream": DEFAULT_DICT, "downstream": DEFAULT_DICT}


def test_limits_are_immutable():
    limits = Limits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.upstream = DirectionLimits(rate=1)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.upstream.rate = 1  # type: ignore[misc]


def test_to_dict_uses_unit_strings():
    direction = DirectionLimits(
        rate=2_000_000,
        burst=16 * 1024,
        latency=20_000,
        jitter=5000,
        jitter_distribution="normal",
        buffer=64 * 1024,
        sockbuf=64 * 1024,
        stall=True,
        link="per-connection",
        tcp="off",
    )
    assert direction.to_dict() == {
        "rate": "2Mbit",
        "burst": "16KiB",
        "latency": "20ms",
        "jitter": "5ms",
        "jitter_distribution": "normal",
        "buffer": "64KiB",
        "sockbuf": "64KiB",
        "stall": True,
        "link": "per-connection",
        "tcp": "off",
        "loss": "0%",
        "loss_burst": 1,
    }
    assert set(direction.to_dict()) == set(LIMIT_KEYS)


# --- shaped ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "shaped"),
    [
        ({}, False),
        ({"rate": 1}, True),
        ({"latency": 1}, True),
        ({"jitter": 1}, True),
        ({"stall": True}, True),
        ({"burst": 4096}, False),
        ({"buffer": 1}, False),
        ({"sockbuf": 4096}, False),
        ({"jitter_distribution": "normal"}, False),
        ({"rate": 0, "latency": 0, "jitter": 0, "stall": False}, False),
    ],
)
def test_shaped(changes, shaped):
    assert DirectionLimits(**changes).shaped is shaped


def test_shaped_follows_patches():
    direction = DirectionLimits().patched({"latency": "20ms"})
    assert direction.shaped
    assert not direction.patched({"latency": "0"}).shaped
    assert direction.patched({"rate": "off", "latency": "0ms"}).shaped is False


# --- patching one direction ------------------------------------------------


def test_direction_patched_parses_unit_strings():
    direction = DirectionLimits().patched(
        {
            "rate": "500KiB/s",
            "burst": "32KiB",
            "latency": "1.5ms",
            "jitter": "250us",
            "jitter_distribution": "normal",
            "buffer": "1MiB",
            "sockbuf": "128KiB",
            "stall": "true",
        }
    )
    assert direction == DirectionLimits(
        rate=500 * 8192,
        burst=32 * 1024,
        latency=1500,
        jitter=250,
        jitter_distribution="normal",
        buffer=1024**2,
        sockbuf=128 * 1024,
        stall=True,
    )


def test_direction_patched_returns_copy_and_keeps_other_fields():
    original = DirectionLimits(rate=1000, latency=5000)
    updated = original.patched({"latency": "10ms"})
    assert original == DirectionLimits(rate=1000, latency=5000)
    assert updated == DirectionLimits(rate=1000, latency=10_000)
    assert original.patched({}) == original


@pytest.mark.parametrize("raw", ["default", "DEFAULT", "os", "", "0", "0B", 0])
def test_sockbuf_default_forms(raw):
    direction = DirectionLimits(sockbuf=65536).patched({"sockbuf": raw})
    assert direction.sockbuf is None
    assert direction.to_dict()["sockbuf"] == "default"


@pytest.mark.parametrize("raw", [None, "lots", [64], True])
def test_sockbuf_refuses_null_and_other_values_naming_the_forms(raw):
    # null was taken as "default" although the API's schema says a string, and TOML and the
    # command line cannot write it: one spelling, 'default'.
    with pytest.raises(LimitError) as info:
        DirectionLimits(sockbuf=65536).patched({"sockbuf": raw})
    assert info.value.field == "sockbuf"
    assert info.value.value == raw
    assert "'default'" in info.value.accepted and "KiB" in info.value.accepted
    assert "'default'" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("1", True),
        (1, True),
        ("false", False),
        ("0", False),
        (0, False),
    ],
)
def test_stall_switch_forms(raw, expected):
    assert DirectionLimits().patched({"stall": raw}).stall is expected


@pytest.mark.parametrize("raw", ["maybe", 2, -1, 0.5, None, "", [True], "yes", "on", "True"])
def test_stall_rejects_other_values(raw):
    with pytest.raises(LimitError) as info:
        DirectionLimits().patched({"stall": raw})
    assert info.value.field == "stall"
    assert info.value.value == raw
    assert "true or false" in str(info.value)


@pytest.mark.parametrize("raw", ["gaussian", "Normal", "", None, 1])
def test_jitter_distribution_rejects_other_values(raw):
    with pytest.raises(LimitError) as info:
        DirectionLimits().patched({"jitter_distribution": raw})
    error = info.value
    assert error.field == "jitter_distribution"
    assert "uniform" in error.accepted and "normal" in error.accepted
    assert repr(raw) in str(error)


def test_direction_patched_field_path_uses_where():
    with pytest.raises(LimitError) as info:
        DirectionLimits().patched({"rate": "fast"}, where="downstream")
    assert info.value.field == "downstream.rate"
    assert str(info.value).startswith("downstream.rate: ")


def test_direction_patched_rejects_non_dict():
    with pytest.raises(LimitError) as info:
        DirectionLimits().patched("2Mbit", where="upstream")  # type: ignore[arg-type]
    assert info.value.field == "upstream"
    assert info.value.value == "2Mbit"
    with pytest.raises(LimitError) as info:
        DirectionLimits().patched(["rate"])  # type: ignore[arg-type]
    assert info.value.field == "limits"


# --- patching both directions ------------------------------------------------


def test_limits_patched_partial_update():
    limits = Limits().patched({"downstream": {"rate": "2Mbit", "latency": "20ms"}})
    assert limits.downstream.rate == 2_000_000
    assert limits.downstream.latency == 20_000
    assert limits.upstream == DirectionLimits()
    again = limits.patched({"upstream": {"buffer": "64KiB"}})
    assert again.downstream == limits.downstream
    assert again.upstream.buffer == 64 * 1024
    assert limits.upstream.buffer == DEFAULT_BUFFER


def test_limits_patched_empty_is_identity():
    limits = Limits().patched({"upstream": {"rate": "1Mbit"}})
    assert limits.patched({}) == limits
    assert limits.patched({"upstream": {}, "downstream": {}}) == limits


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"downstream": {"rate": "2kbps"}}, "downstream.rate", "2kbps"),
        ({"upstream": {"burst": "lots"}}, "upstream.burst", "lots"),
        ({"upstream": {"latency": "20"}}, "upstream.latency", "20"),
        ({"downstream": {"jitter": "-1ms"}}, "downstream.jitter", "-1ms"),
        ({"downstream": {"buffer": "1TB"}}, "downstream.buffer", "1TB"),
        ({"upstream": {"sockbuf": "big"}}, "upstream.sockbuf", "big"),
        ({"upstream": {"stall": "perhaps"}}, "upstream.stall", "perhaps"),
    ],
)
def test_limit_error_names_field_value_and_forms(changes, field, value):
    with pytest.raises(LimitError) as info:
        Limits().patched(changes)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert error.value == value
    assert error.accepted
    message = str(error)
    assert message.startswith(f"{field}: ")
    assert repr(value) in message
    assert error.accepted in message


def test_ambiguous_rate_through_limits_offers_both_readings():
    with pytest.raises(LimitError) as info:
        Limits().patched({"downstream": {"rate": "10mbps"}})
    message = str(info.value)
    assert info.value.field == "downstream.rate"
    assert "10Mbit" in message and "10MB/s" in message
    assert info.value.accepted == units.RATE_FORMS


@pytest.mark.parametrize(
    ("changes", "field", "accepted_part", "shown"),
    [
        ({"upstream": {"buffer": "0B"}}, "upstream.buffer", "1B to 1GiB", "0B"),
        ({"upstream": {"buffer": "0"}}, "upstream.buffer", "1B to 1GiB", "0B"),
        ({"downstream": {"buffer": "2GiB"}}, "downstream.buffer", "1B to 1GiB", "2GiB"),
        ({"downstream": {"sockbuf": "512B"}}, "downstream.sockbuf", "1KiB to 256MiB", "512B"),
        ({"downstream": {"sockbuf": "1GiB"}}, "downstream.sockbuf", "1KiB to 256MiB", "1GiB"),
        ({"upstream": {"jitter": "61s"}}, "upstream.jitter", "up to 60s", "61s"),
        ({"upstream": {"jitter": "60000001us"}}, "upstream.jitter", "up to 60s", "60000.001ms"),
        ({"upstream": {"latency": "601s"}}, "upstream.latency", "up to 600s", "601s"),
    ],
)
def test_out_of_range_values(changes, field, accepted_part, shown):
    with pytest.raises(LimitError) as info:
        Limits().patched(changes)
    error = info.value
    assert error.field == field
    assert accepted_part in error.accepted
    assert accepted_part in str(error)
    # The value is shown in the same unit form a user types, not as raw bytes/microseconds.
    assert error.value == shown
    assert repr(shown) in str(error)


def test_range_bounds_are_inclusive():
    limits = Limits().patched(
        {
            "upstream": {"buffer": "1B", "sockbuf": "1KiB", "jitter": "60s", "latency": "600s"},
            "downstream": {"buffer": "1GiB", "sockbuf": "256MiB"},
        }
    )
    assert limits.upstream.buffer == 1
    assert limits.downstream.buffer == MAX_BUFFER
    assert limits.upstream.sockbuf == 1024
    assert limits.downstream.sockbuf == 256 * 1024**2
    assert limits.upstream.jitter == 60_000_000
    assert limits.upstream.latency == 600_000_000


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("rat", "rate"),
        ("latncy", "latency"),
        ("bufer", "buffer"),
        ("sockbuff", "sockbuf"),
        ("jitter_distrib", "jitter_distribution"),
    ],
)
def test_unknown_limit_key_suggests(key, suggestion):
    with pytest.raises(LimitError) as info:
        Limits().patched({"downstream": {key: "1"}})
    error = info.value
    assert error.field == f"downstream.{key}"
    message = str(error)
    assert f"did you mean {suggestion!r}" in message
    for known in LIMIT_KEYS:
        assert known in message
        assert known in error.accepted


def test_unknown_limit_key_without_close_match():
    with pytest.raises(LimitError) as info:
        Limits().patched({"upstream": {"colour": "blue"}})
    message = str(info.value)
    assert "did you mean" not in message
    assert "unknown limit 'colour'" in message
    assert "rate" in message


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("upstraem", "upstream"), ("Downstream", "downstream"), ("down_stream", "downstream")],
)
def test_unknown_direction_suggests(key, suggestion):
    with pytest.raises(LimitError) as info:
        Limits().patched({key: {"rate": "1Mbit"}})
    error = info.value
    assert error.field == key
    assert f"did you mean {suggestion!r}" in str(error)
    assert "upstream or downstream" in str(error)


def test_unknown_direction_without_close_match():
    with pytest.raises(LimitError) as info:
        Limits().patched({"sideways": {}})
    assert "did you mean" not in str(info.value)
    assert info.value.field == "sideways"


@pytest.mark.parametrize(
    "changes", [{1: {}}, {None: {}}, {"upstream": {2: "x"}}, {"upstream": {("rate",): "1Mbit"}}]
)
def test_non_string_keys_give_limit_error(changes):
    with pytest.raises(LimitError):
        Limits().patched(changes)


@pytest.mark.parametrize("changes", ["2Mbit", None, ["upstream"], 3])
def test_limits_patched_rejects_non_dict(changes):
    with pytest.raises(LimitError) as info:
        Limits().patched(changes)  # type: ignore[arg-type]
    assert info.value.field == "limits"
    with pytest.raises(LimitError) as info:
        Limits().patched(changes, where="profile.limits")  # type: ignore[arg-type]
    assert info.value.field == "profile.limits"


def test_direction_value_must_be_a_table():
    with pytest.raises(LimitError) as info:
        Limits().patched({"downstream": "2Mbit"})
    assert info.value.field == "downstream"


def test_where_prefixes_every_path():
    with pytest.raises(LimitError) as info:
        Limits().patched({"upstream": {"rate": "x"}}, where="phases[2].limits")
    assert info.value.field == "phases[2].limits.upstream.rate"
    with pytest.raises(LimitError) as info:
        Limits().patched({"upstream": {"buffer": "0"}}, where="profile")
    assert info.value.field == "profile.upstream.buffer"


# --- validate everything before changing anything -----------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"upstream": {"rate": "2Mbit"}, "downstream": {"rate": "2kbps"}},
        {"upstream": {"rate": "2Mbit", "latncy": "5ms"}},
        {"upstream": {"latency": "5ms"}, "sideways": {}},
        {"downstream": {"rate": "1Mbit", "buffer": "0B"}},
        {"upstream": {"latency": "20ms"}, "downstream": {"jitter": "1000s"}},
    ],
)
def test_patched_is_all_or_nothing(changes):
    before = Limits().patched({"upstream": {"rate": "64kbit"}, "downstream": {"latency": "1ms"}})
    snapshot = before.to_dict()
    with pytest.raises(LimitError):
        before.patched(changes)
    assert before.to_dict() == snapshot
    assert before.upstream.rate == 64_000
    assert before.downstream.latency == 1000


def test_patched_does_not_mutate_the_changes():
    changes = {"upstream": {"rate": "2Mbit"}, "downstream": {"latency": "5ms"}}
    copy = {k: dict(v) for k, v in changes.items()}
    Limits().patched(changes)
    assert changes == copy


def test_later_error_reported_with_its_own_path():
    with pytest.raises(LimitError) as info:
        Limits().patched({"upstream": {"rate": "1Mbit"}, "downstream": {"latency": "soon"}})
    assert info.value.field == "downstream.latency"


# --- helpers -------------------------------------------------------------------


def test_with_both_sets_both_directions():
    limits = Limits().with_both({"rate": "1Mbit", "latency": "10ms"})
    assert limits.upstream == limits.downstream
    assert limits.upstream.rate == 1_000_000
    assert limits.downstream.latency == 10_000
    with pytest.raises(LimitError) as info:
        Limits().with_both({"rate": "1mbps"})
    assert info.value.field.endswith(".rate")


def test_from_dict_starts_from_defaults():
    limits = Limits.from_dict({"upstream": {"rate": "2Mbit"}})
    assert limits.upstream == DirectionLimits(rate=2_000_000)
    assert limits.downstream == DirectionLimits()
    with pytest.raises(LimitError) as info:
        Limits.from_dict({"upstream": {"rate": "x"}}, where="file.toml")
    assert info.value.field == "file.toml.upstream.rate"


def test_direction_lookup():
    limits = Limits(upstream=DirectionLimits(rate=1), downstream=DirectionLimits(rate=2))
    assert limits.direction("upstream").rate == 1
    assert limits.direction("downstream").rate == 2


# --- properties ---------------------------------------------------------------

directions = st.builds(
    DirectionLimits,
    rate=st.integers(min_value=0, max_value=2**62),
    burst=st.integers(min_value=0, max_value=2**62),
    latency=st.integers(min_value=0, max_value=600_000_000),
    jitter=st.integers(min_value=0, max_value=60_000_000),
    jitter_distribution=st.sampled_from(["uniform", "normal"]),
    buffer=st.integers(min_value=1, max_value=MAX_BUFFER),
    sockbuf=st.none() | st.integers(min_value=1024, max_value=256 * 1024**2),
    stall=st.booleans(),
)


@given(directions, directions)
def test_to_dict_then_from_dict_is_identity(up, down):
    limits = Limits(upstream=up, downstream=down)
    assert Limits.from_dict(limits.to_dict()) == limits
    assert Limits().patched(limits.to_dict()) == limits


@given(directions, directions)
def test_patching_with_own_dict_changes_nothing(a, b):
    assert a.patched(a.to_dict()) == a
    assert b.patched(a.to_dict()) == a


@given(directions, st.sampled_from(LIMIT_KEYS), directions)
def test_patching_one_key_changes_only_that_key(base, key, source):
    updated = base.patched({key: source.to_dict()[key]})
    assert getattr(updated, key) == getattr(source, key)
    for other in LIMIT_KEYS:
        if other != key:
            assert getattr(updated, other) == getattr(base, other)


@given(directions)
def test_shaped_property(direction):
    expected = (
        direction.rate > 0 or direction.latency > 0 or direction.jitter > 0 or direction.stall
    )
    assert direction.shaped is expected


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("link", ("shared", "per-connection"), ("private", "", None, True)),
        ("tcp", ("emulated", "off"), ("on", "cubic", "", None)),
    ],
)
def test_link_and_tcp_modes(key, good, bad):
    for value in good:
        assert getattr(DirectionLimits().patched({key: value}), key) == value
    for value in bad:
        with pytest.raises(LimitError) as info:
            DirectionLimits().patched({key: value})
        assert info.value.field == key
        assert " or ".join(good) in str(info.value)


# -- loss -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1%", 0.01), ("0.5 %", 0.005), ("0.01", 0.01), (0.03, 0.03), (0, 0.0), ("0%", 0.0)],
)
def test_loss_takes_a_percentage_or_a_fraction(raw, expected):
    limits = DirectionLimits().patched({"loss": raw})
    assert limits.loss == pytest.approx(expected)
    assert limits.shaped is bool(expected)
    # What to_dict writes reads back to the same limit.
    again = DirectionLimits().patched({"loss": limits.to_dict()["loss"]})
    assert again.loss == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["100%", "1", "2", "-1%", "-0.1", "lots", True, None, "nan"])
def test_loss_outside_zero_to_one_is_refused_naming_the_forms(raw):
    with pytest.raises(LimitError) as caught:
        DirectionLimits().patched({"loss": raw}, where="downstream")
    assert caught.value.field == "downstream.loss"
    assert "percentage" in str(caught.value)


def test_a_bare_one_is_explained_as_a_fraction():
    with pytest.raises(LimitError, match="write '1%'"):
        DirectionLimits().patched({"loss": "1"})


def test_loss_needs_the_emulated_sender():
    with pytest.raises(LimitError, match="needs tcp = emulated") as caught:
        DirectionLimits().patched({"loss": "1%", "tcp": "off"}, where="upstream")
    assert caught.value.field == "upstream.loss"


@pytest.mark.parametrize(("raw", "expected"), [(1, 1.0), ("3", 3.0), (2.5, 2.5)])
def test_loss_burst_is_a_mean_of_one_or_more(raw, expected):
    limits = DirectionLimits().patched({"loss_burst": raw})
    assert limits.loss_burst == expected
    assert DirectionLimits().patched({"loss_burst": limits.to_dict()["loss_burst"]}) == limits


@pytest.mark.parametrize("raw", [0, "0.5", "-2", "3%", "many", False, 5000])
def test_loss_burst_below_one_is_refused(raw):
    with pytest.raises(LimitError) as caught:
        DirectionLimits().patched({"loss_burst": raw})
    assert caught.value.field == "loss_burst"
