"""Record endpoints: CRUD, lists with filters, and a record's stage history."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from crm_platform.core.errors import Conflict
from metadata import RecordService
from metadata.duplicates import matches_for

from .context import json_body, unit_of_work


def register(api: Blueprint) -> None:
    @api.get("/records/<name>")
    def list_records(name: str):
        with unit_of_work() as session:
            service = RecordService(session)
            query = service.parse_list(name, request.args.to_dict(flat=False), current_app.config["CRM_MAX_PER_PAGE"])
            rows, total = service.list(name, query)
            return jsonify({"data": rows, "meta": {"total": total, "page": query.page, "per_page": query.per_page}})

    @api.post("/records/<name>")
    def create_record(name: str):
        """Create a record; duplicate rules may block it (409) or flag it (``X-CRM-Duplicates``)."""
        data = json_body()
        with unit_of_work() as session:
            service = RecordService(session)
            service.object(name)
            found = matches_for(session, name, data)
            blocking = [f for f in found if f["action"] == "block"]
            if blocking:
                raise Conflict(
                    f"looks like a duplicate of {name} {blocking[0]['records'][0]} (rule {blocking[0]['rule']!r})",
                    {"duplicates": blocking},
                )
            response = jsonify(service.create(name, data))
        if found:
            response.headers["X-CRM-Duplicates"] = ",".join(str(i) for f in found for i in f["records"])
        return response, 201

    @api.get("/records/<name>/<record_id>")
    def get_record(name: str, record_id: str):
        with unit_of_work() as session:
            return jsonify(RecordService(session).get(name, record_id))

    @api.patch("/records/<name>/<record_id>")
    def update_record(name: str, record_id: str):
        data = json_body()
        with unit_of_work() as session:
            return jsonify(RecordService(session).update(name, record_id, data))

    @api.delete("/records/<name>/<record_id>")
    def delete_record(name: str, record_id: str):
        with unit_of_work() as session:
            RecordService(session).delete(name, record_id)
        return "", 204

    @api.get("/records/<name>/<record_id>/stage-history")
    def stage_history(name: str, record_id: str):
        with unit_of_work() as session:
            return jsonify({"data": RecordService(session).stage_history(name, record_id)})
