"""``GET /api/v1/openapi.json``: the OpenAPI document of the caller's tenant as it is now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from metadata import FIELD_TYPES, label_text, load_model

from . import openapi_data
from .context import unit_of_work

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
            },
            "required": ["code", "message"],
        }
    },
}
SYSTEM_PROPERTIES = {
    "id": {"type": "integer", "readOnly": True},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": ["integer", "null"], "readOnly": True},
    "updated_by": {"type": ["integer", "null"], "readOnly": True},
    "owner_id": {"type": ["integer", "null"]},
    "version": {"type": "integer", "readOnly": True, "description": "send it back on update for optimistic locking"},
}


def _field_schema(fd: Any) -> dict[str, Any]:
    schema = dict(FIELD_TYPES[fd.type].json_schema(fd))
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    title = label_text(fd.label) if fd.label else None
    if title:
        schema["title"] = title
    if fd.help:
        schema["description"] = label_text(fd.help)
    return schema


def _component_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def build_document(model: Any, tenant: str, policy: Any) -> dict[str, Any]:
    """The tenant's API as this caller may use it: readable objects, visible and writable fields."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    errors = {
        "401": {"description": "missing or invalid token", "content": _json("Error")},
        "404": {"description": "not found", "content": _json("Error")},
        "422": {"description": "invalid input", "content": _json("Error")},
    }
    for name, obj in sorted(model.objects.items()):
        if policy.scope(name, "read") == "none":
            continue
        restricted = policy.restricted(name)
        component = _component_name(name)
        properties = {**SYSTEM_PROPERTIES}
        if obj.has_pipeline:
            properties["stage"] = {"type": ["string", "null"], "enum": [*obj.stages, None]}
        writable: dict[str, Any] = {"owner_id": {"type": ["integer", "null"]}}
        if obj.has_pipeline:
            writable["stage"] = properties["stage"]
        for fd in obj.definition.fields:
            access = restricted.get(fd.name)
            if access == "hidden":
                continue
            properties[fd.name] = _field_schema(fd)
            if access == "masked":
                properties[fd.name] = {"type": ["string", "null"], "readOnly": True, "description": "masked"}
            elif access == "read_only":
                properties[fd.name] = {**properties[fd.name], "readOnly": True}
            elif not fd.computed:
                writable[fd.name] = properties[fd.name]
        components[component] = {"type": "object", "title": obj.label(), "properties": properties}
        components[f"{component}Input"] = {
            "type": "object",
            "properties": writable,
            "required": [r for r in obj.required if r in writable],
            "additionalProperties": False,
        }
        components[f"{component}Patch"] = {
            "type": "object",
            "properties": {**writable, "version": {"type": "integer"}},
            "additionalProperties": False,
        }
        list_parameters = [
            {"name": "filter", "in": "query", "schema": {"type": "string"}, "description": "condition tree as JSON"},
            {"name": "q", "in": "query", "schema": {"type": "string"}},
            {"name": "sort", "in": "query", "schema": {"type": "string"}, "example": "-id"},
            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
            *({"name": field_name, "in": "query", "schema": {"type": "string"}, "required": False}
              for field_name, ref in obj.field_refs.items()
              if field_name not in policy.unreadable(name) and ref.kind != "tags"),
        ]
        item = {"type": "object", "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{component}"}},
            "meta": {"type": "object", "properties": {"total": {"type": "integer"}, "page": {"type": "integer"},
                                                      "per_page": {"type": "integer"}}},
        }}
        paths[f"/records/{name}"] = {
            "get": {"summary": f"List {obj.label()} records", "tags": [name], "parameters": list_parameters,
                    "responses": {"200": {"description": "a page of records", "content": {"application/json": {"schema": item}}}, **errors}},
            "post": {"summary": f"Create a {obj.label()}", "tags": [name],
                     "requestBody": {"required": True, "content": _json(f"{component}Input")},
                     "responses": {"201": {"description": "created", "content": _json(component)}, **errors}},
        }
        id_parameter = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
        paths[f"/records/{name}/{{id}}"] = {
            "parameters": id_parameter,
            "get": {"summary": f"Read a {obj.label()}", "tags": [name],
                    "responses": {"200": {"description": "the record", "content": _json(component)}, **errors}},
            "patch": {"summary": f"Update a {obj.label()}", "tags": [name],
                      "requestBody": {"required": True, "content": _json(f"{component}Patch")},
                      "responses": {"200": {"description": "updated", "content": _json(component)},
                                    "409": {"description": "stale version", "content": _json("Error")}, **errors}},
            "delete": {"summary": f"Delete a {obj.label()}", "tags": [name],
                       "responses": {"204": {"description": "deleted"}, **errors}},
        }
    paths["/objects"] = {
        "get": {"summary": "List object definitions", "tags": ["metadata"], "responses": {"200": {"description": "definitions"}}},
        "post": {"summary": "Create an object", "tags": ["metadata"], "responses": {"201": {"description": "created"}, **errors}},
    }
    components.update(openapi_data.components())
    paths.update(openapi_data.paths({**errors, "400": {"description": "unreadable body", "content": _json("Error")}}))
    return {
        "openapi": "3.1.0",
        "info": {"title": f"CRM API ({tenant})", "version": str(model.version)},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _json(component: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}


def register(api: Blueprint) -> None:
    @api.get("/openapi.json")
    def openapi_document():
        from flask import g

        from crm_platform.core.permissions import access_policy

        with unit_of_work() as session:
            return jsonify(build_document(load_model(session), g.tenant, access_policy(session)))
