"""Session login for the web UI: tenant, e-mail and password; lockout after repeated failures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from crm_platform.core.errors import NotFound
from crm_platform.core.platform import get_platform
from crm_platform.core.session import Actor, tenant_session
from crm_platform.core.tenancy import actor_from_row, get_tenant
from crm_platform.core.users import authenticate_password, get_user

from .messages import login_refusal

bp = Blueprint("auth", __name__, template_folder="templates")


class SessionUser(UserMixin):
    """A signed-in user; the session id names the tenant, so a session never crosses tenants."""

    def __init__(self, tenant: str, actor: Actor, name: str) -> None:
        self.tenant = tenant
        self.actor = actor
        self.name = name

    def get_id(self) -> str:
        return f"{self.tenant}:{self.actor.user_id}"


def load_session_user(session_id: str) -> SessionUser | None:
    tenant, _, user_id = session_id.partition(":")
    platform = get_platform()
    try:
        get_tenant(platform, tenant)
        with tenant_session(platform, tenant, Actor.system(), write=False) as unit:
            row = get_user(unit, user_id)
    except NotFound:
        return None
    if not row.active:
        return None
    return SessionUser(tenant, actor_from_row(row), row.name or row.email)


class LoginForm(FlaskForm):
    tenant = StringField(lazy_gettext("Tenant"), validators=[DataRequired(), Length(max=40)])
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        platform = get_platform()
        slug = form.tenant.data.strip().lower()
        try:
            get_tenant(platform, slug)
        except NotFound:
            error = _("wrong tenant, e-mail or password")
        else:
            with tenant_session(platform, slug, Actor.system()) as unit:
                row, reason = authenticate_password(
                    unit, form.email.data, form.password.data,
                    max_failures=current_app.config.get("CRM_LOGIN_MAX_FAILURES", 5),
                    lock_minutes=current_app.config.get("CRM_LOGIN_LOCK_MINUTES", 15),
                )
            if row is not None:
                login_user(SessionUser(slug, actor_from_row(row), row.name or row.email))
                return redirect(_safe_next(request.args.get("next")))
            error = login_refusal(reason) if reason else None
    status = 401 if error else (400 if form.errors else 200)
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    logout_user()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))
