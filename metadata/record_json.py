"""The JSON text of stored records (what ``dumps(model.dump(row))`` gives), built column by column.

A bulk write audits every record as JSON. Going through a dict per record and the JSON encoder
costs more than the insert itself; here each column's values are turned into JSON text by a
converter chosen once from the column's type (a timestamp repeated down a batch is converted
once), and any value of an unexpected type falls back to the general path, so the text is
always the same as the general path's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from crm_platform.core.database import dumps

#: Turns one stored (not None) value into its JSON text.
TextOf = Callable[[Any], str]
_MISSING = object()


def text_converter(python_type: Any, dump: Callable[[Any], Any] | None) -> tuple[TextOf, bool]:
    """(converter, whether its values repeat down a batch) for a column: the quick form for the
    usual stored type, the general path (``dump`` then :func:`dumps`) for anything else."""

    def general(value: Any) -> str:
        return dumps(dump(value) if dump is not None else value)

    if python_type is str:
        return (lambda v: encode_basestring(v) if type(v) is str else general(v)), False
    if python_type is int:
        return (lambda v: int.__repr__(v) if type(v) is int else general(v)), False
    if python_type is bool:
        return (lambda v: "true" if v is True else "false" if v is False else general(v)), False
    if python_type is Decimal:
        def decimal(v: Any) -> str:
            if type(v) is Decimal:
                number = float(v)
                if number - number == 0:  # finite: the encoder writes repr (NaN, Infinity otherwise)
                    return float.__repr__(number)
            return general(v)

        return decimal, False
    if python_type is datetime:
        return (lambda v: '"' + v.isoformat().replace("+00:00", "Z") + '"' if type(v) is datetime else general(v)), True
    if python_type is date:
        return (lambda v: '"' + v.isoformat() + '"' if type(v) is date else general(v)), True
    return general, False


class RecordJSON:
    """JSON texts of many stored rows of one table, in its column order (absent keys left out)."""

    def __init__(self, columns: Sequence[tuple[str, Any, Callable[[Any], Any] | None]]) -> None:
        """``columns``: (key, Python type of the column, the dump converter or None)."""
        self.columns = [(dumps(key) + ":", *text_converter(python_type, dump)) for key, python_type, dump in columns]
        self.keys = [key for key, _, _ in columns]

    def texts(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        parts = []
        for (prefix, convert, repeating), key in zip(self.columns, self.keys):
            values = [row.get(key, _MISSING) for row in rows]
            null = prefix + "null"
            if repeating:  # dates and timestamps: equal values are one value (no True == 1 here)
                text = {v: null if v is None else None if v is _MISSING else prefix + convert(v) for v in set(values)}
                parts.append([text[v] for v in values])
            else:
                parts.append([prefix + convert(v) if v is not None and v is not _MISSING else
                              null if v is None else None for v in values])
        join = ",".join
        return ["{" + (join(fragments) if None not in fragments else join(f for f in fragments if f is not None)) + "}"
                for fragments in zip(*parts)]


__all__ = ["RecordJSON", "text_converter"]
