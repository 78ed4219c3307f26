"""Reading approval requests: one request with its tasks and history, lists, the approver's inbox.

Who sees what: an admin sees every request; anyone else the requests they take part in (submitted,
or hold or held a task on), and a single request also when they may read its record. A record is
shown as its reader may see it (``record`` is null when they may not read it).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, PermissionDenied, ValidationError
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import users
from metadata import RecordService

from .tables import approval_history, approval_requests, approval_tasks

STATUSES = ("pending", "approved", "rejected", "recalled")


def _users(session: TenantSession, ids: set[Any]) -> dict[int, Any]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.conn.execute(sa.select(users.c.id, users.c.email, users.c.name).where(users.c.id.in_(ids)))
    return {row.id: row for row in rows}


def _user_json(row: Any) -> dict[str, Any] | None:
    return None if row is None else {"id": row.id, "email": row.email, "name": row.name}


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _present(session: TenantSession, rows: list[Any], with_history: bool) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    if not ids:
        return []
    tasks = session.conn.execute(sa.select(approval_tasks).where(approval_tasks.c.request_id.in_(ids))
                                 .order_by(approval_tasks.c.id)).all()
    history = session.conn.execute(sa.select(approval_history).where(approval_history.c.request_id.in_(ids))
                                   .order_by(approval_history.c.id)).all() if with_history else []
    people = _users(session, {r.submitted_by for r in rows} | {r.decided_by for r in rows}
                    | {t.approver_id for t in tasks} | {t.delegated_to for t in tasks} | {h.user_id for h in history})
    answers = []
    for row in rows:
        answer = {
            "id": row.id,
            "process": {"id": row.process_id, "name": row.process_name, "version": row.process_version},
            "object": row.object, "record_id": row.record_id, "status": row.status,
            "step": None if row.step_index is None else {"index": row.step_index, "name": row.step_name},
            "submitted_by": _user_json(people.get(row.submitted_by)), "comment": row.comment,
            "submitted_at": _iso(row.submitted_at), "decided_at": _iso(row.decided_at),
            "decided_by": _user_json(people.get(row.decided_by)),
            "tasks": [{"id": t.id, "step": {"index": t.step_index, "name": t.step_name},
                       "approver": _user_json(people.get(t.approver_id)), "status": t.status, "comment": t.comment,
                       "created_at": _iso(t.created_at), "decided_at": _iso(t.decided_at), "due_at": _iso(t.due_at),
                       "delegated_to": _user_json(people.get(t.delegated_to))}
                      for t in tasks if t.request_id == row.id],
        }
        if with_history:
            answer["history"] = [
                {"at": _iso(h.at), "user": _user_json(people.get(h.user_id)) or {"id": None, "email": h.user_email},
                 "action": h.action, "step": None if h.step_index is None else {"index": h.step_index, "name": h.step_name},
                 "comment": h.comment, "version": h.version, "details": h.details}
                for h in history if h.request_id == row.id]
        answers.append(answer)
    return answers


def _involves(user_id: int | None) -> Any:
    return sa.or_(approval_requests.c.submitted_by == user_id, sa.exists().where(
        approval_tasks.c.request_id == approval_requests.c.id,
        sa.or_(approval_tasks.c.approver_id == user_id, approval_tasks.c.delegated_to == user_id)))


def _record_for(session: TenantSession, object_name: str, record_id: int) -> dict[str, Any] | None:
    """The record as the caller may see it, or None when they may not."""
    try:
        return RecordService(session).get(object_name, record_id)
    except (NotFound, PermissionDenied):
        return None


def get_request(session: TenantSession, request_id: Any, check_access: bool = True) -> dict[str, Any]:
    """A request with its tasks, history and record; visible to those involved, admins, and readers of the record."""
    try:
        key = int(request_id)
    except (TypeError, ValueError):
        raise NotFound(f"approval request {request_id!r} does not exist") from None
    row = session.conn.execute(sa.select(approval_requests).where(approval_requests.c.id == key)).first()
    if row is None:
        raise NotFound(f"approval request {request_id!r} does not exist")
    record = _record_for(session, row.object, row.record_id)
    if check_access and record is None and not session.actor.is_admin and session.conn.execute(
            sa.select(approval_requests.c.id).where(approval_requests.c.id == key, _involves(session.actor.user_id))).first() is None:
        raise NotFound(f"approval request {request_id!r} does not exist")
    answer = _present(session, [row], with_history=True)[0]
    answer["record"] = record
    return answer


def list_requests(session: TenantSession, status: str | None = None, mine: bool = False, submitted: bool = False,
                  object_name: str | None = None, record_id: Any = None, page: int = 1,
                  per_page: int = 100) -> tuple[list[dict[str, Any]], int]:
    """Requests, newest first. ``mine``: those with a task of the caller's (with ``status=pending``:
    an open task, the approver's inbox); ``submitted``: the caller's own. Non-admins see only
    requests they take part in."""
    criteria: list[Any] = []
    me = session.actor.user_id
    if status is not None:
        if status not in STATUSES:
            raise ValidationError(f"status is one of {', '.join(STATUSES)}", {"status": ["unknown status"]})
        criteria.append(approval_requests.c.status == status)
    if mine:
        criteria.append(_awaiting(me) if status == "pending" else sa.exists().where(
            approval_tasks.c.request_id == approval_requests.c.id, approval_tasks.c.approver_id == me))
    if submitted:
        criteria.append(approval_requests.c.submitted_by == me)
    if not session.actor.is_admin:
        criteria.append(_involves(me))
    if object_name:
        criteria.append(approval_requests.c.object == object_name)
    if record_id is not None:
        try:
            criteria.append(approval_requests.c.record_id == int(record_id))
        except (TypeError, ValueError):
            raise ValidationError("record must be an id", {"record": ["must be an integer"]}) from None
    where = sa.and_(sa.true(), *criteria)
    rows = session.conn.execute(sa.select(approval_requests).where(where).order_by(approval_requests.c.id.desc())
                                .limit(per_page).offset((page - 1) * per_page)).all()
    total = session.conn.execute(sa.select(sa.func.count()).select_from(approval_requests).where(where)).scalar_one()
    answers = _present(session, rows, with_history=False)
    records = _records_for(session, {(a["object"], a["record_id"]) for a in answers})
    for answer in answers:
        answer["record"] = records.get((answer["object"], answer["record_id"]))
    return answers, total


def _awaiting(user_id: int | None) -> Any:
    """Requests with an open task of this user at their current step."""
    return sa.exists().where(
        approval_tasks.c.request_id == approval_requests.c.id, approval_tasks.c.approver_id == user_id,
        approval_tasks.c.status == "pending", approval_tasks.c.step_index == approval_requests.c.step_index)


def pending_count(session: TenantSession) -> int:
    """How many requests wait for the caller's decision (the inbox's size)."""
    return session.conn.execute(sa.select(sa.func.count()).select_from(approval_requests).where(
        approval_requests.c.status == "pending", _awaiting(session.actor.user_id))).scalar_one()


def _records_for(session: TenantSession, keys: set[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The records the caller may see among ``keys``, one query per object."""
    service = RecordService(session)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for object_name in {name for name, _ in keys}:
        ids = sorted(record_id for name, record_id in keys if name == object_name)
        for start in range(0, len(ids), 200):  # list parameters have a length limit
            batch = ids[start:start + 200]
            try:
                query = service.parse_list(object_name, {"id__in": [",".join(map(str, batch))],
                                                          "per_page": [str(len(batch))]})
                rows, _ = service.list(object_name, query)
            except (NotFound, PermissionDenied):
                break
            found.update({(object_name, row["id"]): row for row in rows})
    return found


def timeline_entries(session: TenantSession, object_name: str, record_id: int) -> list[dict[str, Any]]:
    """``record.timeline`` hook: every approval step of the record's requests."""
    rows = session.conn.execute(
        sa.select(approval_history, approval_requests.c.process_name)
        .join(approval_requests, approval_requests.c.id == approval_history.c.request_id)
        .where(approval_requests.c.object == object_name, approval_requests.c.record_id == record_id)
    ).mappings().all()
    return [{"kind": "approval", "at": _iso(r["at"]), "user_id": r["user_id"], "user": r["user_email"],
             "request_id": r["request_id"], "process": r["process_name"], "action": r["action"],
             "step": r["step_name"], "comment": r["comment"], "version": r["version"]} for r in rows]
