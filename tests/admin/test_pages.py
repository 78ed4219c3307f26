"""Every page of the UI renders for an administrator (a smoke net under the behaviour tests)."""

from __future__ import annotations

import pytest

PAGES = [
    "/admin/", "/admin/records/deal/", "/admin/records/deal/new/", "/admin/records/deal/board/",
    "/admin/records/account/", "/admin/approvals/", "/admin/approvals/?tab=submitted", "/admin/approvals/?tab=history",
    "/admin/design/", "/admin/design/objects/new/", "/admin/design/objects/deal/", "/admin/design/objects/deal/delete/",
    "/admin/design/objects/deal/layout/", "/admin/design/objects/deal/list-layout/", "/admin/design/objects/deal/pipeline/",
    "/admin/design/objects/deal/fields/region/", "/admin/design/objects/deal/fields/new/?type=formula",
    "/admin/design/rules/", "/admin/design/rules/?object=deal", "/admin/design/rules/new/?object=deal",
    "/admin/design/approval-processes/", "/admin/design/approval-processes/new/?object=deal",
    "/admin/design/roles/", "/admin/design/roles/admin/", "/admin/design/users/", "/admin/design/users/1/",
    "/admin/design/templates/",
]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_page_renders(ui, sales, language):
    ui.post(f"/lang/{language}", {"next": "/admin/"})
    sales.api.post("/records/account", json={"name": "Acme"})
    sales.api.post("/records/deal", json={"name": "Deal", "account": 1})
    for path in [*PAGES, "/admin/records/deal/1/", "/admin/records/deal/1/edit/", "/admin/records/account/1/"]:
        page = ui.text(path)
        assert f'lang="{"zh-CN" if language == "zh" else "en"}"' in page, path


def test_template_preview_page(ui, tenant):
    assert "data-plan" in ui.text("/admin/design/templates/crm_core/")


def test_unknown_pages_are_404(ui, sales):
    for path in ("/admin/design/objects/nope/", "/admin/design/objects/deal/fields/nope/", "/admin/design/rules/999/",
                 "/admin/design/roles/nope/", "/admin/design/users/999/", "/admin/approvals/999/"):
        assert ui.get(path).status_code == 404, path


@pytest.mark.parametrize("pack", ["education", "finance", "retail"])
def test_every_object_of_an_industry_pack_renders(ui, tenant, pack):
    """The generated views serve whatever the packs define (every field type, pipelines, lookups)."""
    response = ui.post(f"/admin/design/templates/{pack}/", {"sample": "1"})
    assert response.status_code == 302
    objects = tenant.api.get("/objects").get_json()["data"]
    assert len(objects) > 10
    for document in objects:
        name = document["name"]
        listing = ui.text(f"/admin/records/{name}/")
        ui.text(f"/admin/records/{name}/new/")
        ui.text(f"/admin/design/objects/{name}/")
        if document.get("pipeline"):
            ui.text(f"/admin/records/{name}/board/")
        first = tenant.api.get(f"/records/{name}?per_page=1").get_json()["data"]
        if first:
            ui.text(f"/admin/records/{name}/{first[0]['id']}/")
            ui.text(f"/admin/records/{name}/{first[0]['id']}/edit/")
        assert "crm-list-card" in listing
    assert 'data-rule' in ui.text("/admin/design/rules/")
    ui.post("/lang/zh", {"next": "/admin/"})
    assert "lang=\"zh-CN\"" in ui.text(f"/admin/records/{objects[0]['name']}/")
