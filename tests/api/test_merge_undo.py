"""Undoing a merge from its audit entry."""

from __future__ import annotations

import io

import pytest

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient

CONTACT = {"name": "contact", "label": "Contact", "fields": [
    {"name": "full_name", "type": "text"}, {"name": "email", "type": "email", "unique": True},
    {"name": "score", "type": "decimal"}, {"name": "met_on", "type": "date"}]}
NOTE = {"name": "note", "label": "Note", "fields": [
    {"name": "about", "type": "lookup", "target": "contact", "on_delete": "cascade"}, {"name": "text", "type": "text"}]}


@pytest.fixture
def merged(api):
    assert api.post("/objects", json=CONTACT).status_code == 201
    assert api.post("/objects", json=NOTE).status_code == 201
    a = api.post("/records/contact", json={"full_name": "王小明", "email": "a@example.com", "score": 1.5}).json
    b = api.post("/records/contact", json={"full_name": "王 小明", "email": "b@example.com", "score": 7.25,
                                           "met_on": "2026-05-01"}).json
    c = api.post("/records/contact", json={"full_name": "Wang XM", "email": "c@example.com"}).json
    # Kept last: SQLite reuses the highest id once it is deleted, and these tests create records later.
    api.post("/records/contact", json={"full_name": "Last", "email": "d@example.com"})
    notes = [api.post("/records/note", json={"about": x["id"], "text": t}).json for x, t in ((b, "fair"), (c, "call"))]
    api.post(f"/records/contact/{a['id']}/tags", json={"tags": ["east"]})
    api.post(f"/records/contact/{b['id']}/tags", json={"tags": ["vip", "east"]})
    api.post(f"/records/contact/{b['id']}/activities", json={"type": "call", "subject": "Called"})
    upload = api.post(f"/records/contact/{c['id']}/attachments",
                      data={"file": (io.BytesIO(b"hello"), "card.txt")}, content_type="multipart/form-data")
    assert upload.status_code == 201, upload.json
    answer = api.post("/records/contact/merge", json={"survivor": a["id"], "ids": [b["id"], c["id"]],
                                                       "values": {"full_name": "王小明 (merged)", "met_on": "2026-05-01"}})
    assert answer.status_code == 200, answer.json
    return {"a": a, "b": b, "c": c, "notes": notes, "audit_id": answer.json["audit_id"]}


def test_undo_restores_records_links_tags_activities_and_survivor(api, merged):
    a, b, c = merged["a"], merged["b"], merged["c"]
    response = api.post(f"/records/contact/merge/{merged['audit_id']}/undo")
    assert response.status_code == 200, response.json
    assert sorted(response.json["restored"]) == sorted([b["id"], c["id"]]) and response.json["left"] == []
    survivor = api.get(f"/records/contact/{a['id']}").json
    assert survivor["full_name"] == "王小明" and survivor["met_on"] is None
    for original in (b, c):
        again = api.get(f"/records/contact/{original['id']}").json
        assert {k: again.get(k) for k in ("full_name", "email", "score", "met_on", "created_at", "owner_id")} == \
            {k: original.get(k) for k in ("full_name", "email", "score", "met_on", "created_at", "owner_id")}
    assert [api.get(f"/records/note/{n['id']}").json["about"] for n in merged["notes"]] == [b["id"], c["id"]]
    assert api.get(f"/records/contact/{a['id']}/tags").json["tags"] == ["east"]
    assert api.get(f"/records/contact/{b['id']}/tags").json["tags"] == ["east", "vip"]
    assert [x["subject"] for x in api.get(f"/records/contact/{b['id']}/activities").json["data"]] == ["Called"]
    assert api.get(f"/records/contact/{a['id']}/activities").json["data"] == []
    assert [x["filename"] for x in api.get(f"/records/contact/{c['id']}/attachments").json["data"]] == ["card.txt"]
    audit = api.get(f"/audit?action=record.merge_undo&record={a['id']}").json["data"]
    assert audit[0]["after"]["merge"] == merged["audit_id"]
    assert api.get(f"/audit?action=record.restore&record={b['id']}").json["meta"]["total"] == 1
    again = api.post(f"/records/contact/merge/{merged['audit_id']}/undo")
    assert again.status_code == 409 and "already undone" in again.json["error"]["message"]


def test_undo_refused_when_the_survivor_changed(api, merged):
    api.patch(f"/records/contact/{merged['a']['id']}", json={"full_name": "edited later"})
    response = api.post(f"/records/contact/merge/{merged['audit_id']}/undo")
    assert response.status_code == 409 and "changed after the merge" in response.json["error"]["message"]
    assert api.get(f"/records/contact/{merged['b']['id']}").status_code == 404


def test_undo_refused_when_a_unique_value_is_taken_and_nothing_is_half_done(api, merged):
    api.post("/records/contact", json={"full_name": "new", "email": "b@example.com"})
    response = api.post(f"/records/contact/merge/{merged['audit_id']}/undo")
    assert response.status_code == 409 and "email" in response.json["error"]["message"]
    assert api.get(f"/records/contact/{merged['a']['id']}").json["full_name"] == "王小明 (merged)"
    assert api.get(f"/records/contact/{merged['c']['id']}").status_code == 404


def test_related_changes_since_the_merge_are_left_and_listed(api, merged):
    other = api.post("/records/contact", json={"full_name": "other", "email": "o@example.com"}).json
    api.patch(f"/records/note/{merged['notes'][0]['id']}", json={"about": other["id"]})
    response = api.post(f"/records/contact/merge/{merged['audit_id']}/undo")
    assert response.status_code == 200, response.json
    assert [item["record_id"] for item in response.json["left"]] == [merged["notes"][0]["id"]]
    assert api.get(f"/records/note/{merged['notes'][0]['id']}").json["about"] == other["id"]


def test_undo_needs_permissions_and_a_real_merge(api, merged, tenant, client):
    api.put("/roles/rep", json={"permissions": {"contact": {"read": "all", "create": "all", "update": "all",
                                                            "delete": "none"}}})
    user = api.post("/users", json={"email": "r@x.com", "password": "password-1", "roles": ["rep"]}).json
    rep = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    assert rep.post(f"/records/contact/merge/{merged['audit_id']}/undo").status_code == 403
    assert api.post("/records/contact/merge/999999/undo").status_code == 404
    assert api.post("/records/contact/merge/abc/undo").status_code == 404
    assert api.post(f"/records/note/merge/{merged['audit_id']}/undo").status_code == 404
    assert api.get(f"/records/contact/{merged['b']['id']}").status_code == 404
