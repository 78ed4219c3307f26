"""Approval endpoints: processes (versioned definitions), submitting records, the inbox, decisions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from crm_platform.core.errors import ValidationError
from metadata import RecordService
from workflow_engine import (
    create_process,
    decide,
    delegate,
    delete_process,
    get_process,
    get_request,
    list_processes,
    list_requests,
    recall,
    submit,
    update_process,
)
from workflow_engine.approval_definitions import process_versions

from .context import json_body, page_arguments, require, unit_of_work


def _optional_body() -> dict[str, Any]:
    """A decision's body is optional (``{"comment": ...}``); when sent it must be a JSON object."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


def _only(document: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(unknown)}", {k: ["unknown field"] for k in unknown})


def _flag(name: str) -> bool:
    value = request.args.get(name, "0")
    if value not in ("0", "1", "true", "false"):
        raise ValidationError(f"{name} is 1 or 0", {name: ["expected 1 or 0"]})
    return value in ("1", "true")


def register(api: Blueprint) -> None:
    # -- processes -----------------------------------------------------------------------------

    @api.get("/approval-processes")
    def processes_index():
        with unit_of_work() as session:
            return jsonify({"data": list_processes(session, request.args.get("object"))})

    @api.post("/approval-processes")
    def processes_create():
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(create_process(session, document)), 201

    @api.get("/approval-processes/<process_id>")
    def processes_show(process_id: str):
        with unit_of_work() as session:
            return jsonify(get_process(session, process_id))

    @api.patch("/approval-processes/<process_id>")
    def processes_update(process_id: str):
        patch = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(update_process(session, process_id, patch))

    @api.delete("/approval-processes/<process_id>")
    def processes_delete(process_id: str):
        with unit_of_work() as session:
            require(session, "customize")
            delete_process(session, process_id)
        return "", 204

    @api.get("/approval-processes/<process_id>/versions")
    def processes_versions(process_id: str):
        with unit_of_work() as session:
            return jsonify({"data": process_versions(session, process_id)})

    # -- requests ------------------------------------------------------------------------------

    @api.post("/records/<name>/<record_id>/submit")
    def records_submit(name: str, record_id: str):
        document = json_body()
        _only(document, {"process", "comment"})
        with unit_of_work() as session:
            RecordService(session).get(name, record_id)  # the submitter must be able to read the record
            return jsonify(submit(session, name, record_id, document.get("process"), document.get("comment"))), 201

    @api.get("/approvals")
    def approvals_index():
        page, per_page = page_arguments()
        with unit_of_work() as session:
            rows, total = list_requests(
                session, status=request.args.get("status"), mine=_flag("mine"), submitted=_flag("submitted"),
                object_name=request.args.get("object"), record_id=request.args.get("record"),
                page=page, per_page=per_page)
            return jsonify({"data": rows, "meta": {"total": total, "page": page, "per_page": per_page}})

    @api.get("/approvals/<request_id>")
    def approvals_show(request_id: str):
        with unit_of_work() as session:
            return jsonify(get_request(session, request_id))

    def act(request_id: str, decision: str) -> Any:
        document = _optional_body()
        _only(document, {"comment", "to"} if decision == "delegate" else {"comment"})
        with unit_of_work() as session:
            if decision == "recall":
                answer = recall(session, request_id, document.get("comment"))
            elif decision == "delegate":
                answer = delegate(session, request_id, document.get("to"), document.get("comment"))
            else:
                answer = decide(session, request_id, decision, document.get("comment"))
            return jsonify(answer)

    @api.post("/approvals/<request_id>/approve")
    def approvals_approve(request_id: str):
        return act(request_id, "approve")

    @api.post("/approvals/<request_id>/reject")
    def approvals_reject(request_id: str):
        return act(request_id, "reject")

    @api.post("/approvals/<request_id>/recall")
    def approvals_recall(request_id: str):
        return act(request_id, "recall")

    @api.post("/approvals/<request_id>/delegate")
    def approvals_delegate(request_id: str):
        return act(request_id, "delegate")
