"""What every UI view shares: the signed-in user's unit of work, access, errors, JSON answers.

The tenant and the actor come from the session (set at login), never from the URL, so editing a
URL can only name records of the signed-in tenant, and the record service still applies the
user's scopes and field access to each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_admin import AdminIndexView, BaseView
from flask_babel import gettext as _
from flask_login import current_user

from crm_platform.core.errors import CRMError
from crm_platform.core.permissions import AccessPolicy, access_policy
from crm_platform.core.platform import get_platform
from crm_platform.core.session import TenantSession, tenant_session
from metadata import load_model

from .messages import Context, error_message


@contextmanager
def ui_session(write: bool = False) -> Iterator[TenantSession]:
    """A unit of work for the signed-in user in their own tenant."""
    with tenant_session(get_platform(), current_user.tenant, current_user.actor, write=write) as session:
        outer = g.get("_crm_session")
        g._crm_session = session  # the page's navigation is read in the same transaction
        try:
            yield session
        finally:
            g._crm_session = outer


def policy_of(session: TenantSession) -> AccessPolicy:
    return access_policy(session)


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def json_error(exc: CRMError) -> Any:
    return jsonify({"error": exc.to_dict()}), exc.status


class SecuredMixin:
    """Signed-in users only; others go to the login page and come back."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated)

    def inaccessible_callback(self, name: Any, **kwargs: Any) -> Any:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    def is_visible(self) -> bool:  # menus are drawn by our own layout
        return False


class UIView(SecuredMixin, BaseView):
    """A flask-admin view of the CRM UI, rendered with our layout."""


class HomeView(SecuredMixin, AdminIndexView):
    """``/admin/``: the objects the user can read, pending approvals and shortcuts."""


def error_context(object_name: str) -> Context:
    """Labels for an error about ``object_name``, read after its failed unit of work rolled back."""
    with ui_session() as session:
        tenant_model = load_model(session)
        return Context(tenant_model.objects.get(object_name), tenant_model)


def context_of(exc: CRMError) -> Context | None:
    """Labels for an error that names its object in its parameters (an approval's, a rule's)."""
    named = exc.params.get("object")
    if not isinstance(named, str):
        return None
    try:
        return error_context(named)
    except CRMError:  # no tenant to read labels from (signed out meanwhile): names as they are
        return None


def render_error(exc: CRMError, context: Context | None = None) -> Any:
    """A CRM error raised in a page: an error page with the reason (in the user's language) and the status."""
    if wants_json():
        return json_error(exc)
    return render_template("crm/error.html", error=exc, message=error_message(exc, context or context_of(exc)),
                           title=_("Something went wrong")), exc.status


def flash_error(exc: CRMError, context: Context | None = None) -> None:
    flash(error_message(exc, context or context_of(exc)), "danger")
