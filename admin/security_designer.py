"""Roles (a permission matrix per object and action, field access per field) and users and teams."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from crm_platform.core.errors import CRMError, PermissionDenied
from crm_platform.core.roles import ACTIONS, ADMIN_ROLE, SCOPES, delete_role, get_role, list_roles, put_role
from crm_platform.core.tables import users as users_table
from crm_platform.core.users import check_user_document, create_user, get_user, list_users, update_user
from metadata import load_model

from .design_objects import _problems, bilingual, label_parts, require_customize
from .i18n import label
from .meta import object_label
from .ui import flash_error, policy_of, render_error, ui_session

ACTION_LABELS = {"read": lazy_gettext("Read"), "create": lazy_gettext("Create"), "update": lazy_gettext("Edit"),
                 "delete": lazy_gettext("Delete"), "export": lazy_gettext("Export")}
SCOPE_LABELS = {"none": lazy_gettext("None"), "own": lazy_gettext("Own"), "team": lazy_gettext("Team"),
                "all": lazy_gettext("All")}
ACCESS_LABELS = {"": lazy_gettext("Full"), "read_only": lazy_gettext("Read only"), "masked": lazy_gettext("Masked"),
                 "hidden": lazy_gettext("Hidden")}


def require_manage_users(session: Any) -> None:
    if not policy_of(session).manage_users:
        raise PermissionDenied(_("Only administrators can manage users."))


def role_from_form(name: str, form: Any, objects: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {"name": name, "label": bilingual("label", form) or name,
                                "customize": bool(form.get("customize")), "manage_users": bool(form.get("manage_users")),
                                "audit": bool(form.get("audit")), "permissions": {}, "field_access": {}}
    for object_name, obj in objects.items():
        scopes = {action: form.get(f"perm.{object_name}.{action}", "none") for action in ACTIONS}
        if any(scope != "none" for scope in scopes.values()):
            document["permissions"][object_name] = scopes
        access = {fd.name: form.get(f"fa.{object_name}.{fd.name}") for fd in obj.definition.fields}
        access = {k: v for k, v in access.items() if v in ("hidden", "masked", "read_only")}
        if access:
            document["field_access"][object_name] = access
    return document


class SecurityMixin:
    """Routes of the role matrix and the users page, mixed into the design view."""

    @expose("/roles/", methods=("GET", "POST"))
    def roles(self) -> Any:
        if request.method == "POST":
            name = (request.form.get("name") or "").strip()
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    existing = {r["name"] for r in list_roles(session)}
                    if name in existing:
                        raise CRMError(_("A role named %(name)s already exists.", name=name))
                    put_role(session, {"name": name, "label": bilingual("label", request.form) or name,
                                       "permissions": {}, "field_access": {}})
            except CRMError as exc:
                flash_error(exc)
                return redirect(url_for(".roles"))
            return redirect(url_for(".role_edit", role=name))
        with ui_session() as session:
            try:
                require_customize(session)
            except CRMError as exc:
                return render_error(exc)
            holders: dict[str, int] = {}
            for row in session.conn.execute(sa.select(users_table.c.roles)):
                for role in row.roles or []:
                    holders[role] = holders.get(role, 0) + 1
            roles = [{"name": r["name"], "label": label(r.get("label"), r["name"]), "users": holders.get(r["name"], 0),
                      "objects": len(r.get("permissions") or {})} for r in list_roles(session)]
            return self.render("crm/design/roles.html", roles=roles, title=_("Roles and permissions"))

    @expose("/roles/<role>/", methods=("GET", "POST"))
    def role_edit(self, role: str) -> Any:
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    if request.form.get("delete"):
                        delete_role(session, role)
                    else:
                        objects = load_model(session).objects
                        known = {n: set(o.fields) for n, o in objects.items()}
                        put_role(session, role_from_form(role, request.form, objects), known, name=role)
            except CRMError as exc:
                problems = _problems(exc)
            else:
                if request.form.get("delete"):
                    flash(_("Role deleted."), "success")
                    return redirect(url_for(".roles"))
                flash(_("Role saved."), "success")
                return redirect(url_for(".role_edit", role=role))
        with ui_session() as session:
            try:
                require_customize(session)
                document = get_role(session, role)
            except CRMError as exc:
                return render_error(exc)
            objects = load_model(session).objects
            rows = []
            for name, obj in objects.items():
                scopes = (document.get("permissions") or {}).get(name) or (document.get("permissions") or {}).get("*") or {}
                access = (document.get("field_access") or {}).get(name) or {}
                rows.append({"name": name, "label": object_label(obj), "scopes": scopes,
                             "fields": [{"name": fd.name, "label": label(fd.label, fd.name), "access": access.get(fd.name, "")}
                                        for fd in obj.definition.fields]})
            return self.render(
                "crm/design/role.html", role=role, document=document, rows=rows, actions=ACTIONS, scopes=SCOPES,
                action_labels=ACTION_LABELS, scope_labels=SCOPE_LABELS, access_labels=ACCESS_LABELS,
                parts=label_parts(document.get("label")), builtin=role == ADMIN_ROLE, problems=problems,
                title=label(document.get("label"), role),
            ), (422 if problems else 200)

    @expose("/users/", methods=("GET", "POST"))
    def users(self) -> Any:
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            form = request.form
            try:
                with ui_session(write=True) as session:
                    require_manage_users(session)
                    document = {"email": form.get("email", ""), "name": form.get("name", ""),
                                "roles": form.getlist("roles"), "team": form.get("team") or None}
                    if form.get("manager"):
                        document["manager"] = int(form["manager"])
                    values = check_user_document(session, document, partial=False)
                    create_user(session, values["email"], form.get("password") or None, name=values.get("name", ""),
                                roles=values.get("roles", []), team=values.get("team"),
                                manager_id=values.get("manager_id"))
            except CRMError as exc:
                problems = _problems(exc)
            else:
                flash(_("User created."), "success")
                return redirect(url_for(".users"))
        with ui_session() as session:
            try:
                require_manage_users(session)
            except CRMError as exc:
                return render_error(exc)
            people = list_users(session)
            names = {u["id"]: u["name"] or u["email"] for u in people}
            for person in people:
                person["manager_name"] = names.get(person["manager_id"], "")
            roles = [(r["name"], label(r.get("label"), r["name"])) for r in list_roles(session)]
            return self.render("crm/design/users.html", people=people, roles=roles, problems=problems,
                               form=request.form, title=_("Users and teams")), (422 if problems else 200)

    @expose("/users/<int:user_id>/", methods=("GET", "POST"))
    def user_edit(self, user_id: int) -> Any:
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            form = request.form
            document: dict[str, Any] = {"email": form.get("email", ""), "name": form.get("name", ""),
                                        "roles": form.getlist("roles"), "team": form.get("team") or None,
                                        "active": bool(form.get("active")),
                                        "manager": int(form["manager"]) if form.get("manager") else None}
            if form.get("password"):
                document["password"] = form["password"]
            try:
                with ui_session(write=True) as session:
                    require_manage_users(session)
                    update_user(session, user_id, document)
            except CRMError as exc:
                problems = _problems(exc)
            else:
                flash(_("User saved."), "success")
                return redirect(url_for(".users"))
        with ui_session() as session:
            try:
                require_manage_users(session)
                person = get_user(session, user_id)
            except CRMError as exc:
                return render_error(exc)
            people = [u for u in list_users(session) if u["id"] != user_id]
            roles = [(r["name"], label(r.get("label"), r["name"])) for r in list_roles(session)]
            return self.render("crm/design/user.html", person=person, people=people, roles=roles, problems=problems,
                               title=person.name or person.email), (422 if problems else 200)
