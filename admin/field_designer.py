"""Field designer: every field type with its options (picklist values reordered by dragging,
lookup target, formula with a live preview on a record, autonumber pattern), and deleting a field."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from crm_platform.core.errors import CRMError, ExpressionError, NotFound
from metadata import FIELD_TYPES, Designer, load_model
from metadata.designer import CONVERTIBLE_TYPES
from metadata.field_types import FORMULA_RESULT_TYPES
from metadata.formulas import Formula, formula_problem
from metadata.model import _to_json
from metadata.records import format_autonumber

from .design_objects import _problems, bilingual, label_parts, require_customize
from .i18n import label
from .messages import Context, field_message
from .meta import TYPE_LABELS, object_label, title_field
from .ui import error_context, flash_error, json_error, render_error, ui_session

ON_DELETE = {"restrict": lazy_gettext("Block deleting the target"), "set_null": lazy_gettext("Clear this field"),
             "cascade": lazy_gettext("Delete this record too")}
NUMERIC = {"integer", "decimal", "currency", "percent"}


def _number(raw: str | None) -> Any:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # the schema check names it


def field_document(form: Any, ftype: str) -> dict[str, Any]:
    """A field definition from the designer's form, with ``None`` for settings left empty."""
    document: dict[str, Any] = {
        "name": (form.get("name") or "").strip(), "type": ftype,
        "label": bilingual("label", form) or (form.get("name") or "").strip() or None,
        "help": bilingual("help", form),
        "required": bool(form.get("required")), "unique": bool(form.get("unique")),
        "indexed": bool(form.get("indexed")),
    }
    options = FIELD_TYPES[ftype].options
    default = (form.get("default") or "").strip()
    if ftype == "boolean":
        document["default"] = {"true": True, "false": False}.get(default)
    elif not FIELD_TYPES[ftype].computed and ftype not in ("lookup", "user", "multi_picklist"):
        document["default"] = default or None
    for key in ("max_length", "scale"):
        if key in options:
            document[key] = _number(form.get(key))
    if "min" in options:
        document["min"] = _number(form.get("min")) if ftype in NUMERIC else (form.get("min") or None)
        document["max"] = _number(form.get("max")) if ftype in NUMERIC else (form.get("max") or None)
    if "pattern" in options:
        document["pattern"] = (form.get("pattern") or "").strip() or None
    if "options" in options:
        try:
            document["options"] = json.loads(form.get("options_json") or "[]")
        except ValueError:
            document["options"] = []
    if "target" in options:
        document["target"] = form.get("target") or None
        document["on_delete"] = form.get("on_delete") or "restrict"
    if ftype == "formula":
        document["expression"] = (form.get("expression") or "").strip() or None
        document["result_type"] = form.get("result_type") or "decimal"
    if ftype == "autonumber":
        document["format"] = (form.get("format") or "").strip() or None
    if not FIELD_TYPES[ftype].indexable:
        document["unique"] = document["indexed"] = False
    return document


def for_create(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if v is not None and v is not False or k in ("required",)}


class FieldsMixin:
    """Routes of the field designer, mixed into the design view."""

    def _field_page(self, object_name: str, field_name: str | None) -> Any:
        problems: dict[str, list[str]] = {}
        ftype = request.values.get("type") or "text"
        submitted: dict[str, Any] | None = None
        if request.method == "POST":
            if ftype not in FIELD_TYPES:
                ftype = "text"
            submitted = field_document(request.form, ftype)
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    designer = Designer(session)
                    if field_name:
                        patch = {k: v for k, v in submitted.items()}
                        designer.update_field(object_name, field_name, patch)
                    else:
                        designer.add_field(object_name, for_create(submitted))
            except CRMError as exc:
                problems = {k.removeprefix("field.").removeprefix("field"): v
                            for k, v in _problems(exc, object_name).items()}
            else:
                flash(_("Field saved."), "success")
                return redirect(url_for(".object_detail", object_name=object_name))
        with ui_session() as session:
            try:
                require_customize(session)
                tenant_model = load_model(session)
                obj = tenant_model.object(object_name)
                current = obj.fields.get(field_name) if field_name else None
                if field_name and current is None:
                    raise NotFound(_("Field %(name)s does not exist.", name=field_name))
            except CRMError as exc:
                return render_error(exc)
            document = submitted or (dict(current.document) if current else {"type": ftype, "name": ""})
            if current is not None and request.method == "GET":
                ftype = current.type
            records = [
                {"id": r.id, "title": str(r[1]) if r[1] is not None else f"#{r.id}"}
                for r in session.conn.execute(
                    sa.select(obj.table.c.id, obj.table.c[title_field(obj) or "id"]).order_by(obj.table.c.id.desc()).limit(20))
            ]
            allowed_types = sorted(CONVERTIBLE_TYPES) if current is not None and current.type in CONVERTIBLE_TYPES else [ftype]
            return self.render(
                "crm/design/field.html", obj=obj, object_name=object_name, field_name=field_name,
                document=document, ftype=ftype, type_label=TYPE_LABELS[ftype](),
                parts={"label": label_parts(document.get("label")), "help": label_parts(document.get("help"))},
                options=FIELD_TYPES[ftype].options, indexable=FIELD_TYPES[ftype].indexable,
                computed=FIELD_TYPES[ftype].computed,
                targets=[(n, object_label(o)) for n, o in tenant_model.objects.items()],
                on_delete=ON_DELETE, result_types=FORMULA_RESULT_TYPES,
                type_choices=[(t, TYPE_LABELS[t]()) for t in allowed_types],
                field_names=[fd.name for fd in obj.definition.fields if fd.name != field_name],
                records=records, problems=problems,
                title=_("Edit field %(name)s", name=label(current.label, field_name)) if current
                else _("New %(type)s field", type=TYPE_LABELS[ftype]()),
            ), (422 if problems else 200)

    @expose("/objects/<object_name>/fields/new/", methods=("GET", "POST"))
    def field_new(self, object_name: str) -> Any:
        return self._field_page(object_name, None)

    @expose("/objects/<object_name>/fields/<field_name>/", methods=("GET", "POST"))
    def field_edit(self, object_name: str, field_name: str) -> Any:
        return self._field_page(object_name, field_name)

    @expose("/objects/<object_name>/fields/<field_name>/delete/", methods=("POST",))
    def field_delete(self, object_name: str, field_name: str) -> Any:
        try:
            with ui_session(write=True) as session:
                require_customize(session)
                Designer(session).delete_field(object_name, field_name)
        except CRMError as exc:
            flash_error(exc, error_context(object_name))
            return redirect(url_for(".field_edit", object_name=object_name, field_name=field_name))
        flash(_("Field %(name)s deleted.", name=field_name), "success")
        return redirect(url_for(".object_detail", object_name=object_name))

    @expose("/objects/<object_name>/formula-preview", methods=("POST",))
    def formula_preview(self, object_name: str) -> Any:
        """Evaluate an expression on one record without saving anything: the value or the error."""
        body = request.get_json(silent=True) or {}
        with ui_session() as session:
            try:
                require_customize(session)
                obj = load_model(session).object(object_name)
                names = [*obj.fields, "id", "created_at", "updated_at", "owner_id"] + (["stage"] if obj.has_pipeline else [])
                own = body.get("field")
                formula = Formula(str(body.get("expression") or ""), [n for n in names if n != own],
                                  str(body.get("result_type") or "decimal"))
                record_id = body.get("record_id")
                if record_id in (None, ""):
                    return jsonify({"ok": True, "value": None, "message": _("The expression is valid.")})
                row = session.conn.execute(sa.select(obj.table).where(obj.table.c.id == int(record_id))).first()
                if row is None:
                    raise NotFound(_("Record %(id)s does not exist.", id=record_id))
                value = formula.evaluate(dict(row._mapping))
                return jsonify({"ok": True, "value": _to_json(value)})
            except ExpressionError as exc:
                return jsonify({"ok": False, "error": field_message(formula_problem(exc), Context(obj))}), 200
            except (CRMError, ValueError) as exc:
                return json_error(exc) if isinstance(exc, CRMError) else (jsonify({"ok": False, "error": str(exc)}), 200)

    @expose("/autonumber-preview", methods=("POST",))
    def autonumber_preview(self) -> Any:
        pattern = str((request.get_json(silent=True) or {}).get("format") or "")
        if "{0" not in pattern:
            return jsonify({"ok": False, "error": _("The pattern needs a number part such as {0000}.")})
        return jsonify({"ok": True, "value": format_autonumber(pattern, 1)})
