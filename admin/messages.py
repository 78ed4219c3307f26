"""Errors of the layers below (the record service, field validation, login) in the user's language.

The layers below speak English, and beside it give each error a stable code with parameters
(``exc.reason``/``exc.params`` for the error as a whole, a coded problem for each field message;
see :mod:`crm_platform.core.errors`). This catalogue says each code in the UI's language, with
field, stage, option and object names shown by their labels. A code it does not know is shown
with the English text it came with, which still names the field and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext

from .meta import field_label, object_label, option_label, stage_label, type_label

from crm_platform.core.errors import UNCODED

if TYPE_CHECKING:
    from crm_platform.core.errors import CRMError
    from metadata import ObjectModel, TenantModel

#: Field problems by code (``metadata.records``, ``metadata.field_types``).
FIELD_MESSAGES: Mapping[str, Any] = {
    "required": lazy_gettext("Required."),
    "required_for_stage": lazy_gettext("Required to enter stage %(stage)s."),
    "stage_requires": lazy_gettext("Stage %(stage)s requires: %(fields)s."),
    "unknown_stage": lazy_gettext("Unknown stage %(stage)s; the stages are: %(stages)s."),
    "dependent_choice": lazy_gettext("%(value)s is not allowed when %(field)s is %(controlling)s."),
    "unknown_field": lazy_gettext("Unknown field."),
    "system_field": lazy_gettext("A system field; it cannot be changed."),
    "computed_field": lazy_gettext("Computed by the platform; it cannot be changed."),
    "not_writable": lazy_gettext("You may not change this field."),
    "no_pipeline": lazy_gettext("This object has no pipeline."),
    "not_an_object": lazy_gettext("Not a record."),
    "not_integer": lazy_gettext("Not a whole number."),
    "not_number": lazy_gettext("Not a number."),
    "not_boolean": lazy_gettext("Not yes or no."),
    "not_date": lazy_gettext("Not a valid date."),
    "not_datetime": lazy_gettext("Not a valid date and time."),
    "not_email": lazy_gettext("Not a valid e-mail address."),
    "not_url": lazy_gettext("Not a valid URL."),
    "not_phone": lazy_gettext("Not a valid phone number."),
    "not_text": lazy_gettext("Not text."),
    "not_list": lazy_gettext("Not a list."),
    "nul_character": lazy_gettext("Contains a NUL character."),
    "invalid_unicode": lazy_gettext("Not valid Unicode text."),
    "invalid_id": lazy_gettext("Not a valid id."),
    "out_of_range": lazy_gettext("Out of the range this field can store."),
    "min": lazy_gettext("Must be at least %(min)s."),
    "max": lazy_gettext("Must be at most %(max)s."),
    "between": lazy_gettext("Must be between %(min)s and %(max)s."),
    "max_length": lazy_gettext("At most %(max)s characters."),
    "pattern": lazy_gettext("Does not match the pattern %(pattern)s."),
    "choice": lazy_gettext("Must be one of: %(choices)s."),
    "lookup_not_found": lazy_gettext("%(object)s #%(id)s does not exist."),
    "user_not_found": lazy_gettext("User #%(id)s does not exist."),
    "unique": lazy_gettext("Already used by %(object)s #%(id)s."),
    "unique_race": lazy_gettext("Must be unique: another record with this value was saved at the same time."),
    "duplicate_in_batch": lazy_gettext("%(value)s occurs more than once."),
    "current_version": lazy_gettext("The current version is %(version)s."),
    "outside_scope": lazy_gettext("Outside your scope (%(scope)s)."),
    "formula_failed": lazy_gettext("The formula failed: %(error)s"),
    "formula_out_of_range": lazy_gettext("The formula's result %(value)s is out of range."),
    # Definitions (``metadata.definitions``, the designers).
    "already_exists": lazy_gettext("Already exists."),
    "invalid_name": lazy_gettext("%(name)s is not a valid name: use lower-case letters, digits and _, starting with a "
                                 "letter."),
    "reserved_name": lazy_gettext("%(name)s is a reserved word; choose another name."),
    "system_name": lazy_gettext("%(name)s is a system column; choose another name."),
    "duplicate_name": lazy_gettext("The field name %(name)s is used twice."),
    "unknown_field_named": lazy_gettext("Unknown field %(name)s."),
    "no_options": lazy_gettext("A picklist needs at least one option."),
    "duplicate_options": lazy_gettext("Option values must be unique."),
    "no_target": lazy_gettext("A lookup needs a target object."),
    "unknown_target": lazy_gettext("Unknown target object %(target)s."),
    "no_expression": lazy_gettext("A formula needs an expression."),
    "bad_formula": lazy_gettext("Invalid formula: %(error)s"),
    "min_above_max": lazy_gettext("The minimum is greater than the maximum."),
    "missing_property": lazy_gettext("%(name)s is required."),
    # List filters (``metadata.query``, ``metadata.conditions``).
    "unknown_filter_field": lazy_gettext("There is no field %(field)s to filter by."),
    "unknown_filter_suffix": lazy_gettext("Unknown filter operator %(operator)s; use one of: %(operators)s."),
    "unknown_operator": lazy_gettext("%(field)s: unknown operator %(operator)s."),
    "operator_not_for_field": lazy_gettext("%(field)s: the operator %(operator)s cannot be used on this field."),
    "filter_not_json": lazy_gettext("The filter cannot be read (not valid JSON)."),
}

#: Whole errors by reason.
REASONS: Mapping[str, Any] = {
    "stale_version": lazy_gettext(
        "This %(object)s was changed by someone else (version %(current)s, yours is %(sent)s); reload it and try again."),
    "changed_concurrently": lazy_gettext("This %(object)s was changed at the same time; reload it and try again."),
    "not_unique": lazy_gettext("%(field)s must be unique: %(value)s is already used by %(object)s #%(id)s."),
    "unique_race": lazy_gettext("A %(object)s with the same unique value was saved at the same time; try again."),
    "record_not_found": lazy_gettext("%(object)s #%(id)s does not exist."),
    "no_such_record": lazy_gettext("Record %(id)s does not exist."),
    "no_such_object": lazy_gettext("Object %(object)s does not exist."),
    "update_outside_scope": lazy_gettext("You may not change this %(object)s."),
    "delete_outside_scope": lazy_gettext("You may not delete this %(object)s."),
    "action_not_allowed": lazy_gettext("You may not %(action)s %(object)s records."),
    "owner_outside_scope": lazy_gettext("You may not %(action)s %(object)s records owned by that user."),
    "read_only_fields": lazy_gettext("These fields cannot be changed: %(fields)s."),
    "still_referenced": lazy_gettext("This %(object)s is still referenced by %(count)s %(other)s record(s) through "
                           "%(field)s; delete or re-point them first."),
    "awaiting_approval": lazy_gettext("Locked: awaiting approval in %(process)s (step %(step)s) until the request is "
                            "approved, rejected or recalled."),
    # The designers (``metadata.designer``).
    "object_exists": lazy_gettext("An object named %(object)s already exists."),
    "field_exists": lazy_gettext("%(object)s already has a field named %(field)s."),
    "no_such_field": lazy_gettext("Field %(field)s does not exist on %(object)s."),
    "field_change_not_object": lazy_gettext("A field change must be a JSON object."),
    "object_referenced": lazy_gettext("%(object)s cannot be deleted: it is still referenced by %(references)s."),
    "field_referenced": lazy_gettext("%(field)s cannot be deleted: it is still referenced by %(references)s."),
    "required_without_default": lazy_gettext(
        "%(field)s cannot be required without a default: %(count)s existing records would have no value."),
    "type_change_unsupported": lazy_gettext(
        "%(field)s cannot change from %(from)s to %(to)s; add a new field instead."),
    "lookup_retarget_in_use": lazy_gettext(
        "%(field)s cannot point at another object while records use it; clear it on every record first."),
    "required_refused": lazy_gettext("%(field)s cannot be made required: %(count)s records have no value "
                                     "(records %(ids)s)."),
    "unique_refused": lazy_gettext("%(field)s cannot be made unique: some values occur more than once (%(values)s)."),
    "conversion_refused": lazy_gettext("%(field)s cannot be changed to %(to)s: %(count)s records hold values that do "
                                       "not fit (records %(ids)s)."),
    "stages_in_use": lazy_gettext("These stages still hold records: %(stages)s; move those records first."),
    # Approvals (``workflow_engine.approvals``).
    "comment_too_long": lazy_gettext("The comment may have at most %(max)s characters."),
    "no_such_request": lazy_gettext("Approval request %(id)s does not exist."),
    "request_decided": lazy_gettext("Approval request %(id)s is already %(status)s."),
    "task_decided": lazy_gettext("Your task in step %(step)s of approval request %(id)s is already %(status)s."),
    "not_an_approver": lazy_gettext("You are not an approver of approval request %(id)s (step %(step)s)."),
    "recall_not_allowed": lazy_gettext("Only the submitter or an administrator may recall approval request %(id)s."),
    "delegate_to_required": lazy_gettext("Choose someone to delegate to."),
    "delegate_to_inactive": lazy_gettext("%(user)s is inactive."),
    "delegate_to_self": lazy_gettext("You cannot delegate a task to yourself."),
    "delegate_to_approver": lazy_gettext("%(user)s is already an approver of step %(step)s."),
    "process_required": lazy_gettext("Choose an approval process."),
    "no_such_process": lazy_gettext("%(object)s has no approval process %(process)s."),
    "process_inactive": lazy_gettext("The approval process %(process)s is inactive."),
    "already_awaiting": lazy_gettext("This %(object)s already awaits approval in %(process)s."),
    "wrong_credentials": lazy_gettext("wrong e-mail or password"),
    "inactive_account": lazy_gettext("this account is inactive"),
    "account_locked": lazy_gettext("too many failed logins; the account is locked until %(time)s UTC"),
}

ACTIONS: Mapping[str, Any] = {
    "read": lazy_gettext("read"), "create": lazy_gettext("create"), "update": lazy_gettext("change"),
    "delete": lazy_gettext("delete"), "export": lazy_gettext("export"),
}
STATUSES: Mapping[str, Any] = {
    "pending": lazy_gettext("pending"), "approved": lazy_gettext("approved"), "rejected": lazy_gettext("rejected"),
    "recalled": lazy_gettext("recalled"), "skipped": lazy_gettext("skipped"), "delegated": lazy_gettext("delegated"),
}
SCOPES: Mapping[str, Any] = {
    "none": lazy_gettext("none"), "own": lazy_gettext("own records"), "team": lazy_gettext("team records"),
    "all": lazy_gettext("all records"),
}


class Context:
    """What names in parameters are shown by: the error's object, and the tenant's other objects."""

    def __init__(self, model: ObjectModel | None = None, objects: TenantModel | None = None) -> None:
        self.model = model
        self.objects = objects

    def object(self, name: Any) -> str:
        if self.model is not None and name == self.model.name:
            return object_label(self.model)
        other = self.objects.objects.get(name) if self.objects is not None else None
        return object_label(other) if other is not None else str(name)

    def field(self, name: Any) -> str:
        return field_label(self.model, str(name)) if self.model is not None else str(name)

    def option(self, field_name: Any, value: Any) -> str:
        fd = self.model.fields.get(str(field_name)) if self.model is not None else None
        return option_label(fd, value) if fd is not None and fd.options else str(value)

    def stage(self, name: Any) -> str:
        return stage_label(self.model, name) if self.model is not None else str(name)

    def params(self, params: Mapping[str, Any], key: str | None) -> dict[str, Any]:
        """Parameters with names replaced by labels in the user's language."""
        shown = dict(params)
        if "object" in shown:
            shown["object"] = self.object(shown["object"])
        if "other" in shown:
            shown["other"] = self.object(shown["other"])
        if "stage" in shown:
            shown["stage"] = self.stage(shown["stage"])
        if "stages" in shown:
            shown["stages"] = ", ".join(self.stage(s) for s in shown["stages"])
        if "fields" in shown:
            shown["fields"] = ", ".join(self.field(f) for f in shown["fields"])
        if "choices" in shown:
            shown["choices"] = ", ".join(self.option(key, c) for c in shown["choices"])
        if "controlling" in shown and "field" in shown:
            shown["controlling"] = self.option(shown["field"], shown["controlling"])
            shown["value"] = self.option(key, shown.get("value"))
        if "field" in shown:
            shown["field"] = self.field(shown["field"])
        if "action" in shown:
            shown["action"] = str(ACTIONS.get(shown["action"], shown["action"]))
        if "scope" in shown:
            shown["scope"] = str(SCOPES.get(shown["scope"], shown["scope"]))
        if "status" in shown:
            shown["status"] = str(STATUSES.get(shown["status"], shown["status"]))
        for name in ("from", "to"):
            if name in shown:
                shown[name] = type_label(shown[name])
        return {k: ", ".join(str(v) for v in value) if isinstance(value, list) else value
                for k, value in shown.items()}


def _say(template: Any, params: Mapping[str, Any], fallback: str) -> str:
    if template is None:
        return fallback
    try:
        return str(template) % params
    except (KeyError, TypeError, ValueError):
        return fallback


def field_message(problem: Mapping[str, Any], context: Context, key: str | None = None) -> str:
    """One coded field problem in the user's language."""
    params = context.params(problem.get("params") or {}, key)
    return _say(FIELD_MESSAGES.get(problem.get("code", "")), params, str(problem.get("message", "")))


def field_messages(exc: CRMError, context: Context) -> dict[str, list[str]]:
    """The error's field messages, key by key, in the user's language."""
    return {key: [field_message(p, context, _field_name(key)) for p in problems]
            for key, problems in exc.field_problems().items()}


def error_message(exc: CRMError, context: Context | None = None) -> str:
    """The whole error in one line: its reason, or its coded field problems by field label, or (an
    error that has neither, such as one the UI raised in the user's language) its message."""
    context = context or Context()
    template = REASONS.get(exc.reason or "")
    if template is not None:
        return _say(template, context.params(exc.params, None), exc.message)
    messages = field_messages(exc, context) if exc.problems else {}
    if messages:
        return "; ".join(f"{context.field(_field_name(key))}: {m}" if key else m
                         for key, texts in messages.items() for m in texts)
    return exc.message


def design_problems(exc: CRMError, context: Context | None = None) -> dict[str, list[str]]:
    """A designer's problem list in the user's language: the error as a whole under ``""`` (unless
    its coded problems say it all), then each path's messages."""
    context = context or Context()
    problems = {str(key): list(texts) for key, texts in field_messages(exc, context).items()}
    if exc.reason in REASONS:  # it says it all: only coded details add to it
        coded = {key for key, items in exc.problems.items() if any(p.get("code") != UNCODED for p in items)}
        return {"": [error_message(exc, context)], **{k: v for k, v in problems.items() if k in coded}}
    if not exc.problems:
        problems = {"": [error_message(exc, context)], **problems}
    return problems


def list_error(exc: CRMError, context: Context) -> str:
    """Why a list's filter was not applied: each problem in the user's language, a query-string
    parameter named (``amount__foo: ...``), the visual filter's problems as they are."""
    if exc.reason in REASONS or not exc.problems:
        return error_message(exc, context)
    return "; ".join(text if key == "filter" else f"{key}: {text}"
                     for key, texts in field_messages(exc, context).items() for text in texts)


def login_refusal(refusal: Mapping[str, Any]) -> str:
    """The reason a login was refused (``crm_platform.core.users.authenticate_password``)."""
    return _say(REASONS.get(refusal.get("code", "")), refusal.get("params") or {}, str(refusal.get("message", "")))


def _field_name(key: str) -> str:
    """``rows[2].amount`` and ``amount.0`` concern ``amount``."""
    key = str(key)
    if "]." in key:
        key = key.split("].", 1)[1]
    return key.split(".")[0].split("[")[0]


__all__ = ["Context", "design_problems", "error_message", "list_error", "field_message", "field_messages", "login_refusal"]
