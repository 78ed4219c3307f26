"""Reports: group-bys with date buckets, aggregates, chart data, permissions, built-in funnels."""

from __future__ import annotations

import pytest

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient

DEAL = {"name": "deal", "label": "Deal", "fields": [
    {"name": "title", "type": "text"}, {"name": "amount", "type": "currency"},
    {"name": "region", "type": "picklist", "options": [{"value": "east"}, {"value": "north"}]},
    {"name": "closed_on", "type": "date"}, {"name": "margin", "type": "percent"}]}
PIPELINE = {"stages": [{"name": "new", "category": "open"}, {"name": "quote", "category": "open"},
                       {"name": "won", "category": "won"}, {"name": "lost", "category": "lost"}]}


@pytest.fixture
def deals(api):
    api.post("/objects", json=DEAL)
    api.put("/objects/deal/pipeline", json=PIPELINE)
    rows = [("A", 100, "east", "2026-01-05"), ("B", 200, "east", "2026-01-20"), ("C", 50, "north", "2026-02-02"),
            ("D", 1000, "north", "2026-04-01"), ("E", 10, "east", None)]
    return [api.post("/records/deal", json={"title": t, "amount": a, "region": r, "closed_on": d, "margin": 5}).json
            for t, a, r, d in rows]


def test_group_by_field_and_month_with_aggregates(api, deals):
    report = api.post("/reports", json={"name": "By region and month", "object": "deal", "chart": "bar",
                                        "group_by": [{"field": "region"}, {"field": "closed_on", "bucket": "month"}],
                                        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}],
                                        "condition": {"condition": "AND", "rules": [
                                            {"field": "closed_on", "operator": "is_not_null"}]}})
    assert report.status_code == 201, report.json
    result = api.get(f"/reports/{report.json['id']}/run").json
    assert result["columns"] == ["region", "closed_on (month)", "count", "sum(amount)"]
    assert result["rows"] == [["east", "2026-01", 2, 300.0], ["north", "2026-02", 1, 50.0], ["north", "2026-04", 1, 1000.0]]
    assert result["chart"]["labels"] == ["east", "north"]
    quarters = api.post("/reports/run", json={"name": "q", "object": "deal",
                                              "group_by": [{"field": "closed_on", "bucket": "quarter"}]}).json
    assert quarters["rows"] == [["2026-Q1", 3], ["2026-Q2", 1], [None, 1]]
    csv_text = api.get(f"/reports/{report.json['id']}/run?format=csv").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[1] == "east,2026-01,2,300.0"


def test_reports_respect_scopes_and_refuse_hidden_fields(api, deals, tenant, client):
    api.put("/roles/rep", json={"permissions": {"deal": {"read": "own", "create": "all"}},
                                "field_access": {"deal": {"margin": "hidden"}}})
    user = api.post("/users", json={"email": "r@x.com", "password": "password-1", "roles": ["rep"]}).json
    rep = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    rep.post("/records/deal", json={"title": "mine", "amount": 7, "region": "east"})
    total = rep.post("/reports/run", json={"name": "t", "object": "deal", "aggregates": [{"fn": "sum", "field": "amount"}]})
    assert total.json["rows"] == [[7.0]]
    for bad in ({"group_by": [{"field": "margin"}]}, {"aggregates": [{"fn": "avg", "field": "margin"}]}):
        response = rep.post("/reports/run", json={"name": "x", "object": "deal", **bad})
        assert response.status_code == 422 and "hidden or masked" in str(response.json)


@pytest.mark.parametrize("bad", [
    {"group_by": [{"field": "nope"}]}, {"group_by": [{"field": "region", "bucket": "month"}]},
    {"group_by": [{"field": "region"}, {"field": "title"}, {"field": "amount"}]},
    {"aggregates": [{"fn": "median", "field": "amount"}]}, {"aggregates": [{"fn": "sum", "field": "region"}]},
    {"chart": "radar"}, {"condition": {"condition": "AND", "rules": [{"field": "x", "operator": "equal", "value": 1}]}},
])
def test_bad_reports_are_refused(api, deals, bad):
    assert api.post("/reports", json={"name": "bad", "object": "deal", **bad}).status_code == 422


def test_funnel_and_won_lost(api, deals):
    a, b, c, d, _ = deals
    for deal, stages in ((a, ["quote", "won"]), (b, ["quote", "lost"]), (c, ["quote"]), (d, ["lost"])):
        for stage in stages:
            assert api.patch(f"/records/deal/{deal['id']}", json={"stage": stage}).status_code == 200
    funnel = {s["stage"]: s for s in api.get("/reports/funnel/deal").json["stages"]}
    assert funnel["new"]["reached"] == 5 and funnel["quote"]["reached"] == 3 and funnel["won"]["reached"] == 1
    assert funnel["new"]["conversion_to_next"] == 0.6 and funnel["quote"]["current"] == 1
    assert funnel["new"]["average_seconds_in_stage"] is not None
    won_lost = api.get("/reports/won-lost/deal?bucket=year").json
    assert [(r["won"], r["lost"]) for r in won_lost["rows"]] == [(1, 2)]
    assert api.get("/reports/won-lost/deal?bucket=decade").status_code == 422


def test_a_created_report_answers_what_a_read_gives(api, deals):
    created = api.post("/reports", json={"name": "Shared", "object": "deal", "shared": True, "chart": "pie",
                                         "label": {"en": "Shared", "zh": "共享"}, "group_by": [{"field": "region"}]})
    assert created.status_code == 201, created.json
    assert created.json == api.get(f"/reports/{created.json['id']}").json
