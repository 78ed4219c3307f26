"""Bad input through the API: every mistake gets a clear 4xx naming the problem, and nothing is half-written."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

ACCOUNT = {"name": "account", "label": "Account", "fields": [{"name": "title", "type": "text"}]}
CONTACT = {
    "name": "contact",
    "label": {"en": "Contact", "zh": "联系人"},
    "fields": [
        {"name": "full_name", "type": "text"},
        {"name": "age", "type": "integer", "min": 0, "max": 150},
        {"name": "score", "type": "integer"},
        {"name": "active", "type": "boolean"},
        {"name": "amount", "type": "decimal"},
        {"name": "region", "type": "picklist", "options": [{"value": "east"}, {"value": "west"}]},
        {"name": "interests", "type": "multi_picklist", "options": [{"value": "vip"}, {"value": "new"}]},
        {"name": "met_on", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "account", "type": "lookup", "target": "account", "on_delete": "set_null"},
    ],
}


@pytest.fixture
def contact(api: Any) -> int:
    """The contact object (and its lookup target) with one record; returns that record's id."""
    assert api.post("/objects", json=ACCOUNT).status_code == 201
    assert api.post("/objects", json=CONTACT).status_code == 201
    created = api.post("/records/contact", json={"full_name": "Ada", "age": 36})
    assert created.status_code == 201, created.json
    return created.json["id"]


def error_of(response: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
    """The error document of a response that must have one of the given statuses."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.json
    assert isinstance(body, dict) and "error" in body, body
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


def mentions(error: dict[str, Any], *words: str) -> bool:
    text = json.dumps(error, ensure_ascii=False).lower()
    return all(word.lower() in text for word in words)


def columns(tenant: Any, table: str) -> list[str]:
    db = tenant.platform.db
    with db.tenant_connection(tenant.slug) as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns(table, schema=db.tenant_schema(tenant.slug))]


# -- request bodies ---------------------------------------------------------------------------------


def test_malformed_json_body_is_400(api, contact):
    response = api.post("/records/contact", data='{"full_name": "Ada",', content_type="application/json")
    error = error_of(response, 400)
    assert "malformed json" in error["message"].lower()


def test_json_array_instead_of_object_is_400(api, contact):
    error = error_of(api.post("/records/contact", json=[{"full_name": "Ada"}]), 400)
    assert mentions(error, "json object")


def test_json_array_as_object_definition_is_400(api):
    error = error_of(api.post("/objects", json=[CONTACT]), 400)
    assert mentions(error, "json object")


def test_wrong_content_type_is_refused(api, contact):
    response = api.post("/records/contact", data="full_name=Ada", content_type="application/x-www-form-urlencoded")
    error = error_of(response, (400, 415))
    assert mentions(error, "content type", "application/json")


def test_empty_body_is_400(api, contact):
    error = error_of(api.post("/records/contact", data="", content_type="application/json"), 400)
    assert mentions(error, "empty")


def test_deeply_nested_json_body_is_400(api, contact):
    response = api.post("/records/contact", data="[" * 100_000 + "]" * 100_000, content_type="application/json")
    error_of(response, (400, 413, 422))


# -- record values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age", "thirty"),
        ("age", True),
        ("age", 12.5),
        ("age", [1]),
        ("full_name", {"first": "Ada"}),
        ("full_name", 42),
        ("active", "maybe"),
        ("active", 2),
        ("amount", "lots"),
        ("amount", {"value": 1}),
        ("region", ["east"]),
        ("interests", "vip"),
        ("met_on", 20240101),
        ("seen_at", "yesterday"),
        ("account", "Acme"),
    ],
)
def test_wrong_value_type_in_record_is_422_naming_the_field(api, contact, field, value):
    error = error_of(api.post("/records/contact", json={"full_name": "Bob", field: value}), 422)
    assert field in error["details"]
    assert api.get("/records/contact").json["meta"]["total"] == 1


def test_wrong_value_type_in_update_leaves_record_unchanged(api, contact):
    error_of(api.patch(f"/records/contact/{contact}", json={"age": "old"}), 422)
    record = api.get(f"/records/contact/{contact}").json
    assert record["age"] == 36 and record["version"] == 1


def test_unknown_field_in_record_is_422_naming_it(api, contact):
    error = error_of(api.post("/records/contact", json={"full_name": "Bob", "nickname": "Bobby"}), 422)
    assert "nickname" in error["details"]


def test_unknown_field_in_update_is_422_naming_it(api, contact):
    error = error_of(api.patch(f"/records/contact/{contact}", json={"nickname": "Ace"}), 422)
    assert "nickname" in error["details"]


@pytest.mark.parametrize(
    ("column", "value"),
    [("id", 999), ("created_at", "2020-01-01T00:00:00Z"), ("updated_at", "2020-01-01T00:00:00Z"),
     ("created_by", 1), ("updated_by", 1), ("version", 7)],
)
def test_system_columns_cannot_be_written_on_create(api, contact, column, value):
    error = error_of(api.post("/records/contact", json={"full_name": "Bob", column: value}), (403, 422))
    assert column in error["details"]
    assert api.get("/records/contact").json["meta"]["total"] == 1


@pytest.mark.parametrize(("column", "value"), [("id", 999), ("created_at", "2020-01-01T00:00:00Z"), ("created_by", 5)])
def test_system_columns_cannot_be_written_on_update(api, contact, column, value):
    error = error_of(api.patch(f"/records/contact/{contact}", json={column: value}), (403, 422))
    assert column in error["details"]
    record = api.get(f"/records/contact/{contact}").json
    assert record["id"] == contact and record["version"] == 1


def test_text_of_10000_characters_is_422_naming_the_length(api, contact):
    error = error_of(api.post("/records/contact", json={"full_name": "x" * 10_000}), 422)
    assert "full_name" in error["details"]
    assert mentions(error, "length")


def test_text_longer_than_its_column_is_refused_not_truncated_or_crashed(api, contact):
    """A text field without max_length is a VARCHAR(255) column: 300 characters must not reach it."""
    response = api.post("/records/contact", json={"full_name": "y" * 300})
    if response.status_code == 201:
        assert api.get(f"/records/contact/{response.json['id']}").json["full_name"] == "y" * 300
    else:
        error = error_of(response, 422)
        assert "full_name" in error["details"]


def test_integer_beyond_64_bits_is_422(api, contact):
    error = error_of(api.post("/records/contact", json={"score": 10**20}), 422)
    assert "score" in error["details"]


def test_decimal_beyond_column_precision_is_422(api, contact):
    error = error_of(api.post("/records/contact", json={"amount": 1e30}), 422)
    assert "amount" in error["details"]


def test_text_with_nul_character_is_422(api, contact):
    error = error_of(api.post("/records/contact", json={"full_name": "Ada\x00Lovelace"}), 422)
    assert "full_name" in error["details"]


def test_text_with_lone_surrogate_escape_is_refused(api, contact):
    response = api.post("/records/contact", data='{"full_name": "\\ud800"}', content_type="application/json")
    error_of(response, (400, 422))
    assert api.get("/records/contact").json["meta"]["total"] == 1


def test_datetime_out_of_range_after_utc_conversion_is_422(api, contact):
    error = error_of(api.post("/records/contact", json={"seen_at": "9999-12-31T23:00:00-05:00"}), 422)
    assert "seen_at" in error["details"]


def test_lookup_to_missing_id_is_422_naming_the_field(api, contact):
    error = error_of(api.post("/records/contact", json={"full_name": "Bob", "account": 424242}), 422)
    assert "account" in error["details"]
    assert mentions(error, "424242")


def test_lookup_to_huge_id_is_422_naming_the_field(api, contact):
    error = error_of(api.post("/records/contact", json={"account": 10**20}), 422)
    assert "account" in error["details"]


def test_owner_that_does_not_exist_is_422(api, contact):
    error = error_of(api.post("/records/contact", json={"owner_id": 424242}), 422)
    assert "owner_id" in error["details"]


# -- definitions: names -----------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["select", "order", "user", "table"])
def test_sql_keyword_as_object_name_is_422_naming_it(api, word):
    error = error_of(api.post("/objects", json={"name": word, "label": "X"}), 422)
    assert mentions(error, repr(word), "reserved")
    assert api.get(f"/objects/{word}").status_code == 404


@pytest.mark.parametrize("word", ["select", "order", "user", "table"])
def test_sql_keyword_as_field_name_is_422_naming_it(api, word):
    response = api.post("/objects", json={"name": "thing", "label": "Thing", "fields": [{"name": word, "type": "text"}]})
    error = error_of(response, 422)
    assert mentions(error, repr(word), "reserved")
    assert api.get("/objects/thing").status_code == 404


@pytest.mark.parametrize("word", ["select", "order", "user", "table"])
def test_sql_keyword_as_added_field_name_is_422(api, contact, word):
    error = error_of(api.post("/objects/contact/fields", json={"name": word, "type": "text"}), 422)
    assert mentions(error, repr(word), "reserved")


def test_renaming_a_field_to_a_sql_keyword_is_422(api, contact):
    error = error_of(api.patch("/objects/contact/fields/full_name", json={"name": "select"}), 422)
    assert mentions(error, "'select'", "reserved")
    assert api.get(f"/records/contact/{contact}").json["full_name"] == "Ada"


@pytest.mark.parametrize("column", ["id", "owner_id", "version", "stage", "created_at", "updated_by"])
def test_system_column_name_as_field_name_is_422(api, contact, column):
    error = error_of(api.post("/objects/contact/fields", json={"name": column, "type": "text"}), 422)
    assert mentions(error, repr(column))
    assert column not in [f["name"] for f in api.get("/objects/contact").json["fields"]]


def test_duplicate_field_names_in_an_object_are_422(api):
    fields = [{"name": "amount", "type": "integer"}, {"name": "amount", "type": "text"}]
    error = error_of(api.post("/objects", json={"name": "deal", "label": "Deal", "fields": fields}), 422)
    assert mentions(error, "duplicate", "amount")
    assert api.get("/objects/deal").status_code == 404


def test_adding_a_field_that_exists_is_refused(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "age", "type": "text"}), (409, 422))
    assert mentions(error, "age", "exists")
    assert [f["type"] for f in api.get("/objects/contact").json["fields"] if f["name"] == "age"] == ["integer"]


def test_creating_an_object_that_exists_is_409(api, contact):
    error_of(api.post("/objects", json=CONTACT), 409)


INVALID_NAMES = ["1abc", "Name", "a-b", "a" * 64, "", "名字", "naïve", "a b", "_a", "a;drop"]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_object_name_is_422(api, name):
    error = error_of(api.post("/objects", json={"name": name, "label": "X"}), 422)
    assert "name" in error["details"]
    assert api.get("/objects").json["data"] == []


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_field_name_is_422(api, contact, name):
    error = error_of(api.post("/objects/contact/fields", json={"name": name, "type": "text"}), 422)
    assert any("name" in key for key in error["details"])


def test_object_label_of_10000_characters_is_422(api):
    error = error_of(api.post("/objects", json={"name": "thing", "label": "L" * 10_000}), 422)
    assert "label" in error["details"]
    assert api.get("/objects/thing").status_code == 404


def test_object_label_update_of_10000_characters_is_422(api, contact):
    error = error_of(api.patch("/objects/contact", json={"label": {"en": "L" * 10_000}}), 422)
    assert any("label" in key for key in error["details"])
    assert api.get("/objects/contact").json["label"] == CONTACT["label"]


def test_unknown_field_type_is_422(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "photo", "type": "blob"}), 422)
    assert any("type" in key for key in error["details"])


def test_option_that_does_not_apply_to_the_type_is_422(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "nick", "type": "text", "target": "account"}), 422)
    assert mentions(error, "target")


def test_lookup_to_unknown_object_is_422(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "boss", "type": "lookup", "target": "nobody"}), 422)
    assert mentions(error, "nobody")


def test_non_numeric_min_on_integer_field_is_422(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "rank", "type": "integer", "min": "abc"}), 422)
    assert mentions(error, "min")


def test_non_date_min_on_date_field_is_422(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "due", "type": "date", "min": "yesterday"}), 422)
    assert mentions(error, "min")


def test_default_beyond_column_range_is_422(api, contact):
    error = error_of(api.post("/objects/contact/fields", json={"name": "big", "type": "integer", "default": 10**20}), 422)
    assert mentions(error, "default")
    assert "big" not in [f["name"] for f in api.get("/objects/contact").json["fields"]]


# -- definitions: formulas --------------------------------------------------------------------------

HOSTILE_FORMULAS = {
    "dunder": "().__class__.__bases__",
    "huge_power": "10**10**10",
    "import": "__import__('os')",
    "too_long": " + ".join(["1"] * 1000),  # 3997 characters
    "open_file": "open('/etc/passwd')",
    "lambda": "(lambda: 1)()",
    "comprehension": "[x for x in range(10**9)]",
    "huge_string": "'a' * 10**9",
}


@pytest.mark.parametrize("expression", HOSTILE_FORMULAS.values(), ids=HOSTILE_FORMULAS.keys())
def test_hostile_formula_in_new_object_is_refused(api, expression):
    fields = [{"name": "qty", "type": "integer"},
              {"name": "calc", "type": "formula", "expression": expression, "result_type": "integer"}]
    response = api.post("/objects", json={"name": "thing", "label": "Thing", "fields": fields})
    error = error_of(response, (400, 422))
    assert any("expression" in key for key in error["details"])
    assert api.get("/objects/thing").status_code == 404


@pytest.mark.parametrize("expression", HOSTILE_FORMULAS.values(), ids=HOSTILE_FORMULAS.keys())
def test_hostile_formula_added_to_an_object_leaves_it_unchanged(api, contact, expression):
    before = api.get("/objects/contact").json
    field = {"name": "calc", "type": "formula", "expression": expression, "result_type": "integer"}
    error_of(api.post("/objects/contact/fields", json=field), (400, 422))
    assert api.get("/objects/contact").json == before
    assert "calc" not in api.get(f"/records/contact/{contact}").json


def test_formula_result_beyond_column_range_is_4xx(api):
    fields = [{"name": "qty", "type": "integer"},
              {"name": "calc", "type": "formula", "expression": "qty * 1000000000000000000000", "result_type": "integer"}]
    assert api.post("/objects", json={"name": "thing", "label": "Thing", "fields": fields}).status_code == 201
    error = error_of(api.post("/records/thing", json={"qty": 5}), 422)
    assert any("calc" in key or "expression" in key for key in error["details"])
    assert api.get("/records/thing").json["meta"]["total"] == 0


# -- failed schema changes --------------------------------------------------------------------------


def test_bad_option_leaves_object_and_table_unchanged(api, tenant, contact):
    before, table_before = api.get("/objects/contact").json, columns(tenant, "obj_contact")
    field = {"name": "level", "type": "picklist", "options": [{"value": "a;b"}, {"value": "c"}]}
    error = error_of(api.post("/objects/contact/fields", json=field), 422)
    assert mentions(error, "options")
    assert api.get("/objects/contact").json == before
    assert columns(tenant, "obj_contact") == table_before


def test_duplicate_options_leave_object_unchanged(api, contact):
    before = api.get("/objects/contact").json
    field = {"name": "level", "type": "picklist", "options": [{"value": "a"}, {"value": "a"}]}
    error = error_of(api.post("/objects/contact/fields", json=field), 422)
    assert mentions(error, "unique")
    assert api.get("/objects/contact").json == before


def test_required_field_without_default_on_populated_object_changes_nothing(api, tenant, contact):
    before, table_before = api.get("/objects/contact").json, columns(tenant, "obj_contact")
    error = error_of(api.post("/objects/contact/fields", json={"name": "vat", "type": "text", "required": True}), 409)
    assert mentions(error, "vat", "default")
    assert api.get("/objects/contact").json == before
    assert columns(tenant, "obj_contact") == table_before


def test_impossible_type_change_leaves_data_and_metadata_unchanged(api, tenant, contact):
    before, table_before = api.get("/objects/contact").json, columns(tenant, "obj_contact")
    error = error_of(api.patch("/objects/contact/fields/full_name", json={"type": "integer"}), (409, 422))
    assert mentions(error, "full_name")
    assert api.get("/objects/contact").json == before
    assert columns(tenant, "obj_contact") == table_before
    assert api.get(f"/records/contact/{contact}").json["full_name"] == "Ada"


# -- list parameters --------------------------------------------------------------------------------


def test_unknown_filter_field_is_422_naming_it(api, contact):
    error = error_of(api.get("/records/contact", query_string={"nickname": "x"}), 422)
    assert "nickname" in error["details"]


def test_unknown_filter_operator_is_422_naming_it(api, contact):
    error = error_of(api.get("/records/contact", query_string={"age__between": "1"}), 422)
    assert "age__between" in error["details"] and mentions(error, "'between'")


def test_unknown_field_in_filter_tree_is_422_naming_it(api, contact):
    tree = {"condition": "AND", "rules": [{"field": "nickname", "operator": "equal", "value": "x"}]}
    error = error_of(api.get("/records/contact", query_string={"filter": json.dumps(tree)}), 422)
    assert "filter" in error["details"] and mentions(error, "nickname")


def test_unknown_operator_in_filter_tree_is_422_naming_it(api, contact):
    tree = {"condition": "AND", "rules": [{"field": "age", "operator": "resembles", "value": 1}]}
    error = error_of(api.get("/records/contact", query_string={"filter": json.dumps(tree)}), 422)
    assert "filter" in error["details"] and mentions(error, "resembles")


def test_operator_that_does_not_fit_the_field_is_422(api, contact):
    tree = {"condition": "AND", "rules": [{"field": "active", "operator": "greater", "value": True}]}
    error = error_of(api.get("/records/contact", query_string={"filter": json.dumps(tree)}), 422)
    assert mentions(error, "greater", "active")


def test_filter_value_of_wrong_type_is_422(api, contact):
    error = error_of(api.get("/records/contact", query_string={"age__gt": "old"}), 422)
    assert mentions(error, "age")


@pytest.mark.parametrize("raw", ['{"condition": "AND", "rules": [', "not json", "[1, 2]", '"text"', "42"])
def test_malformed_filter_json_is_refused(api, contact, raw):
    error = error_of(api.get("/records/contact", query_string={"filter": raw}), (400, 422))
    assert "filter" in error["details"]


def test_deeply_nested_filter_json_is_refused(api, contact):
    raw = "[" * 4000 + "]" * 4000
    error = error_of(api.get("/records/contact", query_string={"filter": raw}), (400, 422))
    assert mentions(error, "filter")


def test_per_page_above_the_maximum_is_422(api, contact):
    error = error_of(api.get("/records/contact", query_string={"per_page": "100000"}), 422)
    assert "per_page" in error["details"] and mentions(error, "500")


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5"])
def test_invalid_page_is_422(api, contact, page):
    error = error_of(api.get("/records/contact", query_string={"page": page}), 422)
    assert "page" in error["details"]


def test_unknown_sort_field_is_422_naming_it(api, contact):
    error = error_of(api.get("/records/contact", query_string={"sort": "-unknown"}), 422)
    assert "sort" in error["details"] and mentions(error, "unknown")


def test_out_of_range_filter_value_is_4xx(api, contact):
    error_of(api.get("/records/contact", query_string={"score": str(10**20)}), (400, 422))


# -- not found --------------------------------------------------------------------------------------


def test_unknown_object_is_404(api):
    error_of(api.get("/records/nothing"), 404)
    error_of(api.get("/objects/nothing"), 404)
    error_of(api.post("/records/nothing", json={"a": 1}), 404)


@pytest.mark.parametrize("record_id", ["424242", "abc", "0", "-1", "1.5", "99999999999999999999999"])
def test_unknown_or_non_numeric_record_id_is_404(api, contact, record_id):
    error_of(api.get(f"/records/contact/{record_id}"), 404)
    error_of(api.patch(f"/records/contact/{record_id}", json={"age": 1}), 404)
    error_of(api.delete(f"/records/contact/{record_id}"), 404)


def test_unknown_field_of_an_object_is_404(api, contact):
    error_of(api.delete("/objects/contact/fields/nickname"), 404)
    error_of(api.patch("/objects/contact/fields/nickname", json={"label": "x"}), 404)


# -- authentication ---------------------------------------------------------------------------------


def test_missing_bearer_token_is_401(client):
    error = error_of(client.get("/api/v1/objects"), 401)
    assert mentions(error, "authorization")


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer    ", "Basic dXNlcjpwYXNz"])
def test_malformed_authorization_header_is_401(client, header):
    response = client.get("/api/v1/objects", headers={"Authorization": header})
    error = error_of(response, 401)
    assert mentions(error, "malformed")
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


@pytest.mark.parametrize("token", ["crm_" + "x" * 43, "not-a-token", "x" * 5000])
def test_unknown_bearer_token_is_401(client, tenant, token):
    error = error_of(client.get("/api/v1/objects", headers={"Authorization": f"Bearer {token}"}), 401)
    assert mentions(error, "token")


def test_one_tenants_token_does_not_see_anothers_objects(api, contact, tenant_factory):
    other = tenant_factory("other")
    error_of(other.api.get("/records/contact"), 404)
    assert other.api.get("/objects").json["data"] == []


# -- never a 500 ------------------------------------------------------------------------------------


def hostile_requests(record_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    r = f"/records/contact/{record_id}"
    js = "application/json"
    tree = lambda *rules: {"filter": json.dumps({"condition": "AND", "rules": list(rules)})}  # noqa: E731
    return [
        ("POST", "/records/contact", {"data": "{", "content_type": js}),
        ("POST", "/records/contact", {"data": b"\xff\xfe\x00", "content_type": js}),
        ("POST", "/records/contact", {"data": "[" * 100_000, "content_type": js}),
        ("POST", "/records/contact", {"data": '{"a": ' * 50_000, "content_type": js}),
        ("POST", "/records/contact", {"data": "x" * (3 * 1024 * 1024), "content_type": js}),
        ("POST", "/records/contact", {"data": "null", "content_type": js}),
        ("POST", "/records/contact", {"data": "NaN", "content_type": js}),
        ("POST", "/records/contact", {"json": {"amount": "NaN"}}),
        ("POST", "/records/contact", {"json": {"amount": "Infinity"}}),
        ("POST", "/records/contact", {"data": '{"amount": 1e400}', "content_type": js}),
        ("POST", "/records/contact", {"json": {"score": 10**20}}),
        ("POST", "/records/contact", {"json": {"score": -(10**20)}}),
        ("POST", "/records/contact", {"json": {"amount": 1e30}}),
        ("POST", "/records/contact", {"json": {"full_name": "a\x00b"}}),
        ("POST", "/records/contact", {"data": '{"full_name": "\\ud800"}', "content_type": js}),
        ("POST", "/records/contact", {"json": {"full_name": "x" * 300}}),
        ("POST", "/records/contact", {"json": {"seen_at": "9999-12-31T23:00:00-05:00"}}),
        ("POST", "/records/contact", {"json": {"seen_at": "0001-01-01T00:00:00+05:00"}}),
        ("POST", "/records/contact", {"json": {"met_on": "0000-01-01"}}),
        ("POST", "/records/contact", {"json": {"account": 10**20}}),
        ("POST", "/records/contact", {"json": {"account": -5}}),
        ("POST", "/records/contact", {"json": {"owner_id": 10**20}}),
        ("POST", "/records/contact", {"json": {"owner_id": "me"}}),
        ("POST", "/records/contact", {"json": {"stage": "won"}}),
        ("POST", "/records/contact", {"json": {"interests": ["vip", "vip", None]}}),
        ("POST", "/records/contact", {"json": {"interests": [{"a": 1}]}}),
        ("POST", "/records/contact", {"json": {"": 1, "__proto__": {}}}),
        ("PATCH", r, {"json": {"version": "one"}}),
        ("PATCH", r, {"json": {"version": 10**30}}),
        ("PATCH", r, {"json": {"version": None, "id": None}}),
        ("PATCH", r, {"json": []}),
        ("PUT", r, {"json": {"age": 1}}),
        ("GET", "/records/contact", {"query_string": {"score": str(10**20)}}),
        ("GET", "/records/contact", {"query_string": {"id": "99999999999999999999"}}),
        ("GET", "/records/contact", {"query_string": {"owner_id": "-99999999999999999999"}}),
        ("GET", "/records/contact", {"query_string": {"account": "99999999999999999999"}}),
        ("GET", "/records/contact", {"query_string": {"amount": "NaN"}}),
        ("GET", "/records/contact", {"query_string": {"amount__gt": "1e400"}}),
        ("GET", "/records/contact", {"query_string": {"met_on__gt": "0000-00-00"}}),
        ("GET", "/records/contact", {"query_string": {"seen_at__lt": "9999-12-31T23:00:00-05:00"}}),
        ("GET", "/records/contact", {"query_string": {"age__in": ",,,"}}),
        ("GET", "/records/contact", {"query_string": {"age__isnull": "maybe"}}),
        ("GET", "/records/contact", {"query_string": {"interests": "vip"}}),
        ("GET", "/records/contact", {"query_string": {"region": "north"}}),
        ("GET", "/records/contact", {"query_string": {"q": "x" * 5000}}),
        ("GET", "/records/contact", {"query_string": {"filter": "[" * 4000 + "]" * 4000}}),
        ("GET", "/records/contact", {"query_string": {"filter": '{"rules": "x"}'}}),
        ("GET", "/records/contact", {"query_string": {"filter": '{"condition": "AND", "rules": [null, 1, "x"]}'}}),
        ("GET", "/records/contact", {"query_string": tree({"field": "age", "operator": "between", "value": [1, "x"]})}),
        ("GET", "/records/contact", {"query_string": tree({"field": "met_on", "operator": "greater", "value": "99999-01-01"})}),
        ("GET", "/records/contact", {"query_string": tree({"field": ["age"], "operator": {"x": 1}, "value": 1})}),
        ("GET", "/records/contact", {"query_string": tree({"field": "age", "operator": "changed"})}),
        ("GET", "/records/contact", {"query_string": tree({"field": "interests", "operator": "equal", "value": "vip"})}),
        ("GET", "/records/contact", {"query_string": {"page": "99999999999999999999"}}),
        ("GET", "/records/contact", {"query_string": {"per_page": "0"}}),
        ("GET", "/records/contact", {"query_string": {"sort": "-"}}),
        ("GET", "/records/contact", {"query_string": {"sort": "interests"}}),
        ("GET", "/records/contact", {"query_string": [("sort", "age"), ("sort", "-age")]}),
        ("GET", "/records/contact", {"query_string": {"age": "x" * 20_000}}),
        ("GET", "/records/contact/99999999999999999999", {}),
        ("GET", "/records/contact/%00", {}),
        ("GET", "/records/..%2Fobjects", {}),
        ("GET", "/records/contact; DROP TABLE obj_contact", {}),
        ("DELETE", "/objects/contact/fields/id", {}),
        ("POST", "/objects", {"json": {"name": "x1", "label": "X", "fields": "nope"}}),
        ("POST", "/objects", {"json": {"name": "x2", "label": {"en": 5}}}),
        ("POST", "/objects", {"json": {"name": "x3", "label": "X", "fields": [None, 1, "a"]}}),
        ("POST", "/objects", {"json": {"name": "x4", "label": "X", "fields": [{"name": "n", "type": "integer", "min": "abc"}]}}),
        ("POST", "/objects", {"json": {"name": "x5", "label": "X", "fields": [{"name": "d", "type": "date", "max": "soon"}]}}),
        ("POST", "/objects", {"json": {"name": "x6", "label": "X", "fields": [{"name": "d", "type": "date", "min": 5}]}}),
        ("POST", "/objects", {"json": {"name": "x7", "label": "X", "fields": [{"name": "p", "type": "text", "pattern": "("}]}}),
        ("POST", "/objects", {"json": {"name": "x8", "label": "X", "fields": [{"name": "t", "type": "text", "max_length": 0}]}}),
        ("POST", "/objects", {"json": {"name": "x9", "label": "X", "fields": [{"name": "f", "type": "formula", "expression": "1"}]}}),
        ("POST", "/objects", {"json": {"name": "x10", "label": "X", "fields": [{"name": "a", "type": "autonumber", "format": "{0}" + "x" * 60}]}}),
        ("POST", "/objects", {"json": {"name": "x11", "label": "X", "title_field": "nope"}}),
        ("POST", "/objects", {"json": {"name": "x12", "label": "X", "pipeline": {"stages": [{"name": "a"}, {"name": "a"}]}}}),
        ("POST", "/objects", {"json": {"name": "x13", "label": "X", "layouts": {"form": {"sections": "x"}}}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "big", "type": "integer", "default": 10**20}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "dd", "type": "date", "default": "tomorrow"}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "rk", "type": "integer", "min": "abc", "max": 5}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "sel", "type": "picklist", "options": "a,b"}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "dep", "type": "picklist", "options": [{"value": "a"}],
                                                     "depends_on": {"field": "nope", "values": {}}}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "self_ref", "type": "lookup", "target": "contact",
                                                     "on_delete": "cascade"}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "f1", "type": "formula", "expression": "f1 + 1",
                                                     "result_type": "integer"}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "f2", "type": "formula", "expression": "(((((((" * 100,
                                                     "result_type": "integer"}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "f3", "type": "formula", "expression": "-" * 1900 + "1",
                                                     "result_type": "integer"}}),
        ("POST", "/objects/contact/fields", {"json": {"name": "f4", "type": "formula", "expression": "full_name",
                                                     "result_type": "date"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"type": "lookup"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"type": "lookup", "target": "account"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"type": "autonumber", "format": "A-{00}"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"type": "formula", "expression": "1", "result_type": "integer"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"name": "select"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"name": "full_name"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"min": "abc"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": {"required": "yes"}}),
        ("PATCH", "/objects/contact/fields/age", {"json": ["x"]}),
        ("PATCH", "/objects/contact/fields/full_name", {"json": {"type": "date"}}),
        ("PATCH", "/objects/contact/fields/full_name", {"json": {"max_length": 2}}),
        ("PATCH", "/objects/contact/fields/full_name", {"json": {"unique": True, "type": "rich_text"}}),
        ("PATCH", "/objects/contact/fields/region", {"json": {"options": []}}),
        ("PATCH", "/objects/contact", {"json": {"name": "renamed"}}),
        ("PATCH", "/objects/contact", {"json": {"label": None}}),
        ("PATCH", "/objects/contact", {"json": {"title_field": "nope"}}),
        ("PUT", "/objects/contact/layouts/form", {"json": {"sections": [{"fields": ["nope", "nope"]}]}}),
        ("PUT", "/objects/contact/layouts/weird name", {"json": {"columns": ["age"]}}),
        ("PUT", "/objects/contact/layouts/list", {"json": {"columns": ["age"], "sort": "-nope"}}),
        ("PUT", "/objects/contact/pipeline", {"json": {"stages": [{"name": "a", "required_fields": ["nope"]}]}}),
        ("PUT", "/objects/contact/pipeline", {"json": {"stages": "a,b"}}),
        ("DELETE", "/objects/account", {}),
        ("GET", "/objects/contact/layouts/nope", {}),
        ("POST", "/objects/contact", {"json": {}}),
        # written last: they break if an earlier bad definition was wrongly accepted
        ("POST", "/records/contact", {"json": {"age": 500}}),
        ("POST", "/records/contact", {"json": {"rk": 10}}),
        ("PATCH", r, {"json": {"age": -1}}),
    ]


def test_no_hostile_request_gets_a_500(api, contact):
    failures = []
    for method, path, kwargs in hostile_requests(contact):
        response = getattr(api.client, method.lower())("/api/v1" + path, headers=api._headers(), **kwargs)
        body = response.get_json(silent=True)
        has_code = isinstance(body, dict) and isinstance(body.get("error"), dict) and bool(body["error"].get("code"))
        if not 400 <= response.status_code < 500 or not has_code:
            failures.append(f"{method} {path} {str(kwargs)[:120]} -> {response.status_code} {str(body)[:160]}")
    assert not failures, "\n".join(failures)
    assert api.get(f"/records/contact/{contact}").status_code == 200


def test_record_errors_carry_codes_and_parameters_beside_the_messages(api, contact):
    """Clients (and the admin UI's translations) read codes, not the English text."""
    error = error_of(api.post("/records/contact", json={"age": 200, "region": "north", "interests": ["x"],
                                                         "met_on": "soon"}), 422)
    assert error["code"] == "validation_error" and error["reason"] == "invalid_record"
    assert error["details"]["age"] == ["Must be greater than or equal to 0 and less than or equal to 150."]
    assert error["problems"] == {
        "age": [{"code": "between", "params": {"min": 0, "max": 150}}],
        "region": [{"code": "choice", "params": {"choices": ["east", "west"]}}],
        "interests": [{"code": "choice", "params": {"choices": ["vip", "new"]}}],
        "met_on": [{"code": "not_date", "params": {}}],
    }
    error = error_of(api.post("/records/contact", json={"account": 99}), 422)
    assert error["problems"] == {"account": [{"code": "lookup_not_found", "params": {"object": "account", "id": 99}}]}


def test_stale_version_carries_its_reason(api, contact):
    api.patch(f"/records/contact/{contact}", json={"age": 37})
    error = error_of(api.patch(f"/records/contact/{contact}", json={"age": 38, "version": 1}), 409)
    assert error["code"] == "conflict" and error["reason"] == "stale_version"
    assert error["params"] == {"object": "contact", "id": contact, "current": 2, "sent": 1}
    assert "was changed by someone else" in error["message"]
