"""Meaning checks of object definitions: the platform remembers objects it found valid, so the same
definition is not checked again, but a definition is still judged in its tenant's surroundings."""

from __future__ import annotations

ACCOUNT = {"name": "account", "label": "Account", "fields": [{"name": "name", "type": "text"}]}
CONTACT = {
    "name": "contact",
    "label": "Contact",
    "fields": [
        {"name": "name", "type": "text"},
        {"name": "account", "type": "lookup", "target": "account"},
        {"name": "score", "type": "formula", "expression": "1 + 1", "result_type": "integer"},
    ],
}


def test_a_definition_found_valid_in_one_tenant_is_refused_where_its_lookup_target_is_missing(tenant_factory):
    first, second = tenant_factory(), tenant_factory()
    assert first.api.post("/objects", json=ACCOUNT).status_code == 201
    assert first.api.post("/objects", json=CONTACT).status_code == 201
    refused = second.api.post("/objects", json=CONTACT)
    assert refused.status_code == 422
    assert "unknown target object 'account'" in refused.json["error"]["details"]["fields[1].target"][0]
    assert second.api.post("/objects", json=ACCOUNT).status_code == 201
    assert second.api.post("/objects", json=CONTACT).status_code == 201


def test_an_invalid_definition_is_refused_every_time(tenant_factory):
    broken = {**CONTACT, "name": "lead", "fields": [*CONTACT["fields"][:1],
                                                      {"name": "total", "type": "formula", "expression": "name +",
                                                       "result_type": "integer"}]}
    for handle in (tenant_factory(), tenant_factory()):
        for _ in range(2):
            refused = handle.api.post("/objects", json=broken)
            assert refused.status_code == 422
            assert "fields[1].expression" in refused.json["error"]["details"]


def test_a_changed_definition_is_checked_again(api):
    assert api.post("/objects", json=ACCOUNT).status_code == 201
    assert api.post("/objects", json=CONTACT).status_code == 201
    refused = api.patch("/objects/contact/fields/score", json={"expression": "unknown_field * 2"})
    assert refused.status_code == 422
    assert api.get("/objects/contact").json["fields"][2]["expression"] == "1 + 1"
