"""A deletion refused while other definitions still refer to it names each of them in the user's
language (Chinese here): the kind translated, objects and fields by their labels; the API keeps its
English list and adds the references as coded problems."""

from __future__ import annotations

import pytest

from .conftest import add_user, page_of


@pytest.fixture
def referenced(sales):
    """deal.amount used by a formula, a rule and an approval process; deal.region by a dependent picklist."""
    for field in ({"name": "expected", "type": "formula", "expression": "amount * 2", "result_type": "decimal",
                   "label": {"en": "Expected", "zh": "预计金额"}},
                  {"name": "city", "type": "picklist", "options": [{"value": "sh"}], "label": {"en": "City", "zh": "城市"},
                   "depends_on": {"field": "region", "values": {"east": ["sh"]}}}):
        assert sales.api.post("/objects/deal/fields", json=field).status_code == 201
    rule = {"name": "hot", "object": "deal", "trigger": {"type": "on_create"},
            "condition": {"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 10}]},
            "actions": [{"type": "set_field", "field": "notes", "value": "hot"}]}
    assert sales.api.post("/rules", json=rule).status_code == 201
    add_user(sales, "boss@example.com", ["admin"])
    process = {"name": "big", "object": "deal", "entry_condition": "amount > 100",
               "steps": [{"name": "boss", "approvers": {"type": "user", "value": "boss@example.com"}}]}
    assert sales.api.post("/approval-processes", json=process).status_code == 201
    return sales


def test_deleting_a_field_names_its_references_in_chinese(zh, referenced):
    page = page_of(zh.post("/admin/design/objects/deal/fields/amount/delete/", follow_redirects=True))
    assert "不能删除 金额：它仍被 公式字段 商机.预计金额、规则 hot（ID 1）、审批流程 big（ID 1，版本 1） 引用。" in page
    for english in ("(formula)", "rule 'hot'", "approval process"):
        assert english not in page
    assert referenced.api.get("/objects/deal/fields/amount").status_code == 200


def test_deleting_a_controlling_picklist_names_the_dependent_one_in_chinese(zh, referenced):
    page = page_of(zh.post("/admin/design/objects/deal/fields/region/delete/", follow_redirects=True))
    assert "不能删除 区域：它仍被 依赖选项列表 商机.城市 引用。" in page and "depends on it" not in page


def test_deleting_an_object_names_lookups_rules_and_processes_in_chinese(zh, sales):
    rule = {"name": "greet", "object": "account", "trigger": {"type": "on_create"},
            "actions": [{"type": "set_field", "field": "name", "value": "A"}]}
    assert sales.api.post("/rules", json=rule).status_code == 201
    process = {"name": "vip", "object": "account",
               "steps": [{"name": "boss", "approvers": {"type": "user", "value": sales.admin_id}}]}
    assert sales.api.post("/approval-processes", json=process).status_code == 201
    page = page_of(zh.post("/admin/design/objects/account/delete/", {"confirm_name": "account"},
                           follow_redirects=True))
    assert "不能删除 客户：它仍被 查找字段 商机.客户、规则 greet（ID 1）、审批流程 vip（ID 1） 引用。" in page
    assert "approval process" not in page and "rule 'greet'" not in page


def test_the_english_ui_names_references_by_label_too(ui, referenced):
    page = page_of(ui.post("/admin/design/objects/deal/fields/amount/delete/", follow_redirects=True))
    assert ("Amount cannot be deleted: it is still referenced by the formula field Deal.Expected, the rule hot (id 1), "
            "the approval process big (id 1, version 1).") in page


def test_the_api_keeps_its_english_references_and_adds_them_coded(referenced):
    body = referenced.api.delete("/objects/deal/fields/amount").get_json()["error"]
    assert body["code"] == "referenced" and body["reason"] == "field_referenced"
    assert body["details"] == {"references": ["deal.expected (formula)", "rule 'hot' (id 1)",
                                              "approval process 'big' (id 1, version 1)"]}
    assert body["message"] == ("field deal.amount is still referenced by: deal.expected (formula), rule 'hot' (id 1), "
                               "approval process 'big' (id 1, version 1)")
    assert body["problems"] == {"references": [
        {"code": "formula_field", "params": {"object": "deal", "field": "expected"}},
        {"code": "rule", "params": {"name": "hot", "id": 1}},
        {"code": "approval_process_version", "params": {"name": "big", "id": 1, "version": 1}}]}
