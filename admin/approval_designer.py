"""Approval process designer: entry criteria (QueryBuilder), ordered steps with approvers and
modes, field updates on approval and rejection, drawn as a mermaid diagram."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _

from crm_platform.core.errors import CRMError
from crm_platform.core.roles import list_roles
from crm_platform.core.users import list_users
from metadata import load_model

from .design_objects import _problems, require_customize
from .filters import querybuilder_filters
from .i18n import label
from .meta import object_label
from .ui import policy_of, render_error, ui_session


def designer_text() -> dict[str, Any]:
    return {
        "step": _("Step"), "name": _("Name"), "approver": _("Approver"), "mode": _("Mode"), "quorum": _("Quorum"),
        "remove": _("Remove"), "field": _("Field"), "value": _("Value"), "submit": _("Submitted"),
        "entry": _("Entry criteria"), "approved": _("Approved"), "rejected": _("Rejected"), "set": _("Set"),
        "types": {"user": _("A user"), "role": _("Everyone with a role"), "manager": _("The owner's manager"),
                  "field": _("A user field of the record")},
        "modes": {"any": _("Any one approves"), "all": _("All approve"), "quorum": _("A quorum approves")},
    }


class ApprovalDesignerMixin:
    """Routes of the approval process designer, mixed into the design view."""

    @expose("/approval-processes/")
    def approval_processes(self) -> Any:
        from workflow_engine.approval_definitions import list_processes

        with ui_session() as session:
            try:
                require_customize(session)
            except CRMError as exc:
                return render_error(exc)
            tenant_model = load_model(session)
            processes = list_processes(session)
            for process in processes:
                model = tenant_model.objects.get(process["object"])
                process["object_label"] = object_label(model) if model else process["object"]
            return self.render("crm/design/approval_processes.html", processes=processes,
                               objects=[(n, object_label(o)) for n, o in tenant_model.objects.items()],
                               title=_("Approval processes"))

    def _process_page(self, process_id: int | None) -> Any:
        from workflow_engine.approval_definitions import create_process, get_process, update_process

        problems: dict[str, list[str]] = {}
        document: dict[str, Any] | None = None
        if request.method == "POST":
            try:
                document = json.loads(request.form.get("process_json") or "")
                if not isinstance(document, dict):
                    raise ValueError
            except ValueError:
                problems = {"": [_("The designer sent no readable process; reload the page.")]}
            else:
                try:
                    with ui_session(write=True) as session:
                        require_customize(session)
                        saved = (update_process(session, process_id, document) if process_id
                                 else create_process(session, document))
                except CRMError as exc:
                    named = document.get("object")
                    problems = _problems(exc, named if isinstance(named, str) else None)
                else:
                    flash(_("Approval process saved."), "success")
                    return redirect(url_for(".approval_process_edit", process_id=saved["id"]))
        with ui_session() as session:
            try:
                require_customize(session)
                tenant_model = load_model(session)
                stored = get_process(session, process_id) if process_id else None
                if document is None:
                    document = stored or {"name": "", "object": request.args.get("object") or next(iter(tenant_model.objects), ""),
                                          "entry_condition": None, "steps": [], "on_approve": [], "on_reject": [],
                                          "active": True}
                    document = {k: v for k, v in document.items()
                                if k not in ("id", "version", "created_at", "updated_at")}
                object_name = (request.args.get("object") if not process_id and request.args.get("object")
                               else document.get("object"))
                obj = tenant_model.object(object_name)
            except CRMError as exc:
                return render_error(exc)
            document["object"] = object_name
            context = {
                "fields": [{"name": fd.name, "label": label(fd.label, fd.name)} for fd in obj.definition.fields
                           if not fd.computed],
                "user_fields": [{"name": fd.name, "label": label(fd.label, fd.name)} for fd in obj.definition.fields
                                if fd.type == "user"],
                "users": [{"name": u["email"], "label": u["name"] or u["email"]} for u in list_users(session) if u["active"]],
                "roles": [{"name": r["name"], "label": label(r.get("label"), r["name"])} for r in list_roles(session)],
            }
            return self.render(
                "crm/design/approval_process.html", document=document, process_id=process_id, stored=stored,
                object_name=object_name, objects=[(n, object_label(o)) for n, o in tenant_model.objects.items()],
                qb_filters=querybuilder_filters(obj, policy_of(session)), context=context, text=designer_text(),
                problems=problems, title=document.get("name") or _("New approval process"),
            ), (422 if problems else 200)

    @expose("/approval-processes/new/", methods=("GET", "POST"))
    def approval_process_new(self) -> Any:
        return self._process_page(None)

    @expose("/approval-processes/<int:process_id>/", methods=("GET", "POST"))
    def approval_process_edit(self, process_id: int) -> Any:
        return self._process_page(process_id)
