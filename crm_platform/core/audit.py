"""Reading the audit trail (entries are written by every unit of work; nothing updates or deletes them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .errors import ValidationError
from .session import TenantSession
from .tables import audit_log

FILTERS = ("object", "record", "user", "action", "since", "until", "page", "per_page")


def _parse_time(raw: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name} must be an ISO date or datetime, not {raw[:40]!r}", {name: ["not an ISO datetime"]}) from None
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def query_audit(
    session: TenantSession,
    arguments: Mapping[str, Sequence[str]],
    present: Callable[[str | None, dict[str, Any] | None], dict[str, Any] | None],
) -> tuple[list[dict[str, Any]], int, int, int]:
    """A page of audit entries, newest first; ``present`` strips what the reader may not see."""
    errors = {name: ["unknown parameter"] for name in arguments if name not in FILTERS}
    if errors:
        raise ValidationError("unknown audit filter: " + ", ".join(errors), errors)
    single = {name: values[0] for name, values in arguments.items() if values}
    criteria: list[Any] = []
    if "object" in single:
        criteria.append(audit_log.c.object == single["object"])
    for name, column in (("record", audit_log.c.record_id), ("user", audit_log.c.user_id)):
        if name in single:
            try:
                criteria.append(column == int(single[name]))
            except ValueError:
                raise ValidationError(f"{name} must be an id", {name: ["must be an integer"]}) from None
    if "action" in single:
        action = single["action"]
        criteria.append(audit_log.c.action.startswith(action[:-1]) if action.endswith("*") else audit_log.c.action == action)
    if "since" in single:
        criteria.append(audit_log.c.at >= _parse_time(single["since"], "since"))
    if "until" in single:
        criteria.append(audit_log.c.at < _parse_time(single["until"], "until"))
    try:
        page = int(single.get("page", 1))
        per_page = int(single.get("per_page", 100))
    except ValueError:
        raise ValidationError("page and per_page must be integers", {"page": ["must be an integer"]}) from None
    if not (1 <= page and 1 <= per_page <= 500):
        raise ValidationError("page must be 1 or more and per_page between 1 and 500", {"per_page": ["1 to 500"]})
    where = sa.and_(sa.true(), *criteria)
    rows = session.conn.execute(
        sa.select(audit_log).where(where).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).mappings().all()
    total = session.conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(where)).scalar_one()
    entries = []
    for row in rows:
        at = row["at"]
        entries.append({
            "id": row["id"],
            "at": at.isoformat().replace("+00:00", "Z") if at.tzinfo else at.isoformat() + "Z",
            "user_id": row["user_id"],
            "user_email": row["user_email"],
            "action": row["action"],
            "object": row["object"],
            "record_id": row["record_id"],
            "before": present(row["object"], row["before"]) if row["action"].startswith("record.") else row["before"],
            "after": present(row["object"], row["after"]) if row["action"].startswith("record.") else row["after"],
        })
    return entries, total, page, per_page
