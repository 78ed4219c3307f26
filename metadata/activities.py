"""Activities on any record: calls, e-mails, meetings, notes and tasks (with due dates)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, ValidationError
from crm_platform.core.session import TenantSession, utcnow

from .field_types import UTCAwareDateTime, deserialize_loose
from .sql_types import UTCDateTime
from .tables import tenant_metadata

ACTIVITY_TYPES = ("call", "email", "meeting", "note", "task")
FIELDS = frozenset({"type", "subject", "body", "due_at", "remind_at", "done"})

activities = sa.Table(
    "sys_activities",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("due_at", UTCDateTime()),
    sa.Column("remind_at", UTCDateTime()),
    sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("done_at", UTCDateTime()),
    sa.Column("owner_id", sa.Integer),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_sys_activities_record", "object", "record_id"),
    sa.Index("ix_sys_activities_due", "owner_id", "done", "due_at"),
)

_MOMENT = UTCAwareDateTime(default_timezone=timezone.utc, allow_none=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def activity_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"], "object": m["object"], "record_id": m["record_id"], "type": m["type"],
        "subject": m["subject"], "body": m["body"], "due_at": _iso(m["due_at"]), "remind_at": _iso(m["remind_at"]),
        "done": m["done"], "done_at": _iso(m["done_at"]), "owner_id": m["owner_id"], "created_by": m["created_by"],
        "created_at": _iso(m["created_at"]), "updated_at": _iso(m["updated_at"]),
    }


def _check(document: Any, partial: bool) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValidationError("an activity must be a JSON object", {"activity": ["expected an object"]})
    errors: dict[str, list[str]] = {key: ["unknown field"] for key in document if key not in FIELDS}
    values: dict[str, Any] = {}
    if not partial or "type" in document:
        if document.get("type") not in ACTIVITY_TYPES:
            errors.setdefault("type", []).append(f"one of: {', '.join(ACTIVITY_TYPES)}")
        values["type"] = document.get("type")
    if not partial or "subject" in document:
        subject = document.get("subject")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 300 or "\x00" in subject:
            errors.setdefault("subject", []).append("1 to 300 characters of text")
        values["subject"] = subject
    if "body" in document:
        body = document["body"]
        if body is not None and (not isinstance(body, str) or len(body) > 32000 or "\x00" in body):
            errors.setdefault("body", []).append("text of at most 32,000 characters")
        values["body"] = body
    for key in ("due_at", "remind_at"):
        if key in document:
            try:
                values[key] = deserialize_loose(_MOMENT, document[key])
            except ValueError as exc:
                errors.setdefault(key, []).append(str(exc))
    if "done" in document:
        if not isinstance(document["done"], bool):
            errors.setdefault("done", []).append("true or false")
        values["done"] = document["done"]
    if errors:
        first, messages = next(iter(errors.items()))
        raise ValidationError(f"invalid activity: {first}: {messages[0]}", errors)
    return values


def add_activity(session: TenantSession, object_name: str, record_id: int, owner_id: int | None,
                 document: Any) -> dict[str, Any]:
    values = _check(document, partial=False)
    now = utcnow()
    values.setdefault("done", False)
    row = {**values, "object": object_name, "record_id": record_id, "owner_id": owner_id or session.actor.user_id,
           "created_by": session.actor.user_id, "created_at": now, "updated_at": now,
           "done_at": now if values["done"] else None}
    activity_id = session.conn.execute(activities.insert().values(**row)).inserted_primary_key[0]
    created = get_activity(session, activity_id)
    session.audit("activity.create", object=object_name, record_id=record_id, after=created)
    return created


def get_activity(session: TenantSession, activity_id: Any) -> dict[str, Any]:
    try:
        key = int(activity_id)
    except (TypeError, ValueError):
        raise NotFound(f"activity {activity_id!r} does not exist") from None
    row = session.conn.execute(sa.select(activities).where(activities.c.id == key)).first()
    if row is None:
        raise NotFound(f"activity {activity_id!r} does not exist")
    return activity_json(row)


def update_activity(session: TenantSession, activity_id: Any, document: Any) -> dict[str, Any]:
    before = get_activity(session, activity_id)
    values = _check(document, partial=True)
    if "done" in values:
        if values["done"] and not before["done"]:
            values["done_at"] = utcnow()
        elif not values["done"]:
            values["done_at"] = None
    values["updated_at"] = utcnow()
    session.conn.execute(activities.update().where(activities.c.id == before["id"]).values(**values))
    after = get_activity(session, before["id"])
    changed = [k for k in after if after[k] != before[k] and k != "updated_at"]
    session.audit("activity.update", object=before["object"], record_id=before["record_id"],
                  before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return after


def delete_activity(session: TenantSession, activity_id: Any) -> dict[str, Any]:
    before = get_activity(session, activity_id)
    session.conn.execute(activities.delete().where(activities.c.id == before["id"]))
    session.audit("activity.delete", object=before["object"], record_id=before["record_id"], before=before)
    return before


def record_activities(session: TenantSession, object_name: str, record_id: int) -> list[dict[str, Any]]:
    rows = session.conn.execute(
        sa.select(activities).where(activities.c.object == object_name, activities.c.record_id == record_id)
        .order_by(activities.c.created_at.desc(), activities.c.id.desc())
    ).all()
    return [activity_json(r) for r in rows]


def due_tasks(session: TenantSession, user_id: int, which: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """A user's open activities due ``today`` (UTC day) or ``overdue`` (due before now)."""
    now = now or utcnow()
    criteria = [activities.c.owner_id == user_id, activities.c.done.is_(False), activities.c.due_at.is_not(None)]
    if which == "today":
        start = datetime.combine(now.date(), time(0, 0), tzinfo=timezone.utc)
        criteria += [activities.c.due_at >= start, activities.c.due_at < start + timedelta(days=1)]
    elif which == "overdue":
        criteria.append(activities.c.due_at < now)
    else:
        raise ValidationError("due is 'today' or 'overdue'", {"due": ["today or overdue"]})
    rows = session.conn.execute(sa.select(activities).where(*criteria).order_by(activities.c.due_at)).all()
    return [activity_json(r) for r in rows]


def forget_activities(session: TenantSession, object_name: str, record_id: int) -> None:
    session.conn.execute(activities.delete().where(activities.c.object == object_name,
                                                   activities.c.record_id == record_id))


def activity_ids(session: TenantSession, object_name: str, record_id: int) -> list[int]:
    """The ids of a record's activities (what a merge moves, so that undo can move them back)."""
    return list(session.conn.execute(sa.select(activities.c.id).where(
        activities.c.object == object_name, activities.c.record_id == record_id).order_by(activities.c.id)).scalars())


def move_activities_back(session: TenantSession, object_name: str, ids: list[int], from_id: int, to_id: int) -> int:
    """Move the named activities from one record to another (those still on ``from_id``)."""
    if not ids:
        return 0
    return session.conn.execute(activities.update().where(
        activities.c.object == object_name, activities.c.record_id == from_id, activities.c.id.in_(ids))
        .values(record_id=to_id)).rowcount


def move_activities(session: TenantSession, object_name: str, from_id: int, to_id: int) -> int:
    """Re-point a record's activities to another record (merging duplicates)."""
    return session.conn.execute(activities.update().where(
        activities.c.object == object_name, activities.c.record_id == from_id).values(record_id=to_id)).rowcount
