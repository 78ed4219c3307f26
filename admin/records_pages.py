"""A record's pages: the generated form (new and edit), the record page with its stage bar,
timeline and related lists, deleting, and moving a record to another stage."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from crm_platform.core.errors import CRMError, ValidationError
from crm_platform.core.tables import users
from metadata import ObjectModel, RecordService, load_model

from .display import References, render_value
from .formgen import add_errors, editable_fields, form_class, form_to_record, put_errors, record_to_form_data
from .messages import Context, error_message
from .meta import field_label, form_sections, object_label, stage_label, title_field
from .timeline import record_timeline
from .ui import error_context, flash_error, render_error, ui_session, wants_json

RELATED_ROWS = 5


def record_title(model: ObjectModel, record: dict[str, Any]) -> str:
    name = title_field(model)
    value = record.get(name) if name else None
    return str(value) if value not in (None, "") else f"{object_label(model)} #{record['id']}"


def stage_path(model: ObjectModel, current: str | None) -> list[dict[str, Any]]:
    names = list(model.stages)
    position = names.index(current) if current in names else -1
    path = []
    for index, name in enumerate(names):
        stage = model.stages[name]
        path.append({
            "name": name, "label": stage_label(model, name), "category": stage.get("category", "open"),
            "probability": stage.get("probability"),
            "state": "current" if index == position else ("done" if index < position else "todo"),
            "required": [field_label(model, f) for f in stage.get("required_fields", [])],
        })
    return path


class PagesMixin:
    """Routes of the record pages, mixed into the one records view."""

    def _form_page(self, object_name: str, record_id: str | None) -> Any:
        write = request.method == "POST"
        try:
            with ui_session(write=write) as session:
                service = RecordService(session)
                model = service.object(object_name)
                policy = service.policy
                policy.require(model.name, "update" if record_id else "create")
                record = service.get(object_name, record_id) if record_id else None
                fields = editable_fields(policy, model)
                cls = form_class(session.tenant, load_model(session).version, policy, model, session.platform)
                if write:
                    form = cls(request.form)
                else:
                    initial = record_to_form_data(model, record, fields) if record else self._prefill(model, fields)
                    form = cls(data=initial)
                self._fill_choices(session, model, form, fields, record)
                problems: list[str] = []
                owners = self._owner_choices(session, policy, model, record)
                if write and form.validate():
                    values = form_to_record(form, fields)
                    chosen = request.form.get("owner_id", "")
                    if owners and chosen.isdigit() and int(chosen) != (record or {}).get("owner_id", session.actor.user_id):
                        values["owner_id"] = int(chosen)
                    try:
                        if record_id:
                            values["version"] = request.form.get("version", type=int) or record["version"]
                            saved = service.update(object_name, record_id, values)
                        else:
                            saved = service.create(object_name, values)
                    except CRMError as exc:
                        context = Context(model, load_model(session))
                        problems = [error_message(exc, context)] if exc.status != 422 else []
                        problems += put_errors(form, exc, context)
                        if exc.status == 422 and not record_id:
                            add_errors(form, {fd.name: [_("Required.")] for fd in fields
                                              if fd.required and values.get(fd.name) in (None, "", [])
                                              and not form[fd.name].errors}, context)
                        if not problems and not any(form[f.name].errors for f in fields):
                            problems = [error_message(exc, context)]
                        raise _Rejected(self._render_form(session, model, form, record, fields, problems, owners),
                                        exc.status)
                    flash(_("%(object)s saved.", object=object_label(model)), "success")
                    target = url_for(".show", object_name=object_name, record_id=saved["id"])
                    if request.form.get("save_and_new"):
                        target = url_for(".create", object_name=object_name)
                    return redirect(target)
                status = 400 if write else 200
                return self._render_form(session, model, form, record, fields, problems, owners), status
        except _Rejected as rejected:
            return rejected.page, rejected.status
        except CRMError as exc:
            return render_error(exc)

    @staticmethod
    def _owner_choices(session: Any, policy: Any, model: ObjectModel, record: Any) -> list[tuple[int, str]] | None:
        """Users this user may hand the record to: those their update (or create) scope covers,
        and only when the owner field is writable for them and there is someone else to choose."""
        if "owner_id" in policy.unwritable(model.name):
            return None
        scope = policy.scope(model.name, "update" if record else "create")
        owners = policy.owner_ids(session, scope)
        query = sa.select(users.c.id, users.c.name, users.c.email).where(users.c.active.is_(True)).order_by(users.c.name)
        if owners is not None:
            query = query.where(users.c.id.in_(owners))
        choices = [(r.id, r.name or r.email) for r in session.conn.execute(query)]
        return choices if len(choices) > 1 else None

    def _prefill(self, model: ObjectModel, fields: list[Any]) -> dict[str, Any]:
        """Defaults, and values passed in the URL (``?account=12`` from a related list)."""
        data: dict[str, Any] = {fd.name: fd.default for fd in fields if fd.default is not None}
        for fd in fields:
            if fd.name in request.args:
                data[fd.name] = request.args[fd.name]
        return data

    def _fill_choices(self, session: Any, model: ObjectModel, form: Any, fields: list[Any], record: Any) -> None:
        user_choices = None
        refs = References(session, load_model(session), RecordService(session).policy)
        for fd in fields:
            if fd.type == "user":
                if user_choices is None:
                    rows = session.conn.execute(
                        sa.select(users.c.id, users.c.name, users.c.email).where(users.c.active.is_(True))
                        .order_by(users.c.name)).all()
                    user_choices = [SelectChoice("", "—"), *(SelectChoice(str(r.id), r.name or r.email) for r in rows)]
                form[fd.name].choices = user_choices
            elif fd.type == "lookup":
                current = form[fd.name].data
                choices = [SelectChoice("", "—")]
                if current not in (None, "") and str(current).isdigit():
                    choices.append(SelectChoice(str(current), refs.title(fd.target, int(current))))
                form[fd.name].choices = choices

    def _render_form(self, session: Any, model: ObjectModel, form: Any, record: Any, fields: list[Any],
                     problems: list[str], owners: list[tuple[int, str]] | None = None) -> str:
        policy = RecordService(session).policy
        refs = References(session, load_model(session), policy)
        masked = {n for n, a in policy.restricted(model.name).items() if a == "masked"}
        editable = {fd.name for fd in fields}
        sections = []
        for section in form_sections(policy, model):
            items = []
            for name in section["fields"]:
                fd = model.fields[name]
                if name in editable:
                    items.append({"name": name, "field": form[name], "fd": fd})
                elif record is not None or fd.computed:
                    shown = render_value(fd, name, (record or {}).get(name), refs, model, name in masked)
                    items.append({"name": name, "label": field_label(model, name), "readonly": shown, "fd": fd})
            sections.append({**section, "items": items})
        return self.render(
            "crm/records/form.html", model=model, object_name=model.name, form=form, record=record,
            sections=sections, problems=problems, title=(
                _("Edit %(title)s", title=record_title(model, record)) if record
                else _("New %(object)s", object=object_label(model))),
            record_title=record_title(model, record) if record else None,
            owners=owners, owner_id=int(request.form["owner_id"]) if request.form.get("owner_id", "").isdigit()
            else (record or {}).get("owner_id", session.actor.user_id),
        )

    @expose("/<object_name>/new/", methods=("GET", "POST"))
    def create(self, object_name: str) -> Any:
        return self._form_page(object_name, None)

    @expose("/<object_name>/<int:record_id>/edit/", methods=("GET", "POST"))
    def edit(self, object_name: str, record_id: int) -> Any:
        return self._form_page(object_name, str(record_id))

    @expose("/<object_name>/<int:record_id>/")
    def show(self, object_name: str, record_id: int) -> Any:
        with ui_session() as session:
            service = RecordService(session)
            try:
                model = service.object(object_name)
                record = service.get(object_name, record_id)
            except CRMError as exc:
                return render_error(exc)
            policy = service.policy
            tenant_model = load_model(session)
            refs = References(session, tenant_model, policy)
            refs.load(model, [record])
            masked = {n for n, a in policy.restricted(model.name).items() if a == "masked"}
            sections = [
                {**s, "items": [{"name": n, "label": field_label(model, n),
                                 "value": render_value(model.fields[n], n, record.get(n), refs, model, n in masked),
                                 "fd": model.fields[n]} for n in s["fields"]]}
                for s in form_sections(policy, model)
            ]
            system = [(field_label(model, n), render_value(None, n, record.get(n), refs, model))
                      for n in ("owner_id", "created_at", "updated_at") if n in record]
            scope_update = policy.scope(model.name, "update")
            can_edit = scope_update != "none" and policy.covers(session, scope_update, record.get("owner_id"))
            scope_delete = policy.scope(model.name, "delete")
            can_delete = scope_delete != "none" and policy.covers(session, scope_delete, record.get("owner_id"))
            return self.render(
                "crm/records/show.html", model=model, object_name=object_name, record=record,
                title=record_title(model, record), sections=sections, system=system,
                stages=stage_path(model, record.get("stage")) if model.has_pipeline else [],
                timeline=record_timeline(session, model, record["id"], policy, refs),
                related=self._related(session, tenant_model, model, record["id"], policy),
                can_edit=can_edit, can_delete=can_delete,
                approval_processes=self._approval_processes(session, object_name),
            )

    def _related(self, session: Any, tenant_model: Any, model: ObjectModel, record_id: int, policy: Any) -> list[dict[str, Any]]:
        related = []
        service = RecordService(session)
        for other_name, field_name in tenant_model.referencing_lookups(model.name):
            if policy.scope(other_name, "read") == "none" or policy.access(other_name, field_name) in ("hidden", "masked"):
                continue
            other = tenant_model.object(other_name)
            query = service.parse_list(other_name, {field_name: [str(record_id)], "per_page": [str(RELATED_ROWS)]})
            rows, total = service.list(other_name, query)
            related.append({
                "object": other_name, "field": field_name, "label": object_label(other, plural=True),
                "via": field_label(other, field_name), "total": total,
                "rows": [{"id": r["id"], "title": record_title(other, r)} for r in rows],
                "can_create": policy.scope(other_name, "create") != "none",
            })
        return related

    def _approval_processes(self, session: Any, object_name: str) -> list[dict[str, Any]]:
        from workflow_engine.approval_definitions import list_processes

        return [p for p in list_processes(session, object_name) if p.get("active", True)]

    @expose("/<object_name>/<int:record_id>/activities/", methods=("POST",))
    def log_activity(self, object_name: str, record_id: int) -> Any:
        """Log a call, e-mail, meeting, note or task on the record (anyone who can read it)."""
        from metadata.activities import add_activity

        form = request.form
        document: dict[str, Any] = {"type": form.get("type") or "note", "subject": (form.get("subject") or "").strip()}
        if (form.get("body") or "").strip():
            document["body"] = form["body"].strip()
        if form.get("due_at"):
            document["due_at"] = form["due_at"]
        try:
            with ui_session(write=True) as session:
                record = RecordService(session).get(object_name, record_id)
                add_activity(session, object_name, record["id"], session.actor.user_id, document)
        except CRMError as exc:
            flash_error(exc, error_context(object_name))
        else:
            flash(_("Activity logged."), "success")
        return redirect(url_for(".show", object_name=object_name, record_id=record_id))

    @expose("/<object_name>/<int:record_id>/delete/", methods=("GET", "POST"))
    def delete(self, object_name: str, record_id: int) -> Any:
        if request.method == "GET":
            with ui_session() as session:
                service = RecordService(session)
                try:
                    model = service.object(object_name)
                    record = service.get(object_name, record_id)
                except CRMError as exc:
                    return render_error(exc)
                return self.render("crm/records/delete.html", model=model, object_name=object_name,
                                   record=record, title=record_title(model, record))
        try:
            with ui_session(write=True) as session:
                model = RecordService(session).object(object_name)
                RecordService(session).delete(object_name, record_id)
        except CRMError as exc:
            flash_error(exc, error_context(object_name))
            return redirect(url_for(".show", object_name=object_name, record_id=record_id))
        flash(_("%(object)s deleted.", object=object_label(model)), "success")
        return redirect(url_for(".index_view", object_name=object_name))

    @expose("/<object_name>/<int:record_id>/stage/", methods=("POST",))
    def move_stage(self, object_name: str, record_id: int) -> Any:
        """Move to a stage: JSON for the kanban board, a redirect for the stage bar."""
        payload = request.get_json(silent=True) if request.is_json else request.form
        stage = (payload or {}).get("stage")
        try:
            with ui_session(write=True) as session:
                service = RecordService(session)
                model = service.object(object_name)
                if not model.has_pipeline:
                    raise ValidationError(_("This object has no pipeline."), {"stage": ["no pipeline"]})
                data: dict[str, Any] = {"stage": stage}
                version = (payload or {}).get("version")
                if version not in (None, ""):
                    data["version"] = int(version)
                saved = service.update(object_name, record_id, data)
        except CRMError as exc:
            missing = self._missing_fields(object_name, stage, exc)
            if wants_json():
                # The board shows the message: in the user's language here (the REST API's stays English).
                body = {"error": {**exc.to_dict(), "message": error_message(exc, error_context(object_name)),
                                  "missing": missing}}
                return jsonify(body), exc.status
            if missing:
                flash(_("To enter this stage, fill in: %(fields)s", fields=", ".join(missing)), "danger")
            else:
                flash_error(exc, error_context(object_name))
            return redirect(url_for(".show", object_name=object_name, record_id=record_id))
        if wants_json():
            return jsonify({"id": saved["id"], "stage": saved.get("stage"), "version": saved.get("version")})
        flash(_("Stage changed to %(stage)s.", stage=stage_label(model, saved.get("stage"))), "success")
        return redirect(url_for(".show", object_name=object_name, record_id=record_id))

    def _missing_fields(self, object_name: str, stage: Any, exc: CRMError) -> list[str]:
        """Labels of the fields the stage requires that the record lacks (from the error's details)."""
        if exc.status != 422 or not isinstance(stage, str):
            return []
        with ui_session() as session:
            model = RecordService(session).object(object_name)
            required = (model.stages.get(stage) or {}).get("required_fields", [])
            return [field_label(model, n) for n in required if n in (exc.details or {})]


class _Rejected(Exception):
    """Carries the re-rendered form out of the unit of work, so the failed write rolls back."""

    def __init__(self, page: str, status: int) -> None:
        super().__init__(status)
        self.page = page
        self.status = status
