"""Errors of the layers below (the record service, field validation, login) in the user's language.

The layers below speak English, and beside it give each error a stable code with parameters
(``exc.reason``/``exc.params`` for the error as a whole, a coded problem for each field message;
see :mod:`crm_platform.core.errors`). The catalogue (:mod:`admin.error_catalogue`) says each code
in the UI's language; this module fills in its parameters, with field, stage, option and object
names shown by their labels and lists joined the language's way. A code it does not know is shown
with the English text it came with, which still names the field and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask_babel import gettext, pgettext
from markupsafe import Markup, escape

from crm_platform.core.errors import UNCODED

from .error_catalogue import (
    ACTIONS,
    CAUSES,
    FIELD_MESSAGES,
    JSON_TYPES,
    PARAMETERS,
    REASONS,
    REFERENCES,
    SCOPES,
    STATUSES,
)
from .meta import field_label, object_label, option_label, stage_label, type_label

if TYPE_CHECKING:
    from crm_platform.core.errors import CRMError
    from metadata import ObjectModel, TenantModel


def join(items: Iterable[Any]) -> str:
    """Items of a list in one line, separated as the language does (``a, b``; ``甲、乙``)."""
    return pgettext("list separator", ", ").join(str(item) for item in items)


def labelled(name: Any, message: Any) -> str:
    """A message about something named first (``Amount: Required.``; ``金额：必填。``); markup in,
    markup out (the rest escaped)."""
    template = gettext("%(name)s: %(message)s")
    if isinstance(name, Markup) or isinstance(message, Markup):
        return Markup(escape(template)) % {"name": name, "message": message}
    return template % {"name": name, "message": message}


def _problem_lines(lines: Iterable[str]) -> str:
    return pgettext("problem separator", "; ").join(lines)


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

    def field(self, name: Any, object_name: Any = None) -> str:
        """A field of the error's object, or of ``object_name`` (another object of the tenant)."""
        model = self.model
        if object_name is not None and (model is None or object_name != model.name):
            model = self.objects.objects.get(object_name) if self.objects is not None else None
        return field_label(model, str(name)) if model is not None else str(name)

    def option(self, field_name: Any, value: Any) -> str:
        fd = self.model.fields.get(str(field_name)) if self.model is not None else None
        return option_label(fd, value) if fd is not None and fd.options else str(value)

    def stage(self, name: Any) -> str:
        return stage_label(self.model, name) if self.model is not None else str(name)

    def params(self, params: Mapping[str, Any], key: str | None) -> dict[str, Any]:
        """Parameters with names replaced by labels in the user's language."""
        shown = dict(params)
        owner = shown.get("object")  # the object the parameters' fields belong to
        if "field" in shown and "controlling" not in shown:
            shown["field"] = self.field(shown["field"], owner)
        if "names" in shown:
            shown["names"] = join(self.field(f, owner) for f in shown["names"])
        if "object" in shown:
            shown["object"] = self.object(shown["object"])
        if "other" in shown:
            shown["other"] = self.object(shown["other"])
        if "stage" in shown:
            shown["stage"] = self.stage(shown["stage"])
        if "stages" in shown:
            shown["stages"] = join(self.stage(s) for s in shown["stages"])
        if "fields" in shown:
            shown["fields"] = join(self.field(f) for f in shown["fields"])
        if "choices" in shown:
            shown["choices"] = join(self.option(params.get("field") or key, c) for c in shown["choices"])
        if "controlling" in shown and "field" in shown:
            shown["controlling"] = self.option(shown["field"], shown["controlling"])
            shown["value"] = self.option(key, shown.get("value"))
            shown["field"] = self.field(shown["field"])
        if isinstance(shown.get("cause"), Mapping):  # what made a formula invalid, said instead of its English
            shown["error"] = self.say(FIELD_MESSAGES, {**shown.pop("cause"), "message": shown.get("error", "")})
        if "causes" in shown:
            shown["causes"] = _problem_lines(self.say(CAUSES, cause) for cause in shown["causes"] or [])
        if "expected" in shown:
            shown["expected"] = str(JSON_TYPES.get(shown["expected"], shown["expected"]))
        if "action" in shown:
            shown["action"] = str(ACTIONS.get(shown["action"], shown["action"]))
        if "scope" in shown:
            shown["scope"] = str(SCOPES.get(shown["scope"], shown["scope"]))
        if "status" in shown:
            shown["status"] = str(STATUSES.get(shown["status"], shown["status"]))
        for name in ("from", "to", "type"):
            if name in shown:
                shown[name] = type_label(shown[name])
        return {k: join(value) if isinstance(value, list) else value for k, value in shown.items()}

    def say(self, catalogue: Mapping[str, Any], problem: Any) -> str:
        """A coded problem (``{"code", "params"}``, with its English ``message``) from ``catalogue``."""
        if not isinstance(problem, Mapping):
            return str(problem)
        return _say(catalogue.get(problem.get("code", "")), self.params(problem.get("params") or {}, None),
                    str(problem.get("message") or problem.get("code", "")))


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
        params = context.params(exc.params, None)
        if "references" in exc.problems:
            params["references"] = references(exc, context)
        return _say(template, params, exc.message)
    messages = field_messages(exc, context) if exc.problems else {}
    if messages:
        return _problem_lines(labelled(context.field(_field_name(key)), m) if key else m
                              for key, texts in messages.items() for m in texts)
    return exc.message


def references(exc: CRMError, context: Context) -> str:
    """What a refused deletion is still referenced by, each named in the user's language (the
    object and field by their labels)."""
    return join(context.say(REFERENCES, item) for item in exc.field_problems().get("references", []))


def design_problems(exc: CRMError, context: Context | None = None) -> dict[str, list[str]]:
    """A designer's problem list in the user's language: the error as a whole under ``""`` (unless
    its coded problems say it all), then each path's messages."""
    context = context or Context()
    problems = {str(key): list(texts) for key, texts in field_messages(exc, context).items()}
    if exc.reason in REASONS:  # it says it all: only coded details it does not name add to it
        coded = {key for key, items in exc.problems.items()
                 if key not in exc.params and any(p.get("code") != UNCODED for p in items)}
        return {"": [error_message(exc, context)], **{k: v for k, v in problems.items() if k in coded}}
    if not exc.problems:
        problems = {"": [error_message(exc, context)], **problems}
    return problems


#: List parameters whose problems say what they are about (the others are named before theirs).
SELF_NAMED = frozenset({"filter", "sort", "q"})


def list_error(exc: CRMError, context: Context) -> str:
    """Why a list's filter was not applied: each problem in the user's language, a query-string
    parameter named (``amount__foo: ...``), the visual filter's problems as they are."""
    if exc.reason in REASONS or not exc.problems:
        return error_message(exc, context)
    return _problem_lines(text if key in SELF_NAMED else labelled(PARAMETERS.get(key, key), text)
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


__all__ = ["FIELD_MESSAGES", "REASONS", "Context", "design_problems", "error_message", "field_message", "field_messages",
           "join", "labelled", "list_error", "login_refusal", "references"]
