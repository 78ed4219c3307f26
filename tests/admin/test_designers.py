"""The business admin's designers: objects, fields of every type, layouts, pipelines, rules,
approval processes, roles, users, template gallery."""

from __future__ import annotations

import json

import pytest

from metadata import FIELD_TYPES

from .conftest import add_user

FIELD_FORMS = {
    "text": {"max_length": "80", "pattern": "^[A-Z].*"},
    "textarea": {"max_length": "500"},
    "rich_text": {},
    "integer": {"min": "0", "max": "100", "default": "5"},
    "decimal": {"scale": "3"},
    "currency": {"min": "0"},
    "percent": {},
    "boolean": {"default": "true"},
    "date": {"min": "2020-01-01"},
    "datetime": {},
    "email": {"unique": "1"},
    "phone": {},
    "url": {},
    "picklist": {"options_json": json.dumps([{"value": "b", "label": {"en": "Bee", "zh": "蜜蜂"}}, {"value": "a"}])},
    "multi_picklist": {"options_json": json.dumps([{"value": "x"}, {"value": "y"}])},
    "lookup": {"target": "account", "on_delete": "set_null"},
    "user": {},
    "formula": {"expression": "1 + 2", "result_type": "integer"},
    "autonumber": {"format": "N-{000}"},
}


def test_every_field_type_has_a_designer_form():
    assert set(FIELD_FORMS) == set(FIELD_TYPES)


def test_setup_home_lists_objects_and_designers(ui, sales):
    page = ui.text("/admin/design/")
    assert 'data-object="deal"' in page and 'data-tile="rules"' in page and 'data-tile="roles"' in page


def test_create_object_with_a_name_field(ui, tenant):
    response = ui.post("/admin/design/objects/new/", {"label_en": "Loan application", "label_zh": "贷款申请",
                                                      "name": "", "name_field": "1"})
    assert response.status_code == 302
    document = tenant.api.get("/objects/loan_application").get_json()
    assert document["label"] == {"en": "Loan application", "zh": "贷款申请"}
    assert [f["name"] for f in document["fields"]] == ["name"] and document["title_field"] == "name"


def test_create_object_errors_are_shown(ui, tenant):
    response = ui.post("/admin/design/objects/new/", {"label_en": "Bad", "name": "select"})
    assert response.status_code == 422 and "Not saved" in response.get_data(as_text=True)


@pytest.mark.parametrize("field_type", sorted(FIELD_FORMS))
def test_add_a_field_of_every_type(ui, sales, field_type):
    form = {"name": f"f_{field_type}", "label_en": f"F {field_type}", "label_zh": "字段", "type": field_type,
            **FIELD_FORMS[field_type]}
    page = ui.text(f"/admin/design/objects/deal/fields/new/?type={field_type}")
    assert 'name="label_zh"' in page
    response = ui.post(f"/admin/design/objects/deal/fields/new/?type={field_type}", form)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    document = sales.api.get(f"/objects/deal/fields/f_{field_type}").get_json()
    assert document["type"] == field_type and document["label"] == {"en": f"F {field_type}", "zh": "字段"}
    if field_type == "picklist":
        assert [o["value"] for o in document["options"]] == ["b", "a"]
    if field_type == "lookup":
        assert document["target"] == "account" and document["on_delete"] == "set_null"
    if field_type == "integer":
        assert document["min"] == 0 and document["max"] == 100 and document["default"] == "5"
    assert f'name="f_{field_type}"' in ui.text("/admin/records/deal/new/") or FIELD_TYPES[field_type].computed


def test_reordering_picklist_values_keeps_the_order(ui, sales):
    options = [{"value": "north", "label": {"en": "North", "zh": "华北"}}, {"value": "east"}]
    response = ui.post("/admin/design/objects/deal/fields/region/", {
        "name": "region", "type": "picklist", "label_en": "Region", "options_json": json.dumps(options)})
    assert response.status_code == 302
    assert [o["value"] for o in sales.api.get("/objects/deal/fields/region").get_json()["options"]] == ["north", "east"]


def test_field_error_is_shown_and_nothing_changes(ui, sales):
    response = ui.post("/admin/design/objects/deal/fields/new/?type=formula", {
        "name": "bad", "type": "formula", "label_en": "Bad", "expression": "nosuchfield * 2"})
    assert response.status_code == 422 and "nosuchfield" in response.get_data(as_text=True)
    assert sales.api.get("/objects/deal/fields/bad").status_code == 404


def test_formula_preview_on_a_record(ui, sales):
    sales.api.post("/records/deal", json={"name": "P", "amount": 200})
    answer = ui.post_json("/admin/design/objects/deal/formula-preview",
                          {"expression": "amount * 2", "result_type": "decimal", "record_id": 1}).get_json()
    assert answer == {"ok": True, "value": 400.0}
    answer = ui.post_json("/admin/design/objects/deal/formula-preview",
                          {"expression": "amount *", "result_type": "decimal", "record_id": 1}).get_json()
    assert answer["ok"] is False and "syntax" in answer["error"]
    answer = ui.post_json("/admin/design/objects/deal/formula-preview",
                          {"expression": "price * 2", "result_type": "decimal"}).get_json()
    assert answer["ok"] is False and "price" in answer["error"]


def test_autonumber_preview(ui, sales):
    assert ui.post_json("/admin/design/autonumber-preview", {"format": "LEAD-{0000}"}).get_json()["value"] == "LEAD-0001"
    assert ui.post_json("/admin/design/autonumber-preview", {"format": "LEAD"}).get_json()["ok"] is False


def test_delete_field(ui, sales):
    response = ui.post("/admin/design/objects/deal/fields/notes/delete/")
    assert response.status_code == 302
    assert sales.api.get("/objects/deal/fields/notes").status_code == 404


def test_delete_object_shows_what_would_be_lost_and_asks_to_confirm(ui, sales):
    sales.api.post("/records/deal", json={"name": "One"})
    page = ui.text("/admin/design/objects/deal/delete/")
    assert "1 records" in page and "Deal name" in page and 'name="confirm_name"' in page
    ui.post("/admin/design/objects/deal/delete/", {"confirm_name": "wrong"})
    assert sales.api.get("/objects/deal").status_code == 200
    ui.post("/admin/design/objects/deal/delete/", {"confirm_name": "deal"})
    assert sales.api.get("/objects/deal").status_code == 404


def test_delete_object_refused_while_lookups_point_at_it(ui, sales):
    page = ui.text("/admin/design/objects/account/delete/")
    assert "Deal.Account <code>deal.account</code>" in page
    ui.post("/admin/design/objects/account/delete/", {"confirm_name": "account"})
    assert sales.api.get("/objects/account").status_code == 200


def test_layout_designer_saves_sections_and_columns(ui, sales):
    layout = {"sections": [{"label": {"en": "Main", "zh": "主要"}, "columns": 1, "fields": ["name", "amount"]},
                           {"label": {"en": "More"}, "columns": 3, "fields": ["region", "notes"]}]}
    assert "Fields not on the form" in ui.text("/admin/design/objects/deal/layout/")
    response = ui.post("/admin/design/objects/deal/layout/", {"layout_json": json.dumps(layout)})
    assert response.status_code == 302
    assert sales.api.get("/objects/deal/layouts/form").get_json() == layout
    page = ui.text("/admin/records/deal/new/")
    assert page.index('name="amount"') < page.index('name="region"') and 'name="close_date"' not in page


def test_layout_designer_reports_errors(ui, sales):
    layout = {"sections": [{"columns": 9, "fields": ["nope"]}]}
    response = ui.post("/admin/design/objects/deal/layout/", {"layout_json": json.dumps(layout)})
    assert response.status_code == 422


def test_list_columns_designer(ui, sales):
    sales.api.post("/records/deal", json={"name": "Row"})
    response = ui.post("/admin/design/objects/deal/list-layout/", {
        "layout_json": json.dumps({"columns": ["name", "stage", "amount"], "sort": "-amount"})})
    assert response.status_code == 302
    page = ui.text("/admin/records/deal/")
    head = page.split("<thead>")[1].split("</thead>")[0]
    assert head.index(">Stage") < head.index(">Amount") and "Region" not in head


def test_pipeline_designer(ui, sales):
    pipeline = {"stages": [{"name": "new", "label": {"en": "New", "zh": "新建"}, "probability": 0, "category": "open",
                            "required_fields": []},
                           {"name": "qualify", "label": "Qualify", "probability": 20, "category": "open",
                            "required_fields": ["amount"]},
                           {"name": "proposal", "probability": 50, "category": "open", "required_fields": []},
                           {"name": "won", "probability": 100, "category": "won", "required_fields": []},
                           {"name": "lost", "probability": 0, "category": "lost", "required_fields": []}]}
    response = ui.post("/admin/design/objects/deal/pipeline/", {"pipeline_json": json.dumps(pipeline)})
    assert response.status_code == 302
    stored = sales.api.get("/objects/deal/pipeline").get_json()
    assert [s["name"] for s in stored["stages"]] == ["new", "qualify", "proposal", "won", "lost"]
    assert ui.text("/admin/records/deal/board/").count('class="crm-board-col') == 5


def test_pipeline_on_an_object_without_one(ui, sales):
    pipeline = {"stages": [{"name": "open", "category": "open"}, {"name": "closed", "category": "won"}]}
    assert ui.post("/admin/design/objects/account/pipeline/", {"pipeline_json": json.dumps(pipeline)}).status_code == 302
    assert "crm-path" in ui.text("/admin/records/account/" + str(
        sales.api.post("/records/account", json={"name": "A"}).get_json()["id"]) + "/")


def test_rule_builder_saves_a_rule_that_fires(ui, sales):
    rule = {"name": "Big deals are hot", "object": "deal", "active": True, "trigger": {"type": "on_create"},
            "condition": {"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 10000}]},
            "actions": [{"type": "set_field", "field": "notes", "value": "hot"}]}
    assert "crm-rule-condition" in ui.text("/admin/design/rules/new/?object=deal")
    response = ui.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)})
    assert response.status_code == 302
    big = sales.api.post("/records/deal", json={"name": "Big", "amount": 50000}).get_json()
    small = sales.api.post("/records/deal", json={"name": "Small", "amount": 5}).get_json()
    assert sales.api.get(f"/records/deal/{big['id']}").get_json()["notes"] == "hot"
    assert sales.api.get(f"/records/deal/{small['id']}").get_json()["notes"] is None
    listing = ui.text("/admin/design/rules/?object=deal")
    assert "Big deals are hot" in listing


def test_rule_builder_shows_errors(ui, sales):
    rule = {"name": "Broken", "object": "deal", "trigger": {"type": "on_create"},
            "actions": [{"type": "set_field", "field": "nope", "value": 1}]}
    response = ui.post("/admin/design/rules/new/", {"rule_json": json.dumps(rule)})
    assert response.status_code == 422 and "nope" in response.get_data(as_text=True)


def test_role_matrix_editor(ui, sales):
    ui.post("/admin/design/roles/", {"name": "viewer", "label_en": "Viewer", "label_zh": "只读"})
    response = ui.post("/admin/design/roles/viewer/", {
        "label_en": "Viewer", "perm.deal.read": "all", "perm.deal.export": "own", "fa.deal.margin": "hidden",
        "fa.deal.amount": "masked"})
    assert response.status_code == 302
    role = sales.api.get("/roles/viewer").get_json()
    assert role["permissions"]["deal"]["read"] == "all" and role["permissions"]["deal"]["export"] == "own"
    assert role["field_access"] == {"deal": {"margin": "hidden", "amount": "masked"}}
    assert "account" not in role["permissions"]
    page = ui.text("/admin/design/roles/viewer/")
    assert 'name="perm.deal.read"' in page


def test_users_and_teams(ui, sales):
    response = ui.post("/admin/design/users/", {"email": "new@example.com", "name": "New Person",
                                                "password": "long enough pw", "roles": ["admin"], "team": "east"})
    assert response.status_code == 302
    users = {u["email"]: u for u in sales.api.get("/users").get_json()["data"]}
    assert users["new@example.com"]["team"] == "east"
    user_id = users["new@example.com"]["id"]
    response = ui.post(f"/admin/design/users/{user_id}/", {"email": "new@example.com", "name": "Renamed",
                                                           "team": "north", "manager": "1"})
    assert response.status_code == 302
    changed = sales.api.get(f"/users/{user_id}").get_json()
    assert changed["name"] == "Renamed" and changed["active"] is False and changed["manager_id"] == 1


def test_designers_need_the_customize_permission(sales, user_client):
    sales.api.post("/roles", json={"name": "clerk", "permissions": {"deal": {"read": "all"}}})
    add_user(sales, "clerk@example.com", ["clerk"])
    browser = user_client(sales, "clerk@example.com")
    for path in ("/admin/design/", "/admin/design/objects/deal/", "/admin/design/rules/", "/admin/design/roles/",
                 "/admin/design/users/", "/admin/design/templates/"):
        assert browser.get(path).status_code == 403, path
    response = browser.post("/admin/design/objects/new/", {"label_en": "Hack", "name": "hack"})
    assert response.status_code == 422
    assert sales.api.get("/objects/hack").status_code == 404


def test_approval_process_designer(ui, sales):
    add_user(sales, "boss@example.com", ["admin"])
    process = {"name": "big_deal", "object": "deal", "active": True,
               "entry_condition": {"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 100}]},
               "steps": [{"name": "Boss", "approvers": {"type": "user", "value": "boss@example.com"}, "mode": "any"}],
               "on_approve": [{"type": "set_field", "field": "notes", "value": "approved"}], "on_reject": []}
    assert "crm-process-condition" in ui.text("/admin/design/approval-processes/new/?object=deal")
    response = ui.post("/admin/design/approval-processes/new/", {"process_json": json.dumps(process)})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert "big_deal" in ui.text("/admin/design/approval-processes/")


def test_template_gallery_preview_and_install(ui, tenant):
    page = ui.text("/admin/design/templates/")
    assert 'data-pack="crm_core"' in page
    preview = ui.text("/admin/design/templates/crm_core/")
    assert "data-plan" in preview and "create" in preview
    assert tenant.api.get("/objects").get_json()["data"] == []
    response = ui.post("/admin/design/templates/crm_core/")
    assert response.status_code == 302
    names = {o["name"] for o in tenant.api.get("/objects").get_json()["data"]}
    assert "account" in names


def test_the_admin_gallery_reads_packs_through_the_apps_cache(ui, tenant, monkeypatch):
    from templates_industry import PackCache
    from templates_industry.cache import PACK_CACHE_SERVICE

    fresh = PackCache()
    monkeypatch.setitem(tenant.platform.services, PACK_CACHE_SERVICE, fresh)
    assert 'data-pack="education"' in ui.text("/admin/design/templates/")
    read = fresh.packs.values()
    assert {p.name for p in read} >= {"crm_core", "education", "finance", "retail"}
    ui.text("/admin/design/templates/")
    assert all(fresh.packs.get(p.root) is p for p in read)  # the same packs: not read again

