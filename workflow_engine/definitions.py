"""Rule documents: shape (JSON Schema), meaning (against the tenant's metadata), compiled form.

Everything a rule could get wrong is caught when it is saved: unknown fields, operators that do
not fit a field, values of the wrong type, formulas that do not parse, webhooks to non-http(s)
URLs, cron strings that do not parse. Each problem is reported under the path it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlparse

from croniter import croniter
from jinja2 import TemplateSyntaxError
from jsonschema import Draft202012Validator

from crm_platform.core.errors import (
    UNCODED,
    CRMError,
    ExpressionError,
    Problems,
    problem,
)
from metadata import conditions
from metadata.definitions import SHAPE_MEMO_SIZE, content_key, remember_valid, shape_problem
from metadata.field_types import FIELD_TYPES, deserialize_loose, value_type_of
from metadata.formulas import Formula, formula_problem
from metadata.model import ObjectModel, TenantModel

from .templates import compile_template

RECORD_TRIGGERS = frozenset({"on_create", "on_update", "on_create_or_update", "on_field_change", "on_stage_change",
                             "on_delete"})
#: Hook name: callables ``(session, object_name, process_name) -> bool`` telling whether an approval
#: process exists (the approvals module registers it).
APPROVAL_EXISTS_HOOK = "workflow.approval_exists"
WRITABLE_SYSTEM = ("owner_id", "stage")


#: Platform cache of rule documents whose JSON Schema check passed (see :func:`check_rule`).
VALID_RULE_SHAPES = "valid_rule_shapes"


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("workflow_engine").joinpath("schemas/rule.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: its document plus the compiled condition and actions."""

    id: int
    version: int
    name: str
    object: str
    document: dict[str, Any]
    trigger: dict[str, Any]
    condition: dict[str, Any] | None
    predicate: Callable[..., bool]
    actions: tuple[dict[str, Any], ...]
    active: bool
    order: int
    run_once: bool

    @property
    def type(self) -> str:
        return self.trigger["type"]


def check_rule(document: Any, model: TenantModel, approval_exists: Callable[[str, str], bool] | None = None,
               valid_shapes: MutableMapping[str, bool] | None = None) -> dict[str, Any]:
    """Validate a rule document; answers it with its condition normalized to a tree.
    ``valid_shapes``: a platform's memo of documents whose JSON Schema check passed (the planner
    and then the installer check a pack's rules, for every tenant it goes into); their meaning
    against the tenant's model is checked every time."""
    problems = Problems("rule")
    shape = _shape_key(document) if valid_shapes is not None else None
    if shape is None or shape not in valid_shapes:
        for error in _validator().iter_errors(document):
            path = ".".join(str(p) for p in error.absolute_path) or "rule"
            _add_shape(problems, path, error)
        problems.raise_if_any()
        if shape is not None:
            if len(valid_shapes) >= SHAPE_MEMO_SIZE:
                valid_shapes.clear()
            valid_shapes[shape] = True
    document = dict(document)
    obj = model.objects.get(document["object"])
    if obj is None:
        problems.add("object", f"unknown object {document['object']!r}", "unknown_object", object=document["object"])
        problems.raise_if_any()
    _check_trigger(problems, document["trigger"], obj)
    document["condition"] = _check_condition(problems, document.get("condition"), obj, document["trigger"]["type"])
    for index, action in enumerate(document["actions"]):
        _check_action(problems, f"actions[{index}]", action, obj, model, approval_exists)
    problems.raise_if_any()
    return document


def _add_shape(problems: Problems, path: str, error: Any) -> None:
    coded = shape_problem(error)
    problems.add(path, error.message[:300], coded["code"], **coded["params"])


def _shape_key(document: Any) -> str | None:
    """The canonical JSON of a document, the key of the shape memo (None: not plain JSON)."""
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def _check_trigger(problems: Problems, trigger: dict[str, Any], obj: ObjectModel) -> None:
    kind = trigger["type"]
    allowed = {
        "on_field_change": {"type", "fields", "to"},
        "on_stage_change": {"type", "from", "to"},
        "scheduled": {"type", "cron"},
        "time_relative": {"type", "field", "offset", "direction", "on"},
    }.get(kind, {"type"})
    for key in trigger:
        if key not in allowed:
            problems.add(f"trigger.{key}", f"{key!r} does not apply to a {kind} trigger", "not_for_trigger", key=key,
                         trigger=kind)
    if kind == "on_field_change":
        fields = trigger.get("fields")
        if not fields:
            problems.add("trigger.fields", "name the fields whose change triggers the rule", "no_trigger_fields")
        for name in fields or []:
            if name not in obj.field_refs or obj.field_refs[name].kind == "tags":
                problems.add("trigger.fields", f"unknown field {name!r} of {obj.name}", "unknown_field_of",
                             name=name, object=obj.name)
        if "to" in trigger and fields and len(fields) == 1 and fields[0] in obj.field_refs:
            try:
                obj.field_refs[fields[0]].coerce(trigger["to"])
            except ValueError as exc:
                problems.add("trigger.to", f"not a valid value for {fields[0]}: {exc}", "invalid_value",
                             field=fields[0], value=trigger["to"])
    elif kind == "on_stage_change":
        if not obj.has_pipeline:
            problems.add("trigger", f"{obj.name} has no pipeline", "object_without_pipeline", object=obj.name)
        for key in ("from", "to"):
            if trigger.get(key) is not None and trigger[key] not in obj.stages:
                problems.add(f"trigger.{key}", f"unknown stage {trigger[key]!r}", "unknown_stage_named",
                             name=trigger[key])
    elif kind == "scheduled":
        cron = trigger.get("cron")
        if not cron or not croniter.is_valid(cron):
            problems.add("trigger.cron", f"not a valid cron expression: {cron!r} (e.g. '0 9 * * 1-5')", "bad_cron",
                         cron=cron)
    elif kind == "time_relative":
        if "offset" not in trigger:
            problems.add("trigger.offset", "say when: {\"amount\": 72, \"unit\": \"hours\"}", "no_offset")
        field_name = trigger.get("field")
        if field_name is not None:
            ref = obj.field_refs.get(field_name)
            if ref is None:
                problems.add("trigger.field", f"unknown field {field_name!r} of {obj.name}", "unknown_field_of",
                             name=field_name, object=obj.name)
            elif ref.kind not in ("date", "datetime"):
                problems.add("trigger.field", f"{field_name!r} is not a date or datetime field", "not_a_date_field",
                             field=field_name)
        elif trigger.get("direction") == "before":
            problems.add("trigger.direction", "'before' needs a date field to count back from", "before_needs_field")


def _check_condition(problems: Problems, condition: Any, obj: ObjectModel, trigger_type: str) -> dict[str, Any] | None:
    try:
        if isinstance(condition, str):
            tree = conditions.parse_expression(condition, obj.field_refs)
        else:
            tree = conditions.validate(condition, obj.field_refs)
        if tree is not None and trigger_type == "scheduled":
            conditions.compile_clause(tree, obj.field_refs)
        return tree
    except CRMError as exc:
        add_condition_error(problems, exc, lambda key: "condition" if key in ("filter", "expression")
                            else f"condition.{key}")
        return None


def add_condition_error(problems: Problems, exc: CRMError, path_of: Callable[[str], str]) -> None:
    """A condition's error as problems under ``path_of(key)``, with their codes (an expression's
    as ``bad_condition``, its own code as the ``cause``)."""
    found = exc.field_problems() if exc.details else {"condition": [{**problem(UNCODED), "message": exc.message}]}
    for key, messages in found.items():
        for message in messages:
            code, params = message["code"], message["params"]
            if isinstance(exc, ExpressionError):
                cause = {"cause": problem(code, **params)} if code != UNCODED else {}
                code, params = "bad_condition", {"error": message["message"], **cause}
            problems.add(path_of(key), message["message"], code, **params)


def _field_names(obj: ObjectModel) -> list[str]:
    return [*obj.fields, "id", "created_at", "updated_at", "owner_id", *(["stage"] if obj.has_pipeline else [])]


def _check_value(problems: Problems, path: str, obj: ObjectModel, field_name: str, value: Any,
                 source: ObjectModel) -> None:
    """A literal value or ``{"formula": ...}`` (evaluated on ``source``) for ``obj.field_name``."""
    if field_name in obj.fields:
        fd = obj.fields[field_name]
        if fd.computed:
            problems.add(path, f"{field_name!r} is a computed {fd.type} field and cannot be set", "computed_field_of",
                         field=field_name, object=obj.name)
            return
        result_type, loader = value_type_of(fd), FIELD_TYPES[fd.type].field(fd, True)
    elif field_name in WRITABLE_SYSTEM and (field_name != "stage" or obj.has_pipeline):
        result_type = "integer" if field_name == "owner_id" else "text"
        loader = None
    else:
        problems.add(path, f"unknown or read-only field {field_name!r} of {obj.name}", "not_settable",
                     name=field_name, object=obj.name)
        return
    if isinstance(value, dict) and set(value) == {"formula"}:
        try:
            Formula(value["formula"], _field_names(source), result_type if result_type in
                    ("text", "integer", "decimal", "currency", "percent", "boolean", "date", "datetime") else "text")
        except ExpressionError as exc:
            coded = formula_problem(exc)
            problems.add(path, exc.message, coded["code"], **coded["params"])
        return
    if field_name == "stage" and value is not None and value not in obj.stages:
        problems.add(path, f"unknown stage {value!r}", "unknown_stage_named", name=value)
    if loader is not None and value is not None:
        try:
            deserialize_loose(loader, value)
        except ValueError as exc:
            problems.add(path, f"not a valid value for {field_name}: {exc}", "invalid_value_of", field=field_name,
                         object=obj.name, value=value)


def _check_action(problems: Problems, path: str, action: dict[str, Any], obj: ObjectModel, model: TenantModel,
                  approval_exists: Callable[[str, str], bool] | None) -> None:
    kind = action["type"]
    required = {
        "set_field": ("field",), "create_record": ("object", "values"), "update_related": ("lookup", "values"),
        "assign_owner": ("strategy",), "add_tag": ("tag",), "remove_tag": ("tag",), "notify": ("to", "title"),
        "send_email": ("to", "subject"), "webhook": ("url",), "submit_approval": ("process",),
    }[kind]
    for key in required:
        if key not in action:
            problems.add(f"{path}.{key}", f"a {kind} action needs {key!r}", "action_needs", action=kind, key=key)
    if any(k not in action for k in required):
        return
    if kind == "set_field":
        if ("value" in action) == ("formula" in action):
            problems.add(path, "give either 'value' or 'formula'", "value_or_formula")
            return
        value = {"formula": action["formula"]} if "formula" in action else action["value"]
        _check_value(problems, f"{path}.value", obj, action["field"], value, obj)
    elif kind == "create_record":
        target = model.objects.get(action["object"])
        if target is None:
            problems.add(f"{path}.object", f"unknown object {action['object']!r}", "unknown_object",
                         object=action["object"])
            return
        for name, value in action["values"].items():
            _check_value(problems, f"{path}.values.{name}", target, name, value, obj)
        missing = [r for r in target.required if r not in action["values"] and r not in target.defaults]
        if missing:
            problems.add(f"{path}.values", f"{target.name} requires: {', '.join(missing)}", "object_requires",
                         object=target.name, names=missing)
    elif kind == "update_related":
        if "object" in action:
            target = model.objects.get(action["object"])
            lookup = target.fields.get(action["lookup"]) if target else None
            if target is None:
                problems.add(f"{path}.object", f"unknown object {action['object']!r}", "unknown_object",
                             object=action["object"])
                return
            if lookup is None or lookup.type != "lookup" or lookup.target != obj.name:
                problems.add(f"{path}.lookup", f"{action['object']}.{action['lookup']} is not a lookup to {obj.name}",
                             "not_a_lookup_to", other=action["object"], name=action["lookup"], object=obj.name)
                return
        else:
            lookup = obj.fields.get(action["lookup"])
            if lookup is None or lookup.type != "lookup":
                problems.add(f"{path}.lookup", f"{action['lookup']!r} is not a lookup field of {obj.name}",
                             "not_a_lookup_of", name=action["lookup"], object=obj.name)
                return
            target = model.objects[lookup.target]
        for name, value in action["values"].items():
            _check_value(problems, f"{path}.values.{name}", target, name, value, obj)
    elif kind == "assign_owner":
        strategy = action["strategy"]
        if strategy == "user" and "user" not in action:
            problems.add(f"{path}.user", "name the user (an e-mail)", "no_user")
        if strategy != "user" and not any(k in action for k in ("team", "users", "territory")):
            problems.add(path, "say who to choose from: 'team', 'users' or 'territory'", "no_candidates")
        territory = action.get("territory")
        if territory and territory["field"] not in obj.field_refs:
            problems.add(f"{path}.territory.field", f"unknown field {territory['field']!r}", "unknown_field_named",
                         name=territory["field"])
    elif kind in ("notify", "send_email"):
        for key in ("title", "subject", "body"):
            if key in action:
                try:
                    compile_template(action[key])
                except TemplateSyntaxError as exc:
                    problems.add(f"{path}.{key}", f"template error: {exc.message}", "bad_template",
                                 error=exc.message, line=exc.lineno)
    elif kind == "webhook":
        parsed = urlparse(action["url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.add(f"{path}.url", f"a webhook needs an http(s) URL, not {action['url'][:100]!r}",
                         "webhook_url", url=action["url"][:100])
    elif kind == "submit_approval":
        if approval_exists is not None and not approval_exists(obj.name, action["process"]):
            problems.add(f"{path}.process", f"no approval process {action['process']!r} on {obj.name}",
                         "no_such_process", process=action["process"], object=obj.name)
    allowed = {
        "set_field": {"type", "field", "value", "formula"},
        "create_record": {"type", "object", "values"},
        "update_related": {"type", "object", "lookup", "values"},
        "assign_owner": {"type", "strategy", "team", "users", "user", "territory"},
        "add_tag": {"type", "tag"}, "remove_tag": {"type", "tag"},
        "notify": {"type", "to", "title", "body"},
        "send_email": {"type", "to", "subject", "body"},
        "webhook": {"type", "url", "secret"},
        "submit_approval": {"type", "process", "comment"},
    }[kind]
    for key in action:
        if key not in allowed:
            problems.add(f"{path}.{key}", f"{key!r} does not apply to a {kind} action", "not_for_action", key=key,
                         action=kind)


def compile_rule(rule_id: int, version: int, document: Mapping[str, Any], model: TenantModel) -> CompiledRule:
    obj = model.object(document["object"])
    condition = document.get("condition")
    predicate = conditions.compile_predicate(condition, obj.field_refs) if condition else (lambda record, previous=None: True)
    return CompiledRule(
        id=rule_id,
        version=version,
        name=document["name"],
        object=document["object"],
        document=dict(document),
        trigger=dict(document["trigger"]),
        condition=condition,
        predicate=predicate,
        actions=tuple(document["actions"]),
        active=document.get("active", True),
        order=document.get("order", 0),
        run_once=document.get("run_once", False),
    )


@cache
def _action_validator() -> Draft202012Validator:
    schema = _validator().schema
    return Draft202012Validator({"$ref": "#/$defs/action", "$defs": schema["$defs"]})


def check_actions(actions: list[Any], path: str, obj: ObjectModel, model: TenantModel,
                  approval_exists: Callable[[str, str], bool] | None = None,
                  into: Problems | None = None,
                  valid_shapes: MutableMapping[Any, bool] | None = None) -> dict[str, list[str]]:
    """Problems (by path) of action documents run on ``obj`` outside a rule (approval outcomes),
    also added with their codes to ``into``. ``valid_shapes``: a platform's memo of actions whose
    JSON Schema check passed."""
    problems = into if into is not None else Problems("actions")
    for index, action in enumerate(actions):
        where = f"{path}[{index}]"
        key = ("action", content_key(action)) if valid_shapes is not None else None
        shape = [] if key is not None and key in valid_shapes else list(_action_validator().iter_errors(action))
        for error in shape:
            _add_shape(problems, ".".join([where, *(str(p) for p in error.absolute_path)]), error)
        if not shape:
            if key is not None and key[1] is not None:
                remember_valid(valid_shapes, key)
            _check_action(problems, where, action, obj, model, approval_exists)
    return problems.errors
