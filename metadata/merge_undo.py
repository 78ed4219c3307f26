"""Undoing a merge from its audit entry.

A merge (``duplicates.merge``) records in its ``record.merge`` audit entry the stored values of the
merged-away records and of the survivor before and after, the lookups it re-pointed, and the tags,
activities and attachments it moved. Undo puts all of it back: the merged records return with their
ids and values, lookups, activities, attachments and tags move back to them, the survivor gets its
prior values again. It refuses (409, naming the reason) when that is no longer safe: the merge was
already undone, the survivor was changed or deleted since, a merged record's id or unique value is
taken. Related records changed since the merge (a lookup re-pointed again, an activity moved) are
left as they are and listed in the answer, since the later change is the user's newer decision.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import Conflict, NotFound, PermissionDenied
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import audit_log

from .activities import move_activities_back
from .attachments import move_attachments_back
from .model import ObjectModel, load_model
from .tags import add_tags, remove_tags

__all__ = ["undo_merge"]

UNDO_ACTION = "record.merge_undo"


def _entry(session: TenantSession, object_name: str, entry_id: Any) -> Any:
    try:
        key = int(entry_id)
    except (TypeError, ValueError):
        raise NotFound(f"merge {entry_id!r} does not exist") from None
    row = session.conn.execute(sa.select(audit_log).where(
        audit_log.c.id == key, audit_log.c.action == "record.merge", audit_log.c.object == object_name)).first()
    if row is None:
        raise NotFound(f"no merge of {object_name} with audit entry {entry_id}")
    return row


def _stored(model: ObjectModel, shown: dict[str, Any]) -> dict[str, Any]:
    """A dumped row (JSON values) as the values to store again in the table's columns."""
    values: dict[str, Any] = {}
    for column in model.table.c:
        value = shown.get(column.key)
        if value is not None:
            kind = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
            try:
                python_type = kind.python_type
            except NotImplementedError:
                python_type = None
            if python_type is datetime and isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif python_type is date and isinstance(value, str):
                value = date.fromisoformat(value)
            elif python_type is Decimal and not isinstance(value, Decimal):
                value = Decimal(str(value))
        values[column.key] = value
    return values


def _refuse(reason: str, field: str = "merge") -> Conflict:
    return Conflict(f"the merge cannot be undone: {reason}", {field: [reason]})


def undo_merge(session: TenantSession, object_name: str, entry_id: Any) -> dict[str, Any]:
    """Undo the merge audited as ``entry_id``; answers the survivor, the restored ids and what was left."""
    from .records import RecordService

    service = RecordService(session)
    model = service.object(object_name)
    policy = service.policy
    entry = _entry(session, object_name, entry_id)
    before, after = entry.before or {}, entry.after or {}
    if "moved" not in before or "survivor_stored" not in after:
        raise _refuse("this merge was recorded without the data needed to undo it")
    survivor_id = entry.record_id
    query = sa.select(model.table).where(model.table.c.id == survivor_id)
    if session.dialect == "postgresql":  # two undos of one merge: the second waits, then sees the first
        query = query.with_for_update()
    current = session.conn.execute(query).first()
    if current is None:
        raise _refuse(f"the survivor {object_name} {survivor_id} no longer exists", "survivor")
    service.get(object_name, survivor_id)  # the caller must be able to read it (404 otherwise)
    undone = session.conn.execute(sa.select(audit_log.c.after).where(
        audit_log.c.action == UNDO_ACTION, audit_log.c.object == object_name,
        audit_log.c.record_id == survivor_id)).scalars().all()
    if any((u or {}).get("merge") == entry.id for u in undone):
        raise _refuse(f"merge {entry.id} was already undone")
    update_scope = policy.require(object_name, "update")
    if not policy.covers(session, update_scope, current.owner_id):
        raise PermissionDenied(f"you may not update {object_name} {survivor_id}, so you cannot undo its merge")
    policy.require(object_name, "create")
    delete_scope = policy.require(object_name, "delete")
    snapshots = before["merged"]
    for snapshot in snapshots:
        if not policy.covers(session, delete_scope, snapshot.get("owner_id")):
            raise PermissionDenied(f"you may not delete {object_name} {snapshot['id']}, so you cannot undo its merge")
    merged_version = after["survivor_stored"].get("version")
    if current.version != merged_version:
        raise _refuse(f"{object_name} {survivor_id} was changed after the merge (version {current.version}, "
                      f"the merge left version {merged_version}); undo would lose that change", "survivor")
    ids = [s["id"] for s in snapshots]
    taken = session.conn.execute(sa.select(model.table.c.id).where(model.table.c.id.in_(ids))).scalars().all()
    if taken:
        raise _refuse(f"{object_name} {', '.join(map(str, taken))} exists again", "ids")

    # 1. the survivor's prior values (through the record service: validated, audited, versioned)
    prior, merged = before["survivor_stored"], after["survivor_stored"]
    changed = {fd.name: prior.get(fd.name) for fd in model.writable if prior.get(fd.name) != merged.get(fd.name)}
    for system in ("owner_id", *(("stage",) if model.has_pipeline else ())):
        if prior.get(system) != merged.get(system):
            changed[system] = prior.get(system)
    if changed:
        service.update(object_name, survivor_id, {**changed, "version": current.version})
    # 2. the merged records, with their ids and stored values
    for snapshot in snapshots:
        values = _stored(model, snapshot)
        for name in model.unique:
            if values.get(name) is not None and session.conn.execute(
                    sa.select(model.table.c.id).where(model.table.c[name] == values[name]).limit(1)).first():
                raise _refuse(f"{object_name} {snapshot['id']}: its {name} {snapshot.get(name)!r} is now used by "
                              "another record", name)
        session.conn.execute(model.table.insert().values(values))
        session.audit("record.restore", object=object_name, record_id=snapshot["id"],
                      after={**snapshot, "undo_of_merge": entry.id})
    # 3. lookups, activities, attachments and tags back where they were
    tenant_model = load_model(session)
    left: list[dict[str, Any]] = []
    repointed = 0
    for item in before.get("repointed", []):
        other = tenant_model.objects.get(item["object"])
        field = item["field"]
        if other is None or field not in other.table.c:
            left.append({**item, "reason": "the object or field no longer exists"})
            continue
        done = session.conn.execute(other.table.update().where(
            other.table.c.id == item["record_id"], other.table.c[field] == survivor_id).values({field: item["from"]}))
        if done.rowcount:
            repointed += 1
            session.audit("record.update", object=item["object"], record_id=item["record_id"],
                          before={field: survivor_id}, after={field: item["from"]})
        else:
            left.append({**item, "reason": f"no longer points at {object_name} {survivor_id}"})
    for moved in before["moved"]:
        for kind, move in (("activities", move_activities_back), ("attachments", move_attachments_back)):
            wanted = moved.get(kind) or []
            count = move(session, object_name, wanted, survivor_id, moved["id"])
            if count != len(wanted):
                left.append({"object": object_name, "record_id": moved["id"], kind: len(wanted) - count,
                             "reason": f"{kind} moved or deleted since the merge"})
        if moved.get("tags"):
            add_tags(session, object_name, moved["id"], moved["tags"])
    if after.get("tags_added"):
        remove_tags(session, object_name, survivor_id, after["tags_added"])
    session.audit(UNDO_ACTION, object=object_name, record_id=survivor_id,
                  before={"merge": entry.id, "survivor": merged},
                  after={"merge": entry.id, "restored": ids, "repointed": repointed, "left": left})
    return {"survivor": service.get(object_name, survivor_id), "restored": ids, "repointed": repointed,
            "left": left, "merge": entry.id}
