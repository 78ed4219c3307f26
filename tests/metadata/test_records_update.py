"""Updates through the record service answer the record as stored, without reading it again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from crm_platform.core.errors import Conflict
from crm_platform.core.users import create_user
from metadata import Designer, RecordService
from metadata.field_types import FIELD_TYPES

COLOURS = [{"value": v} for v in ("red", "green", "blue")]
#: A field of every type, and a value to change it to (computed types change with their inputs).
FIELDS: dict[str, tuple[dict[str, Any], Any]] = {
    "text": ({}, "Acme 有限公司"),
    "textarea": ({}, "line one\nline two"),
    "rich_text": ({}, "<p>Hello <b>world</b></p>"),
    "integer": ({}, 42),
    "decimal": ({"scale": 2}, 12.5),
    "currency": ({}, 1999.9),
    "percent": ({}, 12.5),
    "boolean": ({}, True),
    "date": ({}, "2024-03-15"),
    "datetime": ({}, "2024-03-15T10:30:00.123456Z"),
    "email": ({}, "ada@example.com"),
    "phone": ({}, "+86 10 1234 5678"),
    "url": ({}, "https://example.com/deals?id=1"),
    "picklist": ({"options": COLOURS}, "red"),
    "multi_picklist": ({"options": COLOURS}, ["red", "blue"]),
    "lookup": ({"target": "account"}, None),  # the account made below
    "user": ({}, None),  # the user made below
    "formula": ({"expression": "my_currency / 3", "result_type": "currency"}, None),
    "autonumber": ({"format": "INV-{0000}"}, None),
}


@pytest.fixture
def deals(tenant):
    assert set(FIELDS) == set(FIELD_TYPES), "add the new field type to FIELDS"
    with tenant.session() as session:
        designer = Designer(session)
        designer.create_object({"name": "account", "label": "Account", "fields": [{"name": "title", "type": "text"}]})
        designer.create_object({"name": "deal", "label": "Deal", "fields": [
            {"name": f"my_{kind}", "type": kind, **extras} for kind, (extras, _) in FIELDS.items()]})
        service = RecordService(session)
        account = service.create("account", {"title": "Acme"})["id"]
        user = create_user(session, "second@example.com", "another long password")["id"]
        deal = service.create("deal", {"my_text": "first"})["id"]
    values = {f"my_{kind}": value for kind, (extras, value) in FIELDS.items()
              if value is not None or kind in ("lookup", "user")}
    values.update(my_lookup=account, my_user=user)
    return tenant, deal, values


def read(session: Any, record_id: int) -> dict[str, Any]:
    table = RecordService(session).object("deal").table
    return dict(session.conn.execute(sa.select(table).where(table.c.id == record_id)).one()._mapping)


@contextmanager
def statements(session: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = session.conn.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_an_update_answers_every_field_as_a_read_gives_it(deals):
    tenant, deal, values = deals
    with tenant.session() as session:
        stored = RecordService(session).update_values("deal", deal, values)
        assert {k: repr(v) for k, v in stored.items()} == {k: repr(v) for k, v in read(session, deal).items()}


def test_the_answer_to_a_patch_is_what_a_get_answers(deals):
    tenant, deal, values = deals
    assert tenant.api.patch(f"/records/deal/{deal}", json=values).status_code == 200
    patched = tenant.api.patch(f"/records/deal/{deal}", json={"my_currency": 100, "my_multi_picklist": []})
    assert patched.status_code == 200, patched.json
    assert patched.json["my_formula"] == 33.33
    assert patched.json["my_multi_picklist"] is None  # no option chosen is stored as none
    assert patched.json == tenant.api.get(f"/records/deal/{deal}").json


def test_a_held_record_is_not_read_again(deals):
    tenant, deal, values = deals
    with tenant.session() as session:
        service = RecordService(session, known_users={values["my_user"]})
        held = read(session, deal)
        with statements(session) as seen:
            stored = service.update_values("deal", deal, {"my_text": "changed", "my_user": values["my_user"]}, held)
        touched = [s.split()[0] for s in seen if "obj_deal" in s or "sys_users" in s]
        assert touched == ["UPDATE"]  # neither the record nor the known user is read
        assert stored == read(session, deal) and stored["version"] == held["version"] + 1


def test_a_stale_held_record_is_refused_and_the_newer_change_kept(deals):
    tenant, deal, values = deals
    with tenant.session() as session:
        service = RecordService(session)
        held = read(session, deal)
        service.update("deal", deal, {"my_text": "newer"})
        with pytest.raises(Conflict):
            service.update_values("deal", deal, {"my_text": "older"}, held)
    assert tenant.api.get(f"/records/deal/{deal}").json["my_text"] == "newer"
