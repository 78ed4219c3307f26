"""Saved views: private or shared segments usable as list filters."""

from __future__ import annotations

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient

LEAD = {"name": "lead", "label": "Lead", "fields": [
    {"name": "company", "type": "text"}, {"name": "amount", "type": "currency"}, {"name": "margin", "type": "percent"}]}


def test_views_filter_lists_and_respect_sharing_and_permissions(api, tenant, client):
    api.post("/objects", json=LEAD)
    for company, amount in (("A", 100), ("B", 50000), ("C", 90000)):
        api.post("/records/lead", json={"company": company, "amount": amount, "margin": 10})
    big = api.post("/views", json={"object": "lead", "name": "Big leads", "shared": True, "sort": "-amount",
                                   "condition": {"condition": "AND", "rules": [
                                       {"field": "amount", "operator": "greater", "value": 1000}]}})
    assert big.status_code == 201, big.json
    listed = api.get(f"/records/lead?view={big.json['id']}").json
    assert [r["company"] for r in listed["data"]] == ["C", "B"]
    private = api.post("/views", json={"object": "lead", "name": "Mine", "condition": None}).json
    api.put("/roles/rep", json={"permissions": {"lead": {"read": "all"}}, "field_access": {"lead": {"margin": "hidden"}}})
    user = api.post("/users", json={"email": "r@x.com", "password": "password-1", "roles": ["rep"]}).json
    rep = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    assert [v["name"] for v in rep.get("/views?object=lead").json["data"]] == ["Big leads"]
    assert rep.get(f"/views/{private['id']}").status_code == 404
    assert rep.get(f"/records/lead?view={big.json['id']}").json["meta"]["total"] == 2
    assert rep.patch(f"/views/{big.json['id']}", json={"name": "x"}).status_code == 403
    hidden = rep.post("/views", json={"object": "lead", "name": "by margin", "condition": {
        "condition": "AND", "rules": [{"field": "margin", "operator": "greater", "value": 1}]}})
    assert hidden.status_code == 422
    margin_view = api.post("/views", json={"object": "lead", "name": "margin", "shared": True, "condition": {
        "condition": "AND", "rules": [{"field": "margin", "operator": "greater", "value": 1}]}}).json
    assert rep.get(f"/records/lead?view={margin_view['id']}").status_code == 422
    assert api.get("/records/lead?view=999").status_code == 404
    assert api.delete(f"/views/{private['id']}").status_code == 204
