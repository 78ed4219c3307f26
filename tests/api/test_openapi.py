"""The live OpenAPI document: valid, and describing every object of the caller's tenant as it is now."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.api.test_security import ACCOUNT, DEAL


def test_document_is_valid_openapi_and_follows_the_metadata(api):
    api.post("/objects", json=DEAL)
    api.post("/objects", json=ACCOUNT)
    api.put("/objects/deal/pipeline", json={"stages": [{"name": "open"}, {"name": "won"}]})
    document = api.get("/openapi.json").json
    validate(document)
    schemas = document["components"]["schemas"]
    assert set(schemas["Deal"]["properties"]) >= {"id", "title", "amount", "stage", "version"}
    assert schemas["Deal"]["properties"]["stage"]["enum"] == ["open", "won", None]
    assert "id" not in schemas["DealInput"]["properties"] and "amount" in schemas["DealInput"]["properties"]
    assert set(document["paths"]) >= {"/records/deal", "/records/deal/{id}", "/records/account"}
    api.post("/objects/deal/fields", json={"name": "region", "type": "picklist", "options": [{"value": "east"}]})
    again = api.get("/openapi.json").json
    validate(again)
    assert again["components"]["schemas"]["Deal"]["properties"]["region"]["enum"] == ["east", None]
