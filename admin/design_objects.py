"""Object designer: the list of objects, creating, relabelling and deleting an object (deleting
first shows what would be lost: records, fields, rules and lookups that point at it)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _

from crm_platform.core.errors import CRMError, PermissionDenied
from metadata import Designer, load_model

from .i18n import label
from .meta import field_label, object_label
from .messages import design_problems
from .ui import error_context, flash_error, policy_of, render_error, ui_session


def bilingual(prefix: str, form: Any) -> Any:
    """``{"en": ..., "zh": ...}`` from ``<prefix>_en`` and ``<prefix>_zh`` (a plain string if one)."""
    en, zh = (form.get(f"{prefix}_en") or "").strip(), (form.get(f"{prefix}_zh") or "").strip()
    if en and zh:
        return {"en": en, "zh": zh}
    if en or zh:
        return {"en": en} if en else {"zh": zh}
    return None


def label_parts(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {"en": value.get("en", ""), "zh": value.get("zh", "")}
    return {"en": value or "", "zh": ""}


def slug(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if name and not name[0].isalpha():
        name = "x_" + name
    return name[:50]


def require_customize(session: Any) -> None:
    if not policy_of(session).customize:
        raise PermissionDenied(_("Only administrators can change the design."))


def _problems(exc: CRMError, object_name: str | None = None) -> dict[str, list[str]]:
    """The error as a designer lists it, in the user's language (names by their labels on ``object_name``)."""
    return design_problems(exc, error_context(object_name) if object_name else None)


class ObjectsMixin:
    """Routes of the object designer, mixed into the design view."""

    def objects_index(self) -> Any:
        with ui_session() as session:
            policy = policy_of(session)
            if not (policy.customize or policy.manage_users):
                return render_error(PermissionDenied(_("Only administrators can change the design.")))
            model = load_model(session)
            objects = []
            for name, obj in model.objects.items():
                count = session.conn.execute(sa.select(sa.func.count()).select_from(obj.table)).scalar_one()
                objects.append({"name": name, "label": object_label(obj), "plural": object_label(obj, True),
                                "fields": len(obj.fields), "records": count, "pipeline": obj.has_pipeline,
                                "stages": len(obj.stages)})
            return self.render("crm/design/index.html", objects=objects, title=_("Setup"),
                               customize=policy.customize, manage_users=policy.manage_users)

    @expose("/objects/new/", methods=("GET", "POST"))
    def object_new(self) -> Any:
        values: dict[str, Any] = {"name_field": True}
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            form = request.form
            values = dict(form.items())
            values["name_field"] = bool(form.get("name_field"))
            document: dict[str, Any] = {"name": (form.get("name") or "").strip() or slug(form.get("label_en", "")),
                                        "label": bilingual("label", form) or ""}
            plural = bilingual("plural", form)
            if plural:
                document["label_plural"] = plural
            description = bilingual("description", form)
            if description:
                document["description"] = description
            if values["name_field"]:
                document["fields"] = [{"name": "name", "type": "text", "required": True,
                                       "label": {"en": "Name", "zh": "名称"}}]
                document["title_field"] = "name"
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    Designer(session).create_object(document)
            except CRMError as exc:
                problems = _problems(exc, document["name"])
            else:
                flash(_("Object created. Add its fields next."), "success")
                return redirect(url_for(".object_detail", object_name=document["name"]))
        return self.render("crm/design/object_new.html", values=values, problems=problems,
                           title=_("New object")), (422 if problems else 200)

    @expose("/objects/<object_name>/", methods=("GET", "POST"))
    def object_detail(self, object_name: str) -> Any:
        name = object_name
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            form = request.form
            patch: dict[str, Any] = {"label": bilingual("label", form) or name}
            for key, prefix in (("label_plural", "plural"), ("description", "description")):
                value = bilingual(prefix, form)
                if value:
                    patch[key] = value
            if form.get("title_field"):
                patch["title_field"] = form["title_field"]
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    Designer(session).update_object(name, patch)
            except CRMError as exc:
                problems = _problems(exc, name)
            else:
                flash(_("Object saved."), "success")
                return redirect(url_for(".object_detail", object_name=name))
        with ui_session() as session:
            try:
                require_customize(session)
                obj = load_model(session).object(name)
            except CRMError as exc:
                return render_error(exc)
            document = obj.definition.document
            fields = [{"name": fd.name, "label": label(fd.label, fd.name), "type": fd.type,
                       "required": fd.required, "unique": fd.unique, "indexed": fd.indexed,
                       "detail": field_detail(fd, obj)} for fd in obj.definition.fields]
            return self.render(
                "crm/design/object.html", obj=obj, name=name, document=document, fields=fields,
                parts={"label": label_parts(document.get("label")), "plural": label_parts(document.get("label_plural")),
                       "description": label_parts(document.get("description"))},
                problems=problems, title=object_label(obj), tab="fields", field_types=field_type_names(),
            ), (422 if problems else 200)

    @expose("/objects/<object_name>/delete/", methods=("GET", "POST"))
    def object_delete(self, object_name: str) -> Any:
        name = object_name
        if request.method == "POST":
            if request.form.get("confirm_name", "").strip() != name:
                flash(_("Type the object's API name to confirm."), "danger")
                return redirect(url_for(".object_delete", object_name=name))
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    Designer(session).delete_object(name)
            except CRMError as exc:
                flash_error(exc, error_context(name))
                return redirect(url_for(".object_delete", object_name=name))
            flash(_("Object %(name)s deleted.", name=name), "success")
            return redirect(url_for(".index"))
        with ui_session() as session:
            try:
                require_customize(session)
                tenant_model = load_model(session)
                obj = tenant_model.object(name)
            except CRMError as exc:
                return render_error(exc)
            records = session.conn.execute(sa.select(sa.func.count()).select_from(obj.table)).scalar_one()
            others = [(tenant_model.objects[o], f) for o, f in tenant_model.referencing_lookups(name) if o != name]
            lookups = [(f"{object_label(other)}.{field_label(other, f)}", f"{other.name}.{f}") for other, f in others]
            rules = _rules_on(session, name)
            return self.render("crm/design/object_delete.html", obj=obj, name=name, records=records,
                               fields=[label(fd.label, fd.name) for fd in obj.definition.fields],
                               lookups=lookups, rules=rules, title=_("Delete %(object)s", object=object_label(obj)))


def _rules_on(session: Any, object_name: str) -> list[str]:
    try:
        from workflow_engine import list_rules
    except ImportError:  # pragma: no cover - the engine is part of the distribution
        return []
    return [rule["name"] for rule in list_rules(session, object_name)]


def field_type_names() -> list[tuple[str, str]]:
    from .meta import TYPE_LABELS

    return [(key, maker()) for key, maker in TYPE_LABELS.items()]


def field_detail(fd: Any, obj: Any) -> str:
    """A short description of a field's type-specific settings for the fields table."""
    if fd.type in ("picklist", "multi_picklist"):
        return ", ".join(label(o.get("label"), o["value"]) for o in fd.options[:5]) + (" …" if len(fd.options) > 5 else "")
    if fd.type == "lookup":
        return f"→ {fd.target}"
    if fd.type == "formula":
        return f"= {fd.expression}"
    if fd.type == "autonumber":
        return fd.format or ""
    return ""
