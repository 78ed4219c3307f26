"""Bulk creation through the record service: same checks as one by one, batched inserts."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from crm_platform.core.errors import Conflict, ValidationError
from metadata import Designer, RecordService

OBJECT = {
    "name": "member",
    "label": "Member",
    "fields": [
        {"name": "code", "type": "text", "unique": True},
        {"name": "points", "type": "integer", "min": 0, "default": 0},
        {"name": "double", "type": "formula", "expression": "points * 2", "result_type": "integer"},
        {"name": "number", "type": "autonumber", "format": "M-{0000}"},
    ],
    "pipeline": {"stages": [{"name": "new"}, {"name": "active"}]},
}


@pytest.fixture
def service(tenant):
    with tenant.session() as session:
        Designer(session).create_object(OBJECT)
    return tenant


def test_create_many_matches_create(service):
    with service.session() as session:
        created = RecordService(session).create_many("member", [{"code": f"c{i}", "points": i} for i in range(1203)],
                                                     batch_size=500)
    assert len(created) == 1203
    assert [r["number"] for r in created[:3]] == ["M-0001", "M-0002", "M-0003"]
    assert created[10]["double"] == 20 and created[10]["stage"] == "new"
    listed = service.api.get("/records/member?sort=id&per_page=5&page=241").json
    assert listed["meta"]["total"] == 1203
    assert [r["code"] for r in listed["data"]] == ["c1200", "c1201", "c1202"]
    history = service.api.get(f"/records/member/{created[-1]['id']}/stage-history").json["data"]
    assert history[0]["stage"] == "new"


@pytest.mark.parametrize("rows, error, where", [
    ([{"code": "a"}, {"code": "b", "points": -1}], ValidationError, "rows[1]"),
    ([{"code": "a"}, {"code": "a"}], Conflict, "rows[1]"),
    ([{"code": "a"}, {"nope": 1}], ValidationError, "rows[1]"),
])
def test_a_bad_row_is_named_and_nothing_is_kept(service, rows, error, where):
    with pytest.raises(error) as raised:
        with service.session() as session:
            RecordService(session).create_many("member", rows)
    assert raised.value.message.startswith(where)
    assert service.api.get("/records/member").json["meta"]["total"] == 0


def test_create_many_with_unique_fields_inside_a_savepoint(service):
    """Importers and installers batch objects with unique and autonumber fields inside their own
    savepoint, where the unique guard opens and releases one of its own per batch."""
    with service.session() as session:
        outer = session.conn.begin_nested()
        created = RecordService(session).create_many("member", [{"code": f"s{i}"} for i in range(1203)], batch_size=500)
        outer.commit()
    assert len(created) == 1203 and created[-1]["number"] == "M-1203"
    assert service.api.get("/records/member?code=s2").json["meta"]["total"] == 1


def test_create_many_answers_the_ids_the_records_were_stored_under(service):
    """Ids come from the sequence (PostgreSQL) or the last rowid (SQLite), not from RETURNING."""
    with service.session() as session:
        records = RecordService(session)
        first = [records.create("member", {"code": f"s{i}"}) for i in range(3)]
        records.delete("member", first[-1]["id"])
    with service.session() as session:
        created = RecordService(session).create_many("member", [{"code": f"c{i}"} for i in range(1203)])
        created += RecordService(session).create_many("member", [{"code": f"d{i}"} for i in range(7)])
    with service.session() as session:
        table = RecordService(session).object("member").table
        stored = dict(session.conn.execute(sa.select(table.c.id, table.c.code)).all())
    assert {r["id"]: r["code"] for r in created}.items() <= stored.items()
    assert len({r["id"] for r in created}) == 1210


REFERRAL = {
    "name": "referral",
    "label": "Referral",
    "fields": [
        {"name": "code", "type": "text", "unique": True},
        {"name": "member", "type": "lookup", "target": "member"},
        {"name": "points", "type": "integer", "min": 0},
    ],
}


@pytest.mark.parametrize("rows, where, field", [
    # a missing record before a row with its own problem: the missing record is named first
    (lambda m: [{"member": m}, {"member": m + 99}, {"points": -1}], "rows[1]", "member"),
    # a row's own earlier problem before its missing record
    (lambda m: [{"member": m}, {"member": m + 99, "points": -1}], "rows[1]", "points"),
    # a missing record before the same row's duplicate value
    (lambda m: [{"code": "x", "member": m}, {"code": "x", "member": m + 99}], "rows[1]", "member"),
    # a missing owner
    (lambda m: [{"member": m}, {"member": m, "owner_id": 4242}], "rows[1]", "owner_id"),
])
def test_missing_references_in_a_batch_are_named_as_one_by_one(service, rows, where, field):
    with service.session() as session:
        Designer(session).create_object(REFERRAL)
        member = RecordService(session).create("member", {"code": "m1"})["id"]
    with pytest.raises(Conflict if field == "code" else ValidationError) as raised:
        with service.session() as session:
            RecordService(session).create_many("referral", rows(member))
    assert raised.value.message.startswith(f"{where}: ")
    assert f"{where}.{field}" in raised.value.details
    assert service.api.get("/records/referral").json["meta"]["total"] == 0


def test_references_to_existing_records_and_users_pass_in_batches(service):
    with service.session() as session:
        Designer(session).create_object(REFERRAL)
        members = RecordService(session).create_many("member", [{"code": f"m{i}"} for i in range(5)])
    with service.session() as session:
        created = RecordService(session).create_many(
            "referral", [{"member": members[i % 5]["id"]} for i in range(12)], batch_size=5)
    assert [r["member"] for r in created] == [members[i % 5]["id"] for i in range(12)]


VARIED = {
    "name": "varied",
    "label": "Varied",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "count", "type": "integer"},
        {"name": "amount", "type": "currency"},
        {"name": "rate", "type": "percent"},
        {"name": "due", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "active", "type": "boolean"},
        {"name": "tier", "type": "picklist", "options": [{"value": "gold"}, {"value": "silver"}]},
    ],
}


@pytest.mark.parametrize("complete", [True, False], ids=["every field", "some fields"])
def test_the_audit_of_a_bulk_create_is_the_record_as_the_api_shows_it(service, complete):
    """The audit text of a batch is built column by column; it must read back as the record itself,
    whether every row fills every field (one template per batch) or rows leave fields out (which the
    entry leaves out too, as a single create's does)."""
    full = {"title": 'say "hi" 100% 你好', "count": 7, "amount": "12.50", "rate": "0.125", "due": "2026-03-01",
            "seen_at": "2026-03-01T08:30:00+08:00", "active": False, "tier": "gold"}
    rows = [dict(full, count=i, title=f"{full['title']} {i}", active=i % 2 == 0) for i in range(6)]
    rows[3].update(amount=None, tier=None)
    if not complete:
        del rows[1]["due"], rows[4]["amount"], rows[5]["title"]
    with service.session() as session:
        Designer(session).create_object(VARIED)
        created = RecordService(session).create_many("varied", rows)
    for record in created:
        entries = service.api.get("/audit", query_string={"object": "varied", "record": record["id"],
                                                          "action": "record.create"}).json["data"]
        assert len(entries) == 1
        after, shown = entries[0]["after"], service.api.get(f"/records/varied/{record['id']}").json
        assert after == {key: value for key, value in shown.items() if key in after}
        assert all(value is None for key, value in shown.items() if key not in after)  # fields left out


def test_a_value_saved_at_the_same_time_by_another_writer_is_named_with_its_row(service):
    """Two units of work create the same unique value at once. On PostgreSQL the batch's own check
    passes (the other record is not committed yet), its insert waits for the other transaction and
    then hits the unique index; on SQLite the second writer waits for the first to commit. Either
    way the batch fails with a Conflict naming its row and the record that holds the value, and
    keeps nothing."""
    import threading
    import time

    outcome: dict[str, Any] = {}

    def second_writer() -> None:
        try:
            with service.session() as session:
                outcome["pid"] = session.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() \
                    if session.dialect == "postgresql" else None
                RecordService(session).create_many("referral", [{"code": "free"}, {"code": "taken"}])
        except Conflict as exc:
            outcome["error"] = exc

    with service.session() as session:  # unique, and no autonumber: its counter row would be a lock of its own
        Designer(session).create_object(REFERRAL)
    with service.session() as first:
        held = RecordService(first).create("referral", {"code": "taken"})
        writer = threading.Thread(target=second_writer)
        writer.start()
        if first.dialect == "postgresql":  # commit only once the batch waits on the new row
            for _ in range(200):
                first.conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
                waiting = first.conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %(pid)s AND wait_event_type = 'Lock'",
                    {"pid": outcome.get("pid", 0)}).scalar_one()
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting, "the second writer never waited on the first"
        else:
            time.sleep(0.3)
    writer.join(timeout=30)
    error = outcome["error"]
    assert error.message.startswith(f"rows[1]: code must be unique: referral {held['id']} already has 'taken'")
    assert "rows[1].code" in error.details
    codes = [r["code"] for r in service.api.get("/records/referral").json["data"]]
    assert codes == ["taken"]


def test_driver_level_inserts_are_logged_at_debug(service, caplog):
    """They bypass SQLAlchemy's statement log, so their own logger says what went where."""
    import logging

    with caplog.at_level(logging.DEBUG, logger="crm_platform.core.bulk"), service.session() as session:
        RecordService(session).create_many("member", [{"code": f"L{i}"} for i in range(3)])
    lines = [r.getMessage() for r in caplog.records if r.name == "crm_platform.core.bulk"]
    assert any(line.startswith("bulk insert into obj_member (") and line.endswith(": 3 rows") for line in lines), lines


def test_autonumbers_of_a_bulk_create_are_taken_together_and_never_repeat(service):
    """A batch takes its numbers in one go; a batch that fails leaves a gap (as a failed single
    create does), never a number given twice."""
    with service.session() as session:
        records = RecordService(session)
        first = records.create_many("member", [{"code": f"a{i}"} for i in range(3)])
        with pytest.raises(ValidationError):
            records.create_many("member", [{"code": "b0"}, {"code": "b1", "points": -1}])
        later = records.create_many("member", [{"code": f"c{i}"} for i in range(2)])
        single = records.create("member", {"code": "d0"})
    assert [r["number"] for r in first] == ["M-0001", "M-0002", "M-0003"]
    numbers = [r["number"] for r in [*first, *later, single]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 6
    stored = [r["number"] for r in service.api.get("/records/member?sort=id").json["data"]]
    assert stored == numbers


@pytest.mark.parametrize("rows, where, field", [
    (lambda m: [{"code": "new"}, {"code": "taken"}], "rows[1]", "code"),  # a value another record holds
    (lambda m: [{"code": "taken"}, {"member": m + 99}], "rows[0]", "code"),  # the earlier row fails first
    (lambda m: [{"member": m + 99}, {"code": "taken"}], "rows[0]", "member"),
    (lambda m: [{"code": "taken", "member": m + 99}], "rows[0]", "member"),  # a row's reference before its value
])
def test_unique_values_held_by_other_records_are_checked_per_batch_and_named_as_one_by_one(service, rows, where, field):
    with service.session() as session:
        Designer(session).create_object(REFERRAL)
        member = RecordService(session).create("member", {"code": "m1"})["id"]
        held = RecordService(session).create("referral", {"code": "taken"})["id"]
    with pytest.raises((Conflict, ValidationError)) as raised:
        with service.session() as session:
            RecordService(session).create_many("referral", rows(member))
    assert raised.value.message.startswith(f"{where}: ")
    assert f"{where}.{field}" in raised.value.details
    if field == "code":
        assert raised.value.message == f"{where}: code must be unique: referral {held} already has 'taken'"
    assert [r["code"] for r in service.api.get("/records/referral").json["data"]] == ["taken"]


def _statements(session: Any) -> list[str]:
    """The statements ``session`` sends from now on (appended as they go)."""
    sent: list[str] = []
    sa.event.listen(session.conn, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def test_references_to_rows_this_unit_of_work_inserted_are_not_looked_up(service):
    """An install's sample data refers to records and users it has just written: the same
    transaction knows they exist without asking the database again."""
    from crm_platform.core.users import create_user

    with service.session() as session:
        Designer(session).create_object(REFERRAL)
        records = RecordService(session)
        members = records.create_many("member", [{"code": f"m{i}"} for i in range(3)])
        owner = create_user(session, "owner@example.com", None)
        sent = _statements(session)
        created = records.create_many("referral", [{"member": m["id"], "owner_id": owner["id"]} for m in members])
    assert [r["member"] for r in created] == [m["id"] for m in members]
    assert not [s for s in sent if "FROM obj_member" in s or "FROM sys_users" in s]


def test_a_record_deleted_or_rolled_back_in_the_same_unit_of_work_is_missing_again(service):
    with service.session() as session:
        Designer(session).create_object(REFERRAL)
    with pytest.raises(ValidationError) as deleted:
        with service.session() as session:
            records = RecordService(session)
            gone = records.create("member", {"code": "gone"})["id"]
            records.delete("member", gone)
            records.create_many("referral", [{"member": gone}])
    assert f"member record {gone} does not exist" in deleted.value.message
    with pytest.raises(ValidationError) as undone:
        with service.session() as session:
            records = RecordService(session)
            mark, savepoint = session.mark(), session.conn.begin_nested()
            undone_id = records.create_many("member", [{"code": "undone"}])[0]["id"]
            savepoint.rollback()
            session.forget_since(mark)
            records.create("referral", {"member": undone_id})
    assert f"member record {undone_id} does not exist" in undone.value.message


def test_batches_into_a_table_created_in_the_same_unit_of_work_need_no_savepoint(tenant):
    """Nobody else can see a table before its creating transaction commits, so the checks made
    before each batch are final there: no savepoint per batch (an install's sample data), and a
    value an earlier batch took is still named with its row."""
    with pytest.raises(Conflict) as raised:
        with tenant.session() as session:
            Designer(session).create_object(OBJECT)
            records = RecordService(session)
            sent = _statements(session)
            first = records.create_many("member", [{"code": f"c{i}"} for i in range(3)])
            assert [r["number"] for r in first] == ["M-0001", "M-0002", "M-0003"]
            assert not [s for s in sent if "SAVEPOINT" in s.upper()]
            records.create_many("member", [{"code": "new"}, {"code": "c1"}])
    assert raised.value.message.startswith("rows[1]: code must be unique: member ")
    assert tenant.api.get("/objects/member").status_code == 404  # the whole unit of work rolled back
