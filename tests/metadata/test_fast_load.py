"""The quick converters of record writes accept only what marshmallow accepts, and give the same value."""

from __future__ import annotations

from datetime import date

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
]
VALUES = [
    None, "", "abc", "abcde", "abcdef", "a\x00b", "é", "\ud800", "a" * 300, 0, 1, -1, 10, 11, 2**63, -(2**63),
    2**63 - 1, True, False, 1.0, 1.5, "1", " 2 ", "2024-02-29", "2023-02-29", "2024-2-9", "20240229",
    "2024-02-29T00:00", "a", "b", "c", [], {}, ["a"],
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


def test_valid_common_values_take_the_quick_path() -> None:
    assert fast_converter(FieldDef.from_document(FIELDS[0]))("abc") == "abc"
    assert fast_converter(FieldDef.from_document(FIELDS[6]))("2024-02-29") == date(2024, 2, 29)
    assert fast_converter(FieldDef.from_document(FIELDS[7]))("c") is SLOW
