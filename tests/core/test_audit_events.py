"""Every change is audited; events are published after commit, and never for a rollback."""

from __future__ import annotations

import sqlalchemy as sa

from crm_platform.core import events
from crm_platform.core.tables import audit_log

OBJECT = {"name": "ticket", "label": "Ticket", "fields": [
    {"name": "title", "type": "text", "required": True}, {"name": "priority", "type": "integer"}]}


def audit_rows(tenant) -> list[dict]:
    with tenant.platform.db.tenant_connection(tenant.slug) as conn:
        return [dict(r) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]


def test_record_and_metadata_changes_are_audited_with_before_and_after(api, tenant):
    api.post("/objects", json=OBJECT)
    api.post("/objects/ticket/fields", json={"name": "due", "type": "date"})
    record = api.post("/records/ticket", json={"title": "Printer on fire", "priority": 1}).json
    api.patch(f"/records/ticket/{record['id']}", json={"priority": 3})
    api.delete(f"/records/ticket/{record['id']}")
    rows = [r for r in audit_rows(tenant) if r["action"] != "user.create"]
    assert [r["action"] for r in rows] == [
        "metadata.object.create", "metadata.field.create", "record.create", "record.update", "record.delete"]
    assert all(r["user_id"] == tenant.admin_id and r["at"] is not None for r in rows)
    update = rows[3]
    assert (update["object"], update["record_id"]) == ("ticket", record["id"])
    assert update["before"] == {"priority": 1} and update["after"] == {"priority": 3}
    assert rows[4]["before"]["title"] == "Printer on fire"


def test_refused_change_leaves_no_audit_entry(api, tenant):
    api.post("/objects", json=OBJECT)
    count = len(audit_rows(tenant))
    assert api.post("/records/ticket", json={"priority": "high"}).status_code == 422
    assert len(audit_rows(tenant)) == count


def test_events_are_published_after_commit(api, platform):
    received: list[events.Event] = []
    platform.events.subscribe("*", received.append)
    api.post("/objects", json=OBJECT)
    api.put("/objects/ticket/pipeline", json={"stages": [{"name": "new"}, {"name": "done"}]})
    record = api.post("/records/ticket", json={"title": "A"}).json
    api.patch(f"/records/ticket/{record['id']}", json={"stage": "done"})
    api.delete(f"/records/ticket/{record['id']}")
    record_events = [e for e in received if e.type.startswith("record.")]
    assert [e.type for e in record_events] == [
        events.RECORD_CREATED, events.RECORD_UPDATED, events.STAGE_CHANGED, events.RECORD_DELETED]
    stage_change = record_events[2]
    assert stage_change.extra == {"from": "new", "to": "done"}
    assert stage_change.previous["stage"] == "new" and stage_change.record["stage"] == "done"


def test_no_event_for_a_rolled_back_change(tenant, platform):
    from metadata import Designer, RecordService

    received: list[events.Event] = []
    platform.events.subscribe("*", received.append)
    try:
        with tenant.session() as session:
            Designer(session).create_object(OBJECT)
            RecordService(session).create("ticket", {"title": "x"})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert received == []
    assert tenant.api.get("/objects/ticket").status_code == 404


def test_long_unit_of_work_audits_every_kept_change_once(tenant):
    """Audit entries are written in batches inside the transaction; a savepoint rolled back past a
    batch takes its rows with it, and what was queued after the mark is forgotten."""
    from metadata import Designer, RecordService

    with tenant.session() as session:
        Designer(session).create_object(OBJECT)
    before = len(audit_rows(tenant))
    with tenant.session() as session:
        service = RecordService(session)
        for i in range(600):  # one batch written before the mark
            service.create("ticket", {"title": f"kept {i}"})
        mark = session.mark()
        savepoint = session.conn.begin_nested()
        for i in range(550):  # past a batch, but never written inside the savepoint
            service.create("ticket", {"title": f"dropped {i}"})
        savepoint.rollback()
        session.forget_since(mark)
        for i in range(10):
            service.create("ticket", {"title": f"after {i}"})
    rows = audit_rows(tenant)[before:]
    titles = [r["after"]["title"] for r in rows]
    assert len(rows) == 610 and all(not t.startswith("dropped") for t in titles)
    assert all(r["before"] is None for r in rows)
