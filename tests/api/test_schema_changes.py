"""Changing objects and fields on live tables that hold data."""

from __future__ import annotations

import sqlalchemy as sa

DEAL = {
    "name": "deal",
    "label": {"en": "Deal", "zh": "商机"},
    "fields": [
        {"name": "title", "type": "text", "required": True},
        {"name": "code", "type": "text"},
        {"name": "amount", "type": "currency"},
        {"name": "probability", "type": "percent"},
        {"name": "expected", "type": "formula", "expression": "amount * probability / 100", "result_type": "currency"},
        {"name": "region", "type": "picklist", "options": [{"value": "east"}, {"value": "north"}]},
    ],
}


def columns_of(tenant, table: str) -> set[str]:
    platform = tenant.platform
    with platform.db.tenant_connection(tenant.slug) as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns(table, schema=platform.db.tenant_schema(tenant.slug))}


def seed(api, count: int = 3) -> list[dict]:
    assert api.post("/objects", json=DEAL).status_code == 201
    return [
        api.post("/records/deal", json={"title": f"Deal {i}", "code": str(10 * i), "amount": 1000 * i,
                                        "probability": 50, "region": "east"}).json
        for i in range(1, count + 1)
    ]


def test_added_field_with_default_shows_on_existing_records(api):
    records = seed(api)
    response = api.post("/objects/deal/fields", json={"name": "source", "type": "text", "default": "web"})
    assert response.status_code == 201, response.json
    for record in records:
        assert api.get(f"/records/deal/{record['id']}").json["source"] == "web"
    new = api.post("/records/deal", json={"title": "New"}).json
    assert new["source"] == "web"


def test_required_field_without_default_is_refused_when_records_exist(api, tenant):
    seed(api)
    response = api.post("/objects/deal/fields", json={"name": "owner_note", "type": "text", "required": True})
    assert response.status_code == 409
    assert "default" in response.json["error"]["message"]
    assert "owner_note" not in columns_of(tenant, "obj_deal")


def test_rename_keeps_data_and_updates_references(api, tenant):
    records = seed(api)
    api.put("/objects/deal/layouts/list", json={"columns": ["title", "amount"], "sort": "-amount"})
    api.put("/objects/deal/pipeline", json={"stages": [{"name": "open"}, {"name": "quoted", "required_fields": ["amount"]}]})
    response = api.patch("/objects/deal/fields/amount", json={"name": "value"})
    assert response.status_code == 200, response.json
    assert api.get(f"/records/deal/{records[0]['id']}").json["value"] == 1000
    definition = api.get("/objects/deal").json
    assert definition["layouts"]["list"] == {"columns": ["title", "value"], "sort": "-value"}
    assert definition["pipeline"]["stages"][1]["required_fields"] == ["value"]
    formula = next(f for f in definition["fields"] if f["name"] == "expected")
    assert formula["expression"] == "value * probability / 100"
    assert {"value"} <= columns_of(tenant, "obj_deal") and "amount" not in columns_of(tenant, "obj_deal")
    # the renamed formula still computes
    updated = api.patch(f"/records/deal/{records[0]['id']}", json={"value": 3000}).json
    assert updated["expected"] == 1500


def test_label_options_required_unique_indexed_changes(api):
    records = seed(api)
    assert api.patch("/objects/deal/fields/title", json={"label": {"en": "Subject", "zh": "主题"}}).status_code == 200
    options = [{"value": "east"}, {"value": "north"}, {"value": "south", "label": {"en": "South", "zh": "华南"}}]
    assert api.patch("/objects/deal/fields/region", json={"options": options}).status_code == 200
    assert api.post("/records/deal", json={"title": "S", "region": "south"}).status_code == 201
    assert api.patch("/objects/deal/fields/code", json={"unique": True, "indexed": True}).status_code == 200
    duplicate = api.post("/records/deal", json={"title": "dup", "code": records[0]["code"]})
    assert duplicate.status_code == 409 and "code" in duplicate.json["error"]["details"]
    assert api.patch("/objects/deal/fields/amount", json={"required": True}).status_code == 409  # the 'S' deal has none
    assert api.patch("/objects/deal/fields/code", json={"required": True}).status_code == 409


def test_removing_an_option_in_use_is_refused(api):
    seed(api)
    response = api.patch("/objects/deal/fields/region", json={"options": [{"value": "north"}]})
    assert response.status_code == 409
    assert response.json["error"]["details"]["records"][0]["value"] == "east"


def test_making_a_field_unique_lists_duplicates(api):
    seed(api)
    response = api.patch("/objects/deal/fields/region", json={"unique": True})
    assert response.status_code == 409
    assert response.json["error"]["details"]["duplicates"] == ["east"]


def test_type_change_converts_data(api):
    records = seed(api)
    response = api.patch("/objects/deal/fields/code", json={"type": "integer"})
    assert response.status_code == 200, response.json
    assert api.get(f"/records/deal/{records[1]['id']}").json["code"] == 20
    assert api.get("/records/deal?code__gt=15").json["meta"]["total"] == 2


def test_type_change_refused_lists_offending_records_and_changes_nothing(api, tenant):
    records = seed(api)
    api.patch(f"/records/deal/{records[1]['id']}", json={"code": "twenty"})
    before = api.get("/objects/deal").json
    response = api.patch("/objects/deal/fields/code", json={"type": "integer"})
    assert response.status_code == 409
    offenders = response.json["error"]["details"]["records"]
    assert [o["id"] for o in offenders] == [records[1]["id"]]
    assert offenders[0]["value"] == "twenty"
    assert api.get("/objects/deal").json == before
    assert api.get(f"/records/deal/{records[0]['id']}").json["code"] == "10"


def test_delete_field_drops_column_and_keeps_other_data(api, tenant):
    records = seed(api)
    assert api.delete("/objects/deal/fields/code").status_code == 204
    assert "code" not in columns_of(tenant, "obj_deal")
    record = api.get(f"/records/deal/{records[0]['id']}").json
    assert "code" not in record and record["title"] == "Deal 1"
    # a field of the same name can be added again, empty
    assert api.post("/objects/deal/fields", json={"name": "code", "type": "integer"}).status_code == 201
    assert api.get(f"/records/deal/{records[0]['id']}").json["code"] is None


def test_delete_field_used_by_a_formula_is_refused_with_references(api):
    seed(api)
    response = api.delete("/objects/deal/fields/amount")
    assert response.status_code == 409
    assert response.json["error"]["details"]["references"] == ["deal.expected (formula)"]


def test_delete_field_removes_it_from_layouts_and_stages(api):
    seed(api)
    api.put("/objects/deal/layouts/form", json={"sections": [{"label": "Main", "columns": 2, "fields": ["title", "code"]}]})
    api.put("/objects/deal/pipeline", json={"stages": [{"name": "open", "required_fields": ["code"]}]})
    assert api.delete("/objects/deal/fields/code").status_code == 204
    definition = api.get("/objects/deal").json
    assert definition["layouts"]["form"]["sections"][0]["fields"] == ["title"]
    assert definition["pipeline"]["stages"][0]["required_fields"] == []


def test_delete_object_refused_while_lookups_point_at_it(api, tenant):
    api.post("/objects", json={"name": "account", "label": "Account", "fields": [{"name": "title", "type": "text"}]})
    api.post("/objects", json={"name": "contact", "label": "Contact", "fields": [
        {"name": "account", "type": "lookup", "target": "account"}]})
    response = api.delete("/objects/account")
    assert response.status_code == 409
    assert response.json["error"]["details"]["references"] == ["contact.account"]
    assert api.delete("/objects/contact").status_code == 204
    assert api.delete("/objects/account").status_code == 204
    assert api.get("/objects/account").status_code == 404
    with tenant.platform.db.tenant_connection(tenant.slug) as conn:
        tables = sa.inspect(conn).get_table_names(schema=tenant.platform.db.tenant_schema(tenant.slug))
    assert "obj_account" not in tables


def test_object_label_change(api):
    seed(api)
    response = api.patch("/objects/deal", json={"label": {"en": "Opportunity", "zh": "商机"}})
    assert response.status_code == 200
    assert api.get("/objects/deal").json["label"]["en"] == "Opportunity"


def test_layouts_round_trip_and_refuse_unknown_fields(api):
    seed(api)
    form = {"sections": [{"label": {"en": "Main", "zh": "主要"}, "columns": 2, "fields": ["title", "amount"]},
                         {"label": "More", "columns": 1, "fields": ["region"]}]}
    assert api.put("/objects/deal/layouts/form", json=form).status_code == 200
    assert api.get("/objects/deal/layouts/form").json == form
    listing = {"columns": ["title", "amount", "region"], "sort": "-amount"}
    assert api.put("/objects/deal/layouts/list", json=listing).status_code == 200
    assert api.get("/records/deal").json["data"][0]["amount"] == 3000  # the list's default sort applies
    bad = api.put("/objects/deal/layouts/form", json={"sections": [{"fields": ["nope"]}]})
    assert bad.status_code == 422 and "nope" in bad.json["error"]["message"]
    assert api.put("/objects/deal/layouts/weird", json=listing).status_code == 422


def test_formula_change_recomputes_existing_records(api):
    records = seed(api)
    response = api.patch("/objects/deal/fields/expected", json={"expression": "amount * 2"})
    assert response.status_code == 200, response.json
    assert api.get(f"/records/deal/{records[2]['id']}").json["expected"] == 6000


def test_autonumber_added_later_numbers_existing_records_in_order(api):
    records = seed(api)
    response = api.post("/objects/deal/fields", json={"name": "number", "type": "autonumber", "format": "D-{000}"})
    assert response.status_code == 201, response.json
    assert [api.get(f"/records/deal/{r['id']}").json["number"] for r in records] == ["D-001", "D-002", "D-003"]
    assert api.post("/records/deal", json={"title": "next"}).json["number"] == "D-004"
