"""Campaign members from a saved view (segment), and the same for runtime objects."""

from __future__ import annotations

import pytest

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient


def segment(api, obj, name, rules, shared=True):
    answer = api.post("/views", json={"object": obj, "name": name, "shared": shared,
                                      "condition": {"condition": "AND", "rules": rules}})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


@pytest.fixture
def core(api):
    assert api.post("/templates/crm_core/install").status_code == 200
    campaign = api.post("/records/campaign", json={"name": "春季展会", "type": "exhibition"}).json
    contacts = [api.post("/records/contact", json={"name": n, "decision_maker": d}).json
                for n, d in (("张伟", True), ("李娜", False), ("王芳", True))]
    return campaign, contacts


def members(api, campaign):
    rows = api.get(f"/records/campaign_member?campaign={campaign['id']}&sort=id").json["data"]
    return [(r["contact"], r["lead"], r["status"]) for r in rows]


def test_campaign_members_from_a_view_are_added_once(api, core):
    campaign, contacts = core
    decision = segment(api, "contact", "Decision makers", [{"field": "decision_maker", "operator": "equal", "value": True}])
    answer = api.post(f"/records/campaign/{campaign['id']}/members-from-view", json={"view": decision})
    assert answer.status_code == 200, answer.json
    assert (answer.json["added"], answer.json["skipped"], answer.json["matched"]) == (2, 0, 2)
    assert answer.json["member_object"] == "campaign_member" and answer.json["member_field"] == "contact"
    assert members(api, campaign) == [(contacts[0]["id"], None, "planned"), (contacts[2]["id"], None, "planned")]
    everyone = segment(api, "contact", "Everyone", [{"field": "id", "operator": "is_not_null"}])
    again = api.post(f"/records/campaign/{campaign['id']}/members-from-view",
                     json={"view": everyone, "values": {"status": "sent"}})
    assert (again.json["added"], again.json["skipped"]) == (1, 2)
    assert members(api, campaign)[-1] == (contacts[1]["id"], None, "sent")
    lead = api.post("/records/lead", json={"name": "赵磊", "company": "华东教育", "region": "east"}).json
    leads = segment(api, "lead", "East leads", [{"field": "region", "operator": "equal", "value": "east"}])
    from_leads = api.post(f"/records/campaign/{campaign['id']}/members-from-view", json={"view": leads}).json
    assert from_leads["added"] == 1 and from_leads["member_field"] == "lead"
    assert members(api, campaign)[-1] == (None, lead["id"], "planned")
    assert api.get(f"/audit?action=record.members_from_view&record={campaign['id']}").json["meta"]["total"] == 3


def test_the_view_is_evaluated_as_the_caller(api, core, tenant, client):
    campaign, contacts = core
    api.put("/roles/mkt", json={"permissions": {"contact": {"read": "own"}, "campaign": {"read": "all"},
                                                "campaign_member": {"read": "all", "create": "all"}}})
    user = api.post("/users", json={"email": "m@x.com", "password": "password-1", "roles": ["mkt"]}).json
    marketer = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    mine = marketer.post("/records/contact", json={"name": "mine"})
    assert mine.status_code == 403  # cannot create contacts; give one to them instead
    api.patch(f"/records/contact/{contacts[1]['id']}", json={"owner_id": user["id"]})
    everyone = segment(api, "contact", "Everyone", [{"field": "id", "operator": "is_not_null"}])
    answer = marketer.post(f"/records/campaign/{campaign['id']}/members-from-view", json={"view": everyone})
    assert answer.status_code == 200, answer.json
    assert (answer.json["matched"], answer.json["added"]) == (1, 1)
    assert members(api, campaign) == [(contacts[1]["id"], None, "planned")]
    private = segment(api, "contact", "Admin's own", [{"field": "id", "operator": "is_not_null"}], shared=False)
    assert marketer.post(f"/records/campaign/{campaign['id']}/members-from-view", json={"view": private}).status_code == 404


@pytest.mark.parametrize("body, status", [
    ({}, 404), ({"view": 999}, 404), ({"view": "x", "colour": 1}, 422),
    ({"member_object": "nothing"}, 422), ({"member_field": "campaign"}, 422), ({"values": {"status": "gone"}}, 422),
    ({"values": {"campaign": 1}}, 422), ({"values": []}, 422),
])
def test_bad_requests_name_the_problem(api, core, body, status):
    campaign, _ = core
    view = segment(api, "contact", "All", [{"field": "id", "operator": "is_not_null"}])
    document = {"view": view, **body} if "view" not in body and body != {} else body
    answer = api.post(f"/records/campaign/{campaign['id']}/members-from-view", json=document)
    assert answer.status_code == status, answer.json
    assert members(api, campaign) == []


def test_generic_members_for_runtime_objects(api):
    api.post("/objects", json={"name": "course", "label": "Course", "fields": [{"name": "title", "type": "text"}]})
    api.post("/objects", json={"name": "student", "label": "Student", "fields": [
        {"name": "full_name", "type": "text"}, {"name": "grade", "type": "integer"}]})
    api.post("/objects", json={"name": "enrolment", "label": "Enrolment", "fields": [
        {"name": "course", "type": "lookup", "target": "course", "on_delete": "cascade"},
        {"name": "student", "type": "lookup", "target": "student", "on_delete": "cascade"},
        {"name": "mentor", "type": "lookup", "target": "student", "on_delete": "set_null"}]})
    course = api.post("/records/course", json={"title": "Maths"}).json
    for name, grade in (("A", 9), ("B", 10), ("C", 12)):
        student = api.post("/records/student", json={"full_name": name, "grade": grade}).json
        api.post(f"/records/student/{student['id']}/tags", json={"tags": ["scholarship"]} if grade < 12 else {"tags": ["x"]})
    view = segment(api, "student", "Scholars", [{"field": "_tags", "operator": "contains", "value": "scholarship"}])
    ambiguous = api.post(f"/records/course/{course['id']}/members-from-view", json={"view": view, "member_object": "enrolment"})
    assert ambiguous.status_code == 422 and "member_field" in ambiguous.json["error"]["message"]
    body = {"view": view, "member_object": "enrolment", "member_field": "student"}
    answer = api.post(f"/records/course/{course['id']}/members-from-view", json=body)
    assert answer.status_code == 200, answer.json
    assert (answer.json["added"], answer.json["parent_field"]) == (2, "course")
    assert api.post(f"/records/course/{course['id']}/members-from-view", json=body).json["skipped"] == 2
    assert api.get("/records/enrolment").json["meta"]["total"] == 2
