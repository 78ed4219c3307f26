"""The same flow in Simplified Chinese: UI labels from the catalogue, object and field labels from
the metadata's ``zh`` labels, validation messages translated."""

from __future__ import annotations

from .conftest import drag, login, on_phone, records, shot, switch_language
from .test_user_flow import setup_sales


def test_chinese_ui_renders_the_same_flow(page, browser, e2e_tenant):
    setup_sales(e2e_tenant)
    url = e2e_tenant["url"]
    page.goto(url + "/login")
    page.click("button[data-lang=zh]")
    assert page.inner_text("h1") == "登录"
    login(page, e2e_tenant)
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "首页" in page.inner_text("nav") and "商机" in page.inner_text("nav")
    shot(page, "zh-home")

    page.click("nav >> text=商机")
    page.wait_for_selector("table.crm-table")
    head = page.inner_text("thead")
    assert "商机名称" in head and "金额" in head and "区域" in head
    assert "华东" in page.inner_text("tbody")
    shot(page, "zh-list")

    page.click("[data-new-record]")
    page.fill("[name=amount]", "-1")
    page.click("[data-save]")
    page.wait_for_selector("[data-form-errors]")
    assert "必填" in page.inner_text("[data-error-for=name]")
    assert "不能小于 0" in page.inner_text("[data-error-for=amount]")
    shot(page, "zh-form-errors")
    page.fill("[name=name]", "智慧校园")
    page.fill("[name=amount]", "300000")
    page.select_option("[name=region]", "north")
    page.click("[data-save]")
    page.wait_for_selector("[data-timeline]")
    assert "创建了记录" in page.inner_text("[data-timeline]") and "华北" in page.inner_text("main")
    shot(page, "zh-record")

    page.goto(url + "/admin/records/deal/board/")
    assert "资格确认" in page.inner_text("[data-board]")
    drag(page, page.locator(".crm-board-card", has_text="智慧校园"), page.locator("[data-stage=proposal] [data-cards]"))
    page.wait_for_selector(".toast.text-bg-danger")
    assert "预计成交日期" in page.inner_text(".toast.text-bg-danger")
    shot(page, "zh-board")
    assert [r["stage"] for r in records(e2e_tenant, "deal") if r["name"] == "智慧校园"] == ["qualify"]

    page.goto(url + "/admin/design/objects/deal/")
    assert "字段" in page.inner_text(".crm-designer-nav") and "销售管道" in page.inner_text(".crm-designer-nav")
    shot(page, "zh-designer")
    page.goto(url + "/admin/design/rules/new/?object=deal")
    page.wait_for_selector("#crm-rule-condition .rule-container")
    assert "添加规则" in page.inner_text("#crm-rule-condition")  # QueryBuilder's own zh-CN catalogue
    shot(page, "zh-rule-builder")

    phone = on_phone(browser, page)
    phone.goto(url + "/admin/records/deal/")
    shot(phone, "zh-phone-list", full_page=False)
    phone.goto(url + "/admin/records/deal/1/")
    shot(phone, "zh-phone-record", full_page=False)
    phone.context.close()

    switch_language(page, "en")
    assert page.get_attribute("html", "lang") == "en"
