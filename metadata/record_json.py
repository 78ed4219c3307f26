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
    """JSON texts of many stored rows of one table, in its column order (absent keys left out).

    When every row has every column (a bulk create's rows do), each row's text is one ``%``
    format of a template that holds the keys and the columns whose text is the same all down
    the batch (its timestamps, creator, version), and a column whose values are all of its
    usual type is converted by ``map`` without a per-value check. Any other batch goes column by
    column with a per-value converter. Both give what ``dumps(model.dump(row))`` gives.
    """

    def __init__(self, columns: Sequence[tuple[str, Any, Callable[[Any], Any] | None]]) -> None:
        """``columns``: (key, Python type of the column, the dump converter or None)."""
        self.columns = [(dumps(key) + ":", *text_converter(python_type, dump)) for key, python_type, dump in columns]
        self.keys = [key for key, _, _ in columns]
        #: (the column's type, the converter of a whole column of values all of exactly that type).
        self._whole = [(python_type, _COLUMN_TEXTS.get(python_type)) for _, python_type, _ in columns]

    def texts(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        columns = [[row.get(key, _MISSING) for row in rows] for key in self.keys]
        kinds = [set(map(type, values)) for values in columns]
        if not rows or any(_Missing in found for found in kinds):
            return self._texts_of_some(rows, columns)
        template, varying = "", []
        for (prefix, convert, repeating), (python_type, whole), values, found in zip(
                self.columns, self._whole, columns, kinds):
            first = values[0]
            if len(found) == 1 and values.count(first) == len(values):  # one value, one type
                template += (prefix + ("null" if first is None else convert(first))).replace("%", "%%") + ","
                continue
            template += prefix.replace("%", "%%") + "%s,"
            if whole is not None and found == {python_type}:
                texts = whole(values)
                if texts is not None:
                    varying.append(texts)
                    continue
            if repeating:
                text = {v: "null" if v is None else convert(v) for v in set(values)}
                varying.append([text[v] for v in values])
            else:
                varying.append(["null" if v is None else convert(v) for v in values])
        template = "{" + template[:-1] + "}"
        return [template % parts for parts in zip(*varying)] if varying else [template % ()] * len(rows)

    def _texts_of_some(self, rows: Sequence[Mapping[str, Any]], columns: list[list[Any]]) -> list[str]:
        """Rows that lack some columns: the fragments of each row's own keys, joined."""
        parts = []
        for (prefix, convert, repeating), values in zip(self.columns, columns):
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


def _finite_decimals(values: list[Decimal]) -> list[str] | None:
    """The encoder's text of Decimals that are all finite as floats; None if one is not."""
    numbers = list(map(float, values))
    total = sum(numbers)
    return list(map(float.__repr__, numbers)) if total - total == 0 else None


_Missing = type(_MISSING)
#: Texts of a whole column of values all of exactly the key type (None: convert one by one).
_COLUMN_TEXTS: dict[type, Callable[[list[Any]], list[str] | None]] = {
    str: lambda values: list(map(encode_basestring, values)),
    int: lambda values: list(map(int.__repr__, values)),
    Decimal: _finite_decimals,
}


__all__ = ["RecordJSON", "text_converter"]
