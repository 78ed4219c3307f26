"""Large imports in the background: the upload is kept in the instance folder, a ``queued`` import
row is committed, and a task (a Celery worker, or in-process after commit without a broker) works
through the file a chunk at a time, keeping ``processed`` / ``total`` and the status
(queued, running, done, failed) current for ``GET /imports/<id>``.

- ``on_error=abort``: one transaction for every row, so a failure keeps nothing; progress is
  written outside it (a separate connection on PostgreSQL; on SQLite, whose single writer is busy
  with that transaction, a small file beside the upload).
- ``on_error=skip``: each chunk commits with its progress, so the good rows are kept as they go.

Idempotent: a task delivered twice (late acknowledgement, a worker that died) finds the import
finished and does nothing; a skip import resumes after the last committed chunk, because each
chunk advances ``processed`` only from the value it started from; an abort import starts over
and only the run that still finds it ``running`` may finish it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crm_platform.core.bulk import collector_paused
from crm_platform.core.errors import CRMError, PermissionDenied
from crm_platform.core.session import Actor, TenantSession, tenant_session, utcnow
from crm_platform.core.tables import users

from .importing import (
    CHUNK_ROWS,
    MAX_ERRORS_KEPT,
    RowImporter,
    audit_import,
    check_request,
    imports,
    read_table,
    remember_mapping,
    run_import,
)
from .records import RecordService

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

log = logging.getLogger(__name__)

#: Service name: an object with ``submit_import(tenant, import_id)`` (the Celery runner); without
#: one, the import runs in-process right after the request commits.
IMPORT_RUNNER_SERVICE = "imports.runner"
#: Files with at least this many rows are imported in the background.
DEFAULT_ASYNC_ROWS = 2000
FINISHED = ("done", "failed")
#: An import still queued this long after its upload lost its message (broker down): send it again.
RESUBMIT_AFTER = timedelta(minutes=5)


def async_threshold(platform: Platform) -> int:
    return int(platform.settings.get("CRM_IMPORT_ASYNC_ROWS") or DEFAULT_ASYNC_ROWS)


def upload_path(platform: Platform, tenant: str, import_id: int) -> Path:
    """Where a background import's file waits for its worker (the instance folder is shared)."""
    return Path(platform.db.instance_path) / "imports" / tenant / f"{int(import_id)}.upload"


def _progress_file(platform: Platform, tenant: str, import_id: int) -> Path:
    return upload_path(platform, tenant, import_id).with_suffix(".progress")


def start_import(
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
    """Import a small file now, or queue a large one (``status: queued``) and answer its id."""
    platform = session.platform
    service = RecordService(session)
    header, rows = read_table(filename, content)
    mapping = check_request(service, object_name, header, mapping, mode, key, on_error)
    service.policy.require(object_name, "create")
    total = sum(1 for _ in rows)
    if preview or total < async_threshold(platform):
        return run_import(session, object_name, filename, content, mapping, mode=mode, key=key,
                          on_error=on_error, preview=preview, progress=progress)
    import_id = session.conn.execute(imports.insert().values(
        object=object_name, filename=filename[:255], mode=mode, key=key, on_error=on_error, mapping=mapping,
        status="queued", total=total, processed=0, errors=[], created_by=session.actor.user_id,
        created_at=utcnow())).inserted_primary_key[0]
    path = upload_path(platform, session.tenant, import_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    # Should this transaction roll back, a later import that gets the same id overwrites the file.
    remember_mapping(session, object_name, mapping)
    session.audit("import.queue", object="import", record_id=import_id,
                  after={"object": object_name, "filename": filename, "mode": mode, "total": total, "on_error": on_error})
    _submit_after_commit(session, [import_id])
    return {"id": import_id, "object": object_name, "filename": filename, "mode": mode, "key": key,
            "on_error": on_error, "status": "queued", "total": total, "processed": 0}


def _submit_after_commit(session: TenantSession, ids: list[int]) -> None:
    platform, tenant = session.platform, session.tenant
    runner = platform.services.get(IMPORT_RUNNER_SERVICE)
    for import_id in ids:
        if runner is not None:
            session.after_commit(lambda i=import_id: runner.submit_import(tenant, i))
        else:
            session.after_commit(lambda i=import_id: execute_import(platform, tenant, i))


def resubmit_queued(session: TenantSession, now: datetime) -> list[int]:
    """Send again the imports whose task message was lost (called by the scheduler tick). A copy
    of a message that was only slow is harmless: the import runs once."""
    ids = list(session.conn.execute(sa.select(imports.c.id).where(
        imports.c.status == "queued", imports.c.created_at < now - RESUBMIT_AFTER)).scalars())
    _submit_after_commit(session, ids)
    return ids


def running_progress(platform: Platform, tenant: str, row: dict[str, Any]) -> dict[str, Any]:
    """Overlay the progress of a running all-or-nothing import kept beside its upload (SQLite)."""
    if row.get("status") == "running":
        try:
            row["processed"] = max(row["processed"], int(_progress_file(platform, tenant, row["id"]).read_text()))
        except (OSError, ValueError):
            pass
    return row


def _update(platform: Platform, tenant: str, import_id: int, **values: Any) -> int:
    """Write to the import row in a short transaction of its own."""
    with platform.db.tenant_connection(tenant, write=True) as conn, conn.begin():
        statement = imports.update().where(imports.c.id == import_id)
        if "_where" in values:
            statement = statement.where(values.pop("_where"))
        return conn.execute(statement.values(**values)).rowcount


def _load(platform: Platform, tenant: str, import_id: int) -> Any:
    with platform.db.tenant_connection(tenant) as conn:
        return conn.execute(sa.select(imports).where(imports.c.id == import_id)).first()


def _actor(platform: Platform, tenant: str, user_id: int | None) -> Actor:
    """The import acts as the user who uploaded it, with that user's permissions now."""
    if user_id is None:
        return Actor.system()
    from crm_platform.core.tenancy import actor_from_row

    with platform.db.tenant_connection(tenant) as conn:
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    if row is None or not row.active:
        raise PermissionDenied("the user who started this import is no longer active")
    return actor_from_row(row)


def execute_import(platform: Platform, tenant: str, import_id: int) -> str:
    """Carry out one queued import (a no-op once it is done or failed); answers its status."""
    job = _load(platform, tenant, import_id)
    if job is None:
        return "missing"
    if job.status in FINISHED:
        return job.status
    path = upload_path(platform, tenant, import_id)
    try:
        content = path.read_bytes()
    except OSError:
        return _fail(platform, tenant, import_id, f"the uploaded file is gone ({path.name})")
    claim = {"status": "running"}
    if job.on_error == "abort":  # nothing of an earlier attempt was kept: start over
        claim.update(processed=0, created=0, updated=0, skipped=0, errors=[], error_count=0)
    if not _update(platform, tenant, import_id, _where=imports.c.status.in_(("queued", "running")), **claim):
        return _load(platform, tenant, import_id).status
    try:
        actor = _actor(platform, tenant, job.created_by)
        with collector_paused():
            header, rows = read_table(job.filename, content)
            numbered = [(index, cells) for index, cells in enumerate(rows, start=2)]  # row 1 is the header
            if job.on_error == "abort":
                status = _all_or_nothing(platform, tenant, job, actor, header, numbered)
            else:
                status = _chunk_by_chunk(platform, tenant, job, actor, header, numbered)
    except _Superseded:  # another delivery of this task finished it: its outcome stands
        return _load(platform, tenant, import_id).status
    except CRMError as exc:
        return _fail(platform, tenant, import_id, exc.message)
    except Exception as exc:  # an unexpected failure is recorded, not left "running"
        log.exception("import %s of %s failed", import_id, tenant)
        return _fail(platform, tenant, import_id, f"unexpected error: {exc}")
    if status in FINISHED:
        path.unlink(missing_ok=True)
        _progress_file(platform, tenant, import_id).unlink(missing_ok=True)
    return status


def _fail(platform: Platform, tenant: str, import_id: int, reason: str) -> str:
    """Finish the import as failed, keeping the row errors found so far (a skip import keeps the
    chunks it committed, and its counts say so)."""
    job = _load(platform, tenant, import_id)
    errors = [*(job.errors or [])[:MAX_ERRORS_KEPT - 1], {"row": None, "column": "", "reason": reason}]
    _update(platform, tenant, import_id, _where=imports.c.status.in_(("queued", "running")), status="failed",
            errors=errors, error_count=(job.error_count or 0) + 1, finished_at=utcnow())
    return "failed"


def _progress_writer(platform: Platform, tenant: str, import_id: int, dialect: str) -> Callable[[int], None]:
    if dialect == "sqlite":  # one writer at a time, and that is the import's own transaction
        target = _progress_file(platform, tenant, import_id)

        def to_file(done: int) -> None:
            target.write_text(str(done))

        return to_file

    def to_row(done: int) -> None:
        _update(platform, tenant, import_id, _where=imports.c.status == "running", processed=done)

    return to_row


def _result(job: Any, importer: RowImporter, status: str, total: int) -> dict[str, Any]:
    kept = status == "done"
    return {"object": job.object, "filename": job.filename, "mode": job.mode, "total": total, "processed": total,
            "created": importer.counts["created"] if kept else 0, "updated": importer.counts["updated"] if kept else 0,
            "skipped": importer.counts["skipped"], "error_count": importer.error_count, "status": status}


def _all_or_nothing(platform: Platform, tenant: str, job: Any, actor: Actor, header: list[str],
                    numbered: list[tuple[int, list[str]]]) -> str:
    total = len(numbered)
    with tenant_session(platform, tenant, actor) as session:
        mapping = check_request(RecordService(session), job.object, header, job.mapping, job.mode, job.key,
                                job.on_error)
        report = _progress_writer(platform, tenant, job.id, session.dialect)
        importer = RowImporter(session, job.object, header, mapping, job.mode, job.key)
        rows, mark = session.conn.begin_nested(), session.mark()
        for start in range(0, total, CHUNK_ROWS):
            importer.chunk(numbered[start:start + CHUNK_ROWS])
            report(min(start + CHUNK_ROWS, total))
        if importer.error_count:
            rows.rollback()  # nothing is kept, nothing is announced
            session.forget_since(mark)
            status = "failed"
        else:
            rows.commit()
            session.write_queued_audit()  # while the collector rests (see collector_paused)
            status = "done"
        result = _result(job, importer, status, total)
        finished = session.conn.execute(imports.update().where(imports.c.id == job.id, imports.c.status == "running")
                                        .values(**{k: result[k] for k in ("processed", "created", "updated", "skipped",
                                                                          "error_count", "status")},
                                                errors=importer.errors, finished_at=utcnow())).rowcount
        if not finished:  # another delivery of this task finished it first: keep nothing of this one
            raise _Superseded()
        audit_import(session, job.id, result)
    return status


class _Superseded(Exception):
    """Raised when a second delivery of an import task finds the import finished by the first."""


def _chunk_by_chunk(platform: Platform, tenant: str, job: Any, actor: Actor, header: list[str],
                    numbered: list[tuple[int, list[str]]]) -> str:
    total = len(numbered)
    done = job.processed  # resume after the chunks an earlier attempt committed
    while done < total:
        with tenant_session(platform, tenant, actor) as session:
            mapping = check_request(RecordService(session), job.object, header, job.mapping, job.mode, job.key,
                                    job.on_error)
            importer = RowImporter(session, job.object, header, mapping, job.mode, job.key)
            chunk = numbered[done:done + CHUNK_ROWS]
            importer.chunk(chunk)
            current = session.conn.execute(sa.select(imports.c.processed, imports.c.errors).where(
                imports.c.id == job.id)).first()
            errors = list(current.errors or [])
            errors.extend(importer.errors[:max(0, MAX_ERRORS_KEPT - len(errors))])
            advanced = session.conn.execute(imports.update().where(
                imports.c.id == job.id, imports.c.status == "running", imports.c.processed == done).values(
                processed=done + len(chunk), created=imports.c.created + importer.counts["created"],
                updated=imports.c.updated + importer.counts["updated"],
                skipped=imports.c.skipped + importer.counts["skipped"],
                error_count=imports.c.error_count + importer.error_count, errors=errors)).rowcount
            if not advanced:  # another delivery took this chunk: leave the rest to it
                raise _Superseded()
        done += len(chunk)
    with tenant_session(platform, tenant, actor) as session:
        finished = session.conn.execute(imports.update().where(imports.c.id == job.id, imports.c.status == "running")
                                        .values(status="done", finished_at=utcnow())).rowcount
        row = session.conn.execute(sa.select(imports).where(imports.c.id == job.id)).mappings().first()
        if finished:
            audit_import(session, job.id, {**dict(row), "status": "done"})
    return "done"


def get_import_status(session: TenantSession, import_id: Any) -> dict[str, Any]:
    """An import as ``GET /imports/<id>`` shows it, with the live progress of a running one."""
    from .importing import get_import

    return running_progress(session.platform, session.tenant, get_import(session, import_id))
