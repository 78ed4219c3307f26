"""The web UI: session login, generated record views, designers, approvals inbox, template gallery.

Every view is a flask-admin ``BaseView`` registered once here, at start-up; objects created later
are served by the same generic records view (Flask refuses new blueprints after the first request).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    """Session login (flask-login), CSRF on every form (flask-wtf), languages, the admin views."""
    from flask import Blueprint
    from flask_admin import Admin
    from flask_admin.theme import Bootstrap4Theme
    from flask_login import LoginManager
    from flask_wtf.csrf import CSRFProtect


    from . import i18n
    from .approvals_inbox import ApprovalsView
    from .dashboards import DashboardsView
    from .auth import bp, load_session_user
    from .design import DesignView
    from .home import Home, navigation
    from .records import RecordsView

    secure = bool(app.config.get("CRM_SESSION_COOKIE_SECURE", False))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
    )

    login_manager = LoginManager()
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_session_user)
    login_manager.init_app(app)

    csrf = CSRFProtect()
    csrf.init_app(app)
    # The API authenticates with bearer tokens and sets no cookies: CSRF cannot reach it.
    api = app.blueprints.get("api")
    if api is not None:
        csrf.exempt(api)

    i18n.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(Blueprint(
        "ui", __name__, static_folder=os.path.join(os.path.dirname(__file__), "static"),
        static_url_path="/ui/static",
    ))

    admin = Admin(
        app, name="CRM", url="/admin", endpoint="admin",
        index_view=Home(url="/admin", endpoint="admin", name="Home"),
        theme=Bootstrap4Theme(base_template="crm/layout.html"),
    )
    admin.add_view(RecordsView(endpoint="records", url="/admin/records", name="Records"))
    admin.add_view(ApprovalsView(endpoint="approvals", url="/admin/approvals", name="Approvals"))
    admin.add_view(DesignView(endpoint="design", url="/admin/design", name="Design"))
    admin.add_view(DashboardsView(endpoint="dashboards", url="/admin/dashboards", name="Dashboards"))

    _register_error_pages(app)

    @app.context_processor
    def crm_context() -> dict[str, Any]:
        return {"crm_nav": navigation}


def _register_error_pages(app: Flask) -> None:
    from flask import jsonify, request

    from crm_platform.core.errors import CRMError

    from .ui import render_error

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        """A form without a valid token (an expired page, or another site posting): say so, change nothing."""
        from flask import render_template
        from flask_babel import gettext as _

        if request.path.startswith("/api/"):
            return jsonify({"error": {"code": "bad_request", "message": exc.description}}), 400
        error = CRMError(_("This page has expired or the form did not come from this site. Reload the page and try again."))
        error.status = 400
        return render_template("crm/error.html", error=error, title=_("Something went wrong")), 400

    @app.errorhandler(CRMError)
    def crm_error(exc: CRMError) -> Any:
        if request.path.startswith("/api/"):  # the API's own handlers normally answer first
            return jsonify({"error": exc.to_dict()}), exc.status
        return render_error(exc)
