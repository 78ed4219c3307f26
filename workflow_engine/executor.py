"""Running a queued rule run: lock the record, run the actions in order, log every outcome.

A run is idempotent: it only starts from ``queued`` and ends ``succeeded`` in the same transaction
as its actions, so a worker killed midway leaves it ``queued`` (its actions rolled back) and the
redelivered task simply runs it again. A failed attempt is retried with backoff up to
:data:`MAX_ATTEMPTS` times, then left ``failed`` with its error, visible in the run log.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from crm_platform.core.errors import CRMError
from crm_platform.core.session import Actor, TenantSession, tenant_session, utcnow
from metadata import load_model

from .actions import ACTIONS, ActionContext
from .batch import RunBatch
from .engine import RUNNER_SERVICE
from .rules import compiled_version
from .tables import rule_once, rule_runs

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

MAX_ATTEMPTS = 3
BACKOFF = timedelta(seconds=30)
#: A run's final state after its actions (the values are the parameters).
FINISH_RUN = rule_runs.update().where(rule_runs.c.id == sa.bindparam("_id"))
#: ``_carry_out`` reads the run itself unless given it.
MISSING = object()


class Runner(Protocol):
    """Where queued work goes after commit: in-process (embedded) or Celery (with a broker)."""

    def submit_runs(self, tenant: str, run_ids: list[int]) -> None: ...

    def submit_outbox(self, tenant: str, outbox_ids: list[int]) -> None: ...


def rule_actor(rule_name: str) -> Actor:
    """Rules act with full rights; the audit names the rule that acted."""
    return Actor(user_id=None, email=f"rule:{rule_name}"[:254], roles=("admin",), automated=True)


def _lock_runs(session: TenantSession, run_ids: list[int]) -> dict[int, Any]:
    """Several runs by id, read (and on PostgreSQL locked) in one query."""
    query = sa.select(rule_runs).where(rule_runs.c.id.in_(run_ids))
    if session.dialect == "postgresql":
        query = query.with_for_update()
    return {row.id: row for row in session.conn.execute(query)}


def _lock_run(session: TenantSession, run_id: int) -> Any:
    query = sa.select(rule_runs).where(rule_runs.c.id == run_id)
    if session.dialect == "postgresql":
        query = query.with_for_update()
    return session.conn.execute(query).first()


def perform(session: TenantSession, rule: Any, record: dict[str, Any], run_id: int, event: dict[str, Any],
            batch: RunBatch | None = None) -> list[dict[str, Any]]:
    """Run a rule's actions in order on a record; answers each action's outcome. Without a
    ``batch`` (the runs' shared reads), the actions share one of their own."""
    model = load_model(session)
    own = batch is None
    ctx = ActionContext(session=session, model=model, rule=rule, obj=model.object(rule.object), record=record,
                        run_id=run_id, event=event, batch=batch or RunBatch(session))
    outcomes = []
    for index, action in enumerate(rule.actions):
        started = time.perf_counter()
        try:
            result = ACTIONS[action["type"]](ctx, action)
        except CRMError as exc:
            raise ActionFailed(index, action["type"], exc.message) from exc
        except Exception as exc:
            raise ActionFailed(index, action["type"], f"{type(exc).__name__}: {exc}") from exc
        outcomes.append({"action": index, "type": action["type"], "status": "succeeded", "result": result,
                         "duration_ms": round((time.perf_counter() - started) * 1000, 3)})
    if own:
        ctx.batch.finish()
    return outcomes


class ActionFailed(Exception):
    def __init__(self, index: int, kind: str, message: str) -> None:
        super().__init__(index, kind, message)
        self.index, self.kind, self.message = index, kind, message

    def __str__(self) -> str:
        return f"action {self.index} ({self.kind}) failed: {self.message}"


def execute_run(platform: Platform, tenant: str, run_id: int) -> str:
    """Carry out one queued run; answers its status afterwards."""
    started = time.perf_counter()
    try:
        with tenant_session(platform, tenant, Actor.system()) as session:
            batch = RunBatch(session)
            status = _carry_out(session, batch, run_id, started)
            batch.finish()
            outbox_ids = list(session.cache.get("outbox_ids", []))
    except Exception as exc:  # the run's transaction rolled back: record the attempt on its own
        return _record_failure(platform, tenant, run_id, exc, started)
    _submit_outbox(platform, tenant, outbox_ids)
    return status


def execute_runs(platform: Platform, tenant: str, run_ids: list[int]) -> list[str]:
    """Carry out queued runs of one tenant one after another in one unit of work (one connection,
    one commit, the runs, their rule versions and records each read in one query; see
    :class:`RunBatch`): a run sees what the runs before it did, as when each committed on its
    own. Should any run fail (or the shared commit), nothing of the batch is kept and the runs are
    carried out again one unit of work each, where a failure is recorded as :func:`execute_run`
    records it and takes back only its own run."""
    if len(run_ids) < 2:
        return [execute_run(platform, tenant, run_id) for run_id in run_ids]
    try:
        with tenant_session(platform, tenant, Actor.system()) as session:
            rows = _lock_runs(session, run_ids)
            batch = RunBatch(session)
            batch.prepare(rows.values())
            finished: list[dict[str, Any]] = []  # the runs' final states, written together
            statuses = [_carry_out(session, batch, run_id, time.perf_counter(), rows.get(run_id), finished)
                        for run_id in run_ids]
            batch.finish()
            if finished:
                session.conn.execute(FINISH_RUN, finished)
            outbox_ids = list(session.cache.get("outbox_ids", []))
    except Exception:  # noqa: BLE001 - the batch rolled back as a whole: one by one, as without batches
        return [execute_run(platform, tenant, run_id) for run_id in run_ids]
    _submit_outbox(platform, tenant, outbox_ids)
    return statuses


def _carry_out(session: TenantSession, batch: RunBatch, run_id: int, started: float, row: Any = MISSING,
               finished: list[dict[str, Any]] | None = None) -> str:
    """The run's actions and its final state, in the session's transaction; raises on failure.
    ``row`` is the run as already read and locked (None: it does not exist); with ``finished``
    the final state is added to it for the caller to write, instead of written at once."""
    row = _lock_run(session, run_id) if row is MISSING else row
    if row is None or row.status != "queued":
        return row.status if row is not None else "missing"
    rule = batch.rule(row.rule_id, row.rule_version)
    # From here on the unit of work acts as the rule, one automation step deeper.
    session.actor, session.depth = rule_actor(rule.name), row.depth + 1
    session.cache.pop("access_policy", None)
    status, outcomes = _run(session, batch, rule, row)
    final = {"_id": run_id, "status": status, "outcomes": outcomes, "attempts": row.attempts + 1,
             "started_at": utcnow(), "finished_at": utcnow(),
             "duration_ms": round((time.perf_counter() - started) * 1000, 3), "error": None}
    if finished is None:
        session.conn.execute(FINISH_RUN, final)
    else:
        finished.append(final)
    return status


def _submit_outbox(platform: Platform, tenant: str, outbox_ids: list[int]) -> None:
    runner = platform.services.get(RUNNER_SERVICE)
    if outbox_ids and runner is not None:
        runner.submit_outbox(tenant, outbox_ids)


def _run(session: TenantSession, batch: RunBatch, rule: Any, row: Any) -> tuple[str, list[dict[str, Any]]]:
    model = load_model(session)
    obj = model.objects.get(rule.object)
    event = row.event or {}
    if obj is None:
        return "cancelled", [{"reason": f"object {rule.object!r} no longer exists"}]
    if row.event_type == "record.deleted":
        record = dict(event.get("previous") or {})
    else:
        current = batch.records.get(obj, row.record_id)
        if current is None:
            return "cancelled", [{"reason": f"{rule.object} {row.record_id} no longer exists"}]
        record = current
    if rule.run_once:
        done = session.conn.execute(sa.select(rule_once.c.rule_id).where(
            rule_once.c.rule_id == rule.id, rule_once.c.record_id == row.record_id)).first()
        if done:
            return "skipped", [{"reason": "already ran once for this record"}]
        session.conn.execute(rule_once.insert().values(rule_id=rule.id, record_id=row.record_id, at=utcnow()))
    return "succeeded", perform(session, rule, record, row.id, event, batch)


def _record_failure(platform: Platform, tenant: str, run_id: int, exc: Exception, started: float) -> str:
    with tenant_session(platform, tenant, Actor.system()) as session:
        row = _lock_run(session, run_id)
        if row is None:
            return "missing"
        attempts = row.attempts + 1
        final = attempts >= MAX_ATTEMPTS
        session.conn.execute(rule_runs.update().where(rule_runs.c.id == run_id).values(
            status="failed" if final else "queued", attempts=attempts, error=str(exc)[:4000],
            next_attempt_at=utcnow() + BACKOFF * (2 ** (attempts - 1)),
            started_at=utcnow(), finished_at=utcnow() if final else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 3)))
    return "failed" if final else "retry"


def test_rule(session: TenantSession, rule_id: int, version: int, record_id: Any) -> dict[str, Any]:
    """What the rule would do to a record now: the condition's verdict and each action's outcome,
    computed in a transaction that is then rolled back, so nothing happens."""
    from crm_platform.core.errors import NotFound

    from .engine import condition_fields, typed, with_tags

    rule = compiled_version(session, rule_id, version)
    model = load_model(session)
    obj = model.object(rule.object)
    try:
        key = int(record_id)
    except (TypeError, ValueError):
        raise NotFound(f"{rule.object} {record_id!r} does not exist") from None
    row = session.conn.execute(sa.select(obj.table).where(obj.table.c.id == key)).first()
    if row is None:
        raise NotFound(f"{rule.object} {record_id!r} does not exist")
    record = dict(row._mapping)
    names = condition_fields(rule.condition)
    matched = bool(rule.predicate(with_tags(session, obj.name, key, typed(obj, obj.dump(record), names), names), None))
    answer: dict[str, Any] = {"rule": rule.id, "version": rule.version, "record_id": key, "matched": matched,
                              "condition": rule.condition, "actions": []}
    if not matched:
        return answer
    # Run the actions for real inside a savepoint, then roll it back and forget what they queued.
    mark, cache = session.mark(), dict(session.cache)
    savepoint = session.conn.begin_nested()
    try:
        answer["actions"] = perform(session, rule, record, 0, {"type": "test"})
    except ActionFailed as exc:
        answer["actions"] = [{"action": exc.index, "type": exc.kind, "status": "would fail", "error": exc.message}]
    finally:
        savepoint.rollback()
        session.forget_since(mark)
        session.cache.clear()
        session.cache.update(cache)
    return answer
