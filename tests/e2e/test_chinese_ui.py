"""The same flow in Simplified Chinese: UI labels from the catalogue, object and field labels from
the metadata's ``zh`` labels, validation messages translated (inline, in bulk-edit refusals), tags
offered by the visual filter."""

from __future__ import annotations

from .conftest import add_filter_rule, bulk_set_amount, drag, login, on_phone, records, shot, switch_language
from .test_user_flow import setup_sales


def tag_record(tenant, object_name, record_id, tag):
    from crm_platform.core.session import Actor, tenant_session
    from metadata.tags import add_tags

    with tenant_session(tenant["platform"], tenant["slug"], Actor(tenant["admin_id"], "a", ("admin",))) as session:
        add_tags(session, object_name, record_id, [tag])


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
    assert page.inner_text("[data-error-for=name]").strip() == "必填。"
    assert page.inner_text("[data-error-for=amount]").strip() == "不能小于 0。"
    assert "Must" not in page.inner_text("main") and "required" not in page.inner_text("main")
    shot(page, "zh-form-errors")
    page.fill("[name=name]", "智慧校园")
    page.fill("[name=amount]", "300000")
    page.select_option("[name=region]", "north")
    page.click("[data-save]")
    page.wait_for_selector("[data-timeline]")
    assert "创建了记录" in page.inner_text("[data-timeline]") and "华北" in page.inner_text("main")
    shot(page, "zh-record")

    # Bulk edit: each refused record named by its title, linked to it, the reason in Chinese.
    page.goto(url + "/admin/records/deal/?sort=id")
    alert = bulk_set_amount(page, [0, 1], "-5")
    assert "未修改：" in alert.inner_text()
    assert "Campus network：金额：不能小于 0。" in alert.inner_text()
    assert "Library system：金额：不能小于 0。" in alert.inner_text()
    shot(page, "zh-bulk-edit-refused")
    alert.locator("a[data-refused='2']").click()
    page.wait_for_selector("[data-timeline]")
    assert page.url.endswith("/admin/records/deal/2/")

    # The visual filter offers the record's tags.
    tag_record(e2e_tenant, "deal", 3, "重点")
    page.goto(url + "/admin/records/deal/")
    rule = add_filter_rule(page, "_tags", "contains", "重点")
    assert "标签" in rule.locator(".rule-filter-container select").inner_text()
    shot(page, "zh-list-tag-filter")
    page.click("[data-apply-filter]")
    page.wait_for_load_state()
    assert page.locator("tbody tr td:nth-child(2)").all_inner_texts() == ["Student portal"]

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
