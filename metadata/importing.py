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

from crm_platform.core.errors import CRMError, NotFound, ValidationError
from crm_platform.core.session import TenantSession, utcnow

from .records import RecordService
from .sql_types import UTCDateTime
from .tables import tenant_metadata

MODES = ("insert", "upsert")
ON_ERROR = ("abort", "skip")
MAX_ERRORS_KEPT = 1000
PREVIEW_ROWS = 20
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
    #: running, done, failed
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


def _row_values(header: list[str], cells: list[str], mapping: dict[str, str]) -> dict[str, Any]:
    positions = {column: header.index(column) for column in mapping}
    values = {}
    for column, field in mapping.items():
        position = positions[column]
        raw = cells[position].strip() if position < len(cells) and cells[position] is not None else ""
        if raw != "":
            values[field] = raw
    return values


def _errors_of(exc: CRMError, row: int, mapping: dict[str, str]) -> list[dict[str, Any]]:
    columns = {field: column for column, field in mapping.items()}
    details = exc.details or {"": [exc.message]}
    return [{"row": row, "column": columns.get(field, field), "reason": "; ".join(map(str, messages))}
            for field, messages in details.items()]


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
    """Import the file; with ``preview`` only the first rows are tried and nothing is kept."""
    service = RecordService(session)
    header, rows = read_table(filename, content)
    mapping = check_request(service, object_name, header, mapping, mode, key, on_error)
    service.policy.require(object_name, "create")
    model = service.object(object_name)
    all_rows = list(rows)
    if preview:
        all_rows = all_rows[:PREVIEW_ROWS]
    counts = {"created": 0, "updated": 0, "skipped": 0}
    errors: list[dict[str, Any]] = []
    seen_keys: set[Any] = set()
    mark = session.mark()
    outer = session.conn.begin_nested()
    preview_rows = []
    try:
        for index, cells in enumerate(all_rows, start=2):  # row 1 is the header
            values = _row_values(header, cells, mapping)
            if not values:
                counts["skipped"] += 1
                continue
            try:
                with session.conn.begin_nested():
                    if mode == "upsert":
                        key_value = values.get(key)
                        if key_value in seen_keys:
                            raise ValidationError(f"{key} {key_value!r} occurs twice in the file",
                                                  {key: [f"{key_value!r} occurs twice in the file"]})
                        seen_keys.add(key_value)
                        existing = session.conn.execute(
                            sa.select(model.table.c.id).where(
                                model.table.c[key] == model.field_refs[key].coerce(key_value)).limit(2)
                        ).scalars().all() if key_value is not None else []
                        if len(existing) > 1:
                            raise ValidationError(f"{key} {key_value!r} matches several records",
                                                  {key: ["matches several records"]})
                        if existing:
                            record = service.update(object_name, existing[0], values)
                            counts["updated"] += 1
                        else:
                            record = service.create(object_name, values)
                            counts["created"] += 1
                    else:
                        record = service.create(object_name, values)
                        counts["created"] += 1
                    if preview:
                        preview_rows.append({"row": index, "record": record})
            except CRMError as exc:
                errors.extend(_errors_of(exc, index, mapping))
                counts["skipped"] += 1
            if progress is not None and (index % 500 == 0 or index - 1 == len(all_rows)):
                progress(index - 1, len(all_rows))
    except BaseException:
        outer.rollback()
        raise
    failed = bool(errors) and on_error == "abort"
    if preview or failed:
        outer.rollback()
        # Nothing was kept: nothing to announce or audit but the attempt itself.
        session.forget_since(mark)
    else:
        outer.commit()
    result = {
        "object": object_name, "filename": filename, "mode": mode, "key": key, "on_error": on_error,
        "total": len(all_rows), "processed": len(all_rows),
        "created": 0 if failed or preview else counts["created"],
        "updated": 0 if failed or preview else counts["updated"],
        "skipped": counts["skipped"], "error_count": len(errors), "errors": errors[:MAX_ERRORS_KEPT],
        "status": "failed" if failed else "done",
    }
    if preview:
        return {**result, "preview": preview_rows, "status": "preview"}
    now = utcnow()
    import_id = session.conn.execute(imports.insert().values(
        object=object_name, filename=filename[:255], mode=mode, key=key, on_error=on_error, mapping=mapping,
        status=result["status"], total=result["total"], processed=result["processed"], created=result["created"],
        updated=result["updated"], skipped=result["skipped"], errors=result["errors"], error_count=len(errors),
        created_by=session.actor.user_id, created_at=now, finished_at=now)).inserted_primary_key[0]
    _remember_mapping(session, object_name, mapping)
    session.audit("import.run", object=object_name, record_id=import_id, after={
        k: result[k] for k in ("filename", "mode", "total", "created", "updated", "skipped", "error_count", "status")})
    return {"id": import_id, **result}


def _remember_mapping(session: TenantSession, object_name: str, mapping: dict[str, str]) -> None:
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
