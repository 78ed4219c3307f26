"""A user edits several records at once with a field-typed picker (one refused record is named),
and reads the money totals in the kanban column headers, which follow a moved card."""

from __future__ import annotations

from .conftest import add_user, bulk_set_amount, drag, login, on_phone, records, shot
from .test_user_flow import setup_sales


def test_bulk_edit_with_typed_pickers(page, browser, e2e_tenant):
    setup_sales(e2e_tenant)
    add_user(e2e_tenant, "rep@example.com", ["admin"], name="Ray Rep")
    login(page, e2e_tenant)
    page.goto(e2e_tenant["url"] + "/admin/records/deal/?sort=id")
    page.wait_for_selector("table.crm-table")
    boxes = page.locator('input[name="ids"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.wait_for_selector("[data-bulkbar]:not(.d-none)")

    # A picklist gets a select of its options, a date field a date input, a lookup a search.
    page.select_option("[data-bulk-field]", "region")
    assert page.locator('[data-bulk-input="region"] select').is_visible()
    page.select_option("[data-bulk-field]", "close_date")
    assert page.locator('[data-bulk-input="close_date"] input[type=date]').is_visible()
    assert page.locator('[data-bulk-input="region"]').is_hidden()
    page.select_option("[data-bulk-field]", "account")
    page.click('[data-bulk-input="account"] .ts-control')
    page.keyboard.type("blue")
    page.click(".ts-dropdown .option:has-text('Blue Harbor Bank')")
    shot(page, "bulk-edit")
    phone = on_phone(browser, page)
    phone.goto(page.url)
    phone.locator('input[name="ids"]').nth(0).check()
    phone.select_option("[data-bulk-field]", "region")
    shot(phone, "phone-bulk-edit")
    phone.context.close()
    page.click("[data-bulk-update]")
    page.wait_for_selector(".alert-success")
    assert [r["account"] for r in sorted(records(e2e_tenant, "deal"), key=lambda r: r["id"])][:2] == [3, 3]

    # A negative amount is refused per record, with the reason.
    alert = bulk_set_amount(page, [0], "-5")
    assert "Not changed:" in alert.inner_text()
    assert "Campus network: Amount: Must be at least 0." in alert.inner_text()
    assert alert.locator("a[data-refused='1']").get_attribute("href").endswith("/admin/records/deal/1/")
    shot(page, "bulk-edit-refused")


def test_board_totals_follow_a_moved_card(page, browser, e2e_tenant):
    setup_sales(e2e_tenant)
    login(page, e2e_tenant)
    page.goto(e2e_tenant["url"] + "/admin/records/deal/board/")
    page.wait_for_selector("[data-board]")
    qualify = page.locator('[data-stage=qualify] [data-total="amount"] [data-total-value]')
    proposal = page.locator('[data-stage=proposal] [data-total="amount"] [data-total-value]')
    assert qualify.inner_text() == "303,500.00" and proposal.inner_text() == "56,000.00"
    shot(page, "board-totals")
    drag(page, page.locator(".crm-board-card", has_text="Lab equipment"), page.locator("[data-stage=lost] [data-cards]"))
    page.wait_for_function("document.querySelector('[data-stage=lost] [data-count]').textContent === '1'")
    assert qualify.inner_text() == "280,000.00"
    assert page.locator('[data-stage=lost] [data-total="amount"] [data-total-value]').inner_text() == "23,500.00"
    page.reload()
    assert page.locator('[data-stage=lost] [data-total="amount"] [data-total-value]').inner_text() == "23,500.00"
    phone = on_phone(browser, page)
    phone.goto(page.url)
    phone.wait_for_selector("[data-board]")
    shot(phone, "phone-board-totals")
    phone.context.close()
