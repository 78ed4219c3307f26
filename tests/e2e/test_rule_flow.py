"""An admin builds a rule in the visual builder (trigger, QueryBuilder condition, actions, live
diagram), and it fires when a user saves a record."""

from __future__ import annotations

from tests.admin.conftest import DEAL_MODEL

from .conftest import login, records, seed, shot


def test_admin_builds_a_rule_and_it_fires(page, e2e_tenant):
    seed(e2e_tenant, DEAL_MODEL)
    login(page, e2e_tenant)
    url = e2e_tenant["url"]
    page.goto(url + "/admin/design/objects/deal/")
    page.click(".crm-designer-nav >> text=Rules")
    page.click("[data-new-rule]")
    page.wait_for_selector("#crm-rule-condition .rule-container")
    page.fill("[data-rule-name]", "Large deals need a note")
    page.select_option("[data-trigger-type]", "on_create")

    builder = page.locator("#crm-rule-condition")
    rule = builder.locator(".rule-container").first
    rule.locator(".rule-filter-container select").select_option("amount")
    rule.locator(".rule-operator-container select").select_option("greater")
    rule.locator(".rule-value-container input").fill("100000")
    builder.locator("[data-add=rule]").first.click()
    second = builder.locator(".rule-container").nth(1)
    second.locator(".rule-filter-container select").select_option("region")
    second.locator(".rule-operator-container select").select_option("equal")
    second.locator(".rule-value-container select").select_option("east")

    page.click("[data-add-action]")
    page.click("[data-action-type=set_field]")
    action = page.locator("[data-action=set_field]")
    action.locator("[data-key=field]").select_option("notes")
    action.locator("[data-key=value]").fill("Escalate to the regional director")
    page.click("[data-add-action]")
    page.click("[data-action-type=add_tag]")
    page.locator("[data-action=add_tag] [data-key=tag]").fill("big")

    page.wait_for_function("document.querySelector('[data-diagram] svg') !== null")
    page.wait_for_timeout(300)
    source = page.inner_text("[data-diagram-source]") if page.locator("[data-diagram-source]").count() else ""
    diagram_text = page.inner_text("[data-diagram]")
    assert "Amount > 100000" in page.locator("[data-diagram-source]").text_content()
    assert "Set a field" in diagram_text or "Set a field" in source
    shot(page, "rule-builder")
    page.click("[data-save-rule]")
    page.wait_for_selector(".alert-success")
    assert page.locator("[data-problems]").count() == 0

    # A user saves a matching record in the form: the rule fires.
    page.goto(url + "/admin/records/deal/new/")
    page.fill("[name=name]", "Province-wide rollout")
    page.fill("[name=amount]", "250000")
    page.select_option("[name=region]", "east")
    page.click("[data-save]")
    page.wait_for_selector("[data-timeline]")
    page.goto(url + "/admin/records/deal/new/")
    page.fill("[name=name]", "Small pilot")
    page.fill("[name=amount]", "250000")
    page.select_option("[name=region]", "north")
    page.click("[data-save]")
    page.wait_for_selector("[data-timeline]")
    notes = {r["name"]: r["notes"] for r in records(e2e_tenant, "deal")}
    assert notes == {"Province-wide rollout": "Escalate to the regional director", "Small pilot": None}
    page.goto(url + "/admin/records/deal/1/")
    assert "Escalate to the regional director" in page.inner_text("main")
