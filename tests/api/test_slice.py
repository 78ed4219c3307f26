"""The thin vertical slice: an object becomes a table, a record goes in and out through the API."""

from __future__ import annotations

import sqlalchemy as sa

CONTACT = {
    "name": "contact",
    "label": {"en": "Contact", "zh": "联系人"},
    "fields": [
        {"name": "full_name", "type": "text", "required": True, "label": {"en": "Name", "zh": "姓名"}},
        {"name": "email", "type": "email", "unique": True},
        {"name": "age", "type": "integer", "min": 0, "max": 150},
    ],
}


def test_object_becomes_a_live_table(api, tenant, platform):
    response = api.post("/objects", json=CONTACT)
    assert response.status_code == 201, response.json
    assert response.json["name"] == "contact"
    conn = platform.db.tenant_connection(tenant.slug)
    with conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("obj_contact", schema=platform.db.tenant_schema(tenant.slug))}
    assert {"id", "created_at", "updated_at", "owner_id", "version", "full_name", "email", "age"} <= columns


def test_record_round_trip(api):
    api.post("/objects", json=CONTACT)
    created = api.post("/records/contact", json={"full_name": "王小明", "email": "xm@example.com", "age": 30})
    assert created.status_code == 201, created.json
    record = created.json
    assert record["full_name"] == "王小明" and record["version"] == 1
    fetched = api.get(f"/records/contact/{record['id']}")
    assert fetched.status_code == 200
    assert fetched.json == record
    listed = api.get("/records/contact")
    assert listed.json["meta"] == {"total": 1, "page": 1, "per_page": 50}
    assert listed.json["data"][0]["email"] == "xm@example.com"
    updated = api.patch(f"/records/contact/{record['id']}", json={"age": 31, "version": 1})
    assert updated.status_code == 200, updated.json
    assert updated.json["age"] == 31 and updated.json["version"] == 2
    stale = api.patch(f"/records/contact/{record['id']}", json={"age": 32, "version": 1})
    assert stale.status_code == 409
    assert api.delete(f"/records/contact/{record['id']}").status_code == 204
    assert api.get(f"/records/contact/{record['id']}").status_code == 404


def test_invalid_record_is_refused_with_field_details(api):
    api.post("/objects", json=CONTACT)
    response = api.post("/records/contact", json={"email": "not-an-email", "age": -1, "nope": 1})
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert set(details) >= {"email", "age", "nope"}
    assert api.get("/records/contact").json["meta"]["total"] == 0
