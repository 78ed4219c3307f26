"""Where rules name objects and fields, so metadata changes never leave a rule pointing at nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from crm_platform.core.database import copy_document
from crm_platform.core.session import TenantSession, utcnow
from metadata import reference
from metadata.designer import rename_in_expression

from .tables import rule_versions, rules

Visitor = Callable[[str, str, str], str]  # (object, field, role) -> new field name


def _walk_tree(tree: Any, object_name: str, visit: Visitor) -> None:
    if not isinstance(tree, dict):
        return
    for rule in tree.get("rules", []):
        if "rules" in rule:
            _walk_tree(rule, object_name, visit)
        elif "field" in rule:
            rule["field"] = visit(object_name, rule["field"], "condition")


def _walk_formula(expression: str, object_name: str, visit: Visitor) -> str:
    names = _names(expression)
    for name in names:
        new = visit(object_name, name, "formula")
        if new != name:
            expression = rename_in_expression(expression, name, new)
    return expression


def _names(expression: str) -> set[str]:
    import ast

    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return set()
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def _walk_values(values: dict[str, Any], target: str, source: str, visit: Visitor) -> dict[str, Any]:
    walked = {}
    for name, value in values.items():
        if isinstance(value, dict) and set(value) == {"formula"}:
            value = {"formula": _walk_formula(value["formula"], source, visit)}
        walked[visit(target, name, "value")] = value
    return walked


def walk_rule(document: dict[str, Any], visit: Visitor, lookup_target: Callable[[str, str], str | None]) -> dict[str, Any]:
    """A copy of the rule with every (object, field) it names passed through ``visit``."""
    doc = copy_document(document)
    obj = doc["object"]
    trigger = doc["trigger"]
    if "fields" in trigger:
        trigger["fields"] = [visit(obj, f, "trigger") for f in trigger["fields"]]
    if trigger.get("field"):
        trigger["field"] = visit(obj, trigger["field"], "trigger")
    if isinstance(doc.get("condition"), dict):
        _walk_tree(doc["condition"], obj, visit)
    for action in doc["actions"]:
        kind = action["type"]
        if kind == "set_field":
            action["field"] = visit(obj, action["field"], "action")
            if "formula" in action:
                action["formula"] = _walk_formula(action["formula"], obj, visit)
        elif kind == "create_record":
            action["values"] = _walk_values(action["values"], action["object"], obj, visit)
        elif kind == "update_related":
            if "object" in action:
                action["lookup"] = visit(action["object"], action["lookup"], "action")
                action["values"] = _walk_values(action["values"], action["object"], obj, visit)
            else:
                target = lookup_target(obj, action["lookup"])
                action["lookup"] = visit(obj, action["lookup"], "action")
                if target:
                    action["values"] = _walk_values(action["values"], target, obj, visit)
        elif kind == "assign_owner" and action.get("territory"):
            action["territory"]["field"] = visit(obj, action["territory"]["field"], "action")
    return doc


def _objects_named(document: dict[str, Any]) -> set[str]:
    named = {document["object"]}
    for action in document["actions"]:
        if action.get("object"):
            named.add(action["object"])
    return named


class FieldVisitor:
    """A walk's visitor for one metadata change: records where the field is used and, for a
    rename, answers the new name (shared by rules and approval processes)."""

    def __init__(self, change: dict[str, Any]) -> None:
        self.object, self.field = change["object"], change.get("field")
        self.new_name = change.get("new_name")
        self.hits: list[str] = []

    def __call__(self, obj: str, name: str, role: str) -> str:
        if obj == self.object and name == self.field:
            self.hits.append(role)
            return self.new_name or name
        return name


def lookup_targets(session: TenantSession) -> Callable[[str, str], str | None]:
    from metadata import load_model

    model = load_model(session)

    def lookup_target(object_name: str, field_name: str) -> str | None:
        obj = model.objects.get(object_name)
        fd = obj.fields.get(field_name) if obj else None
        return fd.target if fd is not None else None

    return lookup_target


def rule_references(session: TenantSession, change: dict[str, Any]) -> list[str]:
    """Blocking references for deletions. A rename rewrites every stored version of the rules in
    place: a run queued before the rename still finds its version, and it compiles."""
    lookup_target = lookup_targets(session)
    action, object_name = change["action"], change["object"]
    rows = session.conn.execute(sa.select(rules).where(rules.c.deleted.is_(False))).all()
    blocking: list[str] = []
    for row in rows:
        label = reference("rule", f"rule {row.name!r} (id {row.id})", name=row.name, id=row.id)
        if action == "delete_object":
            if object_name in _objects_named(row.definition):
                blocking.append(label)
            continue
        visit = FieldVisitor(change)
        walked = walk_rule(row.definition, visit, lookup_target)
        if not visit.hits:
            continue
        if action == "delete_field":
            blocking.append(label)
            continue
        if action == "rename_field":
            session.conn.execute(rules.update().where(rules.c.id == row.id).values(definition=walked, updated_at=utcnow()))
            for version in session.conn.execute(sa.select(rule_versions).where(rule_versions.c.rule_id == row.id)).all():
                session.conn.execute(rule_versions.update().where(
                    rule_versions.c.rule_id == row.id, rule_versions.c.version == version.version,
                ).values(definition=walk_rule(version.definition, FieldVisitor(change), lookup_target)))
            session.audit("rule.update", object="rule", record_id=row.id, before=row.definition, after=walked)
            from .rules import bump_workflow_version

            bump_workflow_version(session)
    return blocking
