"""An admin draws an approval process; a rep submits a record; the approver approves from the inbox."""

from __future__ import annotations

from tests.admin.conftest import DEAL_MODEL

from .conftest import add_user, login, on_phone, records, seed, shot


def test_approver_approves_from_the_inbox(page, browser, e2e_tenant):
    seed(e2e_tenant, DEAL_MODEL)
    add_user(e2e_tenant, "boss@example.com", ["admin"], name="Bo Boss")
    url = e2e_tenant["url"]
    login(page, e2e_tenant)

    # The admin designs the process: entry criteria, one step, an outcome.
    page.goto(url + "/admin/design/approval-processes/")
    page.click("[data-new-process]")
    page.wait_for_selector("#crm-process-condition .rule-container")
    page.select_option("[data-process-object]", "deal")
    page.wait_for_url(lambda target: target.endswith("object=deal"))
    page.wait_for_selector("#crm-process-condition .rule-container")
    page.fill("[data-process-name]", "discount")
    builder = page.locator("#crm-process-condition")
    rule = builder.locator(".rule-container").first
    rule.locator(".rule-filter-container select").select_option("amount")
    rule.locator(".rule-operator-container select").select_option("greater")
    rule.locator(".rule-value-container input").fill("1000")
    page.click("[data-add-step]")
    step = page.locator("[data-step]").first
    step.locator("[data-key=name]").fill("Sales director")
    step.locator("[data-key=type]").select_option("user")
    step.locator("[data-key=value]").select_option("boss@example.com")
    page.click("[data-add-outcome=on_approve]")
    outcome = page.locator("[data-outcome=on_approve] [data-outcome-row]").first
    outcome.locator("[data-key=field]").select_option("notes")
    outcome.locator("[data-key=value]").fill("Discount approved")
    page.wait_for_function("document.querySelector('[data-diagram] svg') !== null")
    shot(page, "approval-designer")
    page.click("[data-save-process]")
    page.wait_for_selector(".alert-success")

    # A record is submitted from its page.
    page.goto(url + "/admin/records/deal/new/")
    page.fill("[name=name]", "Enterprise licence")
    page.fill("[name=amount]", "48000")
    page.click("[data-save]")
    page.wait_for_selector("[data-submit-approval]")
    page.click("[data-submit-approval]")
    page.fill("#crm-submit-comment", "Customer asks for 15% off")
    page.click(".crm-dropdown-form button[type=submit]")
    page.wait_for_selector(".alert-success")

    # The approver signs in, sees it in the inbox with the record summary, approves with a comment.
    boss = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US").new_page()
    login(boss, e2e_tenant, "boss@example.com")
    assert boss.inner_text("[data-pending]") == "1"
    boss.click("nav >> text=Approvals")
    card = boss.locator("[data-request]").first
    assert "Enterprise licence" in card.inner_text() and "48,000.00" in card.inner_text()
    assert "Customer asks for 15% off" in card.inner_text()
    shot(boss, "inbox")
    phone = on_phone(browser, boss)
    phone.goto(url + "/admin/approvals/")
    shot(phone, "phone-inbox", full_page=False)
    phone.context.close()
    card.locator("textarea[name=comment]").fill("OK for this quarter")
    card.locator("[data-approve]").click()
    boss.wait_for_selector(".alert-success")
    assert boss.locator("[data-request]").count() == 0
    boss.click("text=History")
    boss.click("[data-request] h2 a")
    assert "OK for this quarter" in boss.inner_text("[data-approval-history]")
    shot(boss, "approval-history")
    assert records(e2e_tenant, "deal")[0]["notes"] == "Discount approved"
    boss.context.close()
