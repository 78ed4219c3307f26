"""Every field type in the registry, through the public API: define, write, read, filter, change, drop.

The parameter lists come from ``metadata.field_types.FIELD_TYPES``: a new type is picked up here
automatically and fails loudly until it gets an entry in ``SPECS`` (its definition extras and values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest

from crm_platform.core.users import create_user
from metadata.field_types import FIELD_TYPES

NOTHING = object()  # "no such value" (a type without an invalid value, a computed type's input)


@dataclass(frozen=True)
class Ref:
    """A value only known at run time: the id of the n-th account record or the n-th user."""

    kind: str  # "accounts" | "users"
    index: int


@dataclass
class Spec:
    """How to exercise one field type.

    For a writable type: ``value`` is written, read back as ``expected`` (default: ``value``), and
    changed to ``changed``; ``invalid`` must be refused. For a computed type, ``data`` (companion
    fields' values) is written, the field reads back as ``expected``; ``change`` is a PATCH of the
    companions that makes it read ``changed``; writing ``invalid`` into the field must be refused.
    """

    extras: dict[str, Any] = field(default_factory=dict)
    value: Any = NOTHING
    expected: Any = NOTHING
    changed: Any = NOTHING
    invalid: Any = NOTHING
    #: Other fields the object needs (a formula's inputs) and their values.
    companions: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    change: dict[str, Any] = field(default_factory=dict)
    #: How the list is filtered: query-string operator suffix and condition-tree operator/value.
    suffix: str = ""
    operator: str = "equal"
    filter_value: Any = NOTHING
    query_value: str | None = None


QTY = {"name": "qty", "type": "integer"}
COLOURS = [{"value": v, "label": v.title()} for v in ("red", "green", "blue")]

SPECS: dict[str, Spec] = {
    "text": Spec(value="Acme 有限公司", changed="Beta Inc", invalid=12345),
    "textarea": Spec(value="line one\nline two", changed="shorter", invalid=["not", "text"]),
    "rich_text": Spec(value="<p>Hello <b>world</b></p>", changed="<p>Bye</p>", invalid={"html": "x"}),
    "integer": Spec(value=42, changed=-7, invalid="forty-two"),
    "decimal": Spec(extras={"scale": 2}, value=12.5, changed=0.25, invalid="12.5x"),
    "currency": Spec(value=1999.99, changed=10.5, invalid="ten dollars"),
    "percent": Spec(value=12.5, changed=99.99, invalid="half"),
    "boolean": Spec(value=True, changed=False, invalid="maybe", query_value="true"),
    "date": Spec(value="2024-03-15", changed="2025-01-31", invalid="2024-02-30"),
    "datetime": Spec(value="2024-03-15T10:30:00Z", changed="2024-12-31T23:59:59Z", invalid="next tuesday"),
    "email": Spec(value="ada@example.com", changed="grace@example.org", invalid="not-an-email"),
    "phone": Spec(value="+86 10 1234 5678", changed="+1 (555) 010-9999", invalid="call me maybe"),
    "url": Spec(value="https://example.com/deals?id=1", changed="http://crm.example.org/", invalid="javascript:alert(1)"),
    "picklist": Spec(extras={"options": COLOURS}, value="red", changed="blue", invalid="purple"),
    "multi_picklist": Spec(
        extras={"options": COLOURS}, value=["red", "blue"], changed=["green"], invalid=["red", "purple"],
        suffix="__contains", operator="contains", filter_value="red",
    ),
    "lookup": Spec(extras={"target": "account"}, value=Ref("accounts", 0), changed=Ref("accounts", 1), invalid=999999),
    "user": Spec(value=Ref("users", 0), changed=Ref("users", 1), invalid=999999),
    "formula": Spec(
        extras={"expression": "qty * 2", "result_type": "integer"}, companions=[QTY],
        data={"qty": 3}, expected=6, change={"qty": 5}, changed=10, invalid=99,
    ),
    "autonumber": Spec(extras={"format": "INV-{0000}"}, expected="INV-0001", invalid="INV-9999"),
}

ALL_TYPES = sorted(FIELD_TYPES)
WRITABLE_TYPES = [name for name in ALL_TYPES if not FIELD_TYPES[name].computed]


def spec_for(type_name: str) -> Spec:
    spec = SPECS.get(type_name)
    if spec is None:
        pytest.fail(f"field type {type_name!r} is in the registry but has no entry in SPECS of {__file__}; add one")
    return spec


class Refs:
    """Records and users that lookup and user values point at, made on first use."""

    def __init__(self, tenant: Any) -> None:
        self.tenant = tenant
        self.api = tenant.api

    @cached_property
    def accounts(self) -> list[int]:
        response = self.api.post("/objects", json={"name": "account", "label": "Account",
                                                   "fields": [{"name": "title", "type": "text"}]})
        assert response.status_code == 201, response.json
        return [self.api.post("/records/account", json={"title": t}).json["id"] for t in ("Acme", "Globex")]

    @cached_property
    def users(self) -> list[int]:
        with self.tenant.session() as session:
            other = create_user(session, "second@example.com", "another long password")
        return [self.tenant.admin_id, other["id"]]

    def resolve(self, value: Any) -> Any:
        return getattr(self, value.kind)[value.index] if isinstance(value, Ref) else value


def field_def(type_name: str, spec: Spec, refs: Refs, **more: Any) -> dict[str, Any]:
    if type_name == "lookup":
        refs.accounts  # the target object must exist first
    return {"name": f"my_{type_name}", "type": type_name, "label": f"My {type_name}", **spec.extras, **more}


def expected_of(spec: Spec, refs: Refs) -> Any:
    return refs.resolve(spec.value if spec.expected is NOTHING else spec.expected)


def condition(name: str, operator: str, value: Any) -> str:
    return json.dumps({"condition": "AND", "rules": [{"field": name, "operator": operator, "value": value}]})


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json
    return [row["id"] for row in response.json["data"]]


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_field_type_lifecycle(tenant, type_name):
    spec, api, refs = spec_for(type_name), tenant.api, Refs(tenant)
    computed = FIELD_TYPES[type_name].computed
    name = f"my_{type_name}"
    value, changed, expected = refs.resolve(spec.value), refs.resolve(spec.changed), expected_of(spec, refs)

    created = api.post("/objects", json={"name": "thing", "label": "Thing",
                                         "fields": [*spec.companions, field_def(type_name, spec, refs)]})
    assert created.status_code == 201, created.json
    assert [f["type"] for f in created.json["fields"] if f["name"] == name] == [type_name]

    record = api.post("/records/thing", json=dict(spec.data) if computed else {name: value, **spec.data})
    assert record.status_code == 201, record.json
    record_id = record.json["id"]
    other = api.post("/records/thing", json={} if computed else {name: changed})
    assert other.status_code == 201, other.json

    fetched = api.get(f"/records/thing/{record_id}")
    assert fetched.status_code == 200
    assert fetched.json[name] == expected

    filter_value = expected if spec.filter_value is NOTHING else spec.filter_value
    query_value = spec.query_value if spec.query_value is not None else str(filter_value)
    assert ids(api.get("/records/thing", query_string={name + spec.suffix: query_value})) == [record_id]
    assert ids(api.get("/records/thing", query_string={"filter": condition(name, spec.operator, filter_value)})) == [record_id]

    if computed:
        patch = spec.change
    else:
        patch = {name: changed, "version": 1}
    if patch:
        updated = api.patch(f"/records/thing/{record_id}", json=patch)
        assert updated.status_code == 200, updated.json
        assert api.get(f"/records/thing/{record_id}").json[name] == changed

    if spec.invalid is not NOTHING:
        refused = api.post("/records/thing", json={name: refs.resolve(spec.invalid)})
        # Writing a computed field is refused as read-only (403 since field permissions exist).
        assert refused.status_code in ((403, 422) if computed else (422,)), refused.json
        assert name in refused.json["error"]["details"]

    assert api.delete(f"/objects/thing/fields/{name}").status_code == 204
    after = api.get(f"/records/thing/{record_id}")
    assert after.status_code == 200, after.json
    assert name not in after.json and after.json["id"] == record_id
    assert api.get("/records/thing").json["meta"]["total"] == 2


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_add_field_to_object_that_holds_records(tenant, type_name):
    spec, api, refs = spec_for(type_name), tenant.api, Refs(tenant)
    name = f"my_{type_name}"
    api.post("/objects", json={"name": "item", "label": "Item", "fields": [{"name": "title", "type": "text"}, *spec.companions]})
    existing = [api.post("/records/item", json={"title": t, **spec.data}).json["id"] for t in ("one", "two")]

    added = api.post("/objects/item/fields", json=field_def(type_name, spec, refs))
    assert added.status_code == 201, added.json

    rows = {row["id"]: row for row in api.get("/records/item").json["data"]}
    if type_name == "autonumber":
        assert [rows[i][name] for i in existing] == ["INV-0001", "INV-0002"]
    elif FIELD_TYPES[type_name].computed:
        assert [rows[i][name] for i in existing] == [expected_of(spec, refs)] * 2
    else:
        assert [rows[i][name] for i in existing] == [None, None]
        new = api.post("/records/item", json={"title": "three", name: refs.resolve(spec.value)})
        assert new.status_code == 201, new.json
        assert new.json[name] == expected_of(spec, refs)


@pytest.mark.parametrize("type_name", WRITABLE_TYPES)
def test_added_field_default_fills_existing_records(tenant, type_name):
    spec, api, refs = spec_for(type_name), tenant.api, Refs(tenant)
    name = f"my_{type_name}"
    api.post("/objects", json={"name": "item", "label": "Item", "fields": [{"name": "title", "type": "text"}]})
    for title in ("one", "two"):
        api.post("/records/item", json={"title": title})

    added = api.post("/objects/item/fields", json=field_def(type_name, spec, refs, default=refs.resolve(spec.value)))
    assert added.status_code == 201, added.json

    listed = api.get("/records/item").json["data"]
    assert [row[name] for row in listed] == [expected_of(spec, refs)] * 2
    fresh = api.post("/records/item", json={"title": "three"})
    assert fresh.status_code == 201, fresh.json
    assert fresh.json[name] == expected_of(spec, refs)


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_bulk_created_records_are_audited_as_they_read(tenant, type_name):
    """The bulk path writes each record's audit entry as JSON text built column by column: it
    reads exactly as the record does, for every field type, with a value and without one."""
    from metadata import RecordService

    spec, api, refs = spec_for(type_name), tenant.api, Refs(tenant)
    computed = FIELD_TYPES[type_name].computed
    name = f"my_{type_name}"
    created = api.post("/objects", json={"name": "thing", "label": "Thing",
                                         "fields": [*spec.companions, field_def(type_name, spec, refs)]})
    assert created.status_code == 201, created.json
    filled = dict(spec.data) if computed else {name: refs.resolve(spec.value), **spec.data}
    with tenant.session() as session:
        made = RecordService(session).create_many("thing", [filled, {}, filled])
    for record in made:
        shown = api.get(f"/records/thing/{record['id']}").json
        entries = api.get("/audit", query_string={"object": "thing", "record": record["id"]}).json["data"]
        # A value the record was created without is absent from the entry (it reads as null).
        assert [(e["action"], {**dict.fromkeys(shown), **e["after"]}) for e in entries] == [("record.create", shown)]


def test_every_spec_names_a_registered_type():
    assert set(SPECS) <= set(FIELD_TYPES), f"stale specs: {set(SPECS) - set(FIELD_TYPES)}"
