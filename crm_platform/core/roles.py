"""Roles: a permission matrix per object and field-level access, stored per tenant.

A role document:
``{"name": "sales_rep", "label": ..., "customize": false, "manage_users": false, "audit": false,
"permissions": {"deal": {"read": "team", "create": "all", "update": "own", "delete": "none",
"export": "none"}}, "field_access": {"deal": {"margin": "hidden", "cost": "read_only",
"phone": "masked"}}, "masks": {"deal": {"phone": {"keep_last": 4}}}}``
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator

from .database import copy_document
from .errors import Conflict, NotFound, PermissionDenied, ValidationError
from .session import TenantSession, utcnow
from .tables import roles, users

ADMIN_ROLE = "admin"
ACTIONS = ("read", "create", "update", "delete", "export")
SCOPES = ("none", "own", "team", "all")
FIELD_ACCESS = ("hidden", "masked", "read_only")
ADMIN_DOCUMENT: dict[str, Any] = {
    "name": ADMIN_ROLE,
    "label": {"en": "Administrator", "zh": "管理员"},
    "customize": True,
    "manage_users": True,
    "audit": True,
    "permissions": {"*": {action: "all" for action in ACTIONS}},
    "field_access": {},
}


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("crm_platform.core").joinpath("schemas/role.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


#: The platform cache of role documents found well-shaped, and how many it keeps before starting over.
VALID_ROLE_SHAPES = "valid_role_shapes"
#: Session cache key of :func:`role_names`.
ROLE_NAMES = "role_names"
#: Built once (``.values()`` would build and key a new statement on every save).
INSERT_ROLE = roles.insert()
ROLE_SHAPE_MEMO_SIZE = 256


def check_role(document: Any, known_fields: Mapping[str, set[str]] | None = None,
               valid_shapes: MutableMapping[str, bool] | None = None) -> dict[str, Any]:
    """Validate a role document's shape and, given the tenant's objects, its object and field names.
    ``valid_shapes``: a memo (by canonical JSON) of documents whose shape was already found valid:
    a pack's roles go into many tenants, and the JSON Schema check of the same content is the same."""
    errors: dict[str, list[str]] = {}
    try:
        key = json.dumps(document, sort_keys=True, separators=(",", ":")) if valid_shapes is not None else None
    except (TypeError, ValueError):  # not plain JSON: check every time
        key = None
    if key is None or key not in valid_shapes:
        for error in _validator().iter_errors(document):
            path = ".".join(str(p) for p in error.absolute_path) or "role"
            errors.setdefault(path, []).append(error.message[:300])
        if not errors and key is not None:
            if len(valid_shapes) >= ROLE_SHAPE_MEMO_SIZE:
                valid_shapes.clear()
            valid_shapes[key] = True
    if not errors and known_fields is not None:
        for section in ("permissions", "field_access", "masks"):
            for object_name, entries in (document.get(section) or {}).items():
                if object_name == "*":
                    continue
                if object_name not in known_fields:
                    errors.setdefault(f"{section}.{object_name}", []).append(f"unknown object {object_name!r}")
                elif section != "permissions":
                    for field_name in entries:
                        if field_name not in known_fields[object_name]:
                            errors.setdefault(f"{section}.{object_name}.{field_name}", []).append(
                                f"unknown field {field_name!r} of {object_name}"
                            )
    if errors:
        path, messages = next(iter(errors.items()))
        raise ValidationError(f"invalid role: {path}: {messages[0]}", errors)
    return document


def list_roles(session: TenantSession) -> list[dict[str, Any]]:
    rows = session.conn.execute(sa.select(roles.c.definition).order_by(roles.c.name)).scalars().all()
    return [copy_document(ADMIN_DOCUMENT), *rows]


def role_names(session: TenantSession) -> frozenset[str]:
    """The tenant's role names, read once per unit of work (creating many users checks each
    user's roles against them); :func:`put_role` and :func:`delete_role` forget them."""
    names = session.cache.get(ROLE_NAMES)
    if names is None:
        names = session.cache[ROLE_NAMES] = frozenset(
            [ADMIN_ROLE, *session.conn.execute(sa.select(roles.c.name)).scalars()])
    return names


def get_role(session: TenantSession, name: str) -> dict[str, Any]:
    if name == ADMIN_ROLE:
        return copy_document(ADMIN_DOCUMENT)
    row = session.conn.execute(sa.select(roles.c.definition).where(roles.c.name == name)).scalar()
    if row is None:
        raise NotFound(f"role {name!r} does not exist")
    return row


def role_documents(session: TenantSession, names: tuple[str, ...]) -> list[dict[str, Any]]:
    found = [copy_document(ADMIN_DOCUMENT)] if ADMIN_ROLE in names else []
    others = [n for n in names if n != ADMIN_ROLE]
    if others:
        found += session.conn.execute(sa.select(roles.c.definition).where(roles.c.name.in_(others))).scalars().all()
    return found


def put_role(session: TenantSession, document: Any, known_fields: Mapping[str, set[str]] | None = None,
             name: str | None = None) -> tuple[dict[str, Any], bool]:
    """Create or replace a role; answers the stored document and whether it was created."""
    if isinstance(document, dict) and name is not None:
        document = {**document, "name": document.get("name", name)}
        if document["name"] != name:
            raise ValidationError("a role's name cannot change", {"name": [f"expected {name!r}"]})
    check_role(document, known_fields, session.platform.cache(VALID_ROLE_SHAPES))
    if document["name"] == ADMIN_ROLE:
        raise PermissionDenied("the built-in admin role cannot be changed")
    before = session.conn.execute(sa.select(roles.c.definition).where(roles.c.name == document["name"])).scalar()
    now = utcnow()
    if before is None:
        session.conn.execute(INSERT_ROLE, {"name": document["name"], "definition": document, "created_at": now,
                                           "updated_at": now})
    else:
        session.conn.execute(roles.update().where(roles.c.name == document["name"]).values(definition=document, updated_at=now))
    session.cache.pop(ROLE_NAMES, None)
    bump_security_version(session)
    session.audit("role.create" if before is None else "role.update", object="role", before=before, after=document)
    return document, before is None


def delete_role(session: TenantSession, name: str) -> None:
    if name == ADMIN_ROLE:
        raise PermissionDenied("the built-in admin role cannot be deleted")
    before = get_role(session, name)
    holders = [
        row.email for row in session.conn.execute(sa.select(users.c.email, users.c.roles)) if name in (row.roles or [])
    ]
    if holders:
        raise Conflict(f"role {name!r} is still held by: {', '.join(holders[:10])}", {"users": holders})
    session.conn.execute(roles.delete().where(roles.c.name == name))
    session.cache.pop(ROLE_NAMES, None)
    bump_security_version(session)
    session.audit("role.delete", object="role", before=before)


def bump_security_version(session: TenantSession) -> None:
    """Roles are compiled into cached access policies; moving this version invalidates them."""
    session.bump("security_version")
    session.cache.pop("access_policy", None)


def security_version(session: TenantSession) -> int:
    return session.version("security_version")


def follow_metadata_change(session: TenantSession, change: dict[str, Any]) -> list[str]:
    """Keep roles in step with renamed and deleted fields and objects (never blocks a change)."""
    action, object_name = change["action"], change["object"]
    changed = False
    for row in session.conn.execute(sa.select(roles.c.name, roles.c.definition)).all():
        document = copy_document(row.definition)
        for section in ("field_access", "masks"):
            entries = (document.get(section) or {}).get(object_name)
            if entries is None:
                continue
            if action == "delete_object":
                document[section].pop(object_name)
            elif action == "delete_field":
                entries.pop(change["field"], None)
            elif action == "rename_field" and change["field"] in entries:
                entries[change["new_name"]] = entries.pop(change["field"])
        if action == "delete_object":
            (document.get("permissions") or {}).pop(object_name, None)
        if document != row.definition:
            session.conn.execute(roles.update().where(roles.c.name == row.name).values(definition=document))
            changed = True
    if changed:
        bump_security_version(session)
    return []
