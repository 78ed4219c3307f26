"""Import endpoints: upload a CSV or XLSX file with a column mapping; preview; results and errors."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request

from crm_platform.core.errors import BadRequest, ValidationError
from metadata import import_jobs, importing

from .context import unit_of_work

MAX_FILE_BYTES = 50 * 1024 * 1024


def register(api: Blueprint) -> None:
    @api.post("/imports")
    def imports_create():
        """multipart: ``file``, ``object``, ``mapping`` (JSON), ``mode``, ``key``, ``on_error``, ``preview``."""
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError("send the file as multipart form field 'file'", {"file": ["required"]})
        content = upload.stream.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise ValidationError("the file is larger than 50 MB", {"file": ["too large"]})
        form = request.form
        object_name = form.get("object", "")
        try:
            mapping = json.loads(form.get("mapping", "")) if form.get("mapping") else None
        except ValueError as exc:
            raise BadRequest(f"mapping is not valid JSON: {exc}") from None
        with unit_of_work() as session:
            if mapping is None:
                mapping = importing.saved_mapping(session, object_name)
            result = import_jobs.start_import(
                session, object_name, upload.filename or "upload.csv", content, mapping,
                mode=form.get("mode", "insert"), key=form.get("key") or None, on_error=form.get("on_error", "abort"),
                preview=form.get("preview") in ("1", "true"),
            )
        if result["status"] == "queued":  # a large file: follow it at GET /imports/<id>
            with unit_of_work() as session:
                result = import_jobs.get_import_status(session, result["id"])
            return jsonify(result), 202 if result["status"] in ("queued", "running") else 201
        return jsonify(result), 200 if result["status"] == "preview" else 201

    @api.get("/imports/<import_id>")
    def imports_show(import_id: str):
        with unit_of_work() as session:
            return jsonify(import_jobs.get_import_status(session, import_id))

    @api.get("/imports/<import_id>/errors.csv")
    def imports_errors(import_id: str):
        with unit_of_work() as session:
            result = importing.get_import(session, import_id)
        return Response(importing.error_report(result), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="import-{result["id"]}-errors.csv"'})

    @api.get("/imports/mapping/<name>")
    def imports_mapping(name: str):
        with unit_of_work() as session:
            return jsonify({"object": name, "mapping": importing.saved_mapping(session, name)})
