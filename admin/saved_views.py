"""Saved list views: a name and list parameters (search, filter tree, sort, page size) per object.

A view belongs to the user who saved it; a shared view is offered to everyone in the tenant who
can read the object. The parameters are checked again (as the reader) every time they are used.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from crm_platform.core.errors import NotFound, PermissionDenied, ValidationError
from crm_platform.core.session import TenantSession, utcnow

tenant_metadata = sa.MetaData()

saved_views = sa.Table(
    "ui_saved_views",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("owner_id", sa.Integer),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("query", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "object": row.object, "name": row.name, "owner_id": row.owner_id,
            "shared": row.shared, "query": row.query}


def list_views(session: TenantSession, object_name: str) -> list[dict[str, Any]]:
    user = session.actor.user_id
    rows = session.conn.execute(
        sa.select(saved_views).where(saved_views.c.object == object_name,
                                     sa.or_(saved_views.c.owner_id == user, saved_views.c.shared.is_(True)))
        .order_by(saved_views.c.name)
    ).all()
    return [_json(r) for r in rows]


def get_view(session: TenantSession, object_name: str, view_id: int) -> dict[str, Any] | None:
    for view in list_views(session, object_name):
        if view["id"] == view_id:
            return view
    return None


def save_view(session: TenantSession, object_name: str, name: str, query: dict[str, Any], shared: bool) -> dict[str, Any]:
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise ValidationError(_("Give the view a name of at most 100 characters."), {"name": ["1 to 100 characters"]})
    values = {"object": object_name, "name": name, "owner_id": session.actor.user_id, "shared": shared,
              "query": query, "created_at": utcnow()}
    view_id = session.conn.execute(saved_views.insert().values(**values)).inserted_primary_key[0]
    session.audit("view.create", object=object_name, after={"id": view_id, "name": name, "query": query})
    return {**values, "id": view_id}


def delete_view(session: TenantSession, object_name: str, view_id: int) -> None:
    row = session.conn.execute(
        sa.select(saved_views).where(saved_views.c.id == view_id, saved_views.c.object == object_name)
    ).first()
    if row is None:
        raise NotFound(_("That view does not exist."))
    if row.owner_id != session.actor.user_id and not session.actor.is_admin:
        raise PermissionDenied(_("Only its owner or an administrator can delete a view."))
    session.conn.execute(saved_views.delete().where(saved_views.c.id == view_id))
    session.audit("view.delete", object=object_name, before=_json(row))
