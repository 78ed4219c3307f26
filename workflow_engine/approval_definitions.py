"""Approval process documents: shape (JSON Schema), meaning (against the tenant), storage, versions.

A process::

    {"name": "big discount", "object": "quote", "entry_condition": "discount > 20",
     "steps": [{"name": "manager", "approvers": {"type": "manager"}, "mode": "any",
                "escalation": {"after": {"amount": 48, "unit": "hours"}, "to": "manager"}},
               {"name": "risk", "approvers": [{"type": "role", "value": "risk"}], "mode": "quorum",
                "quorum": 2, "condition": "amount > 1000000"}],
     "on_approve": [{"type": "set_field", "field": "status", "value": "approved"}],
     "on_reject": [...], "active": true}

Every save is a new version; a request keeps the version it was submitted under (see
:mod:`workflow_engine.approvals`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator

from crm_platform.core.database import copy_document
from crm_platform.core.errors import (
    Conflict,
    CRMError,
    NotFound,
    Problems,
    ValidationError,
)
from crm_platform.core.roles import list_roles
from crm_platform.core.session import TenantSession, utcnow
from crm_platform.core.users import resolve_user
from metadata import conditions, load_model, reference
from metadata.definitions import content_key, remember_valid, shape_problem
from metadata.model import ObjectModel

from .definitions import add_condition_error, check_actions
from .references import FieldVisitor, lookup_targets
from .rules import bump_workflow_version
from .tables import (
    approval_process_versions,
    approval_processes,
    approval_requests,
    rules,
)

MODES = ("any", "all", "quorum")
#: User references an approver of type "field" may name besides the object's user fields.
USER_SYSTEM_FIELDS = ("owner_id",)
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("workflow_engine").joinpath("schemas/approval_process.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def approver_specs(step: dict[str, Any]) -> list[dict[str, Any]]:
    """A step's approver specifications as a list (a document may give one or several)."""
    approvers = step["approvers"]
    return list(approvers) if isinstance(approvers, list) else [approvers]


def find_user(session: TenantSession, reference: Any) -> Any:
    """A user row named by id or e-mail, or None."""
    try:
        return resolve_user(session, reference)
    except ValidationError:
        return None


def check_process(session: TenantSession, document: Any) -> dict[str, Any]:
    """Validate a process document; answers it normalized (conditions as trees, defaults filled)."""
    problems = Problems("approval process")
    valid_shapes = session.platform.cache(VALID_PROCESS_SHAPES)
    shape = content_key(document)
    if shape is None or shape not in valid_shapes:  # a pack's processes go into every tenant alike
        for error in _validator().iter_errors(document):
            path = ".".join(str(p) for p in error.absolute_path) or "process"
            coded = shape_problem(error)
            problems.add(path, error.message[:300], coded["code"], **coded["params"])
        problems.raise_if_any()
        if shape is not None:
            remember_valid(valid_shapes, shape)
    model = load_model(session)
    obj = model.objects.get(document["object"])
    if obj is None:
        problems.add("object", f"unknown object {document['object']!r}", "unknown_object", object=document["object"])
        problems.raise_if_any()
    checked = copy_document(document)
    checked.setdefault("active", True)
    checked["entry_condition"] = _condition(problems, "entry_condition", checked.get("entry_condition"), obj)
    roles = {role["name"] for role in list_roles(session)}
    seen: set[str] = set()
    for index, step in enumerate(checked["steps"]):
        path = f"steps[{index}]"
        if step["name"] in seen:
            problems.add(f"{path}.name", f"two steps are named {step['name']!r}", "duplicate_step", name=step["name"])
        seen.add(step["name"])
        step.setdefault("mode", "any")
        if step["mode"] == "quorum" and "quorum" not in step:
            problems.add(f"{path}.quorum", "mode 'quorum' needs 'quorum': how many approvals complete the step",
                         "quorum_missing")
        if step["mode"] != "quorum" and "quorum" in step:
            problems.add(f"{path}.quorum", f"'quorum' applies to mode 'quorum', not {step['mode']!r}",
                         "quorum_not_for_mode")
        specs = approver_specs(step)
        for number, spec in enumerate(specs):
            _check_approver(session, problems, f"{path}.approvers" + (f"[{number}]" if isinstance(step["approvers"], list) else ""),
                            spec, obj, roles)
        if step["mode"] == "quorum" and all(s["type"] == "user" for s in specs) and step.get("quorum", 0) > len(specs):
            problems.add(f"{path}.quorum", f"a quorum of {step['quorum']} needs at least as many approvers; "
                                           f"this step names {len(specs)}", "quorum_above_approvers",
                         quorum=step["quorum"], count=len(specs))
        step["condition"] = _condition(problems, f"{path}.condition", step.get("condition"), obj)
        escalation = step.get("escalation")
        if escalation and escalation["to"] != "manager":
            target = find_user(session, escalation["to"])
            if target is None:
                problems.add(f"{path}.escalation.to", f"escalate to 'manager' or a user's e-mail; no user {escalation['to']!r}",
                             "no_such_user", user=escalation["to"])
            elif not target.active:
                problems.add(f"{path}.escalation.to", f"{target.email} is inactive", "user_inactive", user=target.email)
    for key in ("on_approve", "on_reject"):
        checked.setdefault(key, [])
        check_actions(checked[key], key, obj, model, _exists_in(session), into=problems, valid_shapes=valid_shapes)
    problems.raise_if_any()
    return checked


def _exists_in(session: TenantSession) -> Callable[[str, str], bool]:
    return lambda object_name, name: find_process(session, object_name, name) is not None


def _condition(problems: Problems, path: str, condition: Any, obj: ObjectModel) -> dict[str, Any] | None:
    try:
        if isinstance(condition, str):
            return conditions.parse_expression(condition, obj.field_refs)
        return conditions.validate(condition, obj.field_refs)
    except CRMError as exc:
        add_condition_error(problems, exc, lambda key: path)
        return None


def _check_approver(session: TenantSession, problems: Problems, path: str, spec: dict[str, Any], obj: ObjectModel,
                    roles: set[str]) -> None:
    kind, value = spec["type"], spec.get("value")
    if kind == "manager":
        if value is not None:
            problems.add(f"{path}.value", "a 'manager' approver is the record owner's manager; give no value",
                         "manager_takes_no_value")
        return
    if value is None:
        problems.add(f"{path}.value", f"a {kind!r} approver needs a value", "approver_needs_value", kind=kind)
        return
    if kind == "user":
        row = find_user(session, value)
        if row is None:
            problems.add(f"{path}.value", f"no user {value!r} (give an e-mail or a user id)", "no_such_user",
                         user=value)
        elif not row.active:
            problems.add(f"{path}.value", f"{row.email} is inactive", "user_inactive", user=row.email)
    elif kind == "role":
        if value not in roles:
            problems.add(f"{path}.value", f"unknown role {value!r}", "unknown_role", role=value)
    elif kind == "field" and value not in USER_SYSTEM_FIELDS:
        fd = obj.fields.get(value) if isinstance(value, str) else None
        if fd is None:
            problems.add(f"{path}.value", f"unknown field {value!r} of {obj.name}", "unknown_field_of", name=value,
                         object=obj.name)
        elif fd.type != "user":
            problems.add(f"{path}.value", f"{value!r} is a {fd.type} field; an approver field must be of type user",
                         "approver_not_user_field", field=value, type=fd.type)


# -- storage -----------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def process_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {"id": m["id"], "version": m["version"], **m["definition"], "active": m["active"],
            "created_at": _iso(m["created_at"]), "updated_at": _iso(m["updated_at"])}


#: The live process of an object by name (built once: executed with parameters).
FIND_PROCESS = sa.select(approval_processes).where(
    approval_processes.c.object == sa.bindparam("_object"), approval_processes.c.name == sa.bindparam("_name"),
    approval_processes.c.deleted.is_(False))


def find_process(session: TenantSession, object_name: str, name: str) -> Any:
    """The live process of that name on that object, or None."""
    return session.conn.execute(FIND_PROCESS, {"_object": object_name, "_name": name}).first()


def _refuse_duplicate(session: TenantSession, checked: dict[str, Any], process_id: int | None = None) -> None:
    other = find_process(session, checked["object"], checked["name"])
    if other is not None and other.id != process_id:
        raise Conflict(f"{checked['object']} already has an approval process named {checked['name']!r} (id {other.id})",
                       {"name": ["already exists"]})


#: Built once (``.values()`` would build and key a new statement on every save).
INSERT_PROCESS = approval_processes.insert()
INSERT_VERSION = approval_process_versions.insert()


#: The platform's memo of process documents (and their outcome actions) whose JSON Schema check passed.
VALID_PROCESS_SHAPES = "valid_process_shapes"


def _store_version(session: TenantSession, process_id: int, version: int, definition: dict[str, Any]) -> None:
    session.conn.execute(INSERT_VERSION, {"process_id": process_id, "version": version, "definition": definition,
                                          "created_at": utcnow(), "created_by": session.actor.user_id})


def create_process(session: TenantSession, document: Any) -> dict[str, Any]:
    checked = check_process(session, document)
    _refuse_duplicate(session, checked)
    now = utcnow()
    process_id = session.conn.execute(INSERT_PROCESS, {
        "name": checked["name"], "object": checked["object"], "definition": checked, "version": 1,
        "active": checked["active"], "created_at": now, "updated_at": now}).inserted_primary_key[0]
    _store_version(session, process_id, 1, checked)
    session.audit("approval_process.create", object="approval_process", record_id=process_id, after=checked)
    bump_workflow_version(session)
    return get_process(session, process_id)


def get_process_row(session: TenantSession, process_id: Any) -> Any:
    try:
        key = int(process_id)
    except (TypeError, ValueError):
        raise NotFound(f"approval process {process_id!r} does not exist") from None
    row = session.conn.execute(sa.select(approval_processes).where(
        approval_processes.c.id == key, approval_processes.c.deleted.is_(False))).first()
    if row is None:
        raise NotFound(f"approval process {process_id!r} does not exist")
    return row


def get_process(session: TenantSession, process_id: Any) -> dict[str, Any]:
    return process_json(get_process_row(session, process_id))


def list_processes(session: TenantSession, object_name: str | None = None) -> list[dict[str, Any]]:
    criteria = [approval_processes.c.deleted.is_(False)]
    if object_name:
        criteria.append(approval_processes.c.object == object_name)
    rows = session.conn.execute(sa.select(approval_processes).where(*criteria)
                                .order_by(approval_processes.c.object, approval_processes.c.name))
    return [process_json(r) for r in rows]


def _refuse_if_rules_submit(session: TenantSession, row: Any, what: str) -> None:
    """Rules name a process by object and name: it cannot be deleted or renamed under them."""
    naming = [
        f"rule {rule.name!r} (id {rule.id})"
        for rule in session.conn.execute(sa.select(rules.c.id, rules.c.name, rules.c.definition).where(
            rules.c.object == row.object, rules.c.deleted.is_(False)))
        if any(a.get("type") == "submit_approval" and a.get("process") == row.name for a in rule.definition["actions"])
    ]
    if naming:
        raise Conflict(f"approval process {row.name!r} cannot be {what}: {', '.join(naming)} submit(s) to it",
                       {"rules": naming})


def update_process(session: TenantSession, process_id: Any, patch: Any) -> dict[str, Any]:
    """Apply a partial change as a new version; requests in flight keep the version they started with."""
    row = get_process_row(session, process_id)
    if not isinstance(patch, dict):
        raise ValidationError("an approval process change must be a JSON object", {"process": ["expected an object"]})
    if "object" in patch and patch["object"] != row.object:
        raise ValidationError("a process's object cannot change; create a new process", {"object": ["cannot change"]})
    ignored = ("id", "version", "created_at", "updated_at")
    document = {**row.definition, **{k: v for k, v in patch.items() if k not in ignored}}
    checked = check_process(session, document)
    _refuse_duplicate(session, checked, row.id)
    if checked["name"] != row.name:
        _refuse_if_rules_submit(session, row, "renamed")
    version = row.version + 1
    session.conn.execute(approval_processes.update().where(approval_processes.c.id == row.id).values(
        name=checked["name"], definition=checked, version=version, active=checked["active"], updated_at=utcnow()))
    _store_version(session, row.id, version, checked)
    session.audit("approval_process.update", object="approval_process", record_id=row.id, before=row.definition,
                  after=checked)
    return get_process(session, row.id)


def delete_process(session: TenantSession, process_id: Any) -> None:
    """Retire a process: no new submissions; pending requests finish under their version."""
    row = get_process_row(session, process_id)
    _refuse_if_rules_submit(session, row, "deleted")
    session.conn.execute(approval_processes.update().where(approval_processes.c.id == row.id).values(
        deleted=True, active=False, updated_at=utcnow()))
    session.audit("approval_process.delete", object="approval_process", record_id=row.id, before=row.definition)


def process_versions(session: TenantSession, process_id: Any) -> list[dict[str, Any]]:
    row = get_process_row(session, process_id)
    versions = session.conn.execute(sa.select(approval_process_versions).where(
        approval_process_versions.c.process_id == row.id).order_by(approval_process_versions.c.version.desc())).mappings()
    return [{"version": v["version"], "definition": v["definition"], "created_at": _iso(v["created_at"]),
             "created_by": v["created_by"]} for v in versions]


def version_definition(session: TenantSession, process_id: int, version: int) -> dict[str, Any]:
    definition = session.conn.execute(sa.select(approval_process_versions.c.definition).where(
        approval_process_versions.c.process_id == process_id, approval_process_versions.c.version == version)).scalar()
    if definition is None:
        raise NotFound(f"approval process {process_id} has no version {version}")
    return definition


def escalation_delay(step: dict[str, Any]) -> int | None:
    """Seconds an approver of this step has before the task escalates, or None."""
    escalation = step.get("escalation")
    if not escalation:
        return None
    return escalation["after"]["amount"] * UNITS[escalation["after"]["unit"]]


# -- metadata references -----------------------------------------------------------------------


def _walk(document: dict[str, Any], visit: Callable[[str, str, str], str],
          lookup_target: Callable[[str, str], str | None]) -> dict[str, Any]:
    """A copy of the process with every (object, field) it names passed through ``visit``."""
    from .references import walk_rule

    def as_rule(condition: Any, actions: list[dict[str, Any]]) -> dict[str, Any]:
        return walk_rule({"object": document["object"], "trigger": {"type": "on_create"}, "condition": condition,
                          "actions": actions}, visit, lookup_target)

    doc = copy_document(document)
    obj = doc["object"]
    doc["entry_condition"] = as_rule(doc.get("entry_condition"), [])["condition"]
    for step in doc["steps"]:
        step["condition"] = as_rule(step.get("condition"), [])["condition"]
        for spec in approver_specs(step):
            if spec["type"] == "field":
                spec["value"] = visit(obj, spec["value"], "approver")
    for key in ("on_approve", "on_reject"):
        doc[key] = as_rule(None, doc.get(key) or [])["actions"]
    return doc


def _objects_named(document: dict[str, Any]) -> set[str]:
    named = {document["object"]}
    for key in ("on_approve", "on_reject"):
        named |= {a["object"] for a in document.get(key) or [] if a.get("object")}
    return named


def follow_metadata_change(session: TenantSession, change: dict[str, Any]) -> list[str]:
    """Block deleting what a process or a pending request uses; follow renames in every version.

    A rename does not change a process's meaning, so it rewrites every stored version in place
    (requests in flight keep working under their version) instead of adding a version.
    """
    lookup_target = lookup_targets(session)
    action, object_name = change["action"], change["object"]
    live = session.conn.execute(sa.select(approval_processes).where(approval_processes.c.deleted.is_(False))).all()
    pending = session.conn.execute(
        sa.select(approval_requests.c.process_id, approval_requests.c.process_version, approval_requests.c.object)
        .where(approval_requests.c.status == "pending").distinct()).all()
    if action == "delete_object":
        blocking = [reference("approval_process", f"approval process {row.name!r} (id {row.id})", name=row.name,
                              id=row.id)
                    for row in live if object_name in _objects_named(row.definition)]
        count = sum(1 for p in pending if p.object == object_name)
        if count:
            blocking.append(reference("pending_approvals", f"pending approval requests on {object_name}",
                                      object=object_name))
        return blocking
    if action not in ("delete_field", "rename_field"):
        return []
    blocking: list[str] = []
    in_use = {(p.process_id, p.process_version) for p in pending}
    versions = session.conn.execute(sa.select(approval_process_versions)).all()
    names = {row.id: row.name for row in session.conn.execute(sa.select(approval_processes.c.id, approval_processes.c.name))}
    current = {(row.id, row.version) for row in live}
    for version in versions:
        key = (version.process_id, version.version)
        visit = FieldVisitor(change)
        walked = _walk(version.definition, visit, lookup_target)
        if not visit.hits:
            continue
        name = names.get(version.process_id)
        label = reference("approval_process_version",
                          f"approval process {name!r} (id {version.process_id}, version {version.version})",
                          name=name, id=version.process_id, version=version.version)
        if action == "delete_field":
            if key in current or key in in_use:
                blocking.append(label)
            continue
        session.conn.execute(approval_process_versions.update().where(
            approval_process_versions.c.process_id == version.process_id,
            approval_process_versions.c.version == version.version).values(definition=walked))
        if key in current:
            session.conn.execute(approval_processes.update().where(
                approval_processes.c.id == version.process_id).values(definition=walked, updated_at=utcnow()))
            session.audit("approval_process.update", object="approval_process", record_id=version.process_id,
                          before=version.definition, after=walked)
    return blocking
