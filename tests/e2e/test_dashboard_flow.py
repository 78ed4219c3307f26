"""A user builds a dashboard from saved and pipeline reports, opens it, and downloads a widget's CSV."""

from __future__ import annotations

from .conftest import add_user, login, on_phone, shot, switch_language
from .test_user_flow import setup_sales


def add_reports(tenant):
    from crm_platform.core.permissions import access_policy
    from crm_platform.core.session import Actor, tenant_session
    from metadata import RecordService
    from metadata.reports import create_report

    with tenant_session(tenant["platform"], tenant["slug"], Actor(tenant["admin_id"], "a", ("admin",))) as session:
        service = RecordService(session)
        for deal, stages in ((1, ["proposal", "won"]), (3, ["proposal", "lost"]), (4, ["won"])):
            for stage in stages:
                service.update("deal", deal, {"stage": stage, "close_date": "2026-11-20"})
        policy = access_policy(session)
        create_report(session, policy, {"name": "Pipeline by region", "object": "deal", "chart": "bar", "shared": True,
                                        "group_by": [{"field": "region"}],
                                        "aggregates": [{"fn": "sum", "field": "amount"}, {"fn": "count"}]})
        create_report(session, policy, {"name": "Deals by stage", "object": "deal", "chart": "table", "shared": True,
                                        "group_by": [{"field": "stage"}], "aggregates": [{"fn": "count"}]})


def add_widget(page, report_text, title="", chart="", width="1"):
    page.click("[data-add-widget]")
    row = page.locator("[data-widget-row]").last
    row.locator("[data-widget-report]").select_option(label=report_text)
    if title:
        row.locator("[data-widget-title]").fill(title)
    if chart:
        row.locator("[data-widget-chart]").select_option(chart)
    row.locator("[data-widget-width]").select_option(width)


def test_build_and_open_a_dashboard(page, browser, e2e_tenant):
    setup_sales(e2e_tenant)
    add_reports(e2e_tenant)
    login(page, e2e_tenant)
    url = e2e_tenant["url"]
    page.click("nav >> text=Dashboards")
    page.wait_for_selector(".crm-empty")
    page.click("[data-new-dashboard]")

    page.fill("#d-name", "Sales overview")
    page.fill("#label_en", "Sales overview")
    page.fill("#label_zh", "销售概览")
    page.check("#d-shared")
    add_widget(page, "Deals by stage (Deal)", width="1")
    add_widget(page, "Pipeline by region (Deal)", title="Amount by region", width="2")
    add_widget(page, "Funnel: Deal", chart="funnel", width="1")
    add_widget(page, "Won and lost: Deal", width="2")
    add_widget(page, "Funnel: Deal")
    # Reorder: the region chart first; remove the duplicate funnel.
    page.locator("[data-widget-row]").nth(1).locator("[data-move=up]").click()
    page.locator("[data-widget-row]").last.locator("[data-remove-widget]").click()
    assert page.locator("[data-widget-row]").count() == 4
    shot(page, "dashboard-editor")
    page.click("[data-save-dashboard]")

    page.wait_for_selector(".alert-success")
    page.wait_for_selector("canvas[data-drawn]")
    assert page.locator("[data-widget]").count() == 4
    assert page.locator("[data-widget]").first.locator("h2").inner_text() == "Amount by region"
    assert page.locator("canvas[data-drawn]").count() == 3
    assert page.locator("[data-widget] table").count() == 1
    for index in range(3):
        box = page.locator("canvas[data-drawn]").nth(index).bounding_box()
        assert box["width"] > 200 and box["height"] > 150
    # The chart really drew something: its canvas is not blank.
    painted = page.evaluate("""() => { const c = document.querySelector('canvas[data-drawn]');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; } return n; }""")
    assert painted > 1000
    wide = page.locator("[data-widget]").first.bounding_box()["width"]
    narrow = page.locator("[data-widget]").nth(1).bounding_box()["width"]
    assert wide > 1.8 * narrow
    shot(page, "dashboard")

    with page.expect_download() as download:
        page.locator("[data-widget]").first.locator("[data-csv]").click()
    lines = open(download.value.path(), encoding="utf-8-sig").read().splitlines()
    assert lines[0] == "region,sum(amount),count" and lines[1].startswith("east,")

    phone = on_phone(browser, page)
    phone.goto(page.url)
    phone.wait_for_selector("canvas[data-drawn]")
    boxes = [phone.locator("[data-widget]").nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["width"] - boxes[1]["width"]) < 2  # one column on a phone
    shot(phone, "phone-dashboard", full_page=False)
    shot(phone, "phone-dashboard-full")
    phone.goto(page.url.rstrip("/") + "/edit/")
    shot(phone, "phone-dashboard-editor", full_page=False)
    phone.context.close()

    switch_language(page, "zh")
    page.goto(url + "/admin/dashboards/")
    assert page.locator("[data-dashboards] >> text=销售概览").count() == 1
    page.click("text=销售概览")
    page.wait_for_selector("canvas[data-drawn]")
    shot(page, "zh-dashboard")


def test_a_reader_without_access_sees_placeholders(page, browser, e2e_tenant):
    from crm_platform.core.roles import put_role
    from crm_platform.core.session import Actor, tenant_session
    from metadata.dashboards import create_dashboard

    setup_sales(e2e_tenant)
    add_reports(e2e_tenant)
    with tenant_session(e2e_tenant["platform"], e2e_tenant["slug"],
                        Actor(e2e_tenant["admin_id"], "a", ("admin",))) as session:
        put_role(session, {"name": "viewer", "permissions": {"account": {"read": "all"}}})
        create_dashboard(session, {"name": "Team", "shared": True, "widgets": [
            {"report": 1, "width": 2}, {"report": {"builtin": "funnel", "object": "deal"}}]})
    add_user(e2e_tenant, "viewer@example.com", ["viewer"], name="Vic Viewer")
    login(page, e2e_tenant, "viewer@example.com")
    page.click("nav >> text=Dashboards")
    page.click("text=Team")
    page.wait_for_selector("[data-widget-error]")
    assert page.locator("[data-widget-error=forbidden]").count() == 2
    assert page.locator("canvas").count() == 0 and page.locator("[data-csv]").count() == 0
    shot(page, "dashboard-placeholders")
