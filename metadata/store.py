"""Reading and writing definition documents, and the tenant's metadata version."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_platform.core.session import TenantSession, utcnow

from .definitions import ObjectDef
from .tables import object_definitions

VERSION_KEY = "metadata_version"


def metadata_version(session: TenantSession) -> int:
    return session.version(VERSION_KEY)


def bump_version(session: TenantSession) -> int:
    """Mark every cached compilation of this tenant's metadata stale (in every process)."""
    version = session.bump(VERSION_KEY)
    session.cache.pop("model", None)
    # Until this transaction commits, its compiled metadata must not reach the shared cache.
    session.cache["metadata_dirty"] = True
    return version


def load_definitions(session: TenantSession) -> dict[str, ObjectDef]:
    rows = session.conn.execute(sa.select(object_definitions.c.definition).order_by(object_definitions.c.name))
    return {doc["name"]: ObjectDef.from_document(doc) for (doc,) in rows}


def save_definition(session: TenantSession, obj: ObjectDef, created: bool = False) -> None:
    now = utcnow()
    if created:
        session.conn.execute(object_definitions.insert(), {"name": obj.name, "definition": obj.document,
                                                            "created_at": now, "updated_at": now})
    else:
        session.conn.execute(
            object_definitions.update()
            .where(object_definitions.c.name == obj.name)
            .values(definition=obj.document, updated_at=now, revision=object_definitions.c.revision + 1)
        )


def save_definitions(session: TenantSession, objects: list[ObjectDef]) -> None:
    """Insert the definitions of new objects in one statement."""
    now = utcnow()
    session.conn.execute(object_definitions.insert(), [
        {"name": obj.name, "definition": obj.document, "created_at": now, "updated_at": now} for obj in objects])


def delete_definition(session: TenantSession, name: str) -> None:
    session.conn.execute(object_definitions.delete().where(object_definitions.c.name == name))


def definition_document(obj: ObjectDef) -> dict[str, Any]:
    return dict(obj.document)
