"""Screenshots of the setup screens at desktop and phone sizes (the flows take the others)."""

from __future__ import annotations

from .conftest import login, on_phone, shot
from .test_user_flow import setup_sales


def test_setup_screens(page, browser, e2e_tenant):
    setup_sales(e2e_tenant)
    login(page, e2e_tenant)
    url = e2e_tenant["url"]
    screens = [("home", "/admin/"), ("setup", "/admin/design/"), ("designer-list-columns", "/admin/design/objects/deal/list-layout/"),
               ("roles", "/admin/design/roles/"), ("users", "/admin/design/users/"), ("templates", "/admin/design/templates/"),
               ("template-preview", "/admin/design/templates/crm_core/")]
    for name, path in screens:
        page.goto(url + path)
        shot(page, name)
    page.goto(url + "/admin/design/roles/")
    page.fill("#role-name", "sales_rep")
    page.fill("#role-en", "Sales rep")
    page.click("[data-create-role]")
    page.select_option("[name='perm.deal.read']", "team")
    page.click("#crm-field-access .accordion-button >> nth=1")
    page.select_option("[name='fa.deal.margin']", "hidden")
    shot(page, "role-matrix")
    page.click("[data-save-role]")
    page.wait_for_selector(".alert-success")
    assert page.input_value("[name='perm.deal.read']") == "team"
    phone = on_phone(browser, page)
    for name, path in [("setup", "/admin/design/"), ("designer-object", "/admin/design/objects/deal/"),
                       ("role-matrix", "/admin/design/roles/sales_rep/")]:
        phone.goto(url + path)
        shot(phone, f"phone-{name}", full_page=False)
    phone.context.close()
    page.goto(url + "/login")
    shot(page, "login")


def test_install_a_pack_from_the_gallery(page, browser, e2e_tenant):
    login(page, e2e_tenant)
    url = e2e_tenant["url"]
    page.goto(url + "/admin/design/templates/")
    page.locator("[data-pack=education] [data-preview-pack]").click()
    with page.expect_navigation():
        page.check("#sample")
    assert page.url.endswith("sample=1")
    assert page.locator("[data-plan] [data-kind=object]").count() == 1
    page.click("[data-install]")
    page.wait_for_selector(".alert-success")
    assert page.locator("[data-pack=education] .badge", has_text="1.2.0").count() == 1
    from .conftest import switch_language

    switch_language(page, "zh")
    page.goto(url + "/admin/")
    shot(page, "zh-pack-home")
    boards = page.locator(".card-footer a[href$='/board/']")
    boards.first.click()
    page.wait_for_selector("[data-board]")
    shot(page, "zh-pack-board")
    page.locator(".crm-board-card a").first.click()
    page.wait_for_selector("[data-timeline]")
    shot(page, "zh-pack-record")
