"""Duplicate rules, duplicate detection and merging records.

A rule names the fields that identify a record and how to compare them: ``exact`` values,
``normalized`` values (e-mail lower-cased, phone digits, text without case, spaces and punctuation)
or ``similar`` ones (a similarity ratio of the normalized text at or above ``threshold``). On create
a rule warns or blocks; a scan lists groups; a merge keeps one survivor and moves everything else
onto it, audited with what is needed to undo it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, PermissionDenied, ValidationError
from crm_platform.core.session import TenantSession, utcnow
from crm_platform.core.tables import audit_log

from .activities import activity_ids, move_activities
from .attachments import attachment_ids, move_attachments
from .model import ObjectModel, load_model
from .sql_types import UTCDateTime
from .store import bump_version, metadata_version
from .tables import record_tags, tenant_metadata
from .tags import add_tags, tags_of

MATCHES = ("exact", "normalized", "similar")
ACTIONS = ("warn", "block")
MAX_SCAN = 200_000

duplicate_rules = sa.Table(
    "sys_duplicate_rules",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("match", sa.String(20), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalize(kind: str, value: Any) -> str | None:
    """The comparable form of a value: phone digits (last 11), e-mail lower-cased, text folded."""
    if value is None or value == "":
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if kind == "phone":
        digits = re.sub(r"\D", "", text)
        return digits[-11:] or None
    if kind == "email":
        return text
    return _PUNCTUATION.sub("", text) or None


def rule_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {k: m[k] for k in ("id", "object", "name", "fields", "match", "threshold", "action", "active")}


def check_rule(model: ObjectModel, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValidationError("a duplicate rule must be a JSON object", {"rule": ["expected an object"]})
    errors: dict[str, list[str]] = {}
    allowed = {"name", "object", "fields", "match", "threshold", "action", "active"}
    for key in document:
        if key not in allowed:
            errors[key] = ["unknown field"]
    fields = document.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        errors.setdefault("fields", []).append("a non-empty list of field names")
    else:
        for name in fields:
            if name not in model.fields:
                errors.setdefault("fields", []).append(f"unknown field {name!r} of {model.name}")
    name = document.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        errors.setdefault("name", []).append("1 to 200 characters")
    match = document.get("match", "normalized")
    if match not in MATCHES:
        errors.setdefault("match", []).append(f"one of: {', '.join(MATCHES)}")
    action = document.get("action", "warn")
    if action not in ACTIONS:
        errors.setdefault("action", []).append(f"one of: {', '.join(ACTIONS)}")
    threshold = document.get("threshold", 0.9)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.5 <= threshold <= 1:
        errors.setdefault("threshold", []).append("a number from 0.5 to 1")
    active = document.get("active", True)
    if not isinstance(active, bool):
        errors.setdefault("active", []).append("true or false")
    if errors:
        first, messages = next(iter(errors.items()))
        raise ValidationError(f"invalid duplicate rule: {first}: {messages[0]}", errors)
    return {"name": name, "fields": fields, "match": match, "threshold": float(threshold), "action": action,
            "active": active}


def create_rule(session: TenantSession, object_name: str, document: Any) -> dict[str, Any]:
    model = load_model(session).object(object_name)
    checked = check_rule(model, document)
    rule_id = session.conn.execute(duplicate_rules.insert().values(
        object=object_name, created_at=utcnow(), **checked)).inserted_primary_key[0]
    session.audit("duplicate_rule.create", object="duplicate_rule", record_id=rule_id,
                  after={"object": object_name, **checked})
    bump_version(session)
    return {"id": rule_id, "object": object_name, **checked}


def list_rules(session: TenantSession, object_name: str | None = None) -> list[dict[str, Any]]:
    """The tenant's duplicate rules (cached per metadata version: every create checks them)."""
    cache = session.platform.cache("duplicate_rules")
    key = (session.tenant, metadata_version(session))
    rules = None if session.cache.get("metadata_dirty") else cache.get(key)
    if rules is None:
        rules = [rule_json(r) for r in session.conn.execute(sa.select(duplicate_rules).order_by(duplicate_rules.c.id))]
        if not session.cache.get("metadata_dirty"):
            if len(cache) > 512:
                cache.clear()
            cache[key] = rules
    return [r for r in rules if object_name is None or r["object"] == object_name]


def delete_rule(session: TenantSession, rule_id: Any) -> None:
    try:
        key = int(rule_id)
    except (TypeError, ValueError):
        raise NotFound(f"duplicate rule {rule_id!r} does not exist") from None
    row = session.conn.execute(sa.select(duplicate_rules).where(duplicate_rules.c.id == key)).first()
    if row is None:
        raise NotFound(f"duplicate rule {rule_id!r} does not exist")
    session.conn.execute(duplicate_rules.delete().where(duplicate_rules.c.id == key))
    session.audit("duplicate_rule.delete", object="duplicate_rule", record_id=key, before=rule_json(row))
    bump_version(session)


def _key(model: ObjectModel, rule: Mapping[str, Any], record: Mapping[str, Any]) -> tuple[Any, ...] | None:
    parts = []
    for name in rule["fields"]:
        value = record.get(name)
        if rule["match"] != "exact":
            value = normalize(model.fields[name].type, value)
        if value is None or value == "":
            return None
        parts.append(value)
    return tuple(parts)


def _similar(a: tuple[Any, ...], b: tuple[Any, ...], threshold: float) -> bool:
    return difflib.SequenceMatcher(None, " ".join(map(str, a)), " ".join(map(str, b))).ratio() >= threshold


def _rows(session: TenantSession, model: ObjectModel, fields: Iterable[str]) -> list[Mapping[str, Any]]:
    columns = [model.table.c.id, *(model.table.c[name] for name in fields)]
    return session.conn.execute(sa.select(*columns).order_by(model.table.c.id).limit(MAX_SCAN)).mappings().all()


def matches_for(session: TenantSession, object_name: str, values: Mapping[str, Any],
                exclude: int | None = None) -> list[dict[str, Any]]:
    """Active rules that a new record's values would break, each with the records it matches."""
    model = load_model(session).object(object_name)
    found = []
    for rule in (r for r in list_rules(session, object_name) if r["active"]):
        key = _key(model, rule, values)
        if key is None:
            continue
        ids = []
        for row in _rows(session, model, rule["fields"]):
            if row["id"] == exclude:
                continue
            other = _key(model, rule, row)
            if other is not None and (other == key or (rule["match"] == "similar" and _similar(key, other, rule["threshold"]))):
                ids.append(row["id"])
        if ids:
            found.append({"rule": rule["name"], "action": rule["action"], "records": ids[:50]})
    return found


def scan(session: TenantSession, object_name: str) -> list[dict[str, Any]]:
    """Groups of records that active rules consider duplicates of each other."""
    model = load_model(session).object(object_name)
    groups = []
    for rule in (r for r in list_rules(session, object_name) if r["active"]):
        keyed: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for row in _rows(session, model, rule["fields"]):
            key = _key(model, rule, row)
            if key is not None:
                keyed[key].append(row["id"])
        if rule["match"] == "similar":
            keys = list(keyed)
            merged: list[tuple[tuple[Any, ...], list[int]]] = []
            for key in keys:
                for group_key, ids in merged:
                    if _similar(key, group_key, rule["threshold"]):
                        ids.extend(keyed[key])
                        break
                else:
                    merged.append((key, list(keyed[key])))
            buckets = [ids for _, ids in merged]
        else:
            buckets = list(keyed.values())
        for ids in buckets:
            if len(ids) > 1:
                groups.append({"rule": rule["name"], "records": sorted(ids)})
    return groups


def merge(session: TenantSession, object_name: str, document: Any) -> dict[str, Any]:
    """Keep ``survivor``, fold ``ids`` into it, apply ``values``; audited with the data to undo it."""
    from .records import RecordService

    if not isinstance(document, dict):
        raise ValidationError("a merge must be a JSON object", {"merge": ["expected an object"]})
    unknown = set(document) - {"survivor", "ids", "values"}
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}", {k: ["unknown field"] for k in unknown})
    survivor, ids, values = document.get("survivor"), document.get("ids"), document.get("values") or {}
    if not isinstance(survivor, int) or isinstance(survivor, bool):
        raise ValidationError("survivor must be a record id", {"survivor": ["must be an id"]})
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationError("ids must be a non-empty list of record ids", {"ids": ["a list of ids"]})
    if survivor in ids or len(set(ids)) != len(ids):
        raise ValidationError("a record cannot be merged with itself", {"ids": ["survivor or repeated id in ids"]})
    if not isinstance(values, dict):
        raise ValidationError("values must be an object of field values", {"values": ["expected an object"]})
    service = RecordService(session)
    model = service.object(object_name)
    policy = service.policy
    kept = service.get(object_name, survivor)
    merged_rows = [service._row(model, i, policy.require(object_name, "read")) for i in ids]
    delete_scope = policy.require(object_name, "delete")
    for row in merged_rows:
        if not policy.covers(session, delete_scope, row.owner_id):
            raise PermissionDenied(f"you may not delete {object_name} {row.id}, so it cannot be merged away")
    snapshots = [model.dump(row) for row in merged_rows]
    survivor_before = model.dump(service._row(model, survivor))
    updated = service.update(object_name, survivor, values) if values else kept
    repointed: list[dict[str, Any]] = []
    tenant_model = load_model(session)
    for other_name, field_name in tenant_model.referencing_lookups(object_name):
        other = tenant_model.object(other_name)
        column = other.table.c[field_name]
        moved = session.conn.execute(sa.select(other.table.c.id, column).where(column.in_(ids))).all()
        if moved:
            session.conn.execute(other.table.update().where(column.in_(ids)).values({field_name: survivor}))
            for record_id, old in moved:
                repointed.append({"object": other_name, "field": field_name, "record_id": record_id, "from": old})
                session.audit("record.update", object=other_name, record_id=record_id,
                              before={field_name: old}, after={field_name: survivor})
    moved_tags: list[str] = []
    moved: list[dict[str, Any]] = []
    for record_id in ids:
        moved.append({"id": record_id, "tags": tags_of(session, object_name, record_id),
                      "activities": activity_ids(session, object_name, record_id),
                      "attachments": attachment_ids(session, object_name, record_id)})
        move_activities(session, object_name, record_id, survivor)
        move_attachments(session, object_name, record_id, survivor)
        tags = moved[-1]["tags"]
        moved_tags += [t for t in add_tags(session, object_name, survivor, tags) if t not in moved_tags]
        session.conn.execute(record_tags.delete().where(record_tags.c.object == object_name,
                                                        record_tags.c.record_id == record_id))
    for row in merged_rows:
        service._delete_row(model, row, set())
    survivor_after = model.dump(service._row(model, survivor))
    # Everything undo needs (metadata/merge_undo.py): the stored values before and after, not
    # the caller's masked view of them, and what moved from each merged record.
    session.audit("record.merge", object=object_name, record_id=survivor, before={
        "merged": snapshots, "survivor": kept, "repointed": repointed, "survivor_stored": survivor_before,
        "moved": moved}, after={"survivor": updated, "tags_added": moved_tags, "survivor_stored": survivor_after})
    session.flush_audit()
    entry_id = session.conn.execute(
        sa.select(sa.func.max(audit_log.c.id)).where(audit_log.c.action == "record.merge",
                                                     audit_log.c.object == object_name,
                                                     audit_log.c.record_id == survivor)).scalar_one()
    return {"survivor": service.get(object_name, survivor), "merged": ids, "repointed": len(repointed),
            "audit_id": entry_id}


__all__ = ["create_rule", "delete_rule", "list_rules", "matches_for", "merge", "normalize", "scan"]
