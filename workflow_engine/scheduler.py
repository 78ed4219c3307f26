"""The scheduler tick: the one periodic pass that moves time-based work forward.

A tick, for every tenant:

1. re-submits work whose retry moment has come: queued rule runs and pending outbox entries with
   ``next_attempt_at <= now`` (a first attempt only once it is :data:`RESUBMIT_AFTER` overdue, so
   work still waiting in the broker's queue is not sent twice every tick);
2. runs due time-relative jobs ("72 hours after the quote was sent, if still no reply"): the
   record is read again and the rule's *current* condition evaluated on it; a job whose record no
   longer matches is cancelled (its run logged ``skipped``), otherwise a queued run is written and
   the job marked done in one transaction;
3. fires scheduled (cron) rules: when the most recent fire time at or before ``now`` is later than
   the rule's last run, the rule runs *once* (a scheduler that was down catches up with one run,
   not one per missed slot) over every record matching its condition, one queued run per record;
4. calls the callables registered under :data:`TICK_HOOK` (approval escalations...).

Runs are handed to the runner (in-process, or Celery) after their transaction commits. Two ticks
racing (two beats, a beat and ``crm workflow tick``) do not duplicate work: jobs are claimed under a
row lock, a cron slot is claimed by moving ``sys_schedule_state.last_run_at`` forward with a
conditional update, and every run carries a ``(rule_id, event_id)`` that the database keeps unique.
Everything compares against ``now`` (a parameter), so tests move time without sleeping.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.dialects import postgresql, sqlite

from crm_platform.core.session import Actor, TenantSession, tenant_session, utcnow
from crm_platform.core.tenancy import list_tenants
from metadata import conditions, load_model

from .engine import RUNNER_SERVICE, condition_fields, typed, with_tags
from .rules import active_rules, compiled_version
from .tables import outbox, rule_runs, rules, schedule_state, scheduled_jobs

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

    from .definitions import CompiledRule

log = logging.getLogger(__name__)

#: Hook name: callables ``(session, now) -> None`` called once per tenant on every tick.
TICK_HOOK = "workflow.tick"
#: A first attempt still queued this long after it was due is assumed lost and submitted again.
RESUBMIT_AFTER = timedelta(minutes=5)
#: At most this many jobs, runs or outbox entries of one tenant are handled per tick (the rest next tick).
BATCH = 1000
#: ``sys_rule_runs.event_id`` is 32 characters.
EVENT_ID_LENGTH = 32

COUNTERS = ("tenants", "runs_resubmitted", "outbox_resubmitted", "jobs_run", "jobs_cancelled",
            "schedules_fired", "scheduled_runs", "hooks_called")


def tick(platform: Platform, now: datetime | None = None, *, tenants: Iterable[str] | None = None) -> dict[str, Any]:
    """One scheduler pass over every tenant (or only ``tenants``); answers what it did.

    A failure in one tenant (or one rule, job or hook) is logged and reported under ``errors``;
    it never stops the pass for the others.
    """
    now = _aware(now or utcnow())
    counts: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    counts["errors"] = []
    slugs = list(tenants) if tenants is not None else [t.slug for t in list_tenants(platform)]
    for slug in slugs:
        counts["tenants"] += 1
        for step in (_resubmit, _run_due_jobs, _fire_schedules, _call_hooks):
            try:
                step(platform, slug, now, counts)
            except Exception as exc:  # noqa: BLE001 - one tenant's trouble must not stop the others
                _error(counts, f"{slug}: {step.__name__.strip('_')}: {type(exc).__name__}: {exc}")
    return counts


def _error(counts: dict[str, Any], message: str) -> None:
    log.warning("workflow tick: %s", message, exc_info=True)
    counts["errors"].append(message[:1000])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _runner(platform: Platform) -> Any:
    return platform.services.get(RUNNER_SERVICE)


def _submit_after_commit(session: TenantSession, kind: str, ids: list[int]) -> None:
    runner = _runner(session.platform)
    if runner is None or not ids:
        return
    tenant, batch = session.tenant, list(ids)
    if kind == "runs":
        session.after_commit(lambda: runner.submit_runs(tenant, batch))
    else:
        session.after_commit(lambda: runner.submit_outbox(tenant, batch))


def insert_runs(session: TenantSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert run rows, silently dropping any whose ``(rule_id, event_id)`` already exists; answers
    the ids of those inserted (a run claimed by a racing tick is not run twice)."""
    if not rows:
        return []
    if session.dialect == "postgresql":
        statement = postgresql.insert(rule_runs).on_conflict_do_nothing(constraint="uq_sys_rule_runs_event")
    elif session.dialect == "sqlite":
        statement = sqlite.insert(rule_runs).on_conflict_do_nothing(index_elements=["rule_id", "event_id"])
    else:  # pragma: no cover - the two supported databases are above
        statement = rule_runs.insert()
    ids: list[int] = []
    for start in range(0, len(rows), BATCH):
        result = session.conn.execute(statement.returning(rule_runs.c.id), rows[start:start + BATCH])
        ids.extend(result.scalars().all())
    return ids


# -- 1. retries ------------------------------------------------------------------------------


def _due_for_retry(table: sa.Table, status: str, now: datetime) -> Any:
    return sa.and_(
        table.c.status == status,
        table.c.next_attempt_at <= now,
        sa.or_(table.c.attempts > 0, table.c.next_attempt_at <= now - RESUBMIT_AFTER),
    )


def _resubmit(platform: Platform, tenant: str, now: datetime, counts: dict[str, Any]) -> None:
    """Hand retries back to the runner; their ``next_attempt_at`` moves on, so a submission that is
    lost again is retried after :data:`RESUBMIT_AFTER` and not on every tick meanwhile."""
    for table, status, kind, counter in ((rule_runs, "queued", "runs", "runs_resubmitted"),
                                         (outbox, "pending", "outbox", "outbox_resubmitted")):
        with tenant_session(platform, tenant, Actor.system()) as session:
            due = _due_for_retry(table, status, now)
            ids = session.conn.execute(
                sa.select(table.c.id).where(due).order_by(table.c.next_attempt_at, table.c.id).limit(BATCH)
            ).scalars().all()
            if not ids:
                continue
            session.conn.execute(table.update().where(table.c.id.in_(ids), due)
                                 .values(next_attempt_at=now + RESUBMIT_AFTER))
            _submit_after_commit(session, kind, list(ids))
        counts[counter] += len(ids)


# -- 2. time-relative jobs -------------------------------------------------------------------


def _run_due_jobs(platform: Platform, tenant: str, now: datetime, counts: dict[str, Any]) -> None:
    with tenant_session(platform, tenant, Actor.system(), write=False) as session:
        job_ids = session.conn.execute(
            sa.select(scheduled_jobs.c.id)
            .where(scheduled_jobs.c.status == "pending", scheduled_jobs.c.due_at <= now)
            .order_by(scheduled_jobs.c.due_at, scheduled_jobs.c.id).limit(BATCH)
        ).scalars().all()
    for job_id in job_ids:
        try:
            with tenant_session(platform, tenant, Actor.system()) as session:
                outcome = run_job(session, job_id, now)
        except Exception as exc:  # noqa: BLE001 - a broken job is reported, the others still run
            _error(counts, f"{tenant}: job {job_id}: {type(exc).__name__}: {exc}")
            continue
        if outcome == "done":
            counts["jobs_run"] += 1
        elif outcome == "cancelled":
            counts["jobs_cancelled"] += 1


def run_job(session: TenantSession, job_id: int, now: datetime) -> str:
    """Turn one due job into a queued run if its record still matches the rule; answers ``done``,
    ``cancelled``, or ``gone`` (another tick took it, or it is no longer pending)."""
    query = sa.select(scheduled_jobs).where(scheduled_jobs.c.id == job_id)
    if session.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job = session.conn.execute(query).first()
    if job is None or job.status != "pending" or _aware(job.due_at) > now:
        return "gone"
    event_id = f"job-{job.id}"
    rule_row = session.conn.execute(sa.select(rules).where(rules.c.id == job.rule_id)).first()
    base = {"rule_id": job.rule_id, "rule_version": rule_row.version if rule_row is not None else 0,
            "object": job.object, "record_id": job.record_id, "event_id": event_id,
            "event_type": "time_relative", "depth": 0, "attempts": 0, "created_at": utcnow()}

    def close(job_status: str, run: dict[str, Any]) -> str:
        session.conn.execute(scheduled_jobs.update().where(scheduled_jobs.c.id == job.id)
                             .values(status=job_status, finished_at=utcnow()))
        ids = insert_runs(session, [{"event": None, "next_attempt_at": None, "outcomes": None, "error": None,
                                     **base, **run}])
        if run["status"] == "queued":
            _submit_after_commit(session, "runs", ids)
            return "done"
        return "cancelled"

    def cancel(reason: str, status: str = "cancelled") -> str:
        return close("cancelled", {"matched": False, "status": status, "outcomes": [{"reason": reason}],
                                   "finished_at": utcnow()})

    if rule_row is None or rule_row.deleted or not rule_row.active:
        return cancel("the rule was deleted or deactivated")
    if rule_row.definition.get("trigger", {}).get("type") != "time_relative":
        return cancel("the rule is no longer time-relative")
    model = load_model(session)
    obj = model.objects.get(job.object)
    if obj is None:
        return cancel(f"object {job.object!r} no longer exists")
    try:
        rule = compiled_version(session, rule_row.id, rule_row.version)
    except Exception as exc:  # noqa: BLE001 - a rule broken by a metadata change fails its run, visibly
        return close("cancelled", {"matched": False, "status": "failed", "error": f"rule: {exc}"[:4000],
                                   "finished_at": utcnow()})
    row = session.conn.execute(sa.select(obj.table).where(obj.table.c.id == job.record_id)).first()
    if row is None:
        return cancel(f"{job.object} {job.record_id} no longer exists")
    record = obj.dump(row)
    try:
        names = condition_fields(rule.condition)
        matched = bool(rule.predicate(with_tags(session, obj.name, job.record_id, typed(obj, record, names), names),
                                      None))
    except Exception as exc:  # noqa: BLE001 - as in the engine: a failed evaluation is a failed run
        return close("cancelled", {"matched": False, "status": "failed", "error": f"condition: {exc}"[:4000],
                                   "finished_at": utcnow()})
    if not matched:
        return cancel("the record no longer matches the condition", status="skipped")
    event = {"id": event_id, "type": "time_relative", "object": job.object, "record_id": job.record_id,
             "record": record, "previous": None, "depth": 0, "actor_id": None, "occurred_at": now.isoformat(),
             "extra": {"job_id": job.id, "due_at": _aware(job.due_at).isoformat(),
                       "source_event": (job.event or {}).get("id")}}
    return close("done", {"matched": True, "status": "queued", "event": event, "next_attempt_at": utcnow()})


# -- 3. scheduled (cron) rules ---------------------------------------------------------------


def last_fire_time(cron: str, now: datetime) -> datetime:
    """The most recent moment at or before ``now`` that the cron expression names (in UTC)."""
    fire = croniter(cron, _aware(now) + timedelta(microseconds=1)).get_prev(datetime)
    return _aware(fire)


def cron_event_id(fire: datetime, record_id: int) -> str:
    event_id = f"cron-{fire:%Y%m%d%H%M%S}-{record_id}"
    if len(event_id) > EVENT_ID_LENGTH:  # a huge record id: still unique per (slot, record)
        event_id = "cron-" + hashlib.sha1(event_id.encode()).hexdigest()[: EVENT_ID_LENGTH - 5]
    return event_id


def _fire_schedules(platform: Platform, tenant: str, now: datetime, counts: dict[str, Any]) -> None:
    with tenant_session(platform, tenant, Actor.system(), write=False) as session:
        scheduled = [r for group in active_rules(session).values() for r in group if r.type == "scheduled"]
        if not scheduled:
            return
        ids = [r.id for r in scheduled]
        created = dict(session.conn.execute(sa.select(rules.c.id, rules.c.created_at).where(rules.c.id.in_(ids))).all())
        last = dict(session.conn.execute(
            sa.select(schedule_state.c.rule_id, schedule_state.c.last_run_at).where(schedule_state.c.rule_id.in_(ids))
        ).all())
    for rule in scheduled:
        try:
            fire = last_fire_time(rule.trigger["cron"], now)
            since = last.get(rule.id) or created.get(rule.id)
            if since is not None and fire <= _aware(since):
                continue
            with tenant_session(platform, tenant, Actor.system()) as session:
                queued = fire_rule(session, rule.id, fire)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
            _error(counts, f"{tenant}: scheduled rule {rule.id} ({rule.name}): {type(exc).__name__}: {exc}")
            continue
        if queued is not None:
            counts["schedules_fired"] += 1
            counts["scheduled_runs"] += queued


def _claim_slot(session: TenantSession, rule_id: int, fire: datetime) -> bool:
    """Move the rule's last run to ``fire``; false when another tick already did."""
    moved = session.conn.execute(schedule_state.update().where(
        schedule_state.c.rule_id == rule_id, schedule_state.c.last_run_at < fire).values(last_run_at=fire))
    if moved.rowcount:
        return True
    if session.conn.execute(sa.select(schedule_state.c.rule_id).where(schedule_state.c.rule_id == rule_id)).first():
        return False
    if session.dialect == "postgresql":
        statement = postgresql.insert(schedule_state).on_conflict_do_nothing(index_elements=["rule_id"])
    else:
        statement = sqlite.insert(schedule_state).on_conflict_do_nothing(index_elements=["rule_id"])
    return bool(session.conn.execute(statement.values(rule_id=rule_id, last_run_at=fire)).rowcount)


def fire_rule(session: TenantSession, rule_id: int, fire: datetime) -> int | None:
    """Claim one fire time of a scheduled rule and queue a run for each matching record; answers
    how many were queued, or None when the slot was already taken (or the rule is gone)."""
    rule: CompiledRule | None = next(
        (r for group in active_rules(session).values() for r in group if r.id == rule_id), None)
    if rule is None or rule.type != "scheduled" or not _claim_slot(session, rule_id, fire):
        return None
    obj = load_model(session).object(rule.object)
    clause = conditions.compile_clause(rule.condition, obj.field_refs) if rule.condition else sa.true()
    record_ids = session.conn.execute(sa.select(obj.table.c.id).where(clause).order_by(obj.table.c.id)).scalars().all()
    now = utcnow()
    rows = []
    for record_id in record_ids:
        event_id = cron_event_id(fire, record_id)
        rows.append({
            "rule_id": rule.id, "rule_version": rule.version, "object": rule.object, "record_id": record_id,
            "event_id": event_id, "event_type": "scheduled", "depth": 0, "matched": True, "status": "queued",
            "attempts": 0, "next_attempt_at": now, "created_at": now, "outcomes": None, "error": None,
            "event": {"id": event_id, "type": "scheduled", "object": rule.object, "record_id": record_id,
                      "record": None, "previous": None, "depth": 0, "actor_id": None,
                      "occurred_at": fire.isoformat(), "extra": {"fire_at": fire.isoformat(),
                                                                 "cron": rule.trigger["cron"]}},
        })
    ids = insert_runs(session, rows)
    _submit_after_commit(session, "runs", ids)
    return len(ids)


# -- 4. hooks --------------------------------------------------------------------------------


def _call_hooks(platform: Platform, tenant: str, now: datetime, counts: dict[str, Any]) -> None:
    hooks: list[Callable[[TenantSession, datetime], None]] = list(platform.hooks.get(TICK_HOOK, []))
    for hook in hooks:
        try:
            with tenant_session(platform, tenant, Actor.system()) as session:
                hook(session, now)
        except Exception as exc:  # noqa: BLE001 - one failing hook must not stop the others
            name = getattr(hook, "__qualname__", repr(hook))
            _error(counts, f"{tenant}: hook {name}: {type(exc).__name__}: {exc}")
            continue
        counts["hooks_called"] += 1
