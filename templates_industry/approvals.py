"""Approval processes in packs: their meaning checks against a pack's planned metadata, and storing
them through the workflow engine (``workflow_engine.create_process`` and friends).

This adapter is the only place the installer touches approval processes, so the pack format does
not change when the engine's does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from crm_platform.core.errors import CRMError, ValidationError
from metadata import conditions
from metadata.model import TenantModel

from .compose import normalize_path

#: Keys an API answer adds to a process document that are not part of its definition.
ANSWER_KEYS = ("id", "version", "created_at", "updated_at")


def _engine() -> Any:
    import workflow_engine

    return workflow_engine


def available() -> bool:
    """Whether this platform has approval processes."""
    engine = _engine()
    return all(hasattr(engine, name) for name in ("create_process", "list_processes", "update_process"))


def check_process(document: dict[str, Any], model: TenantModel, roles: Collection[str],
                  approval_exists: Callable[[str, str], bool] | None = None) -> dict[str, list[str]]:
    """Problems of an approval process against planned metadata and roles, by path (its shape was
    checked with the engine's schema when the file was read)."""
    problems: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        problems.setdefault(path, []).append(message)

    obj = model.objects.get(document["object"])
    if obj is None:
        add("object", f"unknown object {document['object']!r}")
        return problems
    _check_condition(add, "entry_condition", document.get("entry_condition"), obj)
    seen: set[str] = set()
    for index, step in enumerate(document["steps"]):
        path = f"steps[{index}]"
        if step["name"] in seen:
            add(f"{path}.name", f"two steps are named {step['name']!r}")
        seen.add(step["name"])
        approvers = step["approvers"] if isinstance(step["approvers"], list) else [step["approvers"]]
        for number, spec in enumerate(approvers):
            where = f"{path}.approvers" + (f"[{number}]" if isinstance(step["approvers"], list) else "")
            kind, value = spec.get("type"), spec.get("value")
            if kind == "manager" and value is not None:
                add(f"{where}.value", "a 'manager' approver is the record owner's manager; give no value")
            elif kind == "role" and value not in roles:
                add(f"{where}.value", f"unknown role {value!r}")
            elif kind == "field":
                fd = obj.fields.get(value) if isinstance(value, str) else None
                if value != "owner_id" and (fd is None or fd.type != "user"):
                    add(f"{where}.value", f"{value!r} is not a user field of {obj.name}")
            elif kind == "user" and not (isinstance(value, str) and "@" in value):
                add(f"{where}.value", "name a user approver by e-mail (a pack cannot know user ids)")
        mode = step.get("mode", "any")
        if mode == "quorum" and not step.get("quorum"):
            add(f"{path}.quorum", "mode 'quorum' needs 'quorum'")
        if mode != "quorum" and "quorum" in step:
            add(f"{path}.quorum", f"'quorum' applies to mode 'quorum', not {mode!r}")
        _check_condition(add, f"{path}.condition", step.get("condition"), obj)
    for key in ("on_approve", "on_reject"):
        for path, messages in _check_actions(document.get(key) or [], key, obj, model, approval_exists).items():
            for message in messages:
                add(path, message)
    return problems


def _check_actions(actions: list[Any], key: str, obj: Any, model: TenantModel,
                   approval_exists: Callable[[str, str], bool] | None) -> dict[str, list[str]]:
    from workflow_engine import definitions

    if hasattr(definitions, "check_actions"):
        found = definitions.check_actions(actions, key, obj, model, approval_exists)
        return {normalize_path(path): messages for path, messages in found.items()}
    if not actions:
        return {}
    pseudo = {"name": "outcome", "object": obj.name, "trigger": {"type": "on_update"}, "actions": actions}
    try:
        definitions.check_rule(pseudo, model, approval_exists)
    except ValidationError as exc:
        return {normalize_path(path).replace("actions", key, 1): messages for path, messages in exc.details.items()}
    return {}


def _check_condition(add: Callable[[str, str], None], path: str, condition: Any, obj: Any) -> None:
    if condition is None:
        return
    try:
        if isinstance(condition, str):
            conditions.parse_expression(condition, obj.field_refs)
        else:
            conditions.validate(condition, obj.field_refs)
    except CRMError as exc:
        for messages in (exc.details or {"condition": [exc.message]}).values():
            for message in messages:
                add(path, message)


# -- storage ---------------------------------------------------------------------------------------


def stored_document(process: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in process.items() if k not in ANSWER_KEYS}


def list_processes(session: Any) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The tenant's approval processes: ``object.name`` -> (id, definition)."""
    if not available():
        return {}
    return {f"{p['object']}.{p['name']}": (p["id"], stored_document(p)) for p in _engine().list_processes(session)}


def create_process(session: Any, document: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    if not available():
        raise ValidationError("approval processes are not available on this platform")
    created = _engine().create_process(session, document)
    return created["id"], stored_document(created)


def update_process(session: Any, process_id: Any, document: dict[str, Any]) -> dict[str, Any]:
    if not available():
        raise ValidationError("approval processes are not available on this platform")
    return stored_document(_engine().update_process(session, process_id, document))
