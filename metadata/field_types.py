"""The field-type registry: one entry per type says how it is stored, validated, filtered and shown.

Adding a type means adding one :class:`FieldType` to :data:`FIELD_TYPES`; the schema compiler, the
record validator, the condition language and the OpenAPI generator all read from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import nh3
import sqlalchemy as sa
from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields as mm
from marshmallow import validate

from .field_errors import CodedErrors, coded_error, recoded
from .sql_types import DelimitedList, UTCDateTime

if TYPE_CHECKING:
    from .definitions import FieldDef

PHONE_PATTERN = re.compile(r"^\+?[0-9(][0-9 ()\-.]{3,38}[0-9]$")
TEXT_MAX = 4000
TEXTAREA_MAX = 32000
RICH_TEXT_MAX = 100000


class String(CodedErrors, mm.String):
    invalid_code = "not_text"


class Email(CodedErrors, mm.Email):
    invalid_code = "not_email"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators[0] = recoded(self.validators[0], "not_email")


class Url(CodedErrors, mm.Url):
    invalid_code = "not_url"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators[0] = recoded(self.validators[0], "not_url")


class Date(CodedErrors, mm.Date):
    invalid_code = "not_date"


class List(CodedErrors, mm.List):
    invalid_code = "not_list"


class Phone(String):
    default_error_messages = {"invalid_phone": "Not a valid phone number."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not PHONE_PATTERN.match(text) or sum(ch.isdigit() for ch in text) < 5:
            raise self.make_error("invalid_phone")
        return text


class RichText(String):
    """HTML kept to a safe subset (no scripts, handlers or styles that run code)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return nh3.clean(super()._deserialize(value, attr, data, **kwargs))


class StrictBoolean(CodedErrors, mm.Boolean):
    """JSON booleans, plus the usual spellings in query strings and CSV files."""

    invalid_code = "not_boolean"
    truthy = {True, "true", "True", "1", 1, "yes", "on"}
    falsy = {False, "false", "False", "0", 0, "no", "off"}


class TextInteger(CodedErrors, mm.Integer):
    """An integer from JSON or text; refuses fractions (never truncates) and booleans."""

    invalid_code = "not_integer"

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise self.make_error("invalid", input=value)
        if isinstance(value, str):
            text = value.strip()
            if not re.fullmatch(r"[+-]?[0-9]{1,30}", text):
                raise self.make_error("invalid", input=value)
            value = text
        return super()._validated(value)


class UTCAwareDateTime(CodedErrors, mm.AwareDateTime):
    """An aware datetime that must still exist once moved to UTC (year 1 to 9999)."""

    invalid_code = "not_datetime"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type="datetime") from None


def _clean_text(value: Any) -> None:
    """Refuse what no database stores: NUL characters and lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise coded_error("Contains a NUL character.", "nul_character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise coded_error("Not valid Unicode text.", "invalid_unicode") from None
    elif isinstance(value, list):
        for item in value:
            _clean_text(item)


class TextDecimal(CodedErrors, mm.Decimal):
    invalid_code = "not_number"

    def _validated(self, value: Any) -> Decimal:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def _length(fd: FieldDef, ceiling: int, default: int | None = None) -> list[Any]:
    limit = min(fd.max_length or default or ceiling, ceiling)
    return [recoded(validate.Length(max=limit), "max_length", max=limit)]


def magnitude_limit(type_name: str, fd: FieldDef) -> int | None:
    """The exclusive bound on absolute values a numeric column of this type can store."""
    if type_name == "integer":
        return 2**63
    if type_name == "decimal":
        return 10 ** (28 - (fd.scale if fd.scale is not None else 4))
    if type_name == "currency":
        return 10**16
    if type_name == "percent":
        return 10**8
    return None


def fits_column(type_name: str, fd: FieldDef, value: Any) -> bool:
    return fits_limit(magnitude_limit(type_name, fd), value)


def fits_limit(limit: int | None, value: Any) -> bool:
    """Does ``value`` fit under a column's :func:`magnitude_limit` (computed once by the caller)?"""
    return limit is None or value is None or isinstance(value, bool) or abs(value) < limit


def _bounds(type_name: str, fd: FieldDef) -> list[Any]:
    limit = magnitude_limit(type_name, fd)
    return [recoded(validate.Range(min=-limit, max=limit, min_inclusive=False, max_inclusive=False,
                                   error="Out of the range this field can store."), "out_of_range")] if limit else []


def bounds_check(low: Any, high: Any) -> Callable[[Any], Any]:
    """An inclusive range whose refusal says which bound: ``min``, ``max`` or ``between``."""
    code = "between" if low is not None and high is not None else ("min" if low is not None else "max")
    return recoded(validate.Range(min=low, max=high), code, min=low, max=high)


def _range(fd: FieldDef) -> list[Any]:
    bounds = _bounds(fd.type, fd)
    if fd.min is None and fd.max is None:
        return bounds
    return [*bounds, bounds_check(fd.min, fd.max)]


def _pattern(fd: FieldDef) -> list[Any]:
    if not fd.pattern:
        return []
    return [recoded(validate.Regexp(fd.pattern, error=f"Does not match the pattern {fd.pattern}."), "pattern",
                    pattern=fd.pattern)]


def _choices(fd: FieldDef) -> list[Any]:
    values = [o["value"] for o in fd.options]
    return [recoded(validate.OneOf(values, error="Must be one of: {choices}."), "choice", choices=values)]


@dataclass(frozen=True)
class FieldType:
    """How one field type is stored, validated, filtered, described and shown."""

    name: str
    #: The family the condition language uses to pick operators: text, number, boolean, date,
    #: datetime, choice, multi_choice, reference.
    kind: str
    sql_type: Callable[[FieldDef], sa.types.TypeEngine[Any]]
    #: A marshmallow field; ``strict`` adds the field's constraints (min, max, length, pattern...).
    marshmallow: Callable[[FieldDef, bool], mm.Field]
    json_schema: Callable[[FieldDef], dict[str, Any]]
    #: Definition keys that make sense for this type (beyond the common ones).
    options: frozenset[str] = frozenset()
    #: Values computed by the platform (formula, autonumber): never written by users.
    computed: bool = False
    #: Included in ``q=`` text search.
    searchable: bool = False
    #: Whether ``unique`` and ``indexed`` may be set.
    indexable: bool = True

    def field(self, fd: FieldDef, strict: bool = True) -> mm.Field:
        """The marshmallow field for ``fd``; text of every kind refuses what databases cannot store."""
        built = self.marshmallow(fd, strict)
        if isinstance(built, (mm.String, mm.List)):
            built.validators.append(_clean_text)
        return built

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        if isinstance(value, date):
            return value.isoformat()
        return value


def _text_field(
    ceiling: int, field_class: type[mm.String] = String, default: int | None = None
) -> Callable[[FieldDef, bool], mm.Field]:
    def build(fd: FieldDef, strict: bool) -> mm.Field:
        validators = [*_length(fd, ceiling, default), *_pattern(fd)] if strict else []
        return field_class(allow_none=True, validate=validators)

    return build


def _integer_field(fd: FieldDef, strict: bool) -> mm.Field:
    return TextInteger(allow_none=True, validate=_range(fd) if strict else _bounds("integer", fd))


def _decimal_field(places: int | None) -> Callable[[FieldDef, bool], mm.Field]:
    def build(fd: FieldDef, strict: bool) -> mm.Field:
        scale = places if places is not None else (fd.scale if fd.scale is not None else 4)
        return TextDecimal(places=scale, allow_nan=False, allow_none=True,
                           validate=_range(fd) if strict else _bounds(fd.type, fd))

    return build


def _date_bounds(fd: FieldDef, parse: Callable[[str], Any]) -> list[Any]:
    if fd.min is None and fd.max is None:
        return []
    low = parse(fd.min) if isinstance(fd.min, str) else None
    high = parse(fd.max) if isinstance(fd.max, str) else None
    return [bounds_check(low, high)]


def _date_field(fd: FieldDef, strict: bool) -> mm.Field:
    return Date(allow_none=True, validate=_date_bounds(fd, date.fromisoformat) if strict else [])


def _datetime_field(fd: FieldDef, strict: bool) -> mm.Field:
    return UTCAwareDateTime(default_timezone=timezone.utc, allow_none=True)


def _choice_field(fd: FieldDef, strict: bool) -> mm.Field:
    return String(allow_none=True, validate=_choices(fd) if fd.options else [])


def _multi_choice_field(fd: FieldDef, strict: bool) -> mm.Field:
    inner = String(validate=_choices(fd) if fd.options else [])
    return List(inner, allow_none=True)


MAX_ID = 2**63 - 1


def id_field() -> mm.Field:
    """A record or user id: a positive 64-bit integer."""
    return TextInteger(allow_none=True, validate=[
        recoded(validate.Range(min=1, max=MAX_ID, error="Not a valid id."), "invalid_id")])


def _reference_field(fd: FieldDef, strict: bool) -> mm.Field:
    return id_field()


def _formula_field(fd: FieldDef, strict: bool) -> mm.Field:
    return FIELD_TYPES[fd.result_type or "decimal"].field(fd, False)


def _formula_sql(fd: FieldDef) -> sa.types.TypeEngine[Any]:
    return FIELD_TYPES[fd.result_type or "decimal"].sql_type(fd)


def _formula_schema(fd: FieldDef) -> dict[str, Any]:
    return {**FIELD_TYPES[fd.result_type or "decimal"].json_schema(fd), "readOnly": True}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    return {**schema, "type": [kind, "null"]} if isinstance(kind, str) else schema


def _enum(fd: FieldDef) -> dict[str, Any]:
    return {"enum": [o["value"] for o in fd.options]} if fd.options else {}


_STRING = {"max_length", "pattern"}
_NUMBER = {"min", "max"}

FIELD_TYPES: Mapping[str, FieldType] = {
    ft.name: ft
    for ft in (
        FieldType(
            "text", "text", lambda fd: sa.String(min(fd.max_length or 255, TEXT_MAX)), _text_field(TEXT_MAX, default=255),
            lambda fd: {"type": "string", "maxLength": min(fd.max_length or 255, TEXT_MAX)},
            frozenset(_STRING), searchable=True,
        ),
        FieldType(
            "textarea", "text", lambda fd: sa.Text(), _text_field(TEXTAREA_MAX),
            lambda fd: {"type": "string", "maxLength": min(fd.max_length or TEXTAREA_MAX, TEXTAREA_MAX)},
            frozenset({"max_length"}), searchable=True, indexable=False,
        ),
        FieldType(
            "rich_text", "text", lambda fd: sa.Text(), _text_field(RICH_TEXT_MAX, RichText),
            lambda fd: {"type": "string", "contentMediaType": "text/html"},
            frozenset({"max_length"}), indexable=False,
        ),
        FieldType(
            "integer", "number", lambda fd: sa.BigInteger(), _integer_field,
            lambda fd: {"type": "integer"}, frozenset(_NUMBER),
        ),
        FieldType(
            "decimal", "number", lambda fd: sa.Numeric(28, fd.scale if fd.scale is not None else 4),
            _decimal_field(None), lambda fd: {"type": "number"}, frozenset({*_NUMBER, "scale"}),
        ),
        FieldType(
            "currency", "number", lambda fd: sa.Numeric(18, 2), _decimal_field(2),
            lambda fd: {"type": "number"}, frozenset(_NUMBER),
        ),
        FieldType(
            "percent", "number", lambda fd: sa.Numeric(12, 4), _decimal_field(4),
            lambda fd: {"type": "number"}, frozenset(_NUMBER),
        ),
        FieldType(
            "boolean", "boolean", lambda fd: sa.Boolean(), lambda fd, strict: StrictBoolean(allow_none=True),
            lambda fd: {"type": "boolean"}, indexable=False,
        ),
        FieldType(
            "date", "date", lambda fd: sa.Date(), _date_field,
            lambda fd: {"type": "string", "format": "date"}, frozenset(_NUMBER),
        ),
        FieldType(
            "datetime", "datetime", lambda fd: UTCDateTime(), _datetime_field,
            lambda fd: {"type": "string", "format": "date-time"},
        ),
        FieldType(
            "email", "text", lambda fd: sa.String(254),
            lambda fd, strict: Email(allow_none=True) if strict else String(allow_none=True),
            lambda fd: {"type": "string", "format": "email"}, searchable=True,
        ),
        FieldType(
            "phone", "text", lambda fd: sa.String(40),
            lambda fd, strict: Phone(allow_none=True) if strict else String(allow_none=True),
            lambda fd: {"type": "string"}, searchable=True,
        ),
        FieldType(
            "url", "text", lambda fd: sa.String(2048),
            lambda fd, strict: Url(allow_none=True, schemes={"http", "https"}) if strict else String(allow_none=True),
            lambda fd: {"type": "string", "format": "uri"},
        ),
        FieldType(
            "picklist", "choice", lambda fd: sa.String(100), _choice_field,
            _enum, frozenset({"options", "depends_on"}),
        ),
        FieldType(
            "multi_picklist", "multi_choice", lambda fd: DelimitedList(), _multi_choice_field,
            lambda fd: {"type": "array", "items": {"type": "string", **_enum(fd)}},
            frozenset({"options"}), indexable=False,
        ),
        FieldType(
            "lookup", "reference", lambda fd: sa.BigInteger(), _reference_field,
            lambda fd: {"type": "integer", "description": f"id of a {fd.target} record"},
            frozenset({"target", "on_delete"}),
        ),
        FieldType(
            "user", "reference", lambda fd: sa.Integer(), _reference_field,
            lambda fd: {"type": "integer", "description": "id of a user"},
        ),
        FieldType(
            "formula", "text", _formula_sql, _formula_field, _formula_schema,
            frozenset({"expression", "result_type", "scale"}), computed=True,
        ),
        FieldType(
            "autonumber", "text", lambda fd: sa.String(60), lambda fd, strict: String(allow_none=True),
            lambda fd: {"type": "string", "readOnly": True}, frozenset({"format"}), computed=True, searchable=True,
        ),
    )
}

#: The types a formula may produce.
FORMULA_RESULT_TYPES = ("text", "integer", "decimal", "currency", "percent", "boolean", "date", "datetime")

#: Kinds as the condition language sees them, for types whose kind depends on the definition.
KIND_BY_RESULT_TYPE = {"text": "text", "integer": "number", "decimal": "number", "currency": "number",
                       "percent": "number", "boolean": "boolean", "date": "date", "datetime": "datetime"}


def kind_of(fd: FieldDef) -> str:
    if fd.type == "formula":
        return KIND_BY_RESULT_TYPE[fd.result_type or "decimal"]
    return FIELD_TYPES[fd.type].kind


def value_type_of(fd: FieldDef) -> str:
    """The type whose values this field holds (a formula holds values of its result type)."""
    return (fd.result_type or "decimal") if fd.type == "formula" else fd.type


def deserialize_loose(field: mm.Field, value: Any) -> Any:
    """Turn a query-string or JSON value into the stored Python value, or raise ``ValueError``."""
    if isinstance(value, str) and isinstance(field, (mm.Integer, mm.Decimal)):
        value = value.strip()
    try:
        return field.deserialize(value)
    except MarshmallowError as exc:
        messages = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        raise ValueError("; ".join(str(m) for m in messages)) from None
    except (InvalidOperation, TypeError) as exc:  # pragma: no cover - marshmallow wraps most
        raise ValueError(str(exc)) from None
