"""Record errors in the user's language: the form's inline errors, bulk-edit refusals, the board,
stale versions and login refusals, rendered from the record service's codes (in Chinese here)."""

from __future__ import annotations

import json

import pytest

from admin.filters import querybuilder_filters

from .conftest import PASSWORD

CONTACT = {
    "name": "contact", "label": {"en": "Contact", "zh": "联系人"}, "title_field": "full_name",
    "fields": [
        {"name": "full_name", "type": "text", "required": True, "label": {"en": "Full name", "zh": "姓名"}},
        {"name": "email", "type": "email", "unique": True, "label": {"en": "E-mail", "zh": "邮箱"}},
        {"name": "phone", "type": "phone", "label": {"en": "Phone", "zh": "电话"}},
        {"name": "site", "type": "url", "label": {"en": "Website", "zh": "网站"}},
        {"name": "code", "type": "text", "max_length": 5, "pattern": "^[A-Z]+$", "label": {"en": "Code", "zh": "代码"}},
        {"name": "seats", "type": "integer", "min": 1, "max": 10, "label": {"en": "Seats", "zh": "座位"}},
        {"name": "born", "type": "date", "label": {"en": "Born", "zh": "生日"}},
    ],
}


@pytest.fixture
def zh(ui, sales):
    assert sales.api.post("/objects", json=CONTACT).status_code == 201
    ui.post("/lang/zh", {"next": "/admin/"})
    return ui


def page_of(response) -> str:
    return response.get_data(as_text=True)


def test_inline_field_errors_are_chinese(zh):
    response = zh.post("/admin/records/contact/new/", {
        "full_name": "", "email": "not-an-address", "phone": "12", "site": "nowhere", "code": "abcdefg",
        "seats": "11", "born": "someday"})
    page = page_of(response)
    assert response.status_code == 422
    for text in ("不是有效的邮箱地址。", "不是有效的电话号码。", "不是有效的网址。", "最多 5 个字符。",
                 "不符合格式 ^[A-Z]+$。", "必须在 1 和 10 之间。", "不是有效的日期。", "必填。"):
        assert text in page, text
    for english in ("Not a valid", "Longer than", "Must be greater"):
        assert english not in page


def test_lookup_target_missing_and_number_errors_are_chinese(zh):
    page = page_of(zh.post("/admin/records/deal/new/", {"name": "大单", "amount": "-5"}))
    assert "不能小于 0。" in page
    page = page_of(zh.post("/admin/records/deal/new/", {"name": "大单", "account": "999"}))
    assert "客户 #999 不存在。" in page
    page = page_of(zh.post("/admin/records/deal/new/", {"name": "大单", "amount": "很多"}))
    assert "不是数字。" in page


def test_unique_value_taken_is_chinese(zh, sales):
    sales.api.post("/records/contact", json={"full_name": "张三", "email": "zhang@example.com"})
    response = zh.post("/admin/records/contact/new/", {"full_name": "李四", "email": "zhang@example.com"})
    page = page_of(response)
    assert response.status_code == 409
    assert "邮箱 必须唯一：zhang@example.com 已被联系人 #1 使用。" in page and "已被联系人 #1 使用。" in page


def test_stale_version_is_chinese(zh, sales):
    deal = sales.api.post("/records/deal", json={"name": "旧单"}).get_json()
    sales.api.patch(f"/records/deal/{deal['id']}", json={"name": "新单"})
    response = zh.post(f"/admin/records/deal/{deal['id']}/edit/", {"name": "我的", "version": "1"})
    assert response.status_code == 409
    assert "该商机已被他人修改（当前版本 2，您的版本 1），请刷新后重试。" in page_of(response)


def test_board_move_missing_stage_fields_is_chinese(zh, sales):
    deal = sales.api.post("/records/deal", json={"name": "看板单"}).get_json()
    response = zh.post_json(f"/admin/records/deal/{deal['id']}/stage/", {"stage": "proposal"})
    error = response.get_json()["error"]
    assert response.status_code == 422 and error["missing"] == ["金额", "预计成交日期"]
    assert "阶段：阶段 方案 需要填写：金额、预计成交日期。" in error["message"]
    assert "；金额：进入阶段 方案 前必须填写。" in error["message"] and ": " not in error["message"]


def test_bulk_edit_refusals_are_chinese_and_titled(zh, sales):
    sales.api.post("/records/contact", json={"full_name": "王五", "email": "wang@example.com"})
    sales.api.post("/records/contact", json={"full_name": "赵六"})
    response = zh.post("/admin/records/contact/bulk/", {"ids": ["1", "2"], "action": "update", "field": "seats",
                                                        "value": "50"}, follow_redirects=True)
    page = page_of(response)
    assert "未修改：" in page
    for record_id, title in ((1, "王五"), (2, "赵六")):
        assert (f'<a href="/admin/records/contact/{record_id}/" class="alert-link" data-refused="{record_id}">'
                f"{title}</a>：座位：必须在 1 和 10 之间。") in page
    assert "</a>: " not in page


def test_locked_record_in_bulk_edit_is_chinese(zh, sales):
    process = {"name": "big", "object": "deal", "entry_condition": None,
               "steps": [{"name": "boss", "approvers": {"type": "user", "value": sales.admin_id}}]}
    assert sales.api.post("/approval-processes", json=process).status_code == 201
    deal = sales.api.post("/records/deal", json={"name": "审批单"}).get_json()
    assert sales.api.post(f"/records/deal/{deal['id']}/submit", json={"process": "big"}).status_code in (200, 201)
    page = page_of(zh.post("/admin/records/deal/bulk/", {"ids": [str(deal["id"])], "action": "update",
                                                         "field": "region", "value": "east"}, follow_redirects=True))
    assert "审批单</a>：已锁定：正在big中等待审批（步骤 boss）" in page


def test_login_refusal_is_chinese(client, tenant):
    page = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"tenant": tenant.slug, "email": "admin@example.com",
                                           "password": PASSWORD + "x", "csrf_token": token},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401 and "邮箱或密码错误" in response.get_data(as_text=True)


def test_an_uncoded_message_is_shown_as_it_came(zh):
    from crm_platform.core.errors import ValidationError

    from admin.messages import Context, error_message

    with zh.client.application.test_request_context():
        assert error_message(ValidationError("plain words", {"x": ["why"]}), Context()) == "plain words"


def test_filter_builder_offers_tags_in_chinese(zh):
    page = page_of(zh.get("/admin/records/deal/"))
    filters = json.loads(page.split('data-filters="')[1].split('"')[0].replace("&#34;", '"').replace("&quot;", '"'))
    tags = next(f for f in filters if f["id"] == "_tags")
    assert tags["label"] == "标签" and tags["operators"] == ["contains", "not_contains", "in", "not_in", "is_empty",
                                                             "is_not_empty"]


def test_list_filters_by_tags(zh, sales):
    for name in ("甲", "乙"):
        sales.api.post("/records/deal", json={"name": name})
    sales.api.post("/records/deal/1/tags", json={"tags": ["vip"]})
    tree = {"condition": "AND", "rules": [{"field": "_tags", "operator": "contains", "value": "vip"}]}
    page = page_of(zh.get("/admin/records/deal/?filter=" + json.dumps(tree)))
    assert ">甲<" in page and ">乙<" not in page
    tree["rules"][0]["operator"] = "not_contains"
    page = page_of(zh.get("/admin/records/deal/?filter=" + json.dumps(tree)))
    assert ">甲<" not in page and ">乙<" in page


def test_rule_builder_offers_tags_without_change_operators(sales):
    from crm_platform.core.session import Actor, tenant_session
    from metadata import load_model

    with tenant_session(sales.platform, sales.slug, Actor.system()) as session:
        from crm_platform.core.permissions import access_policy

        model = load_model(session).object("deal")
        filters = querybuilder_filters(model, access_policy(session), workflow=True)
    tags = next(f for f in filters if f["id"] == "_tags")
    assert "changed" not in tags["operators"]
    assert "changed" in next(f for f in filters if f["id"] == "amount")["operators"]


def test_every_code_the_record_service_raises_has_a_message():
    """A new code without a catalogue entry would show English in the Chinese UI."""
    import re
    from pathlib import Path

    import metadata
    import workflow_engine
    from admin.messages import FIELD_MESSAGES, REASONS
    from metadata.field_errors import KEY_CODES

    root = Path(metadata.__file__).parent
    sources = [root / "records.py", root / "field_types.py", Path(workflow_engine.__file__).parent / "approvals.py"]
    text = "\n".join(p.read_text() for p in sources)
    field_codes = set(re.findall(r'problem\("(\w+)"', text))
    field_codes |= set(re.findall(r'(?:errors|denied)\.add\((?:(?!\n\s*\n|\*\*).)*?"([a-z_]+)"(?=\s*(?:,\s*\w+=|\)))', text, re.DOTALL))
    field_codes |= set(re.findall(r'invalid_code = "(\w+)"', text)) | set(re.findall(r'recoded\([^"]*"(\w+)"', text))
    field_codes |= set(KEY_CODES.values()) - {"invalid"}
    reasons = set(re.findall(r'reason="(\w+)"', text)) - {"invalid_record"}
    assert field_codes and reasons
    assert not field_codes - set(FIELD_MESSAGES), field_codes - set(FIELD_MESSAGES)
    assert not reasons - set(REASONS), reasons - set(REASONS)
