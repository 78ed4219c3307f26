"""Creating users one by one and several at once: the same checks, the first failure named."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from crm_platform.core.errors import Conflict, ValidationError
from crm_platform.core.users import create_user, create_users, list_users


def test_create_users_checks_and_inserts_them_together(tenant):
    with tenant.session() as session:
        boss = create_user(session, "boss@example.com", None, name="Boss")
        sent: list[str] = []
        sa.event.listen(session.conn, "before_cursor_execute", lambda *args: sent.append(args[2]))
        created = create_users(session, [
            {"email": "A@Example.com", "name": "Ann", "manager_id": boss["id"], "team": "east"},
            {"email": "bob@example.com", "roles": ["admin"], "password": "long enough"},
        ])
    assert [u["email"] for u in created] == ["a@example.com", "bob@example.com"]
    assert len([s for s in sent if "sys_users" in s]) == 3  # e-mails taken?, one insert, the new ids
    listed = {u["email"]: u for u in list_users_of(tenant)}
    assert listed["a@example.com"]["manager_id"] == boss["id"] and listed["a@example.com"]["team"] == "east"
    assert listed["bob@example.com"]["roles"] == ["admin"] and listed["bob@example.com"]["id"] == created[1]["id"]
    audit = tenant.api.get("/audit?action=user.create").json["data"]
    assert {entry["record_id"] for entry in audit} >= {created[0]["id"], created[1]["id"]}


@pytest.mark.parametrize("rows, error, where", [
    ([{"email": "ok@example.com"}, {"email": "not an address"}], ValidationError, "rows[1]"),
    ([{"email": "ok@example.com"}, {"email": "OK@example.com"}], Conflict, "rows[1]"),
    # an e-mail another user has, before a later row's own problem: named first, as one by one
    ([{"email": "new@example.com"}, {"email": "taken@example.com"}, {"email": "x", "roles": ["nope"]}],
     Conflict, "rows[1]"),
    ([{"email": "new@example.com", "roles": ["no_such_role"]}], ValidationError, "rows[0]"),
])
def test_create_users_names_the_first_bad_row_and_keeps_nothing(tenant, rows, error, where):
    with tenant.session() as session:
        create_user(session, "taken@example.com", None)
    with pytest.raises(error) as raised:
        with tenant.session() as session:
            create_users(session, rows)
    assert raised.value.message.startswith(f"{where}: ")
    assert [u["email"] for u in list_users_of(tenant)] == ["taken@example.com"]


def list_users_of(tenant: Any) -> list[dict[str, Any]]:
    with tenant.session(write=False) as session:
        return [u for u in list_users(session) if u["id"] != tenant.admin_id]


def test_a_manager_earlier_in_the_list_is_named_by_email(tenant):
    with tenant.session() as session:
        created = create_users(session, [
            {"email": "lead@example.com"},
            {"email": "rep@example.com", "manager": "Lead@example.com"},
        ])
    assert created[1]["manager_id"] == created[0]["id"]
    assert {u["email"]: u["manager_id"] for u in list_users_of(tenant)}["rep@example.com"] == created[0]["id"]
    audit = tenant.api.get("/audit?action=user.create").json["data"]
    assert [e["after"]["manager_id"] for e in audit if e["record_id"] == created[1]["id"]] == [created[0]["id"]]
    with pytest.raises(ValidationError) as raised:
        with tenant.session() as session:
            create_users(session, [{"email": "early@example.com", "manager": "later@example.com"},
                                   {"email": "later@example.com"}])
    assert raised.value.message.startswith("rows[0]: manager later@example.com is not a user created before")
