"""An admin designs an object with fields, a layout and a pipeline, entirely in the browser."""

from __future__ import annotations

from .conftest import drag, login, records, shot


def test_admin_designs_an_object(page, e2e_tenant):
    url = e2e_tenant["url"]
    login(page, e2e_tenant)
    page.click("text=Setup")
    page.wait_for_load_state("load")
    page.click("[data-new-object]")
    page.wait_for_load_state("load")
    page.fill("#label_en", "Loan application")
    page.fill("#label_zh", "贷款申请")
    page.fill("#plural_en", "Loan applications")
    assert page.input_value("#name") == "loan_application"
    page.click("[data-create-object]")
    page.wait_for_url("**/design/objects/loan_application/")

    # A currency field.
    page.click("[data-new-field]")
    page.click("[data-type=currency]")
    page.wait_for_load_state("load")
    page.fill("#label_en", "Amount")
    page.fill("#label_zh", "金额")
    page.check("#required")
    page.fill("#min", "0")
    page.click("[data-save-field]")
    page.wait_for_url("**/design/objects/loan_application/")

    # A picklist with values, the last one dragged to the top.
    page.goto(url + "/admin/design/objects/loan_application/fields/new/?type=picklist")
    page.fill("#label_en", "Purpose")
    page.fill("#label_zh", "用途")
    rows = page.locator("[data-option]")
    for index, (value, en, zh) in enumerate([("home", "Home", "住房"), ("car", "Car", "汽车"), ("study", "Study", "教育")]):
        if index:
            page.click("[data-add-option]")
        row = rows.nth(index)
        row.locator("[data-key=value]").fill(value)
        row.locator("[data-key=en]").fill(en)
        row.locator("[data-key=zh]").fill(zh)
    drag(page, rows.nth(2).locator(".crm-drag"), rows.nth(0))
    assert [rows.nth(i).locator("[data-key=value]").input_value() for i in range(3)][0] == "study"
    shot(page, "designer-field-picklist")
    page.click("[data-save-field]")
    page.wait_for_url("**/design/objects/loan_application/")

    # A formula, previewed live, first with an error.
    page.goto(url + "/admin/design/objects/loan_application/fields/new/?type=formula")
    page.fill("#label_en", "Fee")
    page.fill("#expression", "amount *")
    page.wait_for_selector("[data-formula-preview].alert-danger")
    assert "syntax" in page.inner_text("[data-formula-preview]")
    page.fill("#expression", "amount * 0.01")
    page.wait_for_selector("[data-formula-preview].alert-success")
    shot(page, "designer-field-formula")
    page.click("[data-save-field]")
    page.wait_for_url("**/design/objects/loan_application/")

    page.goto(url + "/admin/design/objects/loan_application/fields/new/?type=date")
    page.fill("#label_en", "Decision date")
    page.click("[data-save-field]")
    page.wait_for_url("**/design/objects/loan_application/")
    shot(page, "designer-object")
    assert page.locator("[data-fields-table] tr[data-field]").count() == 5

    # Layout: a second section, with the purpose dragged into it.
    page.click("text=Layout")
    page.wait_for_load_state("load")
    page.click("[data-add-section]")
    sections = page.locator("[data-section]")
    sections.nth(1).locator("[data-label-en]").fill("Decision")
    drag(page, page.locator(".crm-chip[data-name=decision_date]"), sections.nth(1).locator("[data-drop]"))
    assert sections.nth(1).locator(".crm-chip[data-name=decision_date]").count() == 1
    shot(page, "designer-layout")
    page.click("[data-save-layout]")
    page.wait_for_load_state()
    assert page.locator("[data-problems]").count() == 0, page.inner_text("[data-problems]")
    page.wait_for_selector(".alert-success")

    # Pipeline: three stages; "approved" needs the decision date.
    page.click("text=Pipeline")
    page.wait_for_load_state("load")
    for name, en, probability in [("submitted", "Submitted", "10"), ("review", "Review", "50"), ("approved", "Approved", "100")]:
        page.click("[data-add-stage]")
        stage = page.locator("[data-stage]").last
        stage.locator("[data-key=en]").fill(en)
        assert stage.locator("[data-key=name]").input_value() == name
        stage.locator("[data-key=probability]").fill(probability)
    last = page.locator("[data-stage]").last
    last.locator("[data-key=category]").select_option("won")
    last.locator(".ts-control").click()
    page.click(".ts-dropdown .option:has-text('Decision date')")
    page.keyboard.press("Escape")
    shot(page, "designer-pipeline")
    page.click("[data-save-pipeline]")
    page.wait_for_selector(".alert-success")

    # The generated form follows the layout, without a restart.
    page.goto(url + "/admin/records/loan_application/new/")
    assert page.locator("section.card").count() == 2
    assert page.locator("section.card").nth(1).locator("[name=decision_date]").count() == 1
    page.fill("[name=name]", "First loan")
    page.fill("[name=amount]", "20000")
    page.click("[data-save]")
    page.wait_for_selector(".crm-path-current")
    assert records(e2e_tenant, "loan_application")[0]["fee"] == 200.0


def test_deleting_an_object_shows_what_would_be_lost(page, e2e_tenant):
    from .conftest import seed

    seed(e2e_tenant, [{"name": "temp", "label": "Temp", "fields": [{"name": "name", "type": "text"}]}])
    login(page, e2e_tenant)
    page.goto(e2e_tenant["url"] + "/admin/design/objects/temp/")
    page.click("[data-delete-object]")
    page.wait_for_load_state("load")
    assert "0 records" in page.inner_text("[data-loss]")
    shot(page, "designer-delete-object")
    page.fill("#confirm_name", "temp")
    page.click("[data-confirm-delete-object]")
    page.wait_for_selector(".alert-success")
    assert "temp" not in page.inner_text("main table") if page.locator("main table").count() else True


def test_rich_text_is_edited_and_sanitized(page, e2e_tenant):
    from .conftest import seed

    seed(e2e_tenant, [{"name": "article", "label": "Article", "title_field": "title",
                       "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "rich_text", "label": "Body"}]}])
    login(page, e2e_tenant)
    page.goto(e2e_tenant["url"] + "/admin/records/article/new/")
    page.fill("[name=title]", "Welcome")
    editor = page.locator(".crm-rich")
    editor.click()
    page.keyboard.type("Hello ")
    page.click(".crm-rich-bar button[aria-label=bold]")
    page.keyboard.type("world")
    page.evaluate("document.querySelector('[name=body]').value += '<img src=x onerror=alert(1)><script>alert(2)</script>'")
    page.click("[data-save]")
    page.wait_for_selector("[data-timeline]")
    body = page.inner_html("[data-field=body] dd")
    assert "<b>world</b>" in body and "onerror" not in body and "<script" not in body
    assert records(e2e_tenant, "article")[0]["body"].count("script") == 0
