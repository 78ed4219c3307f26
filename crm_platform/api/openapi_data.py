"""The OpenAPI description of the data endpoints that do not depend on one object: saved reports
(and running them), dashboards (running them, one widget as CSV) and saved views.

The dashboard schema is the metadata layer's own JSON Schema file, embedded as components (its
``$defs`` become ``Dashboard*`` components), so the API document and the server's check cannot
drift apart. Reports and views have no schema file; theirs are built from the same constants the
report service checks against.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from metadata.reports import BUCKETS, CHARTS, FUNCTIONS

ID = {"type": "integer", "readOnly": True}
OWNER = {"type": ["integer", "null"], "readOnly": True}
LABEL = {"$ref": "#/components/schemas/DashboardLabel"}
CONDITION = {"type": ["object", "null"], "description": "a condition tree (jQuery QueryBuilder format)",
             "properties": {"condition": {"enum": ["AND", "OR"]}, "rules": {"type": "array", "items": {"type": "object"}},
                            "not": {"type": "boolean"}}}
CHART_DATA = {"type": "object", "description": "Chart.js data", "properties": {
    "type": {"type": "string"}, "labels": {"type": "array", "items": {"type": "string"}},
    "datasets": {"type": "array", "items": {"type": "object", "properties": {
        "label": {"type": "string"}, "data": {"type": "array", "items": {"type": ["number", "null"]}}}}}}}


@cache
def _dashboard_schema() -> dict[str, Any]:
    text = resources.files("metadata").joinpath("schemas/dashboard.schema.json").read_text("utf-8")
    return json.loads(text)


def _embedded(node: Any) -> Any:
    """The schema file's ``#/$defs/x`` references as ``#/components/schemas/DashboardX``."""
    if isinstance(node, dict):
        return {k: (_component_ref(v) if k == "$ref" else _embedded(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_embedded(v) for v in node]
    return node


def _component_ref(ref: str) -> str:
    name = ref.removeprefix("#/$defs/")
    return f"#/components/schemas/Dashboard{name.capitalize()}" if name != "dashboard" else "#/components/schemas/DashboardInput"


def components() -> dict[str, Any]:
    """The schemas of reports, dashboards and views, their inputs and run results."""
    defs = _dashboard_schema()["$defs"]
    schemas: dict[str, Any] = {
        "DashboardLabel": _embedded(defs["label"]),
        "DashboardWidget": _embedded(defs["widget"]),
        "DashboardInput": _embedded(defs["dashboard"]),
    }
    nullable_label = {"oneOf": [LABEL, {"type": "null"}]}
    schemas["Dashboard"] = {"type": "object", "properties": {
        "id": ID, "name": {"type": "string"}, "label": nullable_label, "shared": {"type": "boolean"}, "owner_id": OWNER,
        "widgets": {"type": "array", "items": {"type": "object", "properties": {
            "report": {"$ref": "#/components/schemas/DashboardWidget/properties/report"}, "title": nullable_label,
            "chart": {"$ref": "#/components/schemas/DashboardWidget/properties/chart"}, "width": {"type": "integer"}}}}}}
    schemas["DashboardRun"] = {"type": "object", "properties": {
        "dashboard": {"$ref": "#/components/schemas/Dashboard"},
        "widgets": {"type": "array", "items": {"type": "object", "required": ["index", "report"], "properties": {
            "index": {"type": "integer"}, "title": {"oneOf": [LABEL, {"type": "null"}]},
            "width": {"type": "integer"}, "report": {"$ref": "#/components/schemas/DashboardWidget/properties/report"},
            "source": {"type": "string"}, "object": {"type": "string"},
            "columns": {"type": "array", "items": {"type": "string"}}, "rows": {"type": "array", "items": {"type": "array"}},
            "chart": CHART_DATA,
            "error": {"type": "object", "description": "instead of data: a widget the caller may not run",
                      "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}}}
    report_properties = {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "label": LABEL,
        "object": {"type": "string"},
        "condition": CONDITION,
        "group_by": {"type": "array", "maxItems": 2, "items": {"type": "object", "required": ["field"], "properties": {
            "field": {"type": "string"}, "bucket": {"enum": list(BUCKETS)}}}},
        "aggregates": {"type": "array", "items": {"type": "object", "required": ["fn"], "properties": {
            "fn": {"enum": list(FUNCTIONS)}, "field": {"type": "string"}}}},
        "chart": {"enum": list(CHARTS)},
        "shared": {"type": "boolean"}}
    schemas["ReportInput"] = {"type": "object", "required": ["name", "object"], "additionalProperties": False,
                              "properties": report_properties}
    schemas["Report"] = {"type": "object", "properties": {**report_properties, "id": ID, "owner_id": OWNER}}
    schemas["ReportResult"] = {"type": "object", "properties": {
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "array"}}, "chart": CHART_DATA}}
    schemas["ReportRun"] = {"allOf": [{"$ref": "#/components/schemas/ReportResult"}, {"type": "object", "properties": {
        "report": {"$ref": "#/components/schemas/Report"}}}]}
    schemas["Funnel"] = {"type": "object", "properties": {
        "object": {"type": "string"}, "chart": CHART_DATA,
        "stages": {"type": "array", "items": {"type": "object", "properties": {
            "stage": {"type": "string"}, "category": {"type": "string"}, "probability": {"type": ["number", "null"]},
            "reached": {"type": "integer"}, "current": {"type": "integer"},
            "conversion_to_next": {"type": ["number", "null"]}, "average_seconds_in_stage": {"type": ["number", "null"]}}}}}}
    schemas["WonLost"] = {"type": "object", "properties": {
        "object": {"type": "string"}, "bucket": {"enum": list(BUCKETS)}, "chart": CHART_DATA,
        "rows": {"type": "array", "items": {"type": "object", "properties": {
            "period": {"type": "string"}, "won": {"type": "integer"}, "lost": {"type": "integer"}}}}}}
    view_properties = {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "condition": CONDITION,
        "columns": {"type": ["array", "null"], "items": {"type": "string"}},
        "sort": {"type": ["string", "null"], "example": "-amount,name"},
        "shared": {"type": "boolean"}}
    schemas["ViewInput"] = {"type": "object", "required": ["object", "name"], "additionalProperties": False,
                            "properties": {"object": {"type": "string"}, **view_properties}}
    schemas["ViewPatch"] = {"type": "object", "additionalProperties": False, "properties": view_properties}
    schemas["View"] = {"type": "object", "properties": {
        "object": {"type": "string"}, **view_properties, "name": {"type": ["string", "null"]}, "id": ID, "owner_id": OWNER}}
    return schemas


def _json(component: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}


def _list(component: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"type": "object", "properties": {
        "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{component}"}}}}}}


def _id(name: str = "id", kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


CSV = {"text/csv": {"schema": {"type": "string"}}}


def _crud(tag: str, component: str, noun: str, replace: str, errors: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The collection and the item paths of a stored kind (list, create; read, change, delete)."""
    changed = {"200": {"description": f"the changed {noun}", "content": _json(component)},
               "403": {"description": f"only the owner of the {noun} or an admin", "content": _json("Error")}, **errors}
    item = {
        "parameters": [_id()],
        "get": {"summary": f"Read a {noun}", "tags": [tag],
                "responses": {"200": {"description": f"the {noun}", "content": _json(component)}, **errors}},
        replace: {"summary": f"{'Replace' if replace == 'put' else 'Change'} a {noun}", "tags": [tag],
                  "requestBody": {"required": True, "content": _json(f"{component}{'Input' if replace == 'put' else 'Patch'}")},
                  "responses": changed},
        "delete": {"summary": f"Delete a {noun}", "tags": [tag],
                   "responses": {"204": {"description": "deleted"}, "403": changed["403"], **errors}},
    }
    collection = {
        "get": {"summary": f"List the {noun}s you own or that are shared", "tags": [tag],
                "responses": {"200": {"description": f"{noun}s", "content": _list(component)}, **errors}},
        "post": {"summary": f"Create a {noun}", "tags": [tag],
                 "requestBody": {"required": True, "content": _json(f"{component}Input")},
                 "responses": {"201": {"description": "created", "content": _json(component)}, **errors}},
    }
    return collection, item


def paths(errors: dict[str, Any]) -> dict[str, Any]:
    """The paths of reports, dashboards and views (``errors``: the shared error responses)."""
    found: dict[str, Any] = {}
    found["/reports"], found["/reports/{id}"] = _crud("reports", "Report", "report", "put", errors)
    found["/reports/{id}/run"] = {"parameters": [_id()], "get": {
        "summary": "Run a saved report as the caller (their scopes and field access apply)", "tags": ["reports"],
        "parameters": [{"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]},
                        "description": "csv downloads the rows"}],
        "responses": {"200": {"description": "rows and Chart.js data, or the rows as CSV",
                              "content": {**_json("ReportRun"), **CSV}}, **errors}}}
    found["/reports/run"] = {"post": {
        "summary": "Run a report definition without saving it", "tags": ["reports"],
        "requestBody": {"required": True, "content": _json("ReportInput")},
        "responses": {"200": {"description": "rows and Chart.js data", "content": _json("ReportResult")}, **errors}}}
    found["/reports/funnel/{object}"] = {"parameters": [_id("object", "string")], "get": {
        "summary": "The built-in funnel of an object's pipeline", "tags": ["reports"],
        "responses": {"200": {"description": "per stage", "content": _json("Funnel")}, **errors}}}
    found["/reports/won-lost/{object}"] = {"parameters": [_id("object", "string")], "get": {
        "summary": "Records entering a won or a lost stage, per period", "tags": ["reports"],
        "parameters": [{"name": "bucket", "in": "query", "schema": {"enum": list(BUCKETS), "default": "month"}}],
        "responses": {"200": {"description": "per period", "content": _json("WonLost")}, **errors}}}
    found["/dashboards"], found["/dashboards/{id}"] = _crud("dashboards", "Dashboard", "dashboard", "put", errors)
    found["/dashboards/{id}/run"] = {"parameters": [_id()], "get": {
        "summary": "Run every widget as the caller; one they may not run has an error instead of data",
        "tags": ["dashboards"], "responses": {"200": {"description": "the widgets", "content": _json("DashboardRun")}, **errors}}}
    found["/dashboards/{id}/widgets/{n}/csv"] = {"parameters": [_id(), {**_id("n"), "description": "from 0"}], "get": {
        "summary": "One widget's rows as CSV", "tags": ["dashboards"],
        "responses": {"200": {"description": "the rows (UTF-8 with a byte-order mark)", "content": CSV},
                      "403": {"description": "the caller may not run this widget", "content": _json("Error")}, **errors}}}
    found["/views"], found["/views/{id}"] = _crud("views", "View", "saved view", "patch", errors)
    found["/views"]["get"]["parameters"] = [{"name": "object", "in": "query", "schema": {"type": "string"}}]
    return found


__all__ = ["components", "paths"]
