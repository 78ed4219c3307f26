"""Tenants are isolated: a token of tenant A reaches nothing of tenant B."""

from __future__ import annotations

import json

import sqlalchemy as sa

OBJECT = {"name": "secret", "label": "Secret", "fields": [{"name": "title", "type": "text"}]}


def test_token_of_one_tenant_sees_nothing_of_another(tenant_factory):
    a, b = tenant_factory("a"), tenant_factory("b")
    b.api.post("/objects", json=OBJECT)
    record = b.api.post("/records/secret", json={"title": "B's data"}).json
    assert a.api.get("/objects/secret").status_code == 404
    assert a.api.get(f"/records/secret/{record['id']}").status_code == 404
    assert a.api.get("/records/secret").status_code == 404
    assert a.api.patch(f"/records/secret/{record['id']}", json={"title": "x"}).status_code == 404
    assert a.api.delete(f"/records/secret/{record['id']}").status_code == 404
    assert [o["name"] for o in a.api.get("/objects").json["data"]] == []
    assert "secret" not in json.dumps(a.api.get("/openapi.json").json)
    # the same name in A is A's own object, with its own rows
    a.api.post("/objects", json=OBJECT)
    assert a.api.get("/records/secret").json["meta"]["total"] == 0
    assert a.api.get(f"/records/secret/{record['id']}").status_code == 404
    assert b.api.get(f"/records/secret/{record['id']}").json["title"] == "B's data"


def test_lookup_cannot_point_at_another_tenants_record(tenant_factory):
    a, b = tenant_factory("a"), tenant_factory("b")
    for handle in (a, b):
        handle.api.post("/objects", json=OBJECT)
        handle.api.post("/objects", json={"name": "note", "label": "Note", "fields": [
            {"name": "about", "type": "lookup", "target": "secret"}]})
    foreign = b.api.post("/records/secret", json={"title": "B"}).json
    response = a.api.post("/records/note", json={"about": foreign["id"]})
    assert response.status_code == 422 and "about" in response.json["error"]["details"]


def test_tenants_live_in_separate_namespaces(tenant_factory, platform):
    a = tenant_factory("a")
    a.api.post("/objects", json=OBJECT)
    db = platform.db
    if db.is_sqlite:
        assert db.tenant_file(a.slug).exists()
    with db.tenant_connection(a.slug) as conn:
        tables = sa.inspect(conn).get_table_names(schema=db.tenant_schema(a.slug))
    assert "obj_secret" in tables
    with db.control_engine.connect() as conn:
        assert "obj_secret" not in sa.inspect(conn).get_table_names()


def test_unknown_and_malformed_tokens_are_refused(client):
    for header in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                   {"Authorization": "Bearer crm_not-a-real-token"}, {"Authorization": "Bearer " + "x" * 5000}):
        response = client.get("/api/v1/objects", headers=header)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
