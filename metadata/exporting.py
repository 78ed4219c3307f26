"""Exporting a filtered list as CSV or XLSX, as the reader may see it.

The export scope of the reader's roles limits the rows (like the read scope limits lists); hidden
fields are left out and masked ones exported masked. Cells that a spreadsheet would run as a
formula (``=cmd|' /C calc'!A0``) are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from crm_platform.core.errors import ValidationError

from .definitions import label_text
from .query import list_records
from .records import RecordService

FORMATS = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
MAX_ROWS = 200_000
PAGE = 2000
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: Any) -> Any:
    """A cell value that spreadsheets will show, never evaluate."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    if isinstance(value, list):
        return neutralize(";".join(str(v) for v in value))
    return value


def export_rows(service: RecordService, object_name: str, arguments: Mapping[str, Any]) -> tuple[list[str], list[str], Iterator[list[Any]]]:
    """Column names, their labels, and the rows of the filtered list (every page)."""
    model = service.object(object_name)
    policy = service.policy
    scope = policy.require(model.name, "export")
    query = service.parse_list(object_name, {k: v for k, v in arguments.items() if k not in ("page", "per_page", "format")},
                               extra_parameters=frozenset({"format"}))
    criterion = policy.criterion(service.session, model.table, scope)
    if criterion is not None:
        query.criteria.append(criterion)
    query.unreadable = policy.unreadable(model.name)
    hidden = {name for name, access in policy.restricted(model.name).items() if access == "hidden"}
    columns = ["id", *[name for name in model.fields if name not in hidden], "owner_id", "created_at", "updated_at"]
    if model.has_pipeline:
        columns.insert(1, "stage")
    labels = [label_text(model.fields[c].label) or c if c in model.fields else c for c in columns]
    query.per_page = PAGE

    def rows() -> Iterator[list[Any]]:
        page, sent = 1, 0
        while sent < MAX_ROWS:
            query.page = page
            batch, _ = list_records(service.conn, model, query)
            if not batch:
                return
            for row in batch:
                record = policy.present(model.name, model.dump(row))
                yield [neutralize(record.get(column)) for column in columns]
            sent += len(batch)
            if len(batch) < PAGE:
                return
            page += 1

    return columns, labels, rows()


def render_export(fmt: str, labels: list[str], rows: Iterator[list[Any]]) -> tuple[bytes, int]:
    """The file's bytes and how many rows it holds."""
    if fmt not in FORMATS:
        raise ValidationError(f"format is one of: {', '.join(FORMATS)}", {"format": [f"unknown format {fmt!r}"]})
    count = 0
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(labels)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
        # A byte-order mark so that Excel opens UTF-8 (Chinese text) correctly.
        return ("\ufeff" + buffer.getvalue()).encode("utf-8"), count
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(labels)
    for row in rows:
        sheet.append(row)
        count += 1
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue(), count
