"""Dashboards: widgets of saved and built-in reports, run as the reader, CSV per widget, tenancy."""

from __future__ import annotations

import pytest

from crm_platform.core.tenancy import create_token
from tests.api.test_reports import DEAL, PIPELINE
from tests.conftest import ApiClient


@pytest.fixture
def deals(api):
    api.post("/objects", json=DEAL)
    api.put("/objects/deal/pipeline", json=PIPELINE)
    for title, amount, region in (("A", 100, "east"), ("=HYPERLINK(\"x\")", 200, "east"), ("C", 50, "north")):
        api.post("/records/deal", json={"title": title, "amount": amount, "region": region, "margin": 5})


@pytest.fixture
def by_region(api, deals):
    return api.post("/reports", json={"name": "By region", "object": "deal", "chart": "bar", "shared": True,
                                      "group_by": [{"field": "region"}],
                                      "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}]}).json


def dashboard(report_id: int, **extra):
    return {"name": "Sales", "label": {"en": "Sales", "zh": "销售"}, "shared": True, "widgets": [
        {"report": report_id, "title": {"en": "Deals by region", "zh": "按区域"}, "chart": "pie", "width": 2},
        {"report": {"builtin": "funnel", "object": "deal"}, "title": "Funnel"},
        {"report": {"builtin": "won_lost", "object": "deal", "bucket": "year"}, "width": 3}], **extra}


def test_create_run_update_and_delete_a_dashboard(api, by_region):
    created = api.post("/dashboards", json=dashboard(by_region["id"]))
    assert created.status_code == 201, created.json
    board = created.json
    assert board["label"] == {"en": "Sales", "zh": "销售"} and [w["width"] for w in board["widgets"]] == [2, 1, 3]
    assert api.get("/dashboards").json["data"][0]["id"] == board["id"]

    run = api.get(f"/dashboards/{board['id']}/run").json
    region, funnel, won_lost = run["widgets"]
    assert region["rows"] == [["east", 2, 300.0], ["north", 1, 50.0]]
    assert region["chart"]["type"] == "pie" and region["chart"]["labels"] == ["east", "north"]
    assert funnel["columns"][:2] == ["stage", "reached"] and funnel["rows"][0][:2] == ["new", 3]
    assert funnel["chart"]["type"] == "funnel" and won_lost["chart"]["type"] == "bar"
    assert "error" not in region and "error" not in funnel and "error" not in won_lost

    reordered = {**dashboard(by_region["id"]), "name": "Sales 2"}
    reordered["widgets"] = reordered["widgets"][::-1][:2]
    replaced = api.put(f"/dashboards/{board['id']}", json=reordered)
    assert replaced.status_code == 200 and replaced.json["name"] == "Sales 2"
    assert [w["report"] for w in replaced.json["widgets"]] == [
        {"builtin": "won_lost", "object": "deal", "bucket": "year"}, {"builtin": "funnel", "object": "deal"}]
    actions = [e["action"] for e in api.get("/audit").json["data"] if e["action"].startswith("dashboard.")]
    assert sorted(actions) == ["dashboard.create", "dashboard.update"]

    assert api.delete(f"/dashboards/{board['id']}").status_code == 204
    assert api.get(f"/dashboards/{board['id']}").status_code == 404
    assert "dashboard.delete" in [e["action"] for e in api.get("/audit").json["data"]]


def test_widget_csv_neutralizes_formulas(api, deals):
    report = api.post("/reports", json={"name": "Titles", "object": "deal", "group_by": [{"field": "title"}]}).json
    board = api.post("/dashboards", json={"name": "T", "widgets": [{"report": report["id"]}]}).json
    response = api.get(f"/dashboards/{board['id']}/widgets/0/csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == "title,count"
    assert "\"'=HYPERLINK(\"\"x\"\")\",1" in lines
    assert api.get(f"/dashboards/{board['id']}/widgets/1/csv").status_code == 404
    assert api.get(f"/dashboards/{board['id']}/widgets/x/csv").status_code == 404


@pytest.mark.parametrize("bad, path", [
    ({"widgets": []}, "name"),
    ({"name": "", "widgets": []}, "name"),
    ({"name": "x", "colour": "red"}, "colour"),
    ({"name": "x", "label": {"fr": "x"}}, "label"),
    ({"name": "x", "shared": "yes"}, "shared"),
    ({"name": "x", "widgets": [{"title": "no report"}]}, "widgets[0].report"),
    ({"name": "x", "widgets": [{"report": 99999}]}, "widgets[0].report"),
    ({"name": "x", "widgets": [{"report": "1"}]}, "widgets[0].report"),
    ({"name": "x", "widgets": [{"report": {"builtin": "pareto", "object": "deal"}}]}, "widgets[0].report"),
    ({"name": "x", "widgets": [{"report": {"builtin": "funnel", "object": "nope"}}]}, "widgets[0].report"),
    ({"name": "x", "widgets": [{"report": {"builtin": "won_lost", "object": "deal", "bucket": "decade"}}]},
     "widgets[0].report"),
    ({"name": "x", "widgets": [{"report": {"builtin": "funnel", "object": "deal"}, "width": 4}]}, "widgets[0].width"),
    ({"name": "x", "widgets": [{"report": {"builtin": "funnel", "object": "deal"}, "chart": "radar"}]},
     "widgets[0].chart"),
])
def test_bad_dashboards_are_refused_naming_the_problem(api, deals, bad, path):
    response = api.post("/dashboards", json=bad)
    assert response.status_code == 422, response.json
    assert path in response.json["error"]["details"], response.json
    assert api.get("/dashboards").json["data"] == []


def test_a_builtin_on_an_object_without_pipeline_is_refused(api):
    api.post("/objects", json={"name": "note", "label": "Note", "fields": [{"name": "body", "type": "text"}]})
    response = api.post("/dashboards", json={"name": "x", "widgets": [{"report": {"builtin": "funnel", "object": "note"}}]})
    assert response.status_code == 422 and "no pipeline" in response.json["error"]["message"]


def test_widgets_a_reader_may_not_run_are_placeholders(api, tenant, client, by_region):
    margin = api.post("/reports", json={"name": "Margin", "object": "deal", "shared": True,
                                        "aggregates": [{"fn": "avg", "field": "margin"}]}).json
    private = api.post("/reports", json={"name": "Mine", "object": "deal"}).json
    board = api.post("/dashboards", json={"name": "Mixed", "shared": True, "widgets": [
        {"report": by_region["id"]}, {"report": margin["id"]}, {"report": private["id"]},
        {"report": {"builtin": "funnel", "object": "deal"}}]}).json

    def reader(role: dict, email: str) -> ApiClient:
        api.put(f"/roles/{email.split('@')[0]}", json=role)
        user = api.post("/users", json={"email": email, "password": "password-1",
                                        "roles": [email.split("@")[0]]}).json
        return ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))

    rep = reader({"permissions": {"deal": {"read": "all"}}, "field_access": {"deal": {"margin": "hidden"}}}, "rep@x.com")
    widgets = rep.get(f"/dashboards/{board['id']}/run").json["widgets"]
    assert widgets[0]["rows"] == [["east", 2, 300.0], ["north", 1, 50.0]]
    assert widgets[1]["error"]["code"] == "validation_error" and "rows" not in widgets[1]
    assert widgets[2]["error"]["code"] == "not_found" and "rows" not in widgets[2]
    assert "rows" in widgets[3]
    assert rep.get(f"/dashboards/{board['id']}/widgets/1/csv").status_code == 422
    assert rep.get(f"/dashboards/{board['id']}/widgets/2/csv").status_code == 404

    outsider = reader({"permissions": {}}, "out@x.com")
    widgets = outsider.get(f"/dashboards/{board['id']}/run").json["widgets"]
    assert [w["error"]["code"] for w in widgets] == ["forbidden", "forbidden", "not_found", "forbidden"]
    assert all("rows" not in w and "chart" not in w for w in widgets)
    assert outsider.get(f"/dashboards/{board['id']}/widgets/0/csv").status_code == 403

    # Someone else's dashboard: a reader may run a shared one, but not change or delete it.
    assert rep.put(f"/dashboards/{board['id']}", json={"name": "mine now"}).status_code == 403
    assert rep.delete(f"/dashboards/{board['id']}").status_code == 403
    # A reader may not place a report they cannot see on a dashboard of their own.
    response = rep.post("/dashboards", json={"name": "peek", "widgets": [{"report": private["id"]}]})
    assert response.status_code == 422 and "widgets[0].report" in response.json["error"]["details"]


def test_private_dashboards_stay_private(api, tenant, client, by_region):
    board = api.post("/dashboards", json={"name": "Mine", "widgets": [{"report": by_region["id"]}]}).json
    api.put("/roles/rep", json={"permissions": {"deal": {"read": "all"}}})
    user = api.post("/users", json={"email": "r@x.com", "password": "password-1", "roles": ["rep"]}).json
    rep = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    assert rep.get("/dashboards").json["data"] == []
    assert rep.get(f"/dashboards/{board['id']}").status_code == 404
    assert rep.get(f"/dashboards/{board['id']}/run").status_code == 404
    assert rep.get(f"/dashboards/{board['id']}/widgets/0/csv").status_code == 404


def test_dashboards_are_tenant_scoped(api, by_region, tenant_factory):
    board = api.post("/dashboards", json=dashboard(by_region["id"])).json
    other = tenant_factory("other").api
    assert other.get("/dashboards").json["data"] == []
    assert other.get(f"/dashboards/{board['id']}").status_code == 404
    assert other.get(f"/dashboards/{board['id']}/run").status_code == 404
    assert other.delete(f"/dashboards/{board['id']}").status_code == 404
    # The other tenant cannot point a widget at this tenant's report either.
    response = other.post("/dashboards", json={"name": "x", "widgets": [{"report": by_region["id"]}]})
    assert response.status_code == 422
    assert api.get(f"/dashboards/{board['id']}").status_code == 200


def test_a_created_dashboard_answers_what_a_read_gives(api, by_region):
    created = api.post("/dashboards", json={**dashboard(by_region["id"]), "shared": True})
    assert created.status_code == 201, created.json
    assert created.json == api.get(f"/dashboards/{created.json['id']}").json
