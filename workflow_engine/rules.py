"""Storing rules: every save is a new version; runs keep the version they started with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, ValidationError
from crm_platform.core.session import TenantSession, utcnow
from metadata import load_model

from .definitions import APPROVAL_EXISTS_HOOK, VALID_RULE_SHAPES, CompiledRule, check_rule, compile_rule
from .tables import rule_versions, rules

VERSION_KEY = "workflow_version"
#: Built once: a statement given its values by ``.values()`` is built and keyed anew each time.
INSERT_RULE = rules.insert()
INSERT_VERSION = rule_versions.insert()


def workflow_version(session: TenantSession) -> int:
    return session.version(VERSION_KEY)


def bump_workflow_version(session: TenantSession) -> None:
    session.bump(VERSION_KEY)
    session.cache.pop("active_rules", None)
    session.cache["workflow_dirty"] = True


def _approval_exists(session: TenantSession) -> Any:
    hooks = session.platform.hooks.get(APPROVAL_EXISTS_HOOK, [])
    if not hooks:
        return None
    return lambda object_name, process: any(hook(session, object_name, process) for hook in hooks)


def rule_json(row: Any) -> dict[str, Any]:
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {
        "id": mapping["id"],
        "version": mapping["version"],
        **mapping["definition"],
        "active": mapping["active"],
        "order": mapping["position"],
        "created_at": _iso(mapping["created_at"]),
        "updated_at": _iso(mapping["updated_at"]),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def create_rule(session: TenantSession, document: Any) -> dict[str, Any]:
    return get_rule(session, insert_rule(session, document))


def insert_rule(session: TenantSession, document: Any) -> int:
    """:func:`create_rule`, answering only the new rule's id (a pack install needs no more)."""
    checked = check_rule(document, load_model(session), _approval_exists(session),
                         session.platform.cache(VALID_RULE_SHAPES))
    now = utcnow()
    rule_id = session.conn.execute(INSERT_RULE, {
        "name": checked["name"], "object": checked["object"], "definition": checked, "version": 1,
        "active": checked.get("active", True), "position": checked.get("order", 0), "created_at": now,
        "updated_at": now,
    }).inserted_primary_key[0]
    session.conn.execute(INSERT_VERSION, {"rule_id": rule_id, "version": 1, "definition": checked, "created_at": now,
                                          "created_by": session.actor.user_id})
    bump_workflow_version(session)
    session.audit("rule.create", object="rule", record_id=rule_id, after=checked)
    return rule_id


def get_rule_row(session: TenantSession, rule_id: Any) -> Any:
    try:
        key = int(rule_id)
    except (TypeError, ValueError):
        raise NotFound(f"rule {rule_id!r} does not exist") from None
    row = session.conn.execute(sa.select(rules).where(rules.c.id == key, rules.c.deleted.is_(False))).first()
    if row is None:
        raise NotFound(f"rule {rule_id!r} does not exist")
    return row


def get_rule(session: TenantSession, rule_id: Any) -> dict[str, Any]:
    return rule_json(get_rule_row(session, rule_id))


def list_rules(session: TenantSession, object_name: str | None = None) -> list[dict[str, Any]]:
    criteria = [rules.c.deleted.is_(False)]
    if object_name:
        criteria.append(rules.c.object == object_name)
    rows = session.conn.execute(sa.select(rules).where(*criteria).order_by(rules.c.object, rules.c.position, rules.c.id))
    return [rule_json(r) for r in rows]


def update_rule(session: TenantSession, rule_id: Any, patch: Any) -> dict[str, Any]:
    """Apply a partial change; a new version is stored, runs in flight keep theirs."""
    row = get_rule_row(session, rule_id)
    if not isinstance(patch, dict):
        raise ValidationError("a rule change must be a JSON object", {"rule": ["expected an object"]})
    if "object" in patch and patch["object"] != row.object:
        raise ValidationError("a rule's object cannot change; create a new rule", {"object": ["cannot change"]})
    document = {**row.definition, **{k: v for k, v in patch.items() if k not in ("id", "version", "created_at", "updated_at")}}
    checked = check_rule(document, load_model(session), _approval_exists(session),
                         session.platform.cache(VALID_RULE_SHAPES))
    version = row.version + 1
    now = utcnow()
    session.conn.execute(rules.update().where(rules.c.id == row.id).values(
        name=checked["name"], definition=checked, version=version, active=checked.get("active", True),
        position=checked.get("order", 0), updated_at=now))
    session.conn.execute(rule_versions.insert().values(
        rule_id=row.id, version=version, definition=checked, created_at=now, created_by=session.actor.user_id))
    bump_workflow_version(session)
    session.audit("rule.update", object="rule", record_id=row.id, before=row.definition, after=checked)
    return get_rule(session, row.id)


def delete_rule(session: TenantSession, rule_id: Any) -> None:
    """Retire a rule; its versions and run history stay readable."""
    row = get_rule_row(session, rule_id)
    session.conn.execute(rules.update().where(rules.c.id == row.id).values(deleted=True, active=False, updated_at=utcnow()))
    bump_workflow_version(session)
    session.audit("rule.delete", object="rule", record_id=row.id, before=row.definition)


def rule_version_definition(session: TenantSession, rule_id: int, version: int) -> dict[str, Any]:
    definition = session.conn.execute(
        sa.select(rule_versions.c.definition).where(rule_versions.c.rule_id == rule_id, rule_versions.c.version == version)
    ).scalar()
    if definition is None:
        raise NotFound(f"rule {rule_id} has no version {version}")
    return definition


def active_rules(session: TenantSession) -> dict[str, list[CompiledRule]]:
    """Active rules by object, in order; compiled once per (tenant, workflow and metadata version)."""
    cached = session.cache.get("active_rules")
    if cached is not None:
        return cached
    model = load_model(session)
    key = (session.tenant, workflow_version(session), model.version)
    cache = session.platform.cache("workflow_rules")
    compiled = None if session.cache.get("workflow_dirty") or session.cache.get("metadata_dirty") else cache.get(key)
    if compiled is None:
        compiled = {}
        rows = session.conn.execute(
            sa.select(rules).where(rules.c.active.is_(True), rules.c.deleted.is_(False))
            .order_by(rules.c.position, rules.c.id)
        ).all()
        for row in rows:
            if row.object not in model.objects:
                continue
            try:
                rule = compile_rule(row.id, row.version, row.definition, model)
            except Exception:  # a rule broken by a later metadata change is skipped, not fatal
                continue
            compiled.setdefault(row.object, []).append(rule)
        if not (session.cache.get("workflow_dirty") or session.cache.get("metadata_dirty")):
            if len(cache) > 512:
                cache.clear()
            cache[key] = compiled
    session.cache["active_rules"] = compiled
    return compiled


def compiled_version(session: TenantSession, rule_id: int, version: int) -> CompiledRule:
    """A specific version of a rule (the one a run started with)."""
    cache = session.platform.cache("workflow_rule_versions")
    model = load_model(session)
    key = (session.tenant, rule_id, version, model.version)
    rule = cache.get(key)
    if rule is None:
        rule = _keep(cache, key, compile_rule(rule_id, version, rule_version_definition(session, rule_id, version), model))
    return rule


def compiled_versions(session: TenantSession, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], CompiledRule]:
    """:func:`compiled_version` of several (rule, version) pairs: a rule's current version is the
    active rule (compiled once for the unit of work, whose record events need them too), the
    others not compiled yet are read in one query; a pair that does not exist is left out
    (:func:`compiled_version` names it)."""
    cache = session.platform.cache("workflow_rule_versions")
    model = load_model(session)
    current = {(rule.id, rule.version): rule for rules in active_rules(session).values() for rule in rules}
    found = {}
    missing = []
    for rule_id, version in dict.fromkeys(wanted):
        rule = current.get((rule_id, version)) or cache.get((session.tenant, rule_id, version, model.version))
        if rule is None:
            missing.append((rule_id, version))
        else:
            found[(rule_id, version)] = rule
    if missing:
        rows = session.conn.execute(sa.select(rule_versions.c.rule_id, rule_versions.c.version, rule_versions.c.definition)
                                    .where(sa.tuple_(rule_versions.c.rule_id, rule_versions.c.version).in_(missing)))
        for rule_id, version, definition in rows:
            try:
                rule = compile_rule(rule_id, version, definition, model)
            except Exception:  # noqa: BLE001 - compiled_version raises it again, in the run it belongs to
                continue
            found[(rule_id, version)] = _keep(cache, (session.tenant, rule_id, version, model.version), rule)
    return found


def _keep(cache: dict[Any, CompiledRule], key: Any, rule: CompiledRule) -> CompiledRule:
    if len(cache) > 2048:
        cache.clear()
    cache[key] = rule
    return rule


def follow_metadata_change(session: TenantSession, change: dict[str, Any]) -> list[str]:
    """Rules refer to objects and fields: block their deletion, follow renames."""
    from .references import rule_references

    return rule_references(session, change)
