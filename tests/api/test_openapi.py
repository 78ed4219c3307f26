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


DATA_PATHS = {
    "/reports": {"get", "post"},
    "/reports/{id}": {"get", "put", "delete"},
    "/reports/{id}/run": {"get"},
    "/reports/run": {"post"},
    "/reports/funnel/{object}": {"get"},
    "/reports/won-lost/{object}": {"get"},
    "/dashboards": {"get", "post"},
    "/dashboards/{id}": {"get", "put", "delete"},
    "/dashboards/{id}/run": {"get"},
    "/dashboards/{id}/widgets/{n}/csv": {"get"},
    "/views": {"get", "post"},
    "/views/{id}": {"get", "patch", "delete"},
}


def test_document_describes_reports_dashboards_and_views_with_their_schemas(api):
    document = api.get("/openapi.json").json
    validate(document)
    paths = document["paths"]
    for path, methods in DATA_PATHS.items():
        assert methods <= set(paths[path]) - {"parameters"}, path
    schemas = document["components"]["schemas"]
    post = paths["/dashboards"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DashboardInput"}
    # The dashboard schema is metadata's own file: the same widget limits as the server's check.
    widgets = schemas["DashboardInput"]["properties"]["widgets"]
    assert widgets["maxItems"] == 30 and widgets["items"] == {"$ref": "#/components/schemas/DashboardWidget"}
    assert schemas["DashboardWidget"]["properties"]["width"] == {"type": "integer", "minimum": 1, "maximum": 3}
    assert set(schemas["ReportInput"]["properties"]["group_by"]["items"]["properties"]["bucket"]["enum"]) >= {"month", "quarter"}
    assert "text/csv" in paths["/dashboards/{id}/widgets/{n}/csv"]["get"]["responses"]["200"]["content"]
    assert set(paths["/reports/{id}/run"]["get"]["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert paths["/views/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ViewPatch"}


def test_what_the_document_describes_is_what_the_endpoints_take_and_answer(api):
    """A dashboard built from the document's schemas is accepted, and its answer has the described keys."""
    from jsonschema import Draft202012Validator

    document = api.get("/openapi.json").json
    api.post("/objects", json=DEAL)
    report = api.post("/reports", json={"name": "Deals", "object": "deal", "chart": "bar"})
    assert report.status_code == 201, report.json
    body = {"name": "Board", "shared": True, "widgets": [{"report": report.json["id"], "width": 2}]}
    resolver_root = {"components": document["components"]}
    schema = {**document["components"]["schemas"]["DashboardInput"], "components": document["components"]}
    Draft202012Validator(schema).validate(body)
    created = api.post("/dashboards", json=body)
    assert created.status_code == 201
    described = document["components"]["schemas"]
    Draft202012Validator({**described["Dashboard"], **resolver_root}).validate(created.json)
    Draft202012Validator({**described["Report"], **resolver_root}).validate(report.json)
    run_report = api.get(f"/reports/{report.json['id']}/run").json
    Draft202012Validator({**described["ReportRun"], **resolver_root}).validate(run_report)
    view = api.post("/views", json={"object": "deal", "name": "Big", "sort": "-amount"})
    assert view.status_code == 201, view.json
    Draft202012Validator({**described["View"], **resolver_root}).validate(view.json)
    run = api.get(f"/dashboards/{created.json['id']}/run").json
    run_schema = {**document["components"]["schemas"]["DashboardRun"], **resolver_root}
    Draft202012Validator(run_schema).validate(run)
