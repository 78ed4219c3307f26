"""Matching record events against rules, inside the transaction that made the change.

The engine runs just before a unit of work commits: it evaluates every rule whose trigger fits each
event, logs the evaluation, and writes a queued run for each match (or a scheduled job for a
time-relative rule) in the same transaction. So a committed change always has its runs recorded
(nothing is lost if the process dies right after), and a rolled-back change has none. Queued runs
are handed to the runner after commit: in-process by default, Celery with a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crm_platform.core.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED, STAGE_CHANGED, Event
from crm_platform.core.session import TenantSession, utcnow
from metadata import load_model
from metadata.conditions import TAGS_FIELD
from metadata.tags import tags_of

from .definitions import CompiledRule
from .rules import active_rules
from .tables import rule_evaluations, rule_runs, scheduled_jobs

if TYPE_CHECKING:
    from metadata.model import ObjectModel

#: Rules that change records make new events; a chain deeper than this is stopped and logged.
MAX_DEPTH = 5
RECORD_EVENTS = frozenset({RECORD_CREATED, RECORD_UPDATED, RECORD_DELETED, STAGE_CHANGED})
RUNNER_SERVICE = "workflow.runner"
#: The event types each trigger listens to (checked first: most rules skip most events cheaply).
LISTENS = {
    "on_create": frozenset({RECORD_CREATED}),
    "on_update": frozenset({RECORD_UPDATED}),
    "on_create_or_update": frozenset({RECORD_CREATED, RECORD_UPDATED}),
    "on_delete": frozenset({RECORD_DELETED}),
    "on_field_change": frozenset({RECORD_CREATED, RECORD_UPDATED}),
    "on_stage_change": frozenset({STAGE_CHANGED}),
}
#: Triggers that look further than the event type (which fields changed, which stages).
DETAILED_TRIGGERS = frozenset({"on_field_change", "on_stage_change"})
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
#: (rule, record) pairs looked up in one query of pending jobs.
PAIRS_PER_QUERY = 500


def trigger_fits(rule: CompiledRule, event: Event) -> bool:
    """Does this event start this rule (before looking at its condition)?"""
    kind = rule.type
    if kind == "on_create":
        return event.type == RECORD_CREATED
    if kind == "on_update":
        return event.type == RECORD_UPDATED
    if kind == "on_create_or_update":
        return event.type in (RECORD_CREATED, RECORD_UPDATED)
    if kind == "on_delete":
        return event.type == RECORD_DELETED
    if kind == "on_stage_change":
        if event.type != STAGE_CHANGED:
            return False
        trigger = rule.trigger
        return (trigger.get("from") is None or trigger["from"] == event.extra.get("from")) and (
            trigger.get("to") is None or trigger["to"] == event.extra.get("to")
        )
    if kind == "on_field_change":
        if event.type not in (RECORD_CREATED, RECORD_UPDATED):
            return False
        record, previous = event.record or {}, event.previous or {}
        changed = [
            name for name in rule.trigger["fields"]
            if record.get(name) != previous.get(name) and (event.type == RECORD_UPDATED or record.get(name) is not None)
        ]
        if not changed:
            return False
        if "to" in rule.trigger:
            return any(_same(record.get(name), rule.trigger["to"]) for name in changed)
        return True
    return False


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, float) and isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        return stored == float(wanted)
    return stored == wanted


def typed(obj: ObjectModel, values: Mapping[str, Any] | None, names: Iterable[str]) -> dict[str, Any] | None:
    """JSON values of an event turned back into the Python values conditions compare against."""
    if values is None:
        return None
    result = dict(values)
    refs = obj.field_refs
    for name in names:
        value = values.get(name)
        if value is not None and name in refs:
            try:
                result[name] = refs[name].coerce(value)
            except ValueError:
                result[name] = None
    return result


def condition_fields(tree: Any) -> set[str]:
    if not isinstance(tree, dict):
        return set()
    names: set[str] = set()
    for rule in tree.get("rules", []):
        names |= condition_fields(rule) if "rules" in rule else {rule.get("field")}
    return names


def with_tags(session: TenantSession, object_name: str, record_id: Any, record: Mapping[str, Any] | None,
              names: Iterable[str]) -> Any:
    """The record with its tags under ``_tags`` when a condition reads them (one query per record,
    shared by every rule evaluated on it); otherwise the record unchanged."""
    if record is None or record_id is None or TAGS_FIELD not in names:
        return record
    return {**record, TAGS_FIELD: tags_of(session, object_name, int(record_id))}


def typed_event(obj: ObjectModel, event: Event, names: Iterable[str]) -> tuple[Any, Any]:
    """(record, previous) as stored Python values: carried by in-process events, else converted."""
    if event.type == RECORD_DELETED:
        if event.previous_values is not None:
            return event.previous_values, None
        return typed(obj, event.previous, names), None
    if event.values is not None:
        return event.values, event.previous_values
    return typed(obj, event.record, names), typed(obj, event.previous, names)


def event_payload(event: Event) -> dict[str, Any]:
    return {
        "id": event.id, "type": event.type, "object": event.object, "record_id": event.record_id,
        "record": event.record, "previous": event.previous, "extra": event.extra, "depth": event.depth,
        "actor_id": event.actor_id, "occurred_at": event.occurred_at.isoformat(),
    }


def before_commit(session: TenantSession) -> None:
    """Session hook: turn this unit of work's record events into rule runs and scheduled jobs."""
    if not session.events:
        return
    by_object = active_rules(session)
    if not by_object:
        return
    # Only the events of objects with rules are built (a bulk write queues its events unbuilt).
    events = [e for e in session.events.select(RECORD_EVENTS, by_object) if not e.extra.get("handled")]
    if not events:
        return
    model = load_model(session)
    now = utcnow()
    skipped: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    timed: list[tuple[CompiledRule, ObjectModel, Event]] = []
    for event in events:
        rules = by_object.get(event.object)
        if not rules or event.object not in model.objects:
            continue
        obj = model.objects[event.object]
        names = _rule_fields(session, event.object, rules)
        values = typed_event(obj, event, names) if names else (event.record or event.previous, event.previous)
        values = (with_tags(session, event.object, event.record_id, values[0], names), values[1])
        misses: list[int] = []
        for rule in rules:
            if rule.type == "time_relative":
                timed.append((rule, obj, event))
                continue
            if event.type not in LISTENS.get(rule.type, ()):
                continue
            if rule.type in DETAILED_TRIGGERS and not trigger_fits(rule, event):
                continue
            try:
                matched = rule.predicate(*values) is True if rule.condition else True
                error = None
            except Exception as exc:  # a condition that cannot be evaluated is a failed run, not a crash
                matched, error = False, f"condition: {exc}"
            if not matched and error is None:
                misses.append(rule.id)
                continue
            base = {
                "rule_id": rule.id, "rule_version": rule.version, "object": event.object,
                "record_id": event.record_id, "event_id": event.id, "event_type": event.type,
                "depth": event.depth, "created_at": now, "attempts": 0,
            }
            if error is not None:
                skipped.append({**base, "matched": False, "status": "failed", "error": error})
            elif event.depth >= MAX_DEPTH:
                skipped.append({**base, "matched": True, "status": "stopped", "error":
                                f"loop protection: rules changed this record {event.depth} times in a chain "
                                f"(limit {MAX_DEPTH}); the chain was stopped here"})
            else:
                queued.append({**base, "matched": True, "status": "queued", "event": event_payload(event),
                               "next_attempt_at": now})
        if misses:
            missed.append({"object": event.object, "record_id": event.record_id, "event_id": event.id,
                           "event_type": event.type, "depth": event.depth, "at": now,
                           "missed": ";" + ";".join(map(str, misses)) + ";"})
    if timed:
        _schedule(session, timed, now)
    if missed:
        session.conn.execute(rule_evaluations.insert(), missed)
    if skipped:
        session.conn.execute(rule_runs.insert(), [{"event": None, "next_attempt_at": None, **row} for row in skipped])
    if queued:
        ids = session.conn.execute(rule_runs.insert().returning(rule_runs.c.id), queued).scalars().all()
        runner = session.platform.services.get(RUNNER_SERVICE)
        if runner is not None:
            tenant = session.tenant
            session.after_commit(lambda: runner.submit_runs(tenant, list(ids)))


def _rule_fields(session: TenantSession, object_name: str, rules: Sequence[CompiledRule]) -> frozenset[str]:
    """Fields the conditions of an object's rules read: converted once per event for all of them."""
    memo = session.cache.setdefault("rule_fields", {})
    if object_name not in memo:
        memo[object_name] = frozenset().union(*(condition_fields(r.condition) for r in rules))
    return memo[object_name]


def _as_moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=timezone.utc)
    return None


def _schedule(session: TenantSession, timed: list[tuple[CompiledRule, ObjectModel, Event]], now: datetime) -> None:
    """Keep one pending job per (rule, record) at the moment its trigger names, for every event
    of the unit of work in order: their pending jobs read in one query, the jobs they leave
    cancelled in one update and the new ones inserted together (a new job a later event
    replaced is stored cancelled, as if each event had been handled on its own)."""
    asks = [(rule, event, due) for rule, obj, event in timed if (due := _due(rule, obj, event)) is not UNCHANGED]
    if not asks:
        return
    jobs = _pending_jobs(session, {(rule.id, event.record_id) for rule, event, _ in asks})
    cancelled: list[int] = []
    added: list[dict[str, Any]] = []
    for rule, event, due in asks:
        pending = jobs.setdefault((rule.id, event.record_id), [])
        if due is not None and pending and all(_as_moment(job["due_at"]) == due for job in pending):
            continue
        for job in pending:  # stored ones by id; new ones are not written yet
            if "id" in job:
                cancelled.append(job["id"])
            else:
                job.update(status="cancelled", finished_at=now)
        pending.clear()
        if due is not None:
            job = {"rule_id": rule.id, "object": event.object, "record_id": event.record_id, "due_at": due,
                   "status": "pending", "event": event_payload(event), "created_at": now, "finished_at": None}
            added.append(job)
            pending.append(job)
    if cancelled:
        session.conn.execute(scheduled_jobs.update().where(scheduled_jobs.c.id.in_(cancelled))
                             .values(status="cancelled", finished_at=now))
    if added:
        session.conn.execute(scheduled_jobs.insert(), added)


#: What :func:`_due` answers for an event that leaves a rule's pending job as it is.
UNCHANGED = object()


def _due(rule: CompiledRule, obj: ObjectModel, event: Event) -> Any:
    """When the event makes the rule's job due: a moment, None (no job: cancel any), or
    :data:`UNCHANGED`."""
    trigger = rule.trigger
    if event.type == RECORD_DELETED:
        return None
    field_name = trigger.get("field")
    on = trigger.get("on") or ("create" if field_name is None else "create_or_update")
    if event.type == STAGE_CHANGED or (on == "create" and event.type != RECORD_CREATED):
        return UNCHANGED
    if field_name is None:
        base = event.occurred_at
    else:
        if event.type == RECORD_UPDATED and (event.record or {}).get(field_name) == (event.previous or {}).get(field_name):
            return UNCHANGED
        base = _as_moment(typed(obj, event.record, [field_name]).get(field_name))
    if base is None:
        return None
    offset = timedelta(seconds=trigger["offset"]["amount"] * UNITS[trigger["offset"]["unit"]])
    return base - offset if trigger.get("direction") == "before" else base + offset


def _pending_jobs(session: TenantSession, pairs: set[tuple[int, Any]]) -> dict[tuple[int, Any], list[dict[str, Any]]]:
    """The pending jobs of these (rule, record) pairs: their ids and moments."""
    found: dict[tuple[int, Any], list[dict[str, Any]]] = {}
    wanted = list(pairs)
    key = sa.tuple_(scheduled_jobs.c.rule_id, scheduled_jobs.c.record_id)
    for start in range(0, len(wanted), PAIRS_PER_QUERY):
        rows = session.conn.execute(
            sa.select(scheduled_jobs.c.id, scheduled_jobs.c.rule_id, scheduled_jobs.c.record_id, scheduled_jobs.c.due_at)
            .where(scheduled_jobs.c.status == "pending", key.in_(wanted[start:start + PAIRS_PER_QUERY])))
        for row in rows:
            found.setdefault((row.rule_id, row.record_id), []).append({"id": row.id, "due_at": row.due_at})
    return found
