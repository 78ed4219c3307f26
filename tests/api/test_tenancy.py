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


def test_every_path_with_a_token_of_a_stays_in_a(tenant_factory):
    a, b = tenant_factory("a"), tenant_factory("b")
    b.api.post("/objects", json=OBJECT)
    b_record = b.api.post("/records/secret", json={"title": "B's secret"}).json
    b.api.post("/users", json={"email": "b-user@b.com", "password": "password-123"})
    b.api.put("/roles/b_role", json={"permissions": {"secret": {"read": "all"}}})
    b_token = b.api.post("/tokens", json={"name": "b-laptop"}).json
    b_token_id = next(t["id"] for t in b.api.get("/tokens").json["data"] if t["name"] == "b-laptop")

    a.api.post("/objects", json={"name": "note", "label": "Note", "fields": [
        {"name": "title", "type": "text"}, {"name": "about", "type": "integer"}]})
    tree = {"condition": "AND", "rules": [{"field": "title", "operator": "contains", "value": "secret"}]}
    probes = [
        a.api.get("/records/note", query_string={"q": "B's secret"}),
        a.api.get("/records/note", query_string={"filter": json.dumps(tree)}),
        a.api.get(f"/records/note?id={b_record['id']}"),
    ]
    assert all(p.status_code == 200 and p.json["meta"]["total"] == 0 for p in probes)
    assert "b-user@b.com" not in json.dumps(a.api.get("/users").json)
    assert a.api.get("/roles/b_role").status_code == 404
    assert a.api.delete(f"/tokens/{b_token_id}").status_code == 404
    assert b.api.get("/objects", headers={}).status_code == 200
    assert "b-laptop" not in json.dumps(a.api.get("/tokens?all=1").json)
    audit = json.dumps(a.api.get("/audit?per_page=500").json, ensure_ascii=False)
    assert "B's secret" not in audit and "secret" not in audit and "b-user" not in audit
    assert a.api.get(f"/audit?object=secret&record={b_record['id']}").json["meta"]["total"] == 0
    assert "secret" not in json.dumps(a.api.get("/openapi.json").json)
    # B's token still works for B, and only B
    assert b.api.get(f"/records/secret/{b_record['id']}").status_code == 200
    assert a.api.get("/objects").json["data"][0]["name"] == "note"
    assert b_token["token"] != a.token
