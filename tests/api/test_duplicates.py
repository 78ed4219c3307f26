"""Duplicate rules, scans and merges."""

from __future__ import annotations

import pytest

CONTACT = {"name": "contact", "label": "Contact", "fields": [
    {"name": "full_name", "type": "text"}, {"name": "email", "type": "email"}, {"name": "phone", "type": "phone"}]}
NOTE = {"name": "note", "label": "Note", "fields": [
    {"name": "about", "type": "lookup", "target": "contact", "on_delete": "cascade"}, {"name": "text", "type": "text"}]}


@pytest.fixture
def contacts(api):
    api.post("/objects", json=CONTACT)
    api.post("/objects", json=NOTE)
    people = [
        {"full_name": "王小明", "email": "XM@Example.com", "phone": "+86 138-1234-1234"},
        {"full_name": "王 小明", "email": "xm@example.com", "phone": "13812341234"},
        {"full_name": "Li Lei", "email": "li@example.com", "phone": "13900000000"},
    ]
    return [api.post("/records/contact", json=p).json for p in people]


def test_scan_groups_normalized_matches(api, contacts):
    assert api.post("/duplicate-rules", json={"object": "contact", "name": "same phone", "fields": ["phone"],
                                              "match": "normalized"}).status_code == 201
    api.post("/duplicate-rules", json={"object": "contact", "name": "same email", "fields": ["email"], "match": "exact"})
    groups = api.get("/duplicates/contact").json["data"]
    assert groups == [{"rule": "same phone", "records": [contacts[0]["id"], contacts[1]["id"]]}]


def test_create_warns_or_blocks(api, contacts):
    api.post("/duplicate-rules", json={"object": "contact", "name": "similar name", "fields": ["full_name"],
                                       "match": "similar", "threshold": 0.6, "action": "warn"})
    warned = api.post("/records/contact", json={"full_name": "王小名"})
    assert warned.status_code == 201 and str(contacts[0]["id"]) in warned.headers["X-CRM-Duplicates"]
    api.post("/duplicate-rules", json={"object": "contact", "name": "email", "fields": ["email"], "action": "block"})
    blocked = api.post("/records/contact", json={"full_name": "X", "email": " li@EXAMPLE.com"})
    assert blocked.status_code == 409 and blocked.json["error"]["details"]["duplicates"][0]["records"] == [contacts[2]["id"]]
    for bad in ({"object": "contact", "name": "x", "fields": ["nope"]}, {"object": "contact", "name": "x", "fields": []},
                {"object": "contact", "name": "x", "fields": ["email"], "match": "fuzzy"},
                {"object": "contact", "name": "x", "fields": ["email"], "threshold": 2}):
        assert api.post("/duplicate-rules", json=bad).status_code == 422


def test_merge_keeps_values_repoints_and_audits(api, contacts):
    a, b, _ = contacts
    note = api.post("/records/note", json={"about": b["id"], "text": "met at fair"}).json
    api.post(f"/records/contact/{b['id']}/tags", json={"tags": ["vip"]})
    api.post(f"/records/contact/{b['id']}/activities", json={"type": "call", "subject": "Called"})
    response = api.post("/records/contact/merge", json={"survivor": a["id"], "ids": [b["id"]],
                                                         "values": {"full_name": "王小明 (merged)"}})
    assert response.status_code == 200, response.json
    assert response.json["survivor"]["full_name"] == "王小明 (merged)"
    assert api.get(f"/records/contact/{b['id']}").status_code == 404
    assert api.get(f"/records/note/{note['id']}").json["about"] == a["id"]
    assert api.get(f"/records/contact/{a['id']}/tags").json["tags"] == ["vip"]
    assert [x["subject"] for x in api.get(f"/records/contact/{a['id']}/activities").json["data"]] == ["Called"]
    audit = api.get(f"/audit?action=record.merge&record={a['id']}").json["data"][0]
    assert audit["before"]["merged"][0]["email"] == b["email"] and audit["before"]["repointed"][0]["record_id"] == note["id"]


@pytest.mark.parametrize("body", [
    {"survivor": "x", "ids": [2]}, {"survivor": 1, "ids": []}, {"survivor": 1, "ids": [1]}, {"survivor": 1, "ids": [2, 2]},
    {"survivor": 1, "ids": [2], "colour": "red"},
])
def test_bad_merges_are_refused(api, contacts, body):
    assert api.post("/records/contact/merge", json=body).status_code == 422
    assert api.get("/records/contact").json["meta"]["total"] == 3


def test_merge_of_missing_records_changes_nothing(api, contacts):
    assert api.post("/records/contact/merge", json={"survivor": contacts[0]["id"], "ids": [contacts[1]["id"], 999]}).status_code == 404
    assert api.get("/records/contact").json["meta"]["total"] == 3
