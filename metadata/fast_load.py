"""Plain per-field converters for the common, valid case of a record write.

Each converter returns the stored value, or :data:`SLOW` when its quick check does not pass; the
caller then runs the field's marshmallow field, so every error message stays the one marshmallow
gives. A converter only accepts what marshmallow would accept and turns it into the same value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from .field_types import MAX_ID, TEXT_MAX, TEXTAREA_MAX

if TYPE_CHECKING:
    from .definitions import FieldDef

#: Returned by a converter whose quick check failed: validate through marshmallow instead.
SLOW = object()
Converter = Callable[[Any], Any]
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TEXT_CEILINGS = {"text": (TEXT_MAX, 255), "textarea": (TEXTAREA_MAX, None)}


def _text(limit: int) -> Converter:
    def convert(value: Any) -> Any:
        # ASCII without NUL is what _clean_text accepts without looking further.
        if value is None or (type(value) is str and len(value) <= limit and value.isascii() and "\x00" not in value):
            return value
        return SLOW

    return convert


def _integer(low: Any, high: Any) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is int and -(2**63) < value < 2**63 and (low is None or value >= low) and (high is None or value <= high):
            return value
        return SLOW

    return convert


def _boolean(value: Any) -> Any:
    return value if value is None or value is True or value is False else SLOW


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
    if fd.type == "picklist" and fd.options:
        return _choice(frozenset(o["value"] for o in fd.options))
    if fd.type in {"lookup", "user"}:
        return id_converter
    return None


__all__ = ["SLOW", "fast_converter", "id_converter"]
