"""Rule builder: trigger, a visual condition (jQuery QueryBuilder, whose JSON is our condition
format), an ordered list of actions, and the rule drawn as a mermaid diagram beside the form."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _

from crm_platform.core.errors import BadRequest, CRMError
from metadata import load_model
from workflow_engine import create_rule, delete_rule, get_rule, list_rules, update_rule

from .design_objects import _problems, require_customize
from .filters import querybuilder_filters
from .i18n import label
from .meta import object_label, stage_label
from .ui import flash_error, policy_of, render_error, ui_session

TRIGGERS = {
    "on_create": lambda: _("A record is created"),
    "on_update": lambda: _("A record is updated"),
    "on_create_or_update": lambda: _("A record is created or updated"),
    "on_field_change": lambda: _("Chosen fields change"),
    "on_stage_change": lambda: _("The stage changes"),
    "on_delete": lambda: _("A record is deleted"),
    "scheduled": lambda: _("On a schedule"),
    "time_relative": lambda: _("Some time before or after a date"),
}
ACTIONS = {
    "set_field": lambda: _("Set a field"), "create_record": lambda: _("Create a record"),
    "update_related": lambda: _("Update the related record"), "assign_owner": lambda: _("Assign an owner"),
    "add_tag": lambda: _("Add a tag"), "remove_tag": lambda: _("Remove a tag"), "notify": lambda: _("Notify"),
    "send_email": lambda: _("Send an e-mail"), "webhook": lambda: _("Call a webhook"),
    "submit_approval": lambda: _("Submit for approval"),
}


def builder_text() -> dict[str, Any]:
    """Labels the rule builder's script needs, in the user's language."""
    return {
        "triggers": {k: v() for k, v in TRIGGERS.items()}, "actions": {k: v() for k, v in ACTIONS.items()},
        "field": _("Field"), "value": _("Value"), "formula": _("or a formula"), "object": _("Object"),
        "values": _("Values (JSON)"), "lookup": _("Lookup field"), "strategy": _("Strategy"), "team": _("Team"),
        "users": _("Users (e-mails, comma-separated)"), "user": _("User (e-mail)"), "tag": _("Tag"),
        "to": _("To (owner, manager, creator, an e-mail, role:name)"), "title": _("Title"), "subject": _("Subject"),
        "body": _("Message"), "url": _("URL"), "secret": _("Signing secret"), "process": _("Approval process"),
        "comment": _("Comment"), "remove": _("Remove"), "up": _("Move up"), "down": _("Move down"),
        "when": _("When"), "if": _("If"), "then": _("Then"), "always": _("always"), "yes": _("yes"),
        "no": _("no: nothing happens"), "invalidJson": _("Values must be a JSON object, such as {\"status\": \"new\"}"),
        "strategies": {"round_robin": _("Round robin"), "least_loaded": _("Least loaded"), "user": _("A given user")},
    }


def _object_context(obj: Any, tenant_model: Any) -> dict[str, Any]:
    fields = [{"name": fd.name, "label": label(fd.label, fd.name), "type": fd.type}
              for fd in obj.definition.fields if not fd.computed]
    dates = [{"name": fd.name, "label": label(fd.label, fd.name)} for fd in obj.definition.fields
             if fd.type in ("date", "datetime")]
    return {
        "fields": fields, "dates": dates,
        "lookups": [{"name": fd.name, "label": label(fd.label, fd.name)} for fd in obj.lookups if fd.type == "lookup"],
        "stages": [{"name": n, "label": stage_label(obj, n)} for n in obj.stages],
        "objects": [{"name": n, "label": object_label(o)} for n, o in tenant_model.objects.items()],
    }


class RulesMixin:
    """Routes of the rule builder, mixed into the design view."""

    @expose("/rules/")
    def rules(self) -> Any:
        with ui_session() as session:
            try:
                require_customize(session)
            except CRMError as exc:
                return render_error(exc)
            tenant_model = load_model(session)
            chosen = request.args.get("object") or None
            rows = list_rules(session, chosen if chosen in tenant_model.objects else None)
            labels = {n: object_label(o) for n, o in tenant_model.objects.items()}
            for row in rows:
                row["object_label"] = labels.get(row["object"], row["object"])
                row["trigger_label"] = TRIGGERS.get(row["trigger"]["type"], lambda: row["trigger"]["type"])()
            return self.render("crm/design/rules.html", rules=rows, objects=labels, chosen=chosen,
                               obj=tenant_model.objects.get(chosen) if chosen else None, name=chosen,
                               tab="rules", title=_("Rules"))

    def _rule_page(self, rule_id: int | None) -> Any:
        problems: dict[str, list[str]] = {}
        document: dict[str, Any] | None = None
        if request.method == "POST":
            try:
                document = json.loads(request.form.get("rule_json") or "")
                if not isinstance(document, dict):
                    raise ValueError
            except ValueError:
                problems = {"": [BadRequest(_("The builder sent no readable rule; reload the page.")).message]}
            else:
                try:
                    with ui_session(write=True) as session:
                        require_customize(session)
                        saved = update_rule(session, rule_id, document) if rule_id else create_rule(session, document)
                except CRMError as exc:
                    named = document.get("object")
                    problems = _problems(exc, named if isinstance(named, str) else None)
                else:
                    flash(_("Rule saved."), "success")
                    return redirect(url_for(".rule_edit", rule_id=saved["id"]))
        with ui_session() as session:
            try:
                require_customize(session)
                tenant_model = load_model(session)
                stored = get_rule(session, rule_id) if rule_id else None
                if document is None:
                    document = stored or {
                        "name": "", "object": request.args.get("object") or next(iter(tenant_model.objects), ""),
                        "trigger": {"type": "on_create_or_update"}, "condition": None, "actions": [], "active": True}
                    document = {k: v for k, v in document.items()
                                if k not in ("id", "version", "created_at", "updated_at", "order")}
                object_name = request.args.get("object") if not rule_id and request.args.get("object") else document.get("object")
                obj = tenant_model.object(object_name)
            except CRMError as exc:
                return render_error(exc)
            document["object"] = object_name
            return self.render(
                "crm/design/rule.html", document=document, rule_id=rule_id, stored=stored, obj=obj,
                object_name=object_name, context=_object_context(obj, tenant_model),
                qb_filters=querybuilder_filters(obj, policy_of(session), workflow=True), text=builder_text(),
                objects=[(n, object_label(o)) for n, o in tenant_model.objects.items()], problems=problems,
                title=document.get("name") or _("New rule"),
            ), (422 if problems else 200)

    @expose("/rules/new/", methods=("GET", "POST"))
    def rule_new(self) -> Any:
        return self._rule_page(None)

    @expose("/rules/<int:rule_id>/", methods=("GET", "POST"))
    def rule_edit(self, rule_id: int) -> Any:
        return self._rule_page(rule_id)

    @expose("/rules/<int:rule_id>/delete/", methods=("POST",))
    def rule_delete(self, rule_id: int) -> Any:
        try:
            with ui_session(write=True) as session:
                require_customize(session)
                delete_rule(session, rule_id)
        except CRMError as exc:
            flash_error(exc)
            return redirect(url_for(".rule_edit", rule_id=rule_id))
        flash(_("Rule deleted."), "success")
        return redirect(url_for(".rules"))


__all__ = ["RulesMixin"]
