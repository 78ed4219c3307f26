"""Tags in the one condition language: list filters, saved views, reports, rules, expressions."""

from __future__ import annotations

import json

import pytest

from metadata.conditions import FieldRef, compile_predicate, parse_expression, render
from metadata.model import _tag_value

LEAD = {"name": "lead", "label": {"en": "Lead", "zh": "线索"}, "fields": [
    {"name": "company", "type": "text"},
    {"name": "priority", "type": "picklist", "options": [{"value": "low"}, {"value": "high"}]}]}


def tree(*rules, condition="AND"):
    return {"condition": condition, "rules": list(rules)}


@pytest.fixture
def leads(api):
    assert api.post("/objects", json=LEAD).status_code == 201
    made = {}
    for company, tags in (("A", ["vip", "east"]), ("B", ["east"]), ("C", [])):
        made[company] = api.post("/records/lead", json={"company": company}).json["id"]
        if tags:
            assert api.post(f"/records/lead/{made[company]}/tags", json={"tags": tags}).status_code == 200
    return made


def companies(api, condition):
    answer = api.get("/records/lead", query_string={"filter": json.dumps(condition), "sort": "company"})
    assert answer.status_code == 200, answer.json
    return [r["company"] for r in answer.json["data"]]


def test_list_filter_by_tag_operators(api, leads):
    assert companies(api, tree({"field": "_tags", "operator": "contains", "value": "vip"})) == ["A"]
    assert companies(api, tree({"field": "_tags", "operator": "not_contains", "value": "vip"})) == ["B", "C"]
    assert companies(api, tree({"field": "_tags", "operator": "in", "value": ["vip", "east"]})) == ["A", "B"]
    assert companies(api, tree({"field": "_tags", "operator": "not_in", "value": ["vip"]})) == ["B", "C"]
    assert companies(api, tree({"field": "_tags", "operator": "is_empty"})) == ["C"]
    assert companies(api, tree({"field": "_tags", "operator": "is_not_empty"})) == ["A", "B"]
    mixed = tree({"field": "_tags", "operator": "contains", "value": "east"},
                 {"field": "company", "operator": "equal", "value": "B"}, condition="AND")
    assert companies(api, mixed) == ["B"]
    assert [r["company"] for r in api.get("/records/lead?_tags__contains=vip").json["data"]] == ["A"]


def test_bad_tag_conditions_are_422_naming_the_problem(api, leads):
    for rule in ({"field": "_tags", "operator": "equal", "value": "vip"},
                 {"field": "_tags", "operator": "greater", "value": "vip"},
                 {"field": "_tags", "operator": "contains", "value": ["vip"]},
                 {"field": "_tags", "operator": "contains", "value": ""},
                 {"field": "_tags", "operator": "in", "value": []}):
        answer = api.get("/records/lead", query_string={"filter": json.dumps(tree(rule))})
        assert answer.status_code == 422, rule
        assert "_tags" in answer.json["error"]["message"]
    assert api.get("/records/lead?sort=_tags").status_code == 422


def test_saved_view_and_report_by_tag(api, leads):
    view = api.post("/views", json={"object": "lead", "name": "VIPs", "condition": tree(
        {"field": "_tags", "operator": "contains", "value": "vip"})})
    assert view.status_code == 201, view.json
    assert [r["company"] for r in api.get(f"/records/lead?view={view.json['id']}").json["data"]] == ["A"]
    report = api.post("/reports", json={"name": "east", "object": "lead", "condition": tree(
        {"field": "_tags", "operator": "contains", "value": "east"})})
    assert report.status_code == 201, report.json
    ran = api.get(f"/reports/{report.json['id']}/run")
    assert ran.status_code == 200, ran.json
    assert ran.json["rows"] == [[2]]
    grouped = api.post("/reports", json={"name": "g", "object": "lead", "group_by": [{"field": "_tags"}]})
    assert grouped.status_code == 422


def test_rule_fires_only_for_tagged_records(api, leads):
    made = api.post("/rules", json={
        "name": "vip is high", "object": "lead", "trigger": {"type": "on_update"},
        "condition": '"vip" in _tags', "actions": [{"type": "set_field", "field": "priority", "value": "high"}]})
    assert made.status_code == 201, made.json
    for company in ("A", "B", "C"):
        assert api.patch(f"/records/lead/{leads[company]}", json={"company": company + "!"}).status_code == 200
    assert {c: api.get(f"/records/lead/{i}").json["priority"] for c, i in leads.items()} == \
        {"A": "high", "B": None, "C": None}
    tested = api.post(f"/rules/{made.json['id']}/test", json={"record_id": leads["B"]})
    assert tested.status_code == 200 and tested.json["matched"] is False
    assert api.post(f"/rules/{made.json['id']}/test", json={"record_id": leads["A"]}).json["matched"] is True
    bad = api.post("/rules", json={"name": "x", "object": "lead", "trigger": {"type": "on_update"},
                                   "condition": '_tags == "vip"', "actions": []})
    assert bad.status_code == 422


def test_expression_round_trip_and_predicate():
    refs = {"_tags": FieldRef("_tags", "tags", _tag_value), "company": FieldRef("company", "text", str)}
    text = '("vip" in _tags and _tags not in ("a", "b")) or is_empty(_tags)'
    parsed = parse_expression(text, refs)
    assert render(parsed) == text and parse_expression(render(parsed), refs) == parsed
    assert parse_expression('"vip" not in _tags', refs)["rules"][0]["operator"] == "not_contains"
    predicate = compile_predicate(parsed, refs)
    assert predicate({"_tags": ["vip"]}) and not predicate({"_tags": ["vip", "a"]}) and predicate({})


def test_approval_entry_condition_on_tags(api, leads):
    boss = api.post("/users", json={"email": "boss@x.com", "password": "password-1", "roles": ["admin"]}).json
    process = api.post("/approval-processes", json={
        "name": "vip review", "object": "lead", "entry_condition": '"vip" in _tags',
        "steps": [{"name": "boss", "approvers": {"type": "user", "value": boss["id"]}, "mode": "any"}]})
    assert process.status_code == 201, process.json
    refused = api.post(f"/records/lead/{leads['B']}/submit", json={"process": "vip review"})
    assert refused.status_code == 422 and '"vip" in _tags' in refused.json["error"]["message"]
    accepted = api.post(f"/records/lead/{leads['A']}/submit", json={"process": "vip review"})
    assert accepted.status_code in (200, 201), accepted.json
    assert accepted.json["status"] == "pending"
