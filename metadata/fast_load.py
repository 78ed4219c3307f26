"""Plain per-field converters for the common, valid case of a record write.

Each converter returns the stored value, or :data:`SLOW` when its quick check does not pass; the
caller then runs the field's marshmallow field, so every error message stays the one marshmallow
gives. A converter only accepts what marshmallow would accept and turns it into the same value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal, DecimalException
from typing import TYPE_CHECKING, Any

from .field_types import MAX_ID, PHONE_PATTERN, TEXT_MAX, TEXTAREA_MAX, StrictBoolean, magnitude_limit

if TYPE_CHECKING:
    from .definitions import FieldDef

#: Returned by a converter whose quick check failed: validate through marshmallow instead.
SLOW = object()
Converter = Callable[[Any], Any]
#: A code point UTF-8 cannot encode (in a Python string a surrogate is always a lone one).
SURROGATE = re.compile("[\ud800-\udfff]")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TEXT_CEILINGS = {"text": (TEXT_MAX, 255), "textarea": (TEXTAREA_MAX, None)}
#: Plain decimal notation (no exponent, no spaces): what Decimal(str(value)) reads exactly.
PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?")
#: A strict subset of marshmallow's e-mail check: ASCII dot-atom user, dotted host, letter TLD.
PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,6}"
)
#: Seconds, optional 6-digit fraction, optional Z or +hh:mm offset: read alike by every
#: Python's datetime.fromisoformat.
PLAIN_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
#: StrictBoolean's text spellings (CSV cells, query strings).
TEXT_BOOLEANS = {v: True for v in StrictBoolean.truthy if type(v) is str} | {
    v: False for v in StrictBoolean.falsy if type(v) is str}
DECIMAL_PLACES = {"currency": 2, "percent": 4}


def _text(limit: int) -> Converter:
    def convert(value: Any) -> Any:
        # What _clean_text accepts: no NUL and no lone surrogate (UTF-8 cannot encode one).
        if value is None or (type(value) is str and len(value) <= limit and "\x00" not in value
                             and (value.isascii() or SURROGATE.search(value) is None)):
            return value
        return SLOW

    return convert


def _integer(low: Any, high: Any) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is str:
            # Up to 18 ASCII digits, optionally signed: int() reads it as TextInteger does.
            digits = value[1:] if value[:1] in ("-", "+") else value
            if not (0 < len(digits) <= 18 and digits.isascii() and digits.isdigit()):
                return SLOW
            value = int(value)
        if type(value) is int and -(2**63) < value < 2**63 and (low is None or value >= low) and (high is None or value <= high):
            return value
        return SLOW

    return convert


def _boolean(value: Any) -> Any:
    if value is None or value is True or value is False:
        return value
    return TEXT_BOOLEANS.get(value, SLOW) if type(value) is str else SLOW


def _decimal(places: int, limit: int, low: Any, high: Any) -> Converter:
    exponent = Decimal((0, (1,), -places))

    def convert(value: Any) -> Any:
        if value is None:
            return None
        kind = type(value)
        if kind is not str and kind is not int and kind is not float:
            return SLOW
        text = str(value)
        if not PLAIN_DECIMAL.fullmatch(text):
            return SLOW
        try:  # the same steps as marshmallow's Decimal field
            number = Decimal(text).quantize(exponent)
        except DecimalException:
            return SLOW
        if -limit < number < limit and (low is None or number >= low) and (high is None or number <= high):
            return number
        return SLOW

    return convert


def _email(value: Any) -> Any:
    if value is None or (type(value) is str and len(value) <= 254 and PLAIN_EMAIL.fullmatch(value)):
        return value
    return SLOW


def _phone(value: Any) -> Any:
    if value is None:
        return None
    if (type(value) is str and value.isascii() and value.strip() == value and PHONE_PATTERN.match(value)
            and sum(ch.isdigit() for ch in value) >= 5):
        return value
    return SLOW


def _datetime(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is str and PLAIN_DATETIME.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.astimezone(timezone.utc)
        except (ValueError, OverflowError):
            return SLOW
    return SLOW


def _date(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is str and len(value) == 10 and ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return SLOW
    return SLOW


def _choice(allowed: frozenset[str]) -> Converter:
    def convert(value: Any) -> Any:
        return value if value is None or (type(value) is str and value in allowed) else SLOW

    return convert


def id_converter(value: Any) -> Any:
    """A record or user id (``owner_id``, lookups)."""
    return value if value is None or (type(value) is int and 1 <= value <= MAX_ID) else SLOW


def fast_converter(fd: FieldDef) -> Converter | None:
    """The quick converter for a writable field, or None when its type always takes marshmallow."""
    if fd.type in TEXT_CEILINGS and not fd.pattern:
        ceiling, default = TEXT_CEILINGS[fd.type]
        return _text(min(fd.max_length or default or ceiling, ceiling))
    if fd.type == "integer":
        return _integer(fd.min, fd.max)
    if fd.type == "boolean":
        return _boolean
    if fd.type == "date" and fd.min is None and fd.max is None:
        return _date
    if fd.type in {"decimal", "currency", "percent"}:
        places = DECIMAL_PLACES.get(fd.type, fd.scale if fd.scale is not None else 4)
        return _decimal(places, magnitude_limit(fd.type, fd), fd.min, fd.max)
    if fd.type == "email":
        return _email
    if fd.type == "phone":
        return _phone
    if fd.type == "datetime":
        return _datetime
    if fd.type == "picklist" and fd.options:
        return _choice(frozenset(o["value"] for o in fd.options))
    if fd.type in {"lookup", "user"}:
        return id_converter
    return None


__all__ = ["SLOW", "fast_converter", "id_converter"]
