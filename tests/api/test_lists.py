"""List parameters: field filters, operators, condition trees, text search, sort, pages."""

from __future__ import annotations

import json

import pytest

LEAD = {
    "name": "lead",
    "label": {"en": "Lead", "zh": "线索"},
    "fields": [
        {"name": "company", "type": "text"},
        {"name": "amount", "type": "currency"},
        {"name": "region", "type": "picklist", "options": [{"value": "east"}, {"value": "north"}, {"value": "south"}]},
        {"name": "email", "type": "email"},
        {"name": "hot", "type": "boolean"},
    ],
}
ROWS = [
    ("Acme Corp", 5000, "east", "a@acme.com", True),
    ("Beta 贸易", 20000, "north", "b@beta.cn", False),
    ("Gamma Ltd", 12000, "east", None, False),
    ("acme labs", None, "south", "lab@acme.com", True),
    ("Delta_Co", 7000, "north", "d@delta.com", None),
]


@pytest.fixture
def leads(api):
    api.post("/objects", json=LEAD)
    return [api.post("/records/lead", json=dict(zip(["company", "amount", "region", "email", "hot"], row))).json
            for row in ROWS]


def companies(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [r["company"] for r in response.json["data"]]


def test_equal_and_suffix_operators(api, leads):
    assert companies(api.get("/records/lead?region=east&sort=company")) == ["Acme Corp", "Gamma Ltd"]
    assert companies(api.get("/records/lead?amount__gt=6000&sort=amount")) == ["Delta_Co", "Gamma Ltd", "Beta 贸易"]
    assert companies(api.get("/records/lead?amount__lte=7000&sort=amount")) == ["Acme Corp", "Delta_Co"]
    assert companies(api.get("/records/lead?sort=amount"))[-1] == "acme labs"
    assert companies(api.get("/records/lead?region__ne=east&sort=company")) == ["Beta 贸易", "Delta_Co", "acme labs"]
    assert companies(api.get("/records/lead?region__in=south,north&sort=company")) == ["Beta 贸易", "Delta_Co", "acme labs"]
    assert companies(api.get("/records/lead?company__contains=ACME&sort=company")) == ["Acme Corp", "acme labs"]
    assert companies(api.get("/records/lead?company__startswith=gam")) == ["Gamma Ltd"]
    assert companies(api.get("/records/lead?amount__isnull=true")) == ["acme labs"]
    assert len(companies(api.get("/records/lead?email__isnull=false"))) == 4
    assert companies(api.get("/records/lead?hot=true&sort=company")) == ["Acme Corp", "acme labs"]
    assert companies(api.get("/records/lead?company__contains=_")) == ["Delta_Co"]  # LIKE wildcards are literal


def test_condition_tree_filter(api, leads):
    tree = {"condition": "OR", "rules": [
        {"field": "amount", "operator": "greater", "value": 15000},
        {"condition": "AND", "rules": [{"field": "region", "operator": "equal", "value": "east"},
                                       {"field": "hot", "operator": "equal", "value": True}]},
    ]}
    response = api.get("/records/lead", query_string={"filter": json.dumps(tree), "sort": "company"})
    assert companies(response) == ["Acme Corp", "Beta 贸易"]


def test_text_search_spans_text_fields(api, leads):
    assert companies(api.get("/records/lead?q=acme&sort=company")) == ["Acme Corp", "acme labs"]
    assert companies(api.get("/records/lead?q=beta.cn")) == ["Beta 贸易"]
    assert companies(api.get("/records/lead", query_string={"q": "贸易"})) == ["Beta 贸易"]


def test_sort_and_pages(api, leads):
    first = api.get("/records/lead?sort=-amount,company&per_page=2&page=1").json
    # empty values sort as the largest, on SQLite as on PostgreSQL
    assert [r["company"] for r in first["data"]] == ["acme labs", "Beta 贸易"]
    assert first["meta"] == {"total": 5, "page": 1, "per_page": 2}
    third = api.get("/records/lead?sort=-amount,company&per_page=2&page=3").json
    assert len(third["data"]) == 1 and third["meta"]["total"] == 5
    beyond = api.get("/records/lead?per_page=2&page=9").json
    assert beyond["data"] == [] and beyond["meta"]["total"] == 5


@pytest.mark.parametrize("query, problem", [
    ("nope=1", "unknown filter field 'nope'"),
    ("amount__near=1", "unknown filter operator 'near'"),
    ("amount__gt=lots", "amount"),
    ("region=west", "west"),
    ("per_page=100000", "per_page"),
    ("page=0", "page"),
    ("sort=-nope", "unknown sort field 'nope'"),
    ("filter={bad json", "not valid JSON"),
])
def test_bad_list_parameters_are_named(api, leads, query, problem):
    response = api.get(f"/records/lead?{query}")
    assert response.status_code == 422
    assert problem in json.dumps(response.json["error"], ensure_ascii=False)
