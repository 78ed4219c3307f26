"""Saved views (segments): a named condition tree, columns and sort per object, private or shared.

A view is usable as a list filter (``?view=<id>``), as a report filter and as a campaign audience;
whoever uses it sees only what their own permissions allow, since its tree is checked as them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, PermissionDenied, ValidationError
from crm_platform.core.session import TenantSession, utcnow

from . import conditions
from .model import ObjectModel, load_model
from .sql_types import UTCDateTime
from .tables import tenant_metadata

saved_views = sa.Table(
    "sys_saved_views",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("condition", sa.JSON),
    sa.Column("columns", sa.JSON),
    sa.Column("sort", sa.String(300)),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("owner_id", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
KEYS = frozenset({"name", "object", "condition", "columns", "sort", "shared"})


def view_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {k: m[k] for k in ("id", "object", "name", "condition", "columns", "sort", "shared", "owner_id")}


def _check(model: ObjectModel, document: dict[str, Any], unreadable: frozenset[str]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {k: ["unknown field"] for k in document if k not in KEYS}
    values: dict[str, Any] = {}
    if "name" in document:
        if not isinstance(document["name"], str) or not 0 < len(document["name"]) <= 200:
            errors.setdefault("name", []).append("1 to 200 characters")
        values["name"] = document["name"]
    refs = {n: r for n, r in model.field_refs.items() if n not in unreadable}
    if "condition" in document:
        try:
            values["condition"] = conditions.validate(document["condition"], refs)
        except ValidationError as exc:
            errors.setdefault("condition", []).extend(exc.details.get("filter", [exc.message]))
    if "columns" in document:
        columns = document["columns"]
        if columns is not None and (not isinstance(columns, list) or not all(c in refs for c in columns)):
            errors.setdefault("columns", []).append("a list of field names you can read")
        values["columns"] = columns
    if "sort" in document:
        sort = document["sort"]
        if sort is not None and (not isinstance(sort, str) or any(p.strip().lstrip("-") not in refs
                                                                   for p in sort.split(",") if p.strip())):
            errors.setdefault("sort", []).append("comma-separated field names, '-' for descending")
        values["sort"] = sort
    if "shared" in document:
        if not isinstance(document["shared"], bool):
            errors.setdefault("shared", []).append("true or false")
        values["shared"] = document["shared"]
    if errors:
        first, messages = next(iter(errors.items()))
        raise ValidationError(f"invalid view: {first}: {messages[0]}", errors)
    return values


def create_view(session: TenantSession, document: Any, unreadable: frozenset[str]) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("object"), str) or "name" not in document:
        raise ValidationError("a view needs an object and a name", {"view": ["object and name are required"]})
    model = load_model(session).object(document["object"])
    values = _check(model, document, unreadable)
    now = utcnow()
    view_id = session.conn.execute(saved_views.insert().values(
        object=model.name, name=values["name"], condition=values.get("condition"), columns=values.get("columns"),
        sort=values.get("sort"), shared=values.get("shared", False), owner_id=session.actor.user_id,
        created_at=now, updated_at=now)).inserted_primary_key[0]
    created = get_view(session, view_id)
    session.audit("view.create", object="view", record_id=view_id, after=created)
    return created


def get_view(session: TenantSession, view_id: Any) -> dict[str, Any]:
    """A view the actor may use: their own, or a shared one."""
    try:
        key = int(view_id)
    except (TypeError, ValueError):
        raise NotFound(f"view {view_id!r} does not exist") from None
    row = session.conn.execute(sa.select(saved_views).where(saved_views.c.id == key)).first()
    if row is None or not (row.shared or row.owner_id == session.actor.user_id or session.actor.is_admin):
        raise NotFound(f"view {view_id!r} does not exist")
    return view_json(row)


def list_views(session: TenantSession, object_name: str | None = None) -> list[dict[str, Any]]:
    criteria = [sa.or_(saved_views.c.shared.is_(True), saved_views.c.owner_id == session.actor.user_id)]
    if object_name:
        criteria.append(saved_views.c.object == object_name)
    rows = session.conn.execute(sa.select(saved_views).where(*criteria).order_by(saved_views.c.name)).all()
    return [view_json(r) for r in rows]


def _own(session: TenantSession, view_id: Any) -> dict[str, Any]:
    view = get_view(session, view_id)
    if view["owner_id"] != session.actor.user_id and not session.actor.is_admin:
        raise PermissionDenied("only the owner of a view (or an admin) may change it")
    return view


def update_view(session: TenantSession, view_id: Any, patch: Any, unreadable: frozenset[str]) -> dict[str, Any]:
    before = _own(session, view_id)
    if not isinstance(patch, dict) or "object" in patch:
        raise ValidationError("send the fields to change (a view's object cannot change)", {"object": ["cannot change"]})
    values = _check(load_model(session).object(before["object"]), patch, unreadable)
    session.conn.execute(saved_views.update().where(saved_views.c.id == before["id"]).values(updated_at=utcnow(), **values))
    after = get_view(session, before["id"])
    session.audit("view.update", object="view", record_id=before["id"], before=before, after=after)
    return after


def delete_view(session: TenantSession, view_id: Any) -> None:
    before = _own(session, view_id)
    session.conn.execute(saved_views.delete().where(saved_views.c.id == before["id"]))
    session.audit("view.delete", object="view", record_id=before["id"], before=before)


def view_condition(session: TenantSession, object_name: str, view_id: Any, unreadable: frozenset[str]) -> dict[str, Any] | None:
    """A view's tree for a list of ``object_name``, re-checked as the current reader."""
    view = get_view(session, view_id)
    if view["object"] != object_name:
        raise ValidationError(f"view {view['id']} is a view of {view['object']}, not {object_name}",
                              {"view": ["wrong object"]})
    model = load_model(session).object(object_name)
    refs = {n: r for n, r in model.field_refs.items() if n not in unreadable}
    try:
        return conditions.validate(view["condition"], refs)
    except ValidationError as exc:
        raise ValidationError(f"view {view['id']} uses fields you cannot filter on", exc.details) from None
