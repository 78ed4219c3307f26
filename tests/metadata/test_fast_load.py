"""The quick converters of record writes accept only what marshmallow accepts, and give the same value."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from marshmallow import ValidationError as MarshmallowError

from metadata.definitions import FieldDef
from metadata.fast_load import SLOW, fast_converter
from metadata.field_types import FIELD_TYPES

FIELDS = [
    {"name": "t", "type": "text", "max_length": 5},
    {"name": "t2", "type": "text"},
    {"name": "ta", "type": "textarea"},
    {"name": "i", "type": "integer", "min": 0, "max": 10},
    {"name": "i2", "type": "integer"},
    {"name": "b", "type": "boolean"},
    {"name": "d", "type": "date"},
    {"name": "p", "type": "picklist", "options": [{"value": "a"}, {"value": "b"}]},
    {"name": "l", "type": "lookup", "target": "x"},
    {"name": "u", "type": "user"},
    {"name": "c", "type": "currency"},
    {"name": "c2", "type": "currency", "min": 0, "max": 100},
    {"name": "dec", "type": "decimal", "scale": 3},
    {"name": "dec2", "type": "decimal"},
    {"name": "pc", "type": "percent"},
    {"name": "e", "type": "email"},
    {"name": "ph", "type": "phone"},
    {"name": "dt", "type": "datetime"},
]
VALUES = [
    None, "", "abc", "abcde", "abcdef", "a\x00b", "é", "\ud800", "a" * 300, "客户", "客户名称很长的", "中\x00文",
    "中\udc80", "王芳 Wang", "中" * 300, 0, 1, -1, 10, 11, 2**63, -(2**63),
    2**63 - 1, True, False, 1.0, 1.5, "1", " 2 ", "2024-02-29", "2023-02-29", "2024-2-9", "20240229",
    "2024-02-29T00:00", "a", "b", "c", [], {}, ["a"],
    # integers and booleans as CSV cells
    "-7", "+7", "007", "١٢", "²", "123456789012345678", "1234567890123456789", "-", "+", "1_000", "true", "True",
    "TRUE", "false", "False", "yes", "no", "on", "off", "0", "y",
    # decimals
    0.1, 1e-05, 1e20, 12.345, -0.005, 0.015, float("nan"), float("inf"), "12.50", "1.005", "-1.995", "1e3", "NaN",
    ".5", "5.", " 1.5", "9999999999999999.99", "9999999999999999.994", "10000000000000000", "99999999.99995",
    "12345678901234567890.12345678901234567890", "100.001", "100.004", "100.005", "-0.001",
    # e-mail addresses, phones
    "a@b.co", "first.last+tag@example.com", "a..b@example.com", ".a@example.com", "a@example", "a@localhost",
    "a@-x.com", "a@x-.com", "A_B@Sub.Example.ORG", "a@b.c", "a@b.abcdefg", "a b@c.com", "a@b@c.com",
    "x" * 250 + "@a.com", "é@example.com", "+1 (555) 010-1234", "555-0100", "1234", " +15550100", "+15550100 ",
    "12345", "+44 20 7946 0958", "(555)0100", "5550100x12",
    # datetimes
    "2024-02-29T10:11:12", "2024-02-29T10:11:12Z", "2024-02-29T10:11:12.123456Z", "2024-02-29T10:11:12.123Z",
    "2024-02-29T10:11:12+05:30", "2024-02-29T10:11:12-23:59", "2024-02-29T25:11:12", "2024-02-30T10:11:12",
    "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "2024-02-29 10:11:12", "2024-02-29T10:11",
]


@pytest.mark.parametrize("document", FIELDS, ids=lambda d: d["name"])
def test_quick_path_matches_marshmallow(document: dict) -> None:
    fd = FieldDef.from_document(document)
    convert = fast_converter(fd)
    assert convert is not None
    field = FIELD_TYPES[fd.type].field(fd, True)
    for value in VALUES:
        quick = convert(value)
        if quick is SLOW:
            continue
        try:
            expected = field.deserialize(value)
        except MarshmallowError:
            pytest.fail(f"{fd.type} quick path accepted {value!r}, marshmallow refuses it")
        assert quick == expected and type(quick) is type(expected), (fd.type, value)
        assert str(quick) == str(expected), (fd.type, value)  # same Decimal exponent, same offset


def test_valid_common_values_take_the_quick_path() -> None:
    assert fast_converter(FieldDef.from_document(FIELDS[0]))("abc") == "abc"
    assert fast_converter(FieldDef.from_document(FIELDS[0]))("客户") == "客户"  # Chinese text too
    assert fast_converter(FieldDef.from_document(FIELDS[0]))("客\ud800") is SLOW
    assert fast_converter(FieldDef.from_document(FIELDS[6]))("2024-02-29") == date(2024, 2, 29)
    assert fast_converter(FieldDef.from_document(FIELDS[7]))("c") is SLOW


def test_csv_cells_take_the_quick_path() -> None:
    def convert(document: dict, value: str):
        return fast_converter(FieldDef.from_document({"name": "x", **document}))(value)

    assert convert({"type": "integer"}, "-42") == -42
    assert convert({"type": "boolean"}, "false") is False
    assert convert({"type": "currency"}, "1234.5") == Decimal("1234.50")
    assert convert({"type": "email"}, "ann@example.com") == "ann@example.com"
    assert convert({"type": "phone"}, "+1 555 0100") == "+1 555 0100"
    assert convert({"type": "datetime"}, "2024-01-02T03:04:05+01:00") == datetime(2024, 1, 2, 2, 4, 5, tzinfo=timezone.utc)
    assert convert({"type": "currency"}, "1e3") is SLOW
