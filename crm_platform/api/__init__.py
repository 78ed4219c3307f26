"""The REST API under ``/api/v1``: token-authenticated, JSON in and out, one tenant per token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from . import approvals, dashboards, data, imports, objects, openapi, records, reports, security, templates, workflow
    from .context import authenticate
    from .errors import register_error_handlers

    api = Blueprint("api", __name__, url_prefix="/api/v1")
    api.before_request(authenticate)
    objects.register(api)
    records.register(api)
    data.register(api)
    reports.register(api)
    dashboards.register(api)
    imports.register(api)
    security.register(api)
    workflow.register(api)
    approvals.register(api)
    templates.register(api)
    openapi.register(api)
    register_error_handlers(app, api)
    app.register_blueprint(api)
