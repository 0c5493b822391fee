"""Parsing and formatting of sizes, rates and durations."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shaper.model import units
from shaper.model.units import (
    DURATION_FORMS,
    RATE_FORMS,
    SIZE_FORMS,
    UnitError,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

MAX = 2**62
wide = st.integers(min_value=0, max_value=MAX)
# Values that are exact multiples of a unit, so the short forms get exercised too.
multiples = st.builds(
    lambda n, f: min(n * f, MAX),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from([1, 8, 1000, 1024, 8000, 8192, 1000**2, 1024**2, 1000**3, 1024**3]),
)
values = st.one_of(wide, multiples, st.integers(min_value=0, max_value=10**7))


# --- sizes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("0B", 0),
        ("17", 17),
        ("17B", 17),
        ("1KB", 1000),
        ("1kB", 1000),
        ("1KiB", 1024),
        ("256KiB", 256 * 1024),
        ("64KB", 64_000),
        ("1MB", 1000**2),
        ("1MiB", 1024**2),
        ("1.5MiB", 1024**2 * 3 // 2),
        ("2GB", 2 * 1000**3),
        ("2GiB", 2 * 1024**3),
        (" 4 KiB ", 4096),
        (".5KiB", 512),
        ("1e3B", 1000),
        ("1E3KB", 1000**2),
        (4096, 4096),
    ],
)
def test_parse_size_accepts_every_listed_unit(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("unit", ["B", "KB", "KiB", "MB", "MiB", "GB", "GiB"])
@given(n=st.integers(min_value=0, max_value=10**6))
def test_parse_size_each_unit_scales(unit, n):
    assert parse_size(f"{n}{unit}") == n * units.SIZE_UNITS[unit]


@given(values)
@example(0)
@example(1)
@example(1023)
@example(1024)
@example(1536)
@example(MAX)
def test_size_format_then_parse_is_identity(value):
    text = format_size(value)
    assert parse_size(text) == value
    # What is printed is a number and a listed unit, nothing else.
    assert text.endswith(("B", "KB", "KiB", "MB", "MiB", "GB", "GiB"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0B"),
        (1, "1B"),
        (1000, "1KB"),
        (1024, "1KiB"),
        (256 * 1024, "256KiB"),
        (64_000, "64KB"),
        (1024**2, "1MiB"),
        (1536, "1.5KiB"),
        (1024**3, "1GiB"),
        (5 * 1000**3, "5GB"),
    ],
)
def test_format_size_is_short(value, expected):
    assert format_size(value) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "KiB",
        "abc",
        "-1KiB",
        "1..5KiB",
        "1.KiB",
        "12XB",
        "5 bytes",
        "1 KiB 2",
        "inf",
        "nan",
        "1e5e5B",
        "1 2B",
    ],
)
def test_parse_size_rejects_garbage(text):
    with pytest.raises(UnitError) as info:
        parse_size(text)
    message = str(info.value)
    assert repr(text) in message
    assert SIZE_FORMS in message
    assert info.value.kind == "size"
    assert info.value.value == text
    assert info.value.accepted == SIZE_FORMS


@pytest.mark.parametrize(
    "value", [None, True, False, [1], {"a": 1}, b"1KiB", -1, float("inf"), float("nan"), -0.5]
)
def test_parse_size_rejects_non_strings_and_negatives(value):
    with pytest.raises(UnitError) as info:
        parse_size(value)
    assert SIZE_FORMS in str(info.value)
    assert info.value.value is value or info.value.value == value


@pytest.mark.parametrize(
    ("text", "suggested"), [("1kib", "KiB"), ("1mib", "MiB"), ("1gb", "GB"), ("2GIB", "GiB")]
)
def test_parse_size_wrong_case_suggests_unit(text, suggested):
    with pytest.raises(UnitError) as info:
        parse_size(text)
    message = str(info.value)
    assert f"did you mean {suggested!r}" in message
    assert SIZE_FORMS in message


@pytest.mark.parametrize(
    "text", ["99999999999999999999GiB", "1e30B", "1e1000000000B", "9" * 5000, 10**30]
)
def test_parse_size_too_large(text):
    with pytest.raises(UnitError) as info:
        parse_size(text)
    assert "too large" in str(info.value)
    assert SIZE_FORMS in str(info.value)


def test_parse_size_limit_is_inclusive():
    assert parse_size(str(MAX)) == MAX
    with pytest.raises(UnitError):
        parse_size(str(MAX + 1))


def test_parse_size_rounds_fractional_bytes():
    assert parse_size("0.4B") == 0
    assert parse_size("1.001KiB") == 1025
    assert parse_size("1e-1000000000B") == 0


def test_parse_size_accepts_python_numbers():
    assert parse_size(0) == 0
    assert parse_size(65536) == 65536
    assert parse_size(1.0) == 1
    assert parse_size(1e3) == 1000


# --- rates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        ("1bit", 1),
        ("64kbit", 64_000),
        ("2Mbit", 2_000_000),
        ("1.5Mbit", 1_500_000),
        ("1Gbit", 10**9),
        ("2mbit", 2_000_000),
        ("2MBIT", 2_000_000),
        ("2Mbit/s", 2_000_000),
        ("2 Mbit", 2_000_000),
        ("1B/s", 8),
        ("1KB/s", 8000),
        ("1kB/s", 8000),
        ("1KiB/s", 8192),
        ("500KiB/s", 500 * 8192),
        ("1MB/s", 8 * 1000**2),
        ("1MiB/s", 8 * 1024**2),
        ("0", 0),
        ("0bit", 0),
        ("0KiB/s", 0),
        (0, 0),
        ("off", 0),
        ("OFF", 0),
        (" unlimited ", 0),
        ("none", 0),
    ],
)
def test_parse_rate_accepts_every_listed_unit(text, bits):
    assert parse_rate(text) == bits


BIT_UNITS = {"bit": 1, "kbit": 1000, "Mbit": 1000**2, "Gbit": 1000**3}
BYTE_UNITS = {"B/s": 8, "KB/s": 8000, "KiB/s": 8192, "MB/s": 8 * 1000**2, "MiB/s": 8 * 1024**2}


@pytest.mark.parametrize(("unit", "factor"), [*BIT_UNITS.items(), *BYTE_UNITS.items()])
@given(n=st.integers(min_value=0, max_value=10**6))
def test_parse_rate_each_unit_scales(unit, factor, n):
    assert parse_rate(f"{n}{unit}") == n * factor


@given(values)
@example(0)
@example(1)
@example(8)
@example(1_500_000)
@example(8192)
@example(12_500)
@example(MAX)
def test_rate_format_then_parse_is_identity(bits):
    text = format_rate(bits)
    assert parse_rate(text) == bits


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0, "off"),
        (1, "1bit"),
        (64_000, "64kbit"),
        (2_000_000, "2Mbit"),
        (1_500_000, "1.5Mbit"),
        (10**9, "1Gbit"),
        (8192, "1KiB/s"),
        (500 * 8192, "500KiB/s"),
        (8 * 1024**2, "1MiB/s"),
        (12_500, "12.5kbit"),
    ],
)
def test_format_rate_is_short(bits, expected):
    assert format_rate(bits) == expected


@pytest.mark.parametrize(
    ("text", "bits_form", "bytes_form"),
    [
        ("100kbps", "100kbit", "100KB/s"),
        ("2mbps", "2Mbit", "2MB/s"),
        ("2Mbps", "2Mbit", "2MB/s"),
        ("1.5MBPS", "1.5Mbit", "1.5MB/s"),
        ("1gbps", "1Gbit", "1GB/s"),
        ("1e3kbps", "1000kbit", "1000KB/s"),
        ("9bps", "9bit", "9B/s"),
    ],
)
def test_ambiguous_rates_are_rejected_with_both_readings(text, bits_form, bytes_form):
    with pytest.raises(UnitError) as info:
        parse_rate(text)
    message = str(info.value)
    assert "ambiguous" in message
    assert bits_form in message
    assert bytes_form in message
    assert repr(text) in message
    assert RATE_FORMS in message
    # Both suggestions are themselves accepted, and mean different things.
    assert parse_rate(bits_form) * 8 == parse_rate(bytes_form)


def test_rate_without_unit_is_rejected_with_suggestions():
    with pytest.raises(UnitError) as info:
        parse_rate("5")
    message = str(info.value)
    assert "needs a unit" in message
    assert "5Mbit" in message and "5KB/s" in message
    assert RATE_FORMS in message
    with pytest.raises(UnitError):
        parse_rate(5)


@pytest.mark.parametrize(("text", "suggested"), [("1MB", "MB/s"), ("1KiB", "KiB/s"), ("3B", "B/s")])
def test_size_given_as_rate_suggests_per_second(text, suggested):
    with pytest.raises(UnitError) as info:
        parse_rate(text)
    message = str(info.value)
    assert suggested in message
    assert RATE_FORMS in message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "fast",
        "-1Mbit",
        "2Mb",
        "2mb/s",
        "2kib/s",
        "2 Mbit/h",
        "Mbit",
        "2Mbit/s/s",
        "2bit/S",
        "1e999999999999Mbit",
        None,
        True,
        [2],
    ],
)
def test_parse_rate_rejects_garbage(text):
    with pytest.raises(UnitError) as info:
        parse_rate(text)
    message = str(info.value)
    assert repr(text) in message
    assert RATE_FORMS in message
    assert info.value.kind == "rate"


@pytest.mark.parametrize("text", ["0.0001bit", "0.4bit", "1e-1000000000bit"])
def test_tiny_rate_is_not_read_as_unlimited(text):
    with pytest.raises(UnitError) as info:
        parse_rate(text)
    assert "at least 1bit" in str(info.value)


def test_rate_limit_is_inclusive():
    assert parse_rate(f"{MAX}bit") == MAX
    with pytest.raises(UnitError, match="too large"):
        parse_rate(f"{MAX + 1}bit")


# --- durations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("0", 0),
        (0, 0),
        ("0ms", 0),
        ("1us", 1),
        ("250us", 250),
        ("20ms", 20_000),
        ("1.5ms", 1500),
        ("1s", 1_000_000),
        ("1.5s", 1_500_000),
        ("2 s", 2_000_000),
        ("20MS", 20_000),
        ("3sec", 3_000_000),
        ("3seconds", 3_000_000),
        ("7\u00b5s", 7),
        ("7\u03bcs", 7),
        ("7usec", 7),
    ],
)
def test_parse_duration_accepts_every_listed_unit(text, micros):
    assert parse_duration(text) == micros


@pytest.mark.parametrize(("unit", "factor"), list(units.DURATION_UNITS.items()))
@given(n=st.integers(min_value=0, max_value=10**6))
def test_parse_duration_each_unit_scales(unit, factor, n):
    assert parse_duration(f"{n}{unit}") == n * factor


@given(values)
@example(0)
@example(1)
@example(1500)
@example(20_000)
@example(MAX)
def test_duration_format_then_parse_is_identity(micros):
    text = format_duration(micros)
    assert parse_duration(text) == micros
    assert text.endswith(("us", "ms", "s"))


@pytest.mark.parametrize(
    ("micros", "expected"),
    [
        (0, "0ms"),
        (1, "1us"),
        (20_000, "20ms"),
        (1500, "1.5ms"),
        (1_000_000, "1s"),
        (2_500_000, "2.5s"),
    ],
)
def test_format_duration_is_short(micros, expected):
    assert format_duration(micros) == expected


def test_duration_without_unit_is_rejected_with_suggestion():
    with pytest.raises(UnitError) as info:
        parse_duration("20")
    message = str(info.value)
    assert "20ms" in message
    assert DURATION_FORMS in message


@pytest.mark.parametrize(
    "text", ["", "soon", "-5ms", "5min", "5h", "5m", "ms", "1e99999999999s", None, 5, [1]]
)
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(UnitError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message
    assert DURATION_FORMS in message
    assert info.value.kind == "duration"


# --- errors and display ----------------------------------------------------


def test_unit_error_is_a_value_error():
    assert issubclass(UnitError, ValueError)
    error = UnitError("size", "x", SIZE_FORMS)
    assert str(error) == f"invalid size 'x': expected {SIZE_FORMS}"
    hinted = UnitError("size", "x", SIZE_FORMS, hint="no such thing")
    assert "no such thing" in str(hinted)
    assert SIZE_FORMS in str(hinted)
    assert hinted.hint == "no such thing"


@given(st.text(max_size=30))
def test_parsers_raise_only_unit_error(text):
    for parse in (parse_size, parse_rate, parse_duration):
        try:
            value = parse(text)
        except UnitError as exc:
            assert repr(text) in str(exc)
        else:
            assert isinstance(value, int)
            assert 0 <= value <= MAX


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0 B"),
        (87, "87 B"),
        (1536, "1.5 KiB"),
        (312 * 1024, "312 KiB"),
        (1.5 * 1024**2, "1.5 MiB"),
        (3 * 1024**3, "3.0 GiB"),
    ],
)
def test_human_bytes(value, expected):
    assert units.human_bytes(value) == expected


def test_human_rate_and_duration():
    assert units.human_rate(1024) == "1.0 KiB/s"
    assert units.human_rate(125_000, bits=True) == "1.0 Mbit/s"
    assert units.human_rate(10, bits=True) == "80 bit/s"
    assert units.human_rate(125_000_000 * 2, bits=True) == "2.0 Gbit/s"
    assert units.human_duration(250) == "250 us"
    assert units.human_duration(20_000) == "20.0 ms"
    assert units.human_duration(1_500_000) == "1.50 s"
