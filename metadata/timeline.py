"""A record's timeline: field changes, stage moves, tags, activities, and what other layers add
(approvals), newest first, as the reader may see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import ValidationError
from crm_platform.core.permissions import AccessPolicy
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import audit_log

from .activities import record_activities
from .tables import stage_history

#: Hook name: callables ``(session, object_name, record_id) -> list[entry]`` adding entries of
#: their own (each with at least ``kind`` and ``at`` as an ISO string).
TIMELINE_HOOK = "record.timeline"
MAX_ENTRIES = 2000


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if getattr(value, "tzinfo", None) is None:
        return value.isoformat() + "Z"
    return value.isoformat().replace("+00:00", "Z")


def timeline(session: TenantSession, policy: AccessPolicy, object_name: str, record_id: int,
             page: int = 1, per_page: int = 50) -> tuple[list[dict[str, Any]], int]:
    if page < 1 or not 1 <= per_page <= 200:
        raise ValidationError("page must be 1 or more, per_page 1 to 200", {"per_page": ["1 to 200"]})
    entries: list[dict[str, Any]] = []
    rows = session.conn.execute(
        sa.select(audit_log).where(audit_log.c.object == object_name, audit_log.c.record_id == record_id)
        .order_by(audit_log.c.id.desc()).limit(MAX_ENTRIES)
    ).mappings().all()
    for row in rows:
        action = row["action"]
        base = {"at": _iso(row["at"]), "user_id": row["user_id"], "user": row["user_email"]}
        if action == "record.update":
            before = policy.present(object_name, {k: v for k, v in (row["before"] or {}).items() if k != "stage"})
            after = policy.present(object_name, {k: v for k, v in (row["after"] or {}).items() if k != "stage"})
            changes = [{"field": k, "from": before.get(k), "to": after.get(k)} for k in after]
            if changes:
                entries.append({**base, "kind": "change", "changes": changes})
        elif action in ("record.create", "record.delete"):
            entries.append({**base, "kind": action.split(".")[1] + "d"})
        elif action in ("record.tag", "record.untag"):
            entries.append({**base, "kind": "tags", "from": (row["before"] or {}).get("tags"),
                            "to": (row["after"] or {}).get("tags")})
    for move in session.conn.execute(
        sa.select(stage_history).where(stage_history.c.object == object_name, stage_history.c.record_id == record_id)
    ).mappings():
        entries.append({"kind": "stage", "at": _iso(move["entered_at"]), "user_id": move["user_id"],
                        "from": move["from_stage"], "to": move["to_stage"]})
    for activity in record_activities(session, object_name, record_id):
        entries.append({"kind": "activity", "at": activity["created_at"], "user_id": activity["created_by"],
                        "activity": activity})
    sources: list[Callable[..., list[dict[str, Any]]]] = session.platform.hooks.get(TIMELINE_HOOK, [])
    for source in sources:
        entries.extend(source(session, object_name, record_id))
    entries.sort(key=lambda e: e["at"] or "", reverse=True)
    start = (page - 1) * per_page
    return entries[start:start + per_page], len(entries)
