"""Errors as JSON, in one place: ``{"error": {"code", "message", "details"}}``; never a stack trace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import jsonify
from werkzeug.exceptions import HTTPException

from crm_platform.core.errors import CRMError

if TYPE_CHECKING:
    from flask import Blueprint, Flask, Response


def error_response(code: str, message: str, status: int, details: dict | None = None) -> tuple[Response, int]:
    body: dict = {"code": code, "message": message}
    if details:
        body["details"] = details
    return jsonify({"error": body}), status


def register_error_handlers(app: Flask, api: Blueprint) -> None:
    @api.errorhandler(CRMError)
    def handle_crm_error(exc: CRMError) -> tuple[Response, int]:
        response = jsonify({"error": exc.to_dict()}), exc.status
        if exc.status == 401:
            response[0].headers["WWW-Authenticate"] = 'Bearer realm="crm"'
        return response

    @api.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(code, exc.description or exc.name, exc.code or 500)

    @api.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> tuple[Response, int]:
        app.logger.exception("unexpected error")
        return error_response("internal_error", "an unexpected error occurred; it has been logged", 500)

    @app.errorhandler(404)
    def handle_not_found(exc: HTTPException):  # noqa: ANN202 - Flask accepts several return shapes
        from flask import request

        if request.path.startswith("/api/"):
            return error_response("not_found", f"no endpoint {request.method} {request.path}", 404)
        return exc

    @app.errorhandler(405)
    def handle_method_not_allowed(exc: HTTPException):  # noqa: ANN202
        from flask import request

        if request.path.startswith("/api/"):
            return error_response("method_not_allowed", f"{request.method} is not allowed on {request.path}", 405)
        return exc
