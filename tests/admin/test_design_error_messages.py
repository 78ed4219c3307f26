"""Designer, list-filter and approval-inbox errors in the user's language (Chinese here), rendered
from the codes the layers below give them (that every code has a catalogue message is checked in
``test_error_catalogue``)."""

from __future__ import annotations

import json

import pytest

from .conftest import add_user, page_of


def test_reserved_object_name_is_chinese(zh):
    response = zh.post("/admin/design/objects/new/", {"label_en": "Bad", "name": "select"})
    page = page_of(response)
    assert response.status_code == 422
    assert "select 是保留字，请换一个名称。" in page and "reserved word" not in page


def test_invalid_identifiers_are_chinese(zh, sales):
    page = page_of(zh.post("/admin/design/objects/new/", {"label_en": "Bad", "name": "Bad-Name"}))
    assert "Bad-Name 不是有效的名称：请使用小写字母、数字和 _，以字母开头" in page and "does not match" not in page
    page = page_of(zh.post("/admin/design/objects/deal/fields/new/?type=text", {"name": "9x", "type": "text",
                                                                                "label_en": "Nine"}))
    assert "9x 不是有效的名称" in page
    body = sales.api.post("/objects", json={"name": "Bad-Name", "label": "x"}).get_json()["error"]
    assert body["details"] == {"name": ["'Bad-Name' does not match '^[a-z][a-z0-9_]{0,58}$'"]}
    assert body["problems"] == {"name": [{"code": "invalid_name", "params": {"name": "Bad-Name"}}]}


def test_existing_object_and_field_names_are_chinese(zh):
    page = page_of(zh.post("/admin/design/objects/new/", {"label_en": "Again", "name": "deal"}))
    assert "名为 商机 的对象已存在。" in page and "already exists" not in page
    response = zh.post("/admin/design/objects/deal/fields/new/?type=text", {"name": "amount", "type": "text",
                                                                            "label_en": "Twice"})
    page = page_of(response)
    assert response.status_code == 422 and "商机 已有名为 金额 的字段。" in page and "已存在。" in page


def test_system_field_name_is_chinese(zh):
    page = page_of(zh.post("/admin/design/objects/deal/fields/new/?type=text", {"name": "owner_id", "type": "text",
                                                                                "label_en": "Owner"}))
    assert "owner_id 是系统字段，请换一个名称。" in page


def test_bad_formula_is_chinese(zh, sales):
    response = zh.post("/admin/design/objects/deal/fields/new/?type=formula", {
        "name": "bad", "type": "formula", "label_en": "Bad", "expression": "nosuchfield * 2",
        "result_type": "decimal"})
    assert response.status_code == 422 and "公式无效：" in page_of(response) and "nosuchfield" in page_of(response)


def test_type_change_refused_names_the_offending_records_in_chinese(zh, sales):
    sales.api.post("/records/deal", json={"name": "甲", "notes": "很多"})
    sales.api.post("/records/deal", json={"name": "乙", "notes": "12"})
    response = zh.post("/admin/design/objects/deal/fields/notes/", {"name": "notes", "type": "integer",
                                                                    "label_en": "Notes", "label_zh": "备注"})
    page = page_of(response)
    assert response.status_code == 422 and "existing values do not convert" not in page
    assert "备注 不能改为整数：1 条记录的值无法转换（记录 1）。" in page
    assert sales.api.get("/objects/deal/fields/notes").get_json()["type"] == "textarea"


def test_making_a_field_required_with_empty_records_is_chinese(zh, sales):
    sales.api.post("/records/deal", json={"name": "空"})
    page = page_of(zh.post("/admin/design/objects/deal/fields/region/", {
        "name": "region", "type": "picklist", "label_en": "Region", "label_zh": "区域", "required": "1",
        "options_json": json.dumps([{"value": "east"}, {"value": "north"}])}))
    assert "不能将 区域 设为必填：1 条记录没有值（记录 1）。" in page


def test_deleting_an_object_lookups_point_at_is_chinese(zh, sales):
    page = page_of(zh.post("/admin/design/objects/account/delete/", {"confirm_name": "account"},
                           follow_redirects=True))
    assert "不能删除 客户：它仍被 查找字段 商机.客户 引用。" in page
    assert sales.api.get("/objects/account").status_code == 200


def test_pipeline_stage_holding_records_is_chinese(zh, sales):
    sales.api.post("/records/deal", json={"name": "阶段单"})
    stages = [{"name": "won", "label": "Won", "probability": 100, "category": "won"}]
    page = page_of(zh.post("/admin/design/objects/deal/pipeline/", {"pipeline_json": json.dumps({"stages": stages})}))
    assert "这些阶段仍有记录：资格确认；请先移走这些记录。" in page


def test_the_api_keeps_its_error_and_adds_the_reason(sales):
    body = sales.api.post("/objects/deal/fields", json={"name": "amount", "type": "text"}).get_json()["error"]
    assert body["code"] == "conflict" and body["message"] == "field 'amount' already exists on deal"
    assert body["details"] == {"name": ["already exists"]}
    assert body["reason"] == "field_exists" and body["params"] == {"field": "amount", "object": "deal"}


def test_list_filter_errors_are_chinese(zh, sales):
    tree = {"condition": "AND", "rules": [{"field": "amount", "operator": "wat", "value": 1},
                                          {"field": "region", "operator": "less", "value": "east"},
                                          {"field": "nosuch", "operator": "equal", "value": "x"}]}
    page = page_of(zh.get("/admin/records/deal/?filter=" + json.dumps(tree)))
    assert "金额：未知的运算符 wat。；区域：该字段不能使用运算符 less。；没有可用于筛选的字段 nosuch。" in page
    assert "unknown operator" not in page
    assert "无法读取筛选条件（不是有效的 JSON）。" in page_of(zh.get("/admin/records/deal/?filter={"))


def test_query_string_filter_errors_are_coded_in_the_api(sales):
    body = sales.api.get("/records/deal?nosuch=1&amount__about=2").get_json()["error"]
    assert body["details"]["nosuch"] == ["unknown filter field 'nosuch'"]
    assert body["problems"]["nosuch"] == [{"code": "unknown_filter_field", "params": {"field": "nosuch"}}]
    assert body["problems"]["amount__about"][0]["code"] == "unknown_filter_suffix"


@pytest.fixture
def request_id(sales, zh):
    add_user(sales, "boss@example.com", ["admin"])
    process = {"name": "big", "object": "deal",
               "steps": [{"name": "boss", "approvers": {"type": "user", "value": "boss@example.com"}}]}
    assert sales.api.post("/approval-processes", json=process).status_code == 201
    deal = sales.api.post("/records/deal", json={"name": "审批单"}).get_json()
    assert zh.post(f"/admin/approvals/submit/deal/{deal['id']}/", {"process": "big"}).status_code == 302
    return sales.api.get("/approvals").get_json()["data"][0]["id"]


def test_inbox_refusals_are_chinese(zh, sales, user_client, request_id):
    page = page_of(zh.post(f"/admin/approvals/{request_id}/approve/", {"comment": ""}, follow_redirects=True))
    assert f"您不是审批请求 {request_id}（步骤 boss）的审批人。" in page
    page = page_of(zh.post(f"/admin/approvals/submit/deal/1/", {"process": "big"}, follow_redirects=True))
    assert "该商机已在big中等待审批。" in page
    boss = user_client(sales, "boss@example.com")
    boss.post("/lang/zh", {"next": "/admin/"})
    assert boss.post(f"/admin/approvals/{request_id}/approve/", {"comment": ""}).status_code == 302
    page = page_of(boss.post(f"/admin/approvals/{request_id}/reject/", {"comment": ""}, follow_redirects=True))
    assert f"审批请求 {request_id} 已批准。" in page


def test_list_sort_errors_are_chinese(zh, sales):
    assert sales.api.post("/objects/deal/fields", json={
        "name": "tags_field", "type": "multi_picklist", "options": [{"value": "a"}, {"value": "b"}],
        "label": {"en": "Labels", "zh": "多标签"}}).status_code == 201
    page = page_of(zh.get("/admin/records/deal/?sort=nope"))
    assert "没有可用于排序的字段 nope。" in page and "unknown sort field" not in page
    page = page_of(zh.get("/admin/records/deal/?sort=_tags,-tags_field"))
    assert "列表不能按 标签 排序。；多标签 是多选列表，列表不能按它排序。" in page
    assert "cannot sort" not in page and "sort:" not in page
    page = page_of(zh.get("/admin/records/deal/?per_page=0"))
    assert "每页记录数：必须在 1 和 500 之间。" in page


def test_sort_errors_are_coded_in_the_api(sales):
    body = sales.api.get("/records/deal?sort=nope,_tags").get_json()["error"]
    assert body["details"] == {"sort": ["unknown sort field 'nope'", "cannot sort by '_tags'"]}
    assert body["problems"] == {"sort": [{"code": "unknown_sort_field", "params": {"field": "nope"}},
                                         {"code": "not_sortable", "params": {"field": "_tags"}}]}
