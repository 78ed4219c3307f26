"""Handing records from one owner to another (staff leaving), across every object, audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_platform.core.events import RECORD_UPDATED
from crm_platform.core.session import TenantSession, utcnow

from .model import load_model


def transfer_records(session: TenantSession, from_user: int, to_user: int) -> dict[str, int]:
    """Give every record owned by ``from_user`` to ``to_user``; answers the count per object."""
    model = load_model(session)
    now = utcnow()
    moved: dict[str, int] = {}
    for name, obj in model.objects.items():
        table = obj.table
        rows = session.conn.execute(sa.select(table).where(table.c.owner_id == from_user)).mappings().all()
        if not rows:
            continue
        session.conn.execute(
            table.update().where(table.c.owner_id == from_user).values(
                owner_id=to_user, updated_at=now, updated_by=session.actor.user_id, version=table.c.version + 1
            )
        )
        for row in rows:
            previous = obj.dump(row)
            record: dict[str, Any] = {**previous, "owner_id": to_user, "version": row["version"] + 1,
                                      "updated_by": session.actor.user_id}
            record["updated_at"] = obj.dump({"updated_at": now})["updated_at"]
            session.audit("record.update", object=name, record_id=row["id"],
                          before={"owner_id": from_user}, after={"owner_id": to_user})
            session.publish(RECORD_UPDATED, object=name, record_id=row["id"], record=record, previous=previous)
        moved[name] = len(rows)
    session.audit("user.transfer", object="user", record_id=from_user, before={"owner_id": from_user},
                  after={"owner_id": to_user, "records": moved})
    return moved
