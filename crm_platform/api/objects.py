"""Metadata endpoints: objects, fields, layouts, pipelines."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from crm_platform.core.errors import NotFound
from metadata import Designer, layout_of, load_model

from .context import json_body, require_admin, unit_of_work


def object_document(obj: Any) -> dict[str, Any]:
    document = dict(obj.document)
    document["layouts"] = {**{k: layout_of(obj, k) for k in ("form", "list")}, **obj.layouts}
    return document


def register(api: Blueprint) -> None:
    @api.get("/objects")
    def list_objects():
        with unit_of_work() as session:
            model = load_model(session)
            return jsonify({"data": [object_document(o) for o in model.definitions.values()]})

    @api.post("/objects")
    def create_object():
        require_admin()
        document = json_body()
        with unit_of_work() as session:
            Designer(session).create_object(document)
            created = load_model(session).definitions[document["name"]]
            return jsonify(object_document(created)), 201

    @api.get("/objects/<name>")
    def get_object(name: str):
        with unit_of_work() as session:
            return jsonify(object_document(load_model(session).object(name).definition))

    @api.patch("/objects/<name>")
    def update_object(name: str):
        require_admin()
        patch = json_body()
        with unit_of_work() as session:
            Designer(session).update_object(name, patch)
            return jsonify(object_document(load_model(session).object(name).definition))

    @api.delete("/objects/<name>")
    def delete_object(name: str):
        require_admin()
        with unit_of_work() as session:
            Designer(session).delete_object(name)
        return "", 204

    @api.post("/objects/<name>/fields")
    def add_field(name: str):
        require_admin()
        document = json_body()
        with unit_of_work() as session:
            return jsonify(Designer(session).add_field(name, document)), 201

    @api.get("/objects/<name>/fields/<field>")
    def get_field(name: str, field: str):
        with unit_of_work() as session:
            fd = load_model(session).object(name).fields.get(field)
            if fd is None:
                raise NotFound(f"field {field!r} does not exist on {name}")
            return jsonify(fd.document)

    @api.patch("/objects/<name>/fields/<field>")
    def update_field(name: str, field: str):
        require_admin()
        patch = json_body()
        with unit_of_work() as session:
            return jsonify(Designer(session).update_field(name, field, patch))

    @api.delete("/objects/<name>/fields/<field>")
    def delete_field(name: str, field: str):
        require_admin()
        with unit_of_work() as session:
            Designer(session).delete_field(name, field)
        return "", 204

    @api.get("/objects/<name>/layouts/<layout>")
    def get_layout(name: str, layout: str):
        with unit_of_work() as session:
            document = layout_of(load_model(session).object(name).definition, layout)
            if document is None:
                raise NotFound(f"layout {layout!r} does not exist on {name}")
            return jsonify(document)

    @api.put("/objects/<name>/layouts/<layout>")
    def put_layout(name: str, layout: str):
        require_admin()
        document = json_body()
        with unit_of_work() as session:
            return jsonify(Designer(session).put_layout(name, layout, document))

    @api.get("/objects/<name>/pipeline")
    def get_pipeline(name: str):
        with unit_of_work() as session:
            pipeline = load_model(session).object(name).definition.pipeline
            return jsonify(pipeline or {"stages": []})

    @api.put("/objects/<name>/pipeline")
    def put_pipeline(name: str):
        require_admin()
        document = json_body()
        with unit_of_work() as session:
            return jsonify(Designer(session).put_pipeline(name, document) or {"stages": []})
