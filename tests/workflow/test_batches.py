"""Rule runs carried out together in one unit of work: each sees what the runs before it did, and
what they share (rule versions, records, user pools, round-robin positions) is read once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from metadata import RecordService
from workflow_engine.tables import scheduled_jobs

LEAD = {
    "name": "lead",
    "label": "Lead",
    "fields": [
        {"name": "company", "type": "text", "required": True},
        {"name": "priority", "type": "picklist", "options": [{"value": "low"}, {"value": "high"}]},
        {"name": "status", "type": "picklist", "options": [{"value": "new"}, {"value": "working"}]},
        {"name": "touches", "type": "integer", "default": 0},
        {"name": "follow_up", "type": "datetime"},
    ],
}
TASK = {
    "name": "task",
    "label": "Task",
    "fields": [
        {"name": "subject", "type": "text", "required": True},
        {"name": "lead", "type": "lookup", "target": "lead", "on_delete": "cascade"},
        {"name": "assignee", "type": "user"},
    ],
}


@pytest.fixture
def crm(api):
    for document in (LEAD, TASK):
        assert api.post("/objects", json=document).status_code == 201
    return api


@pytest.fixture
def one_by_one(monkeypatch) -> list[int]:
    """The runs a failed batch carried out again one by one (none, when batches work)."""
    import workflow_engine.executor as executor

    again: list[int] = []
    single = executor.execute_run

    def execute_run(platform: Any, tenant: str, run_id: int) -> str:
        again.append(run_id)
        return single(platform, tenant, run_id)

    monkeypatch.setattr(executor, "execute_run", execute_run)
    return again


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement run meanwhile, on any engine."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


def reads(seen: list[str], table: str) -> list[str]:
    """The statements reading ``table`` (in its tenant's schema on PostgreSQL)."""
    source = re.compile(rf"\bFROM (\w+\.)?{table}\b")
    return [s for s in seen if s.startswith("SELECT") and source.search(s)]


def writes(seen: list[str], table: str) -> list[str]:
    """The statements changing ``table``."""
    target = re.compile(rf"^(INSERT INTO|UPDATE|DELETE FROM) (\w+\.)?{table}\b")
    return [s for s in seen if target.search(s)]


def rule(api: Any, **document: Any) -> dict[str, Any]:
    response = api.post("/rules", json=document)
    assert response.status_code == 201, response.json
    return response.json


def set_field(field: str, **how: Any) -> dict[str, Any]:
    return {"type": "set_field", "field": field, **how}


def test_a_run_sees_what_the_run_before_it_wrote(crm, one_by_one):
    rule(crm, name="prioritise", object="lead", trigger={"type": "on_create"}, actions=[set_field("priority", value="high")])
    rule(crm, name="count", object="lead", trigger={"type": "on_create"},
         actions=[set_field("touches", formula="IF(priority == 'high', 10, 1)")])
    with statements() as seen:
        lead = crm.post("/records/lead", json={"company": "Acme"}).json
    stored = crm.get(f"/records/lead/{lead['id']}").json
    assert (stored["priority"], stored["touches"], stored["version"]) == ("high", 10, 3)
    assert one_by_one == []
    assert len(reads(seen, "obj_lead")) == 1  # the two runs' record, read once for both
    assert len(reads(seen, "sys_rule_versions")) <= 1  # current versions come with the active rules


def test_a_run_sees_what_another_run_wrote_to_its_record(crm, tenant, one_by_one):
    rule(crm, name="start work", object="task", trigger={"type": "on_create"},
         actions=[{"type": "update_related", "lookup": "lead", "values": {"status": "working"}}])
    rule(crm, name="count", object="lead", trigger={"type": "on_field_change", "fields": ["priority"]},
         actions=[set_field("touches", formula="IF(status == 'working', 7, 1)")])
    lead = crm.post("/records/lead", json={"company": "Acme", "status": "new"}).json
    with tenant.session() as session:  # one unit of work: the task's run, then the lead's
        service = RecordService(session)
        service.create("task", {"subject": "Call", "lead": lead["id"]})
        service.update("lead", lead["id"], {"priority": "high"})
    stored = crm.get(f"/records/lead/{lead['id']}").json
    assert (stored["status"], stored["touches"]) == ("working", 7)
    assert one_by_one == []


def test_round_robin_across_a_batch_alternates_and_keeps_its_place(crm, tenant, one_by_one):
    for email in ("e1@x.com", "e2@x.com", "e3@x.com"):
        assert crm.post("/users", json={"email": email, "team": "east", "password": "password-1"}).status_code == 201
    team = {u["email"]: u["id"] for u in crm.get("/users").json["data"]}
    rule(crm, name="assign", object="lead", trigger={"type": "on_create"},
         actions=[{"type": "assign_owner", "strategy": "round_robin", "team": "east"}])
    with statements() as seen:
        with tenant.session() as session:
            ids = [RecordService(session).create("lead", {"company": f"L{i}"})["id"] for i in range(4)]
    owners = [crm.get(f"/records/lead/{i}").json["owner_id"] for i in ids]
    assert owners == [team["e1@x.com"], team["e2@x.com"], team["e3@x.com"], team["e1@x.com"]]
    assert one_by_one == []
    # Four assignments: the pool read once, the owners' existence taken from it, the position
    # read once and written once.
    assert len(reads(seen, "sys_users")) == 1
    assert len(reads(seen, "sys_assignment_state")) == 1
    assert len(writes(seen, "sys_assignment_state")) == 1
    # The next lead (a run on its own) goes on from where the batch left off.
    later = crm.post("/records/lead", json={"company": "L4"}).json
    assert crm.get(f"/records/lead/{later['id']}").json["owner_id"] == team["e2@x.com"]


def test_a_task_for_a_new_owner_needs_no_second_look_at_the_owner(crm, tenant, one_by_one):
    assert crm.post("/users", json={"email": "e1@x.com", "team": "east", "password": "password-1"}).status_code == 201
    rule(crm, name="assign", object="lead", trigger={"type": "on_create"},
         actions=[{"type": "assign_owner", "strategy": "round_robin", "team": "east"},
                  {"type": "create_record", "object": "task",
                   "values": {"subject": "Call", "lead": {"formula": "id"}, "assignee": {"formula": "owner_id"}}}])
    with statements() as seen:
        with tenant.session() as session:
            for i in range(2):
                RecordService(session).create("lead", {"company": f"L{i}"})
    tasks = crm.get("/records/task").json["data"]
    owner = crm.get("/users").json["data"][-1]["id"]
    assert [t["assignee"] for t in tasks] == [owner, owner]
    assert len(reads(seen, "sys_users")) == 1
    assert one_by_one == []


def test_a_failing_run_takes_back_the_batch_and_the_others_run_one_by_one(crm, tenant, one_by_one):
    assert crm.post("/users", json={"email": "e1@x.com", "team": "east", "password": "password-1"}).status_code == 201
    rule(crm, name="assign", object="lead", trigger={"type": "on_create"},
         actions=[{"type": "assign_owner", "strategy": "round_robin", "team": "east"}])
    failing = rule(crm, name="broken", object="lead", trigger={"type": "on_create"},
                   condition="company == 'Bad'", actions=[set_field("touches", formula="1 / 0")])
    with tenant.session() as session:
        good = RecordService(session).create("lead", {"company": "Good"})["id"]
        RecordService(session).create("lead", {"company": "Bad"})
    assert len(one_by_one) == 3
    assert crm.get(f"/records/lead/{good}").json["owner_id"] is not None
    [run] = [r for r in crm.get(f"/rules/{failing['id']}/runs").json["data"] if r["matched"]]
    assert (run["status"], run["attempts"]) == ("queued", 1)  # to be tried again later, on its own
    assert "division by zero" in run["error"]


def test_the_events_of_a_unit_of_work_keep_one_pending_job_per_record(crm, tenant):
    follow_up = rule(crm, name="follow up", object="lead", actions=[set_field("priority", value="high")],
                     trigger={"type": "time_relative", "field": "follow_up", "offset": {"amount": 1, "unit": "days"}})
    first, moved = datetime(2030, 1, 1, 9, tzinfo=timezone.utc), datetime(2030, 2, 1, 9, tzinfo=timezone.utc)
    with statements() as seen:
        with tenant.session() as session:
            service = RecordService(session)
            a = service.create("lead", {"company": "A", "follow_up": first.isoformat()})["id"]
            b = service.create("lead", {"company": "B", "follow_up": first.isoformat()})["id"]
            service.update("lead", a, {"follow_up": moved.isoformat()})  # A's job moves
            service.update("lead", b, {"company": "B2"})  # B's date is the same: its job stays
            service.create("lead", {"company": "C"})  # no date, no job
    day = timedelta(days=1)
    assert jobs(tenant, follow_up["id"]) == [(a, "cancelled", first + day), (b, "pending", first + day),
                                             (a, "pending", moved + day)]
    touching = [s.split()[0] for s in seen if "sys_scheduled_jobs" in s]
    assert touching == ["SELECT", "INSERT"]  # for all five events

    with tenant.session() as session:
        RecordService(session).update("lead", b, {"follow_up": None})
        RecordService(session).delete("lead", a)
    assert [status for _, status, _ in jobs(tenant, follow_up["id"])] == ["cancelled", "cancelled", "cancelled"]


def jobs(tenant: Any, rule_id: int) -> list[tuple[int, str, datetime]]:
    with tenant.session(write=False) as session:
        rows = session.conn.execute(sa.select(scheduled_jobs.c.record_id, scheduled_jobs.c.status, scheduled_jobs.c.due_at)
                                    .where(scheduled_jobs.c.rule_id == rule_id).order_by(scheduled_jobs.c.id))
        return [tuple(row) for row in rows]
