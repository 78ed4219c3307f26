"""Metadata endpoints: objects, fields, layouts, pipelines."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from crm_platform.core.errors import NotFound
from crm_platform.core.permissions import access_policy
from metadata import Designer, layout_of, load_model

from .context import json_body, require, unit_of_work


def object_document(obj: Any, hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An object's definition as the caller may see it (fields hidden from them left out)."""
    document = dict(obj.document)
    document["layouts"] = {**{k: layout_of(obj, k) for k in ("form", "list")}, **obj.layouts}
    if hidden:
        document["fields"] = [f for f in document["fields"] if f["name"] not in hidden]
    return document


def _visible(session: Any, name: str) -> Any:
    """The object's definition if the caller may read its records (customizers see everything)."""
    policy = access_policy(session)
    obj = load_model(session).object(name).definition
    if policy.customize or policy.scope(name, "read") != "none":
        return obj, frozenset() if policy.customize else _hidden(policy, name)
    raise NotFound(f"object {name!r} does not exist")


def _hidden(policy: Any, name: str) -> frozenset[str]:
    return frozenset(f for f, access in policy.restricted(name).items() if access == "hidden")


def register(api: Blueprint) -> None:
    @api.get("/objects")
    def list_objects():
        with unit_of_work() as session:
            model = load_model(session)
            policy = access_policy(session)
            documents = [
                object_document(o, frozenset() if policy.customize else _hidden(policy, name))
                for name, o in model.definitions.items()
                if policy.customize or policy.scope(name, "read") != "none"
            ]
            return jsonify({"data": documents})

    @api.post("/objects")
    def create_object():
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            Designer(session).create_object(document)
            created = load_model(session).definitions[document["name"]]
            return jsonify(object_document(created)), 201

    @api.get("/objects/<name>")
    def get_object(name: str):
        with unit_of_work() as session:
            return jsonify(object_document(*_visible(session, name)))

    @api.patch("/objects/<name>")
    def update_object(name: str):
        patch = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            Designer(session).update_object(name, patch)
            return jsonify(object_document(load_model(session).object(name).definition))

    @api.delete("/objects/<name>")
    def delete_object(name: str):
        with unit_of_work() as session:
            require(session, "customize")
            Designer(session).delete_object(name)
        return "", 204

    @api.post("/objects/<name>/fields")
    def add_field(name: str):
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(Designer(session).add_field(name, document)), 201

    @api.get("/objects/<name>/fields/<field>")
    def get_field(name: str, field: str):
        with unit_of_work() as session:
            obj, hidden = _visible(session, name)
            fd = obj.field(field)
            if fd is None or field in hidden:
                raise NotFound(f"field {field!r} does not exist on {name}")
            return jsonify(fd.document)

    @api.patch("/objects/<name>/fields/<field>")
    def update_field(name: str, field: str):
        patch = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(Designer(session).update_field(name, field, patch))

    @api.delete("/objects/<name>/fields/<field>")
    def delete_field(name: str, field: str):
        with unit_of_work() as session:
            require(session, "customize")
            Designer(session).delete_field(name, field)
        return "", 204

    @api.get("/objects/<name>/layouts/<layout>")
    def get_layout(name: str, layout: str):
        with unit_of_work() as session:
            document = layout_of(_visible(session, name)[0], layout)
            if document is None:
                raise NotFound(f"layout {layout!r} does not exist on {name}")
            return jsonify(document)

    @api.put("/objects/<name>/layouts/<layout>")
    def put_layout(name: str, layout: str):
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(Designer(session).put_layout(name, layout, document))

    @api.get("/objects/<name>/pipeline")
    def get_pipeline(name: str):
        with unit_of_work() as session:
            pipeline = _visible(session, name)[0].pipeline
            return jsonify(pipeline or {"stages": []})

    @api.put("/objects/<name>/pipeline")
    def put_pipeline(name: str):
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(Designer(session).put_pipeline(name, document) or {"stages": []})
