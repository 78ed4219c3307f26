"""Tags, activities and the timeline of a record."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient

CUSTOMER = {"name": "customer", "label": {"en": "Customer", "zh": "客户"}, "fields": [
    {"name": "title", "type": "text"}, {"name": "phone", "type": "phone"}, {"name": "secret", "type": "text"}]}


@pytest.fixture
def customer(api):
    assert api.post("/objects", json=CUSTOMER).status_code == 201
    assert api.put("/objects/customer/pipeline", json={"stages": [{"name": "lead"}, {"name": "client"}]}).status_code == 200
    return api.post("/records/customer", json={"title": "华东教育", "phone": "13812341234", "secret": "s1"}).json


def test_tags_on_a_record_and_as_a_list_filter(api, customer):
    other = api.post("/records/customer", json={"title": "Other"}).json
    response = api.post(f"/records/customer/{customer['id']}/tags", json={"tags": ["VIP客户", "potential"]})
    assert response.status_code == 200 and response.json["tags"] == ["VIP客户", "potential"]
    api.post(f"/records/customer/{other['id']}/tags", json={"tags": ["potential"]})
    assert [r["id"] for r in api.get("/records/customer", query_string={"tag": "VIP客户"}).json["data"]] == [customer["id"]]
    both = api.get("/records/customer", query_string=[("tag", "VIP客户"), ("tag", "potential")]).json
    assert both["meta"]["total"] == 1
    assert api.delete(f"/records/customer/{customer['id']}/tags", json={"tags": ["potential"]}).json["tags"] == ["VIP客户"]
    for bad in ([""], ["x" * 51], "vip", [1], ["a\nb"]):
        assert api.post(f"/records/customer/{customer['id']}/tags", json={"tags": bad}).status_code == 422


def test_activities_and_due_tasks(api, customer):
    now = datetime.now(timezone.utc)
    call = api.post(f"/records/customer/{customer['id']}/activities",
                    json={"type": "call", "subject": "First call", "body": "Interested in 2027 plan"})
    assert call.status_code == 201 and call.json["type"] == "call" and call.json["done"] is False
    overdue = api.post(f"/records/customer/{customer['id']}/activities", json={
        "type": "task", "subject": "Send quote", "due_at": (now - timedelta(days=1)).isoformat()}).json
    api.post(f"/records/customer/{customer['id']}/activities", json={
        "type": "task", "subject": "Follow up", "due_at": (now + timedelta(minutes=1)).isoformat()})
    assert [a["subject"] for a in api.get("/activities?due=overdue").json["data"]] == ["Send quote"]
    assert len(api.get(f"/records/customer/{customer['id']}/activities").json["data"]) == 3
    done = api.patch(f"/activities/{overdue['id']}", json={"done": True})
    assert done.status_code == 200 and done.json["done_at"] is not None
    assert api.get("/activities?due=overdue").json["data"] == []
    for bad in ({"type": "fax", "subject": "x"}, {"type": "call"}, {"type": "call", "subject": "x", "due_at": "soon"},
                {"type": "call", "subject": "x", "colour": "red"}):
        assert api.post(f"/records/customer/{customer['id']}/activities", json=bad).status_code == 422
    assert api.get("/activities?due=someday").status_code == 422


def test_timeline_merges_changes_stages_tags_and_activities_newest_first(api, customer):
    api.patch(f"/records/customer/{customer['id']}", json={"title": "华东教育集团"})
    api.patch(f"/records/customer/{customer['id']}", json={"stage": "client"})
    api.post(f"/records/customer/{customer['id']}/tags", json={"tags": ["vip"]})
    api.post(f"/records/customer/{customer['id']}/activities", json={"type": "note", "subject": "Signed"})
    entries = api.get(f"/records/customer/{customer['id']}/timeline").json
    kinds = [e["kind"] for e in entries["data"]]
    assert kinds[0] == "activity" and set(kinds) >= {"created", "change", "stage", "tags", "activity"}
    change = next(e for e in entries["data"] if e["kind"] == "change")
    assert change["changes"] == [{"field": "title", "from": "华东教育", "to": "华东教育集团"}]
    stage = next(e for e in entries["data"] if e["kind"] == "stage" and e["from"] == "lead")
    assert stage["to"] == "client"
    page = api.get(f"/records/customer/{customer['id']}/timeline?per_page=2&page=2").json
    assert page["meta"]["total"] == entries["meta"]["total"] and len(page["data"]) == 2


def test_timeline_and_activities_follow_permissions(api, customer, tenant, client):
    api.put("/roles/viewer", json={"permissions": {"customer": {"read": "own"}},
                                   "field_access": {"customer": {"secret": "hidden", "phone": "masked"}}})
    api.patch(f"/records/customer/{customer['id']}", json={"secret": "s2", "phone": "13900000000"})
    user = api.post("/users", json={"email": "v@x.com", "password": "password-1", "roles": ["viewer"]}).json
    viewer = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    assert viewer.get(f"/records/customer/{customer['id']}/timeline").status_code == 404
    assert viewer.post(f"/records/customer/{customer['id']}/activities", json={"type": "note", "subject": "x"}).status_code == 404
    api.post(f"/users/{tenant.admin_id}/transfer", json={"to": user["id"]})
    entries = viewer.get(f"/records/customer/{customer['id']}/timeline").json["data"]
    text = str(entries)
    assert "s2" not in text and "secret" not in text and "13900000000" not in text and "*******0000" in text
    assert viewer.post(f"/records/customer/{customer['id']}/tags", json={"tags": ["x"]}).status_code == 403


def test_export_honours_filters_permissions_and_escapes_formulas(api, customer, tenant, client):
    import csv
    import io

    from openpyxl import load_workbook

    api.post("/records/customer", json={"title": "=cmd|' /C calc'!A0", "phone": "13700000000", "secret": "s3"})
    response = api.get("/records/customer/export?format=csv&sort=id")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "stage", "title"] and len(rows) == 3
    assert rows[2][2] == "'=cmd|' /C calc'!A0"
    filtered = api.get("/records/customer/export", query_string={"format": "xlsx", "title": "华东教育"})
    sheet = load_workbook(io.BytesIO(filtered.get_data())).active
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))][2] == "华东教育"
    assert sheet.max_row == 2
    audit = api.get("/audit?action=record.export").json["data"]
    assert audit[0]["after"]["rows"] == 1 and audit[0]["after"]["format"] == "xlsx"
    api.put("/roles/exporter", json={"permissions": {"customer": {"read": "all", "export": "all"}},
                                     "field_access": {"customer": {"secret": "hidden", "phone": "masked"}}})
    api.put("/roles/reader", json={"permissions": {"customer": {"read": "all"}}})
    users = {}
    for email, role in (("e@x.com", "exporter"), ("r@x.com", "reader")):
        users[role] = api.post("/users", json={"email": email, "password": "password-1", "roles": [role]}).json["id"]
    exporter = ApiClient(client, create_token(tenant.platform, tenant.slug, users["exporter"]))
    reader = ApiClient(client, create_token(tenant.platform, tenant.slug, users["reader"]))
    assert reader.get("/records/customer/export").status_code == 403
    text = exporter.get("/records/customer/export?sort=id").get_data().decode("utf-8-sig")
    assert "secret" not in text and "s3" not in text and "13700000000" not in text and "*******0000" in text
    assert exporter.get("/records/customer/export?secret=s3").status_code == 422
    assert api.get("/records/customer/export?format=pdf").status_code == 422


def test_a_records_history_holds_only_its_own_entries(api, customer):
    """Reports, views, duplicate rules and imports of an object are audited under their own kind,
    so record N's history never shows report N or import N of the same object."""
    record_id = customer["id"]
    items = {
        "report": api.post("/reports", json={"object": "customer", "name": "By stage", "group_by": [{"field": "stage"}],
                                             "aggregates": [{"fn": "count"}]}),
        "view": api.post("/views", json={"object": "customer", "name": "Mine"}),
        "duplicate_rule": api.post("/duplicate-rules", json={"object": "customer", "name": "same phone",
                                                             "fields": ["phone"], "match": "exact"}),
        "import": api.post("/imports", data={"file": (io.BytesIO("名称\n新客户\n".encode()), "c.csv"),
                                             "object": "customer", "mapping": json.dumps({"名称": "title"})},
                           content_type="multipart/form-data"),
    }
    for kind, response in items.items():
        assert response.status_code == 201, (kind, response.json)
        entries = api.get("/audit", query_string={"object": kind, "record": response.json["id"]}).json["data"]
        assert entries and all(e["action"].startswith(kind + ".") for e in entries), kind
        assert entries[0]["after"]["object"] == "customer"
    assert record_id in {response.json["id"] for response in items.values()}  # the ids do meet
    history = api.get("/audit", query_string={"object": "customer", "record": record_id}).json["data"]
    assert [e["action"] for e in history] == ["record.create"]
    assert {e["kind"] for e in api.get(f"/records/customer/{record_id}/timeline").json["data"]} == {"created", "stage"}
    refused = api.post("/objects", json={"name": "report", "label": "Report", "fields": []})
    assert refused.status_code == 422 and "reserved" in refused.json["error"]["details"]["name"][0]
