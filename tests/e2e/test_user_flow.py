"""An end user works in the generated views: creates records (one rejected entry first), searches a
lookup as they type, filters the list, moves a card on the kanban board (a refused move names the
missing fields), and reads the record's timeline."""

from __future__ import annotations

from tests.admin.conftest import DEAL_MODEL

from .conftest import add_filter_rule, add_user, drag, login, on_phone, records, seed, shot


def setup_sales(tenant):
    seed(tenant, DEAL_MODEL)
    from crm_platform.core.session import Actor, tenant_session
    from metadata import RecordService

    with tenant_session(tenant["platform"], tenant["slug"], Actor(tenant["admin_id"], "a", ("admin",))) as session:
        service = RecordService(session)
        for name in ("Acme Trading", "Acorn Foods", "Blue Harbor Bank"):
            service.create("account", {"name": name, "phone": "+86 21 5555 0100"})
        for i, (name, amount, region) in enumerate([("Campus network", 182000, "east"), ("Library system", 56000, "north"),
                                                     ("Student portal", 98000, "east"), ("Lab equipment", 23500, "north")]):
            service.create("deal", {"name": name, "amount": amount, "region": region, "account": 1 + i % 3,
                                    "close_date": "2026-12-15" if i % 2 else None, "notes": "Decision maker: the CIO."})
        service.update("deal", 2, {"stage": "proposal"})


def test_end_user_creates_records_and_moves_a_card(page, browser, e2e_tenant):
    setup_sales(e2e_tenant)
    add_user(e2e_tenant, "rep@example.com", ["admin"], name="Ray Rep")
    login(page, e2e_tenant, "rep@example.com")
    url = e2e_tenant["url"]
    page.click("nav >> text=Deals")
    page.wait_for_selector("table.crm-table")
    shot(page, "list")

    # A rejected entry: errors inline, by field.
    page.click("[data-new-record]")
    page.fill("[name=amount]", "-10")
    page.click("[data-save]")
    page.wait_for_selector("[data-form-errors]")
    assert page.locator("[data-error-for=name]").count() == 1
    assert page.locator("[data-error-for=amount]").count() == 1
    shot(page, "form-errors")

    # Then a good one, with the account found by typing.
    page.fill("[name=name]", "Dormitory Wi-Fi")
    page.fill("[name=amount]", "45000")
    page.select_option("[name=region]", "east")
    page.click("[data-field=account] .ts-control")
    page.keyboard.type("aco")
    page.click(".ts-dropdown .option:has-text('Acorn Foods')")
    page.fill("[name=notes]", "Two buildings.\nSurvey in May.")
    page.click("[data-save]")
    page.wait_for_selector("[data-timeline]")
    created = [r for r in records(e2e_tenant, "deal") if r["name"] == "Dormitory Wi-Fi"][0]
    assert created["account"] == 2 and created["amount"] == 45000.0 and created["owner_id"] is not None
    shot(page, "record")

    # Visual filter: amount greater than 50,000.
    page.goto(url + "/admin/records/deal/")
    add_filter_rule(page, "amount", "greater", "50000")
    shot(page, "list-filters")
    page.click("[data-apply-filter]")
    page.wait_for_load_state()
    names = page.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(names) == ["Campus network", "Library system", "Student portal"]

    # Kanban: proposal needs amount and close date; "Campus network" has no close date.
    page.goto(url + "/admin/records/deal/board/")
    card = page.locator(".crm-board-card", has_text="Campus network")
    drag(page, card, page.locator("[data-stage=proposal] [data-cards]"))
    page.wait_for_selector(".toast.text-bg-danger")
    assert "Close date" in page.inner_text(".toast.text-bg-danger")
    assert page.locator("[data-stage=qualify] .crm-board-card", has_text="Campus network").count() == 1
    shot(page, "board-refused")
    page.locator(".toast .btn-close").first.click()

    card = page.locator(".crm-board-card", has_text="Library system")
    assert page.locator("[data-stage=proposal] .crm-board-card", has_text="Library system").count() == 1
    drag(page, card, page.locator("[data-stage=won] [data-cards]"))
    page.wait_for_selector(".toast.text-bg-success")
    assert [r["stage"] for r in records(e2e_tenant, "deal") if r["name"] == "Library system"] == ["won"]
    shot(page, "board")

    # The record page shows the stage move on its timeline and the stage bar.
    page.goto(url + "/admin/records/deal/2/")
    assert "Moved from Proposal to Won" in page.inner_text("[data-timeline]")
    assert page.locator(".crm-path-current").inner_text().strip() == "Won"

    phone = on_phone(browser, page)
    for name, path in [("list", "/admin/records/deal/"), ("record", "/admin/records/deal/2/"),
                       ("board", "/admin/records/deal/board/"), ("form", "/admin/records/deal/new/"),
                       ("home", "/admin/")]:
        phone.goto(url + path)
        shot(phone, f"phone-{name}", full_page=False)
    phone.click(".navbar-toggler")
    phone.wait_for_selector("#crm-nav.show")
    shot(phone, "phone-menu", full_page=False)
    phone.context.close()


def test_bulk_edit_and_delete_in_the_browser(page, e2e_tenant):
    setup_sales(e2e_tenant)
    login(page, e2e_tenant)
    page.goto(e2e_tenant["url"] + "/admin/records/deal/?sort=name")
    page.locator("input[name=ids]").nth(0).check()
    page.locator("input[name=ids]").nth(1).check()
    assert page.is_visible("[data-bulkbar]")
    page.select_option("[data-bulkbar] select[name=field]", "region")
    page.select_option('[data-bulk-input="region"] select[name=value]', "north")
    shot(page, "list-bulk")
    page.click("[data-bulk-update]")
    page.wait_for_selector(".alert-success")
    assert {r["name"]: r["region"] for r in records(e2e_tenant, "deal")}["Campus network"] == "north"
    page.locator("input[name=ids]").nth(0).check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-bulk-delete]")
    page.wait_for_selector(".alert-success")
    assert len(records(e2e_tenant, "deal")) == 3
