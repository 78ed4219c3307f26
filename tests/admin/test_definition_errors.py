"""Definition problems in the designers and the rule builder in the user's language (Chinese here):
patterns, defaults, layouts, pipelines, rule conditions, actions and formulas, rendered from the
codes the layers below give them, with nothing of their English left."""

from __future__ import annotations

import html
import json
import re

import pytest


def problems_of(response) -> str:
    """The designer's problem list as the user reads it (tags dropped)."""
    page = html.unescape(response.get_data(as_text=True))
    found = re.search(r"<div class=\"alert alert-danger\" role=\"alert\" data-problems>(.*?)</div>", page, re.S)
    assert found, page[:3000]
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_bad_pattern_and_invalid_default_are_chinese(zh):
    response = zh.post("/admin/design/objects/deal/fields/new/?type=text", {
        "name": "sku", "type": "text", "label_en": "SKU", "pattern": "[a-"})
    text = problems_of(response)
    assert response.status_code == 422 and "pattern：[a- 不是有效的正则表达式。" in text
    assert "regular expression" not in text
    text = problems_of(zh.post("/admin/design/objects/deal/fields/new/?type=integer", {
        "name": "seats", "type": "integer", "label_en": "Seats", "default": "很多"}))
    assert "default：默认值 很多 不是此字段的有效值。" in text and "invalid default" not in text


def test_layout_problems_are_chinese(zh):
    text = problems_of(zh.post("/admin/design/objects/deal/layout/", {"layout_json": json.dumps(
        {"sections": [{"label": "Main", "columns": 9, "fields": ["name"]}]})}))
    assert "layouts.form.sections[0].columns：不能大于 4。" in text
    layout = {"sections": [{"label": "Main", "columns": 2, "fields": ["name", "nope", "amount", "amount"]}]}
    response = zh.post("/admin/design/objects/deal/layout/", {"layout_json": json.dumps(layout)})
    text = problems_of(response)
    assert response.status_code == 422
    assert "未知字段 nope。" in text and "金额 被放置了两次。" in text
    assert "placed twice" not in text and "unknown field" not in text


def test_pipeline_problems_are_chinese(zh):
    stages = [{"name": "open", "probability": 10, "category": "open", "required_fields": ["nope", "code"]},
              {"name": "open", "probability": 150, "category": "won"}]
    response = zh.post("/admin/design/objects/deal/pipeline/", {"pipeline_json": json.dumps({"stages": stages})})
    text = problems_of(response)
    assert response.status_code == 422 and "pipeline.stages[1].probability：不能大于 100。" in text, text
    stages[1]["probability"] = 100
    text = problems_of(zh.post("/admin/design/objects/deal/pipeline/", {"pipeline_json": json.dumps({"stages": stages})}))
    assert "阶段名称 open 被使用了两次。" in text and "未知字段 nope。" in text and "编号 由系统计算，阶段不能要求填写它。" in text
    assert "duplicate stage" not in text and "is computed" not in text


def test_rule_builder_problems_are_chinese(zh):
    rule = {"name": "Broken", "object": "deal", "trigger": {"type": "on_create"},
            "condition": {"condition": "AND", "rules": [{"field": "nosuch", "operator": "equal", "value": 1}]},
            "actions": [{"type": "set_field", "field": "nope", "value": 1},
                        {"type": "set_field", "field": "amount", "formula": "nosuch * 2"},
                        {"type": "set_field", "field": "region", "value": "south"},
                        {"type": "webhook", "url": "ftp://example.com/hook"},
                        {"type": "create_record", "object": "ghost", "values": {}}]}
    response = zh.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)})
    text = problems_of(response)
    assert response.status_code == 422
    for chinese in ("condition：没有可用于筛选的字段 nosuch。", "actions[0].value：商机没有可由规则设置的字段 nope。",
                    "actions[1].value：公式无效：未知字段 nosuch。", "actions[2].value：south 不是 区域 的有效值。",
                    "actions[3].url：Webhook 需要 http 或 https 网址，而不是 ftp://example.com/hook。",
                    "actions[4].object：未知对象 ghost。"):
        assert chinese in text, (chinese, text)
    for english in ("unknown", "not a valid", "webhook needs", "read-only"):
        assert english not in text


def test_rule_shape_and_trigger_problems_are_chinese(zh):
    rule = {"name": "", "object": "deal", "trigger": {"type": "on_field_change", "fields": ["nope"]},
            "actions": [{"type": "set_field", "field": "name", "value": "x"}]}
    text = problems_of(zh.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)}))
    assert "name：不能为空。" in text and "should be non-empty" not in text
    rule["name"] = "Trig"
    text = problems_of(zh.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)}))
    assert "trigger.fields：商机没有字段 nope。" in text
    rule["trigger"] = {"type": "on_create", "cron": "0 9 * * 1-5"}
    text = problems_of(zh.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)}))
    assert "trigger.cron：设置 cron 不适用于此触发条件。" in text
    assert "does not apply" not in text


def test_the_api_keeps_rule_messages_and_adds_codes(sales):
    rule = {"name": "R", "object": "deal", "trigger": {"type": "on_create"},
            "actions": [{"type": "webhook", "url": "ftp://x"}]}
    body = sales.api.post("/rules", json=rule).get_json()["error"]
    assert body["details"] == {"actions[0].url": ["a webhook needs an http(s) URL, not 'ftp://x'"]}
    assert body["problems"] == {"actions[0].url": [{"code": "webhook_url", "params": {"url": "ftp://x"}}]}


def test_condition_values_are_checked_in_chinese(zh):
    rule = {"name": "Values", "object": "deal", "trigger": {"type": "on_create"},
            "condition": {"condition": "AND", "rules": [
                {"field": "region", "operator": "equal", "value": "south"},
                {"field": "amount", "operator": "between", "value": [10, 1]},
                {"field": "name", "operator": "is_empty", "value": "x"}]},
            "actions": [{"type": "set_field", "field": "notes", "value": "x"}]}
    text = problems_of(zh.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)}))
    for chinese in ("区域：south 不是有效的值。", "金额：下限 10 大于上限 1。",
                    "商机名称：运算符 is_empty 不需要值。"):
        assert chinese in text, (chinese, text)
    assert "value" not in text and "bound" not in text


def test_approval_process_designer_problems_are_chinese(zh):
    process = {"name": "big", "object": "deal", "steps": [
        {"name": "boss", "mode": "quorum", "quorum": 3, "approvers": [{"type": "user", "value": "nobody@example.com"},
                                                                    {"type": "user", "value": "ghost@example.com"}]},
        {"name": "team", "approvers": {"type": "role", "value": "ghost"}},
        {"name": "boss", "approvers": {"type": "field", "value": "amount"}}],
        "on_approve": [{"type": "set_field", "field": "nope", "value": 1}]}
    response = zh.post("/admin/design/approval-processes/new/", {"process_json": json.dumps(process)})
    text = problems_of(response)
    for chinese in ("用户 nobody@example.com 不存在。", "未知角色 ghost。", "法定人数 3 需要至少同样多的审批人；此步骤只指定了 2 位。",
                    "有两个步骤都名为 boss。", "金额 是货币字段；审批人字段必须是用户字段。", "商机没有可由规则设置的字段 nope。"):
        assert chinese in text, (chinese, text)
    assert "no user" not in text and "unknown role" not in text and "two steps" not in text


def test_condition_expressions_are_checked_in_chinese(zh):
    process = {"name": "expr", "object": "deal", "entry_condition": "amount > ",
               "steps": [{"name": "boss", "condition": "nosuch > 1", "approvers": {"type": "manager"}},
                         {"name": "two", "condition": "amount < margin", "approvers": {"type": "manager"}}]}
    text = problems_of(zh.post("/admin/design/approval-processes/new/", {"process_json": json.dumps(process)}))
    assert "entry_condition：条件无效：第 " in text and "列语法错误。" in text
    for chinese in ("steps[0].condition：条件无效：没有可用于筛选的字段 nosuch。",
                    "steps[1].condition：条件无效：不支持比较两个字段。"):
        assert chinese in text, (chinese, text)
    assert "syntax" not in text and "supported" not in text
