"""The web UI: session login and (growing) the admin designers and generated record views."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    """Session login (flask-login), CSRF on every form (flask-wtf), secure cookies."""
    from flask_login import LoginManager
    from flask_wtf.csrf import CSRFProtect

    from .auth import bp, load_session_user

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
    app.register_blueprint(bp)
