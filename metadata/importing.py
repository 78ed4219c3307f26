"""Importing CSV and XLSX files into any object: mapping, preview, row-by-row validation, insert or
upsert by a key, all-or-nothing or skip-invalid-rows, and an error report (row, column, reason).

Rows go through the record service, so every rule of the object (required fields, formats,
lookups, uniqueness, formulas, workflow rules after commit) applies as for a single save.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from crm_platform.core.bulk import collector_paused
from crm_platform.core.errors import CRMError, NotFound, ValidationError
from crm_platform.core.session import TenantSession, utcnow

from .records import RecordService
from .sql_types import UTCDateTime
from .tables import tenant_metadata

MODES = ("insert", "upsert")
ON_ERROR = ("abort", "skip")
MAX_ERRORS_KEPT = 1000
PREVIEW_ROWS = 20
#: Rows handled (and, for an import in the background, reported) together.
CHUNK_ROWS = 500
ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 reads GBK and GB2312 files too

imports = sa.Table(
    "sys_imports",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("key", sa.String(63)),
    sa.Column("on_error", sa.String(10), nullable=False),
    sa.Column("mapping", sa.JSON, nullable=False),
    #: queued, running (a background import), done, failed
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errors", sa.JSON),
    sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
)

#: The last mapping used per object, offered again next time.
import_mappings = sa.Table(
    "sys_import_mappings",
    tenant_metadata,
    sa.Column("object", sa.String(63), primary_key=True),
    sa.Column("mapping", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)


def read_table(filename: str, content: bytes) -> tuple[list[str], Iterator[list[str]]]:
    """The header and rows of a CSV (UTF-8 or GBK/GB18030) or XLSX file, as text cells."""
    if filename.lower().endswith(".xlsx") or content.startswith(b"PK\x03\x04"):
        return _read_xlsx(content)
    for encoding in ENCODINGS:
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationError("the file is neither UTF-8 nor GBK text", {"file": ["unknown encoding"]})
    if "\x00" in text:
        raise ValidationError("the file is not a CSV text file", {"file": ["binary content"]})
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ValidationError("the file is empty", {"file": ["no header row"]})
    return [h.strip() for h in header], reader


def _read_xlsx(content: bytes) -> tuple[list[str], Iterator[list[str]]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise ValidationError(f"not a readable XLSX file: {exc}", {"file": ["not a readable XLSX file"]}) from None
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        raise ValidationError("the sheet is empty", {"file": ["no header row"]})

    def cells() -> Iterator[list[str]]:
        for row in rows:
            yield ["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in row]

    return ["" if h is None else str(h).strip() for h in header], cells()


def check_request(service: RecordService, object_name: str, header: list[str], mapping: Any, mode: str,
                  key: str | None, on_error: str) -> dict[str, str]:
    model = service.object(object_name)
    writable = set(model.record_fields) - service.policy.unwritable(model.name)
    errors: dict[str, list[str]] = {}
    if not isinstance(mapping, dict) or not mapping or not all(isinstance(v, str) for v in mapping.values()):
        raise ValidationError('mapping must be {"CSV column": "field", ...}', {"mapping": ["expected an object"]})
    missing = [column for column in mapping if column not in header]
    if missing:
        errors["mapping"] = [f"columns not in the file: {', '.join(missing)}"]
    unknown = [field for field in mapping.values() if field not in writable]
    if unknown:
        errors.setdefault("mapping", []).append(f"not writable fields of {object_name}: {', '.join(unknown)}")
    if len(set(mapping.values())) != len(mapping):
        errors.setdefault("mapping", []).append("two columns map to the same field")
    if mode not in MODES:
        errors["mode"] = [f"one of: {', '.join(MODES)}"]
    if on_error not in ON_ERROR:
        errors["on_error"] = [f"one of: {', '.join(ON_ERROR)}"]
    if mode == "upsert" and (not key or key not in mapping.values()):
        errors["key"] = ["upsert needs a key field that the mapping fills"]
    if errors:
        first, messages = next(iter(errors.items()))
        raise ValidationError(f"invalid import: {first}: {messages[0]}", errors)
    return mapping


def column_positions(header: list[str], mapping: dict[str, str]) -> list[tuple[int, str]]:
    """(cell position, field) per mapped column, computed once per file rather than per row."""
    return [(header.index(column), field) for column, field in mapping.items()]


def _row_values(positions: list[tuple[int, str]], cells: list[str], width: int) -> dict[str, Any]:
    """The mapped, stripped, non-empty cells of a row by field; ``width``: the cells a row needs
    for every mapped column (rows as wide take the quick way)."""
    if len(cells) >= width:
        values = {field: cells[position].strip() for position, field in positions}
        if "" in values.values():
            values = {field: value for field, value in values.items() if value != ""}
        return values
    values = {}
    present = len(cells)
    for position, field in positions:
        if position < present:
            cell = cells[position]
            if cell is not None:
                raw = cell.strip()
                if raw != "":
                    values[field] = raw
    return values


def _errors_of(exc: CRMError, row: int, mapping: dict[str, str]) -> list[dict[str, Any]]:
    columns = {field: column for column, field in mapping.items()}
    details = exc.details or {"": [exc.message]}
    return [{"row": row, "column": columns.get(field, field), "reason": "; ".join(map(str, messages))}
            for field, messages in details.items()]


class RowImporter:
    """Turns numbered rows into records, a chunk at a time, counting and collecting row errors.

    Inserts go through :meth:`RecordService.insert_many` (one driver-level bulk insert per batch); a chunk
    with a bad row is tried again row by row so that every bad row of it is reported.
    """

    def __init__(self, session: TenantSession, object_name: str, header: list[str], mapping: dict[str, str],
                 mode: str, key: str | None, preview: bool = False) -> None:
        self.session, self.object_name, self.mapping = session, object_name, mapping
        self.mode, self.key, self.preview = mode, key, preview
        self.service = RecordService(session)
        self.model = self.service.object(object_name)
        self.positions = column_positions(header, mapping)
        self.width = 1 + max(position for position, _ in self.positions)
        self.counts = {"created": 0, "updated": 0, "skipped": 0}
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self.seen_keys: set[Any] = set()
        self.preview_rows: list[dict[str, Any]] = []

    def _fail(self, exc: CRMError, index: int) -> None:
        found = _errors_of(exc, index, self.mapping)
        self.error_count += len(found)
        room = MAX_ERRORS_KEPT - len(self.errors)
        if room > 0:
            self.errors.extend(found[:room])
        self.counts["skipped"] += 1

    def chunk(self, numbered: list[tuple[int, list[str]]]) -> None:
        """Import rows given as (row number in the file, cells)."""
        prepared = []
        for index, cells in numbered:
            values = _row_values(self.positions, cells, self.width)
            if values:
                prepared.append((index, values))
            else:
                self.counts["skipped"] += 1
        if not prepared:
            return
        if self.mode == "insert" and not self.preview and self._insert_many(prepared):
            return
        for index, values in prepared:
            self._one(index, values)

    def _insert_many(self, prepared: list[tuple[int, dict[str, Any]]]) -> bool:
        session = self.session
        mark, savepoint = session.mark(), session.conn.begin_nested()
        try:
            # A chunk is never larger than a batch, so every row is checked before any is
            # inserted; the savepoint takes back what the checks wrote (the autonumbers the
            # batch took), so the rows tried again one by one number on without a gap.
            self.service.insert_many(self.object_name, [values for _, values in prepared], batch_size=CHUNK_ROWS)
        except CRMError:  # some row is bad: find each bad row one by one
            savepoint.rollback()
            session.forget_since(mark)
            return False
        savepoint.commit()
        self.counts["created"] += len(prepared)
        return True

    def _one(self, index: int, values: dict[str, Any]) -> None:
        service, key, model = self.service, self.key, self.model
        try:
            with self.session.conn.begin_nested():
                if self.mode == "upsert":
                    key_value = values.get(key)
                    if key_value in self.seen_keys:
                        raise ValidationError(f"{key} {key_value!r} occurs twice in the file",
                                              {key: [f"{key_value!r} occurs twice in the file"]})
                    self.seen_keys.add(key_value)
                    existing = self.session.conn.execute(
                        sa.select(model.table.c.id).where(
                            model.table.c[key] == model.field_refs[key].coerce(key_value)).limit(2)
                    ).scalars().all() if key_value is not None else []
                    if len(existing) > 1:
                        raise ValidationError(f"{key} {key_value!r} matches several records",
                                              {key: ["matches several records"]})
                    if existing:
                        record = service.update(self.object_name, existing[0], values)
                        self.counts["updated"] += 1
                    else:
                        record = service.create(self.object_name, values)
                        self.counts["created"] += 1
                else:
                    record = service.create(self.object_name, values)
                    self.counts["created"] += 1
                if self.preview:
                    self.preview_rows.append({"row": index, "record": record})
        except CRMError as exc:
            self._fail(exc, index)


def run_import(
    session: TenantSession,
    object_name: str,
    filename: str,
    content: bytes,
    mapping: Any,
    mode: str = "insert",
    key: str | None = None,
    on_error: str = "abort",
    preview: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Import the file in this unit of work; with ``preview`` only the first rows are tried and
    nothing is kept. (Large files go through :func:`metadata.import_jobs.start_import`.)"""
    service = RecordService(session)
    with collector_paused():
        header, rows = read_table(filename, content)
        mapping = check_request(service, object_name, header, mapping, mode, key, on_error)
        service.policy.require(object_name, "create")
        all_rows = list(rows)
        if preview:
            all_rows = all_rows[:PREVIEW_ROWS]
        importer = RowImporter(session, object_name, header, mapping, mode, key, preview)
        mark = session.mark()
        outer = session.conn.begin_nested()
        total = len(all_rows)
        try:
            for start in range(0, total, CHUNK_ROWS):
                importer.chunk([(start + offset + 2, cells)  # row 1 is the header
                                for offset, cells in enumerate(all_rows[start:start + CHUNK_ROWS])])
                if progress is not None:
                    progress(min(start + CHUNK_ROWS, total), total)
        except BaseException:
            outer.rollback()
            raise
        counts, errors = importer.counts, importer.errors
        failed = bool(importer.error_count) and on_error == "abort"
        if preview or failed:
            outer.rollback()
            # Nothing was kept: nothing to announce or audit but the attempt itself.
            session.forget_since(mark)
        else:
            outer.commit()
            session.write_queued_audit()  # while the collector rests
    result = {
        "object": object_name, "filename": filename, "mode": mode, "key": key, "on_error": on_error,
        "total": total, "processed": total,
        "created": 0 if failed or preview else counts["created"],
        "updated": 0 if failed or preview else counts["updated"],
        "skipped": counts["skipped"], "error_count": importer.error_count, "errors": errors,
        "status": "failed" if failed else "done",
    }
    if preview:
        return {**result, "preview": importer.preview_rows, "status": "preview"}
    now = utcnow()
    import_id = session.conn.execute(imports.insert().values(
        object=object_name, filename=filename[:255], mode=mode, key=key, on_error=on_error, mapping=mapping,
        status=result["status"], total=result["total"], processed=result["processed"], created=result["created"],
        updated=result["updated"], skipped=result["skipped"], errors=result["errors"],
        error_count=result["error_count"], created_by=session.actor.user_id, created_at=now,
        finished_at=now)).inserted_primary_key[0]
    remember_mapping(session, object_name, mapping)
    audit_import(session, import_id, result)
    return {"id": import_id, **result}


def audit_import(session: TenantSession, import_id: int, result: dict[str, Any]) -> None:
    session.audit("import.run", object="import", record_id=import_id, after={
        k: result[k] for k in ("object", "filename", "mode", "total", "created", "updated", "skipped", "error_count",
                               "status")})


def remember_mapping(session: TenantSession, object_name: str, mapping: dict[str, str]) -> None:
    now = utcnow()
    updated = session.conn.execute(import_mappings.update().where(import_mappings.c.object == object_name)
                                   .values(mapping=mapping, updated_at=now)).rowcount
    if not updated:
        session.conn.execute(import_mappings.insert().values(object=object_name, mapping=mapping, updated_at=now))


def saved_mapping(session: TenantSession, object_name: str) -> dict[str, str] | None:
    return session.conn.execute(sa.select(import_mappings.c.mapping).where(
        import_mappings.c.object == object_name)).scalar()


def get_import(session: TenantSession, import_id: Any) -> dict[str, Any]:
    try:
        key = int(import_id)
    except (TypeError, ValueError):
        raise NotFound(f"import {import_id!r} does not exist") from None
    row = session.conn.execute(sa.select(imports).where(imports.c.id == key)).mappings().first()
    if row is None:
        raise NotFound(f"import {import_id!r} does not exist")
    result = dict(row)
    for name in ("created_at", "finished_at"):
        result[name] = result[name].isoformat().replace("+00:00", "Z") if result[name] else None
    return result


def error_report(result: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "column", "reason"])
    for error in result["errors"] or []:
        writer.writerow([error["row"], error["column"], error["reason"]])
    return "\ufeff" + buffer.getvalue()
