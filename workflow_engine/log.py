"""Reading the rule log: runs (matched, failed, stopped...) and evaluations that did not match."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_platform.core.session import TenantSession

from .tables import rule_evaluations, rule_runs

RUN_STATUSES = ("skipped", "queued", "succeeded", "failed", "cancelled", "stopped")


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def rule_log(
    session: TenantSession,
    rule_id: int | None = None,
    object_name: str | None = None,
    record_id: int | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 100,
) -> tuple[list[dict[str, Any]], int]:
    """Newest first: every evaluation of a rule against a record, matched or not."""
    r, e = rule_runs.c, rule_evaluations.c
    runs = sa.select(
        sa.literal("run").label("kind"), r.id, r.rule_id, r.rule_version, r.object, r.record_id, r.event_type,
        r.depth, r.matched, r.status, r.attempts, r.outcomes, r.error, r.created_at, r.finished_at, r.duration_ms,
        sa.null().label("missed"),
    )
    misses = sa.select(
        sa.literal("evaluation").label("kind"), e.id, sa.literal(rule_id, sa.Integer).label("rule_id"),
        sa.null().label("rule_version"), e.object, e.record_id, e.event_type, e.depth,
        sa.false().label("matched"), sa.literal("skipped").label("status"), sa.literal(1).label("attempts"),
        sa.null().label("outcomes"), sa.null().label("error"), e.at.label("created_at"),
        e.at.label("finished_at"), sa.null().label("duration_ms"), e.missed,
    )
    if rule_id is not None:
        runs = runs.where(r.rule_id == rule_id)
        misses = misses.where(e.missed.contains(f";{rule_id};"))
    if object_name is not None:
        runs, misses = runs.where(r.object == object_name), misses.where(e.object == object_name)
    if record_id is not None:
        runs, misses = runs.where(r.record_id == record_id), misses.where(e.record_id == record_id)
    parts = [runs] if status not in (None, "skipped") else [runs, misses]
    if status is not None:
        parts[0] = runs.where(r.status == status)
        if status == "skipped":
            parts = [parts[0], misses]
    combined = sa.union_all(*parts).subquery()
    total = session.conn.execute(sa.select(sa.func.count()).select_from(combined)).scalar_one()
    rows = session.conn.execute(
        sa.select(combined).order_by(combined.c.created_at.desc(), combined.c.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).mappings().all()
    entries = []
    for row in rows:
        entry = {key: row[key] for key in ("kind", "id", "rule_id", "rule_version", "object", "record_id", "event_type",
                                           "depth", "matched", "status", "attempts", "outcomes", "error", "duration_ms")}
        entry["matched"] = bool(entry["matched"])
        entry["created_at"], entry["finished_at"] = _iso(row["created_at"]), _iso(row["finished_at"])
        if row["kind"] == "evaluation":
            entry["not_matched_rules"] = [int(part) for part in row["missed"].split(";") if part]
        entries.append(entry)
    return entries, total
