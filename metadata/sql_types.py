"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

DELIMITER = ";"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored as UTC; SQLite's naive values come back as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class DelimitedList(TypeDecorator[list]):
    """A list of option values stored as ``;a;b;``, so "has option x" is ``LIKE '%;x;%'`` anywhere."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):  # already encoded (a filter value compared to the column)
            return value
        if not value:
            return None
        return DELIMITER + DELIMITER.join(value) + DELIMITER

    def process_result_value(self, value: str | None, dialect: Any) -> list[str] | None:
        if value is None:
            return None
        return [part for part in value.split(DELIMITER) if part]

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        return sa.Text() if isinstance(value, str) else self
