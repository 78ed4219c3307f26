"""Approval requests: submit a record to a process, decide step by step, recall, delegate, escalate.

How a request behaves (the README repeats this for users):

- Submitting needs the entry condition to hold (422 naming it) and no other pending request on the
  record (409). The approvers of every step whose condition holds are resolved at submit, so a step
  nobody could approve, or a quorum larger than its approvers, is refused then (422), not found later.
- Steps run in order. A step whose condition does not hold when it is reached is skipped (and the
  history says so). The record is locked while pending, so conditions see what was submitted.
- A step's approvers decide in parallel. ``any``: the first approval completes the step; ``all``:
  every approver must approve; ``quorum``: ``quorum`` approvals. Tasks still open when a step
  completes become ``skipped``.
- Any rejection, in any step and mode, rejects the whole request at once and runs ``on_reject``.
  After the last step ``on_approve`` runs. Outcome actions run with full rights (as rules do), in
  the deciding transaction, after the request is marked decided, so the lock does not stop them.
- While a request is pending the record answers 409 to update and delete, for everyone (an admin
  can recall first). Ownership transfers are not blocked.
- Recall: the submitter or an admin, while pending; no actions run. Delegate: an approver hands
  their open task to another active user. Escalation: a task open past its step's
  ``escalation.after`` is handed to the approver's manager or the named user, once (the new task
  has no deadline); with nobody to hand it to, the history says so and the task stays.
- A request keeps the process version it was submitted under; every history entry names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import Conflict, NotFound, PermissionDenied, ValidationError, problem
from crm_platform.core.session import Actor, TenantSession, utcnow
from crm_platform.core.tables import users
from crm_platform.core.users import resolve_user
from metadata import conditions, load_model
from metadata.field_errors import CodedMessage
from metadata.model import ObjectModel

from .approval_definitions import (  # noqa: F401 - list_processes: part of this module's face for the admin
    approver_specs,
    escalation_delay,
    find_process,
    find_user,
    list_processes,
    version_definition,
)
from .approval_inbox import get_request, list_requests, pending_count  # noqa: F401 - part of this module's face
from .batch import RunBatch
from .definitions import CompiledRule
from .engine import RUNNER_SERVICE, condition_fields, typed, with_tags
from .executor import ActionFailed, perform
from .rules import workflow_version
from .tables import approval_history, approval_processes, approval_requests, approval_tasks, notifications

#: Hook name: callables ``(session, now)`` the scheduler's tick calls once per tenant.
WORKFLOW_TICK_HOOK = "workflow.tick"
DECISIONS = {"approve": "approved", "reject": "rejected"}
# Statements built once (executed with parameters, they skip being built and keyed each time).
PENDING_REQUEST = sa.select(approval_requests).where(
    approval_requests.c.object == sa.bindparam("_object"), approval_requests.c.record_id == sa.bindparam("_record"),
    approval_requests.c.status == "pending").limit(1)
ADD_HISTORY = approval_history.insert()
ADD_REQUEST = approval_requests.insert()
MAX_COMMENT = 2000


def approval_actor(process_name: str) -> Actor:
    """Outcome actions act with full rights; the audit names the process that acted."""
    return Actor(user_id=None, email=f"approval:{process_name}"[:254], roles=("admin",), automated=True)


@contextmanager
def _acting_as(session: TenantSession, actor: Actor) -> Iterator[None]:
    """Run part of a unit of work as another actor (one automation level deeper)."""
    saved_actor, saved_depth = session.actor, session.depth
    saved_policy = session.cache.pop("access_policy", None)
    session.actor, session.depth = actor, session.depth + 1
    try:
        yield
    finally:
        session.actor, session.depth = saved_actor, saved_depth
        session.cache.pop("access_policy", None)
        if saved_policy is not None:
            session.cache["access_policy"] = saved_policy


def _comment(comment: Any) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise ValidationError(f"comment must be text of at most {MAX_COMMENT} characters",
                              {"comment": [f"at most {MAX_COMMENT} characters"]},
                              reason="comment_too_long", params={"max": MAX_COMMENT})
    return comment or None


# -- records, users, conditions ----------------------------------------------------------------


def _record(session: TenantSession, obj: ObjectModel, record_id: Any, lock: bool = False) -> dict[str, Any]:
    try:
        key = int(record_id)
    except (TypeError, ValueError):
        raise NotFound(f"{obj.name} {record_id!r} does not exist") from None
    query = sa.select(obj.table).where(obj.table.c.id == key)
    if lock and session.dialect == "postgresql":
        query = query.with_for_update()
    row = session.conn.execute(query).first()
    if row is None:
        raise NotFound(f"{obj.name} {record_id!r} does not exist")
    return dict(row._mapping)


def _holds(session: TenantSession, obj: ObjectModel, tree: Any, record: dict[str, Any]) -> bool:
    if not tree:
        return True
    predicate = conditions.compile_predicate(tree, obj.field_refs)
    names = condition_fields(tree)
    return bool(predicate(with_tags(session, obj.name, record["id"], typed(obj, obj.dump(record), names), names), None))


def _shown(obj: ObjectModel, tree: Any) -> str:
    """A stored condition as an expression, its values typed again (``20``, not ``"20.0000"``)."""
    try:
        return conditions.render(conditions.validate(tree, obj.field_refs))
    except ValidationError:
        return conditions.render(tree)


def _title(obj: ObjectModel, record: dict[str, Any]) -> str:
    field = obj.definition.document.get("title_field")
    value = record.get(field) if field else None
    return f"{obj.label()} {value if value not in (None, '') else '#' + str(record['id'])}"


def _held_record(batch: RunBatch, obj: ObjectModel, record_id: Any) -> dict[str, Any]:
    """:func:`_record`, locked, from what the batch holds (read only if it holds nothing)."""
    try:
        key = int(record_id)
    except (TypeError, ValueError):
        raise NotFound(f"{obj.name} {record_id!r} does not exist") from None
    record = batch.records.get(obj, key)
    if record is None:
        raise NotFound(f"{obj.name} {record_id!r} does not exist")
    return record


def _user(session: TenantSession, user_id: Any) -> Any:
    if user_id is None:
        return None
    return session.conn.execute(sa.select(users).where(users.c.id == user_id)).first()


def resolve_approvers(session: TenantSession, obj: ObjectModel, step: dict[str, Any], record: dict[str, Any],
                      batch: RunBatch | None = None) -> tuple[list[Any], list[CodedMessage]]:
    """The active users who approve this step for this record, and why a specification found nobody.
    ``batch``: the users already read in this unit of work's rule runs."""
    batch = batch or RunBatch(session)
    found: dict[int, Any] = {}
    missing: list[CodedMessage] = []
    for spec in approver_specs(step):
        kind, value = spec["type"], spec.get("value")
        if kind == "user":
            row = find_user(session, value)
            rows = [row] if row is not None else []
            why = CodedMessage(f"user {value!r} does not exist", "no_such_user", user=value)
        elif kind == "role":
            rows = [u for u in batch.active_users() if value in (u.roles or [])]
            why = CodedMessage(f"nobody active holds role {value!r}", "role_unheld", role=value)
        elif kind == "manager":
            owner = batch.user(record.get("owner_id"))
            rows = [m for m in [batch.user(owner.manager_id if owner else None)] if m is not None]
            why = CodedMessage("the record's owner has no manager", "owner_without_manager")
        else:
            rows = [r for r in [batch.user(record.get(value))] if r is not None]
            why = CodedMessage(f"field {value!r} is empty", "approver_field_empty", field=value)
        inactive = [r for r in rows if not r.active]
        rows = [r for r in rows if r.active]
        if not rows:
            missing.append(CodedMessage(f"{inactive[0].email} is inactive", "user_inactive", user=inactive[0].email)
                           if inactive else why)
        for row in rows:
            found.setdefault(row.id, row)
    return list(found.values()), missing


def _plan(session: TenantSession, obj: ObjectModel, step: dict[str, Any], record: dict[str, Any],
          error: type[ValidationError | Conflict], batch: RunBatch | None = None) -> list[Any]:
    """The approvers of a step, or ``error`` when the step could never complete."""
    approvers, missing = resolve_approvers(session, obj, step, record, batch)
    if not approvers:
        message = f"step {step['name']!r} has no approver: {'; '.join(missing)}"
        raise error(message, {"steps": [message]}, reason="no_approver",
                    params={"step": step["name"], "object": obj.name,
                            "causes": [problem(m.code, **m.params) for m in missing]})
    if step.get("mode") == "quorum" and step["quorum"] > len(approvers):
        emails = [a.email for a in approvers]
        message = (f"step {step['name']!r} needs {step['quorum']} approvals but has only {len(approvers)} "
                   f"approver(s): {', '.join(emails)}")
        raise error(message, {"steps": [message]}, reason="quorum_unreachable",
                    params={"step": step["name"], "quorum": step["quorum"], "count": len(approvers),
                            "approvers": emails})
    return approvers


# -- requests and their history ----------------------------------------------------------------


def _lock_request(session: TenantSession, request_id: Any) -> dict[str, Any]:
    try:
        key = int(request_id)
    except (TypeError, ValueError):
        raise NotFound(f"approval request {request_id!r} does not exist", reason="no_such_request",
                       params={"id": request_id}) from None
    query = sa.select(approval_requests).where(approval_requests.c.id == key)
    if session.dialect == "postgresql":
        query = query.with_for_update()
    row = session.conn.execute(query).first()
    if row is None:
        raise NotFound(f"approval request {request_id!r} does not exist", reason="no_such_request",
                       params={"id": request_id})
    return dict(row._mapping)


def _require_pending(request: dict[str, Any]) -> None:
    if request["status"] != "pending":
        raise Conflict(f"approval request {request['id']} is already {request['status']}",
                       {"status": [request["status"]]}, reason="request_decided",
                       params={"id": request["id"], "status": request["status"]})


def pending_request(session: TenantSession, object_name: str, record_id: int) -> Any:
    return session.conn.execute(PENDING_REQUEST, {"_object": object_name, "_record": record_id}).first()


def _history(session: TenantSession, request: dict[str, Any], action: str, step: tuple[int, str] | None = None,
             comment: str | None = None, details: dict[str, Any] | None = None) -> None:
    session.conn.execute(ADD_HISTORY, {
        "request_id": request["id"], "at": utcnow(), "user_id": session.actor.user_id,
        "user_email": session.actor.email[:254], "action": action, "step_index": step[0] if step else None,
        "step_name": step[1] if step else None, "comment": comment, "version": request["process_version"],
        "details": details})


def _notify(session: TenantSession, user_ids: list[int], title: str, body: str, request: dict[str, Any]) -> None:
    now = utcnow()
    rows = [{"user_id": uid, "title": title[:300], "body": body, "object": request["object"],
             "record_id": request["record_id"], "created_at": now} for uid in dict.fromkeys(user_ids) if uid is not None]
    if rows:
        session.conn.execute(notifications.insert(), rows)


def _step_of(definition: dict[str, Any], index: int) -> tuple[dict[str, Any], tuple[int, str]]:
    step = definition["steps"][index]
    return step, (index, step["name"])


def submit(session: TenantSession, object_name: str, record_id: Any, process_name: Any, comment: Any = None) -> dict[str, Any]:
    """Submit a record to a process; answers the new request. The record is locked until decided."""
    return get_request(session, _submit(session, object_name, record_id, process_name, comment), check_access=False)


def _submit(session: TenantSession, object_name: str, record_id: Any, process_name: Any, comment: Any,
            batch: RunBatch | None = None) -> int:
    """:func:`submit`, answering only the new request's id (a rule's action needs no more).
    ``batch``: what the rule runs of this unit of work have read (processes, records, users)."""
    comment = _comment(comment)
    obj = load_model(session).object(object_name)
    if not isinstance(process_name, str) or not process_name:
        raise ValidationError("name the approval process: {\"process\": <name>}", {"process": ["required"]},
                              reason="process_required")
    batch = batch or RunBatch(session)
    process = batch.process(obj.name, process_name)
    if process is None:
        raise ValidationError(f"no approval process {process_name!r} on {obj.name}", {"process": ["unknown process"]},
                              reason="no_such_process", params={"process": process_name, "object": obj.name})
    if not process.active:
        raise ValidationError(f"approval process {process_name!r} is inactive", {"process": ["inactive"]},
                              reason="process_inactive", params={"process": process_name})
    record = _held_record(batch, obj, record_id)
    existing = pending_request(session, obj.name, record["id"])
    if existing is not None:
        raise Conflict(f"{obj.name} {record['id']} already awaits approval ({existing.process_name!r}, request "
                       f"{existing.id})", {"record": [f"approval request {existing.id} is pending"]},
                       reason="already_awaiting", params={"object": obj.name, "process": existing.process_name})
    definition = batch.process_definition(process.id, process.version)
    entry = definition.get("entry_condition")
    if not _holds(session, obj, entry, record):
        shown = _shown(obj, entry)
        raise ValidationError(f"{obj.name} {record['id']} does not meet the entry condition of {process_name!r}: {shown}",
                              {"entry_condition": [f"not met: {shown}"]}, reason="entry_condition_not_met",
                              params={"object": obj.name, "process": process_name, "condition": shown})
    plans = {index: _plan(session, obj, step, record, ValidationError, batch)
             for index, step in enumerate(definition["steps"]) if _holds(session, obj, step.get("condition"), record)}
    if not plans:
        raise ValidationError(f"no step of {process_name!r} applies to {obj.name} {record['id']}",
                              {"steps": ["no step's condition holds"]}, reason="no_step_applies",
                              params={"object": obj.name, "process": process_name})
    # A rule submitting on a user's change acts as the rule; the request is still that user's.
    submitter = session.actor.user_id or record.get("updated_by") or record.get("owner_id")
    now = utcnow()
    first = min(plans)  # the step the request starts at (stored with it: no update to open it)
    values = {"process_id": process.id, "process_version": process.version, "process_name": process.name,
              "object": obj.name, "record_id": record["id"], "status": "pending", "submitted_by": submitter,
              "comment": comment, "submitted_at": now, "updated_at": now,
              "step_index": first, "step_name": definition["steps"][first]["name"]}
    request = {**values, "id": session.conn.execute(ADD_REQUEST, values).inserted_primary_key[0],
               "decided_at": None, "decided_by": None}
    _history(session, request, "submitted", comment=comment, details={"submitted_by": submitter})
    session.audit("approval.submit", object=obj.name, record_id=record["id"],
                  after={"request": request["id"], "process": process.name, "version": process.version, "comment": comment})
    _advance(session, request, definition, obj, record, 0, plans)
    return request["id"]


def _advance(session: TenantSession, request: dict[str, Any], definition: dict[str, Any], obj: ObjectModel,
             record: dict[str, Any], start: int, plans: dict[int, list[Any]] | None = None) -> None:
    """Open the next step whose condition holds, from ``start``; with none left, approve."""
    for index in range(start, len(definition["steps"])):
        step, where = _step_of(definition, index)
        if not _holds(session, obj, step.get("condition"), record):
            _history(session, request, "step_skipped", where, details={"condition": _shown(obj, step["condition"])})
            continue
        approvers = (plans or {}).get(index) or _plan(session, obj, step, record, Conflict)
        _open_step(session, request, step, where, approvers, obj, record)
        return
    _finish(session, request, definition, obj, "approved")


def _open_step(session: TenantSession, request: dict[str, Any], step: dict[str, Any], where: tuple[int, str],
               approvers: list[Any], obj: ObjectModel, record: dict[str, Any]) -> None:
    now = utcnow()
    delay = escalation_delay(step)
    due = now + timedelta(seconds=delay) if delay else None
    if (request["step_index"], request["step_name"]) != where:
        session.conn.execute(approval_requests.update().where(approval_requests.c.id == request["id"]).values(
            step_index=where[0], step_name=where[1], updated_at=now))
        request.update(step_index=where[0], step_name=where[1])
    session.conn.execute(approval_tasks.insert(), [
        {"request_id": request["id"], "step_index": where[0], "step_name": where[1], "approver_id": a.id,
         "status": "pending", "created_at": now, "due_at": due} for a in approvers])
    details: dict[str, Any] = {"approvers": [a.email for a in approvers], "mode": step.get("mode", "any")}
    if step.get("mode") == "quorum":
        details["quorum"] = step["quorum"]
    _history(session, request, "step_started", where, details=details)
    _notify(session, [a.id for a in approvers], f"Approval needed: {_title(obj, record)}",
            f"{request['process_name']}, step {where[1]!r}" + (f": {request['comment']}" if request["comment"] else ""),
            request)


def _step_complete(session: TenantSession, request: dict[str, Any], step: dict[str, Any]) -> bool:
    statuses = session.conn.execute(sa.select(approval_tasks.c.status).where(
        approval_tasks.c.request_id == request["id"], approval_tasks.c.step_index == request["step_index"])).scalars().all()
    approved = statuses.count("approved")
    mode = step.get("mode", "any")
    if mode == "all":
        return approved > 0 and "pending" not in statuses
    return approved >= (step["quorum"] if mode == "quorum" else 1)


def _skip_open_tasks(session: TenantSession, request: dict[str, Any]) -> list[int]:
    """Close the request's open tasks; answers their approvers."""
    criteria = (approval_tasks.c.request_id == request["id"], approval_tasks.c.status == "pending")
    approvers = session.conn.execute(sa.select(approval_tasks.c.approver_id).where(*criteria)).scalars().all()
    session.conn.execute(approval_tasks.update().where(*criteria).values(status="skipped", decided_at=utcnow()))
    return list(approvers)


def _finish(session: TenantSession, request: dict[str, Any], definition: dict[str, Any], obj: ObjectModel,
            status: str, comment: str | None = None) -> None:
    """Decide the request, then (unlocked, same transaction) run its outcome actions."""
    now = utcnow()
    session.conn.execute(approval_requests.update().where(approval_requests.c.id == request["id"]).values(
        status=status, decided_at=now, decided_by=session.actor.user_id, updated_at=now))
    request.update(status=status, decided_at=now)
    _skip_open_tasks(session, request)
    key = "on_approve" if status == "approved" else "on_reject"
    outcomes = _run_outcome(session, request, definition, obj, key)
    _history(session, request, f"request_{status}", comment=comment, details={key: outcomes})
    session.audit(f"approval.{status}", object=obj.name, record_id=request["record_id"],
                  after={"request": request["id"], "process": request["process_name"],
                         "version": request["process_version"], "actions": len(outcomes)})
    record = _record(session, obj, request["record_id"])
    _notify(session, [request["submitted_by"]], f"Approval request {status}: {_title(obj, record)}",
            f"{request['process_name']}" + (f": {comment}" if comment else ""), request)


def _run_outcome(session: TenantSession, request: dict[str, Any], definition: dict[str, Any], obj: ObjectModel,
                 key: str) -> list[dict[str, Any]]:
    actions = tuple(definition.get(key) or ())
    if not actions:
        return []
    rule = CompiledRule(
        # Negative ids keep an approval's round-robin cursors apart from the rules'.
        id=-request["process_id"], version=request["process_version"], name=f"approval:{definition['name']}",
        object=obj.name, document=definition, trigger={"type": "approval"}, condition=None,
        predicate=lambda record, previous=None: True, actions=actions, active=True, order=0, run_once=False,
    )
    record = _record(session, obj, request["record_id"])
    queued = session.cache.setdefault("outbox_ids", [])
    before = len(queued)
    with _acting_as(session, approval_actor(definition["name"])):
        try:
            outcomes = perform(session, rule, record, 0, {"type": f"approval.{request['status']}",
                                                          "request_id": request["id"]})
        except ActionFailed as exc:
            raise ValidationError(f"the process's {key} {exc}", {key: [str(exc)]}) from None
    outbox_ids = queued[before:]
    del queued[before:]
    runner = session.platform.services.get(RUNNER_SERVICE)
    if outbox_ids and runner is not None:
        tenant = session.tenant
        session.after_commit(lambda: runner.submit_outbox(tenant, outbox_ids))
    return [{"type": o["type"], "result": o["result"]} for o in outcomes]


# -- decisions ---------------------------------------------------------------------------------


def _my_task(session: TenantSession, request: dict[str, Any]) -> Any:
    """The caller's open task at the current step: 409 if theirs is already decided, 403 if none."""
    user_id = session.actor.user_id
    tasks = session.conn.execute(sa.select(approval_tasks).where(
        approval_tasks.c.request_id == request["id"], approval_tasks.c.approver_id == user_id)
        .order_by(approval_tasks.c.id)).all() if user_id is not None else []
    for task in tasks:
        if task.status == "pending" and task.step_index == request["step_index"]:
            return task
    if tasks:
        last = tasks[-1]
        raise Conflict(f"your task in step {last.step_name!r} of approval request {request['id']} is already "
                       f"{last.status}", {"task": [last.status]}, reason="task_decided",
                       params={"id": request["id"], "step": last.step_name, "status": last.status})
    raise PermissionDenied(f"you are not an approver of approval request {request['id']} "
                           f"(step {request['step_name']!r})", reason="not_an_approver",
                           params={"id": request["id"], "step": request["step_name"]})


def decide(session: TenantSession, request_id: Any, decision: str, comment: Any = None) -> dict[str, Any]:
    """Approve or reject the caller's task in the current step (``decision``: approve | reject)."""
    status = DECISIONS[decision]
    comment = _comment(comment)
    request = _lock_request(session, request_id)
    _require_pending(request)
    task = _my_task(session, request)
    session.conn.execute(approval_tasks.update().where(approval_tasks.c.id == task.id).values(
        status=status, comment=comment, decided_at=utcnow()))
    definition = version_definition(session, request["process_id"], request["process_version"])
    step, where = _step_of(definition, request["step_index"])
    _history(session, request, status, where, comment)
    session.audit(f"approval.{decision}", object=request["object"], record_id=request["record_id"],
                  after={"request": request["id"], "step": where[1], "comment": comment,
                         "version": request["process_version"]})
    obj = load_model(session).object(request["object"])
    if status == "rejected":
        _finish(session, request, definition, obj, "rejected", comment)
    elif _step_complete(session, request, step):
        _skip_open_tasks(session, request)
        _history(session, request, "step_approved", where)
        _advance(session, request, definition, obj, _record(session, obj, request["record_id"]), where[0] + 1)
    return get_request(session, request["id"], check_access=False)


def recall(session: TenantSession, request_id: Any, comment: Any = None) -> dict[str, Any]:
    """Withdraw a pending request (the submitter or an admin); the record is unlocked, no actions run."""
    comment = _comment(comment)
    request = _lock_request(session, request_id)
    actor = session.actor
    if not actor.is_admin and (actor.user_id is None or actor.user_id != request["submitted_by"]):
        raise PermissionDenied(f"only the submitter or an admin may recall approval request {request['id']}",
                               reason="recall_not_allowed", params={"id": request["id"]})
    _require_pending(request)
    now = utcnow()
    session.conn.execute(approval_requests.update().where(approval_requests.c.id == request["id"]).values(
        status="recalled", decided_at=now, decided_by=actor.user_id, updated_at=now))
    request.update(status="recalled")
    waiting = _skip_open_tasks(session, request)
    _history(session, request, "recalled", (request["step_index"], request["step_name"]), comment)
    session.audit("approval.recall", object=request["object"], record_id=request["record_id"],
                  after={"request": request["id"], "comment": comment})
    _notify(session, waiting, f"Approval request recalled: {request['object']} #{request['record_id']}",
            f"{request['process_name']}" + (f": {comment}" if comment else ""), request)
    return get_request(session, request["id"], check_access=False)


def delegate(session: TenantSession, request_id: Any, to: Any, comment: Any = None) -> dict[str, Any]:
    """Hand the caller's open task to another user, who then decides in their place."""
    comment = _comment(comment)
    request = _lock_request(session, request_id)
    _require_pending(request)
    task = _my_task(session, request)
    if to is None:
        raise ValidationError("say who takes over: {\"to\": <user id or e-mail>}", {"to": ["required"]},
                              reason="delegate_to_required")
    target = resolve_user(session, to, "to")
    if not target.active:
        raise ValidationError(f"{target.email} is inactive", {"to": ["inactive user"]},
                              reason="delegate_to_inactive", params={"user": target.email})
    if target.id == task.approver_id:
        raise ValidationError("you cannot delegate a task to yourself", {"to": ["same user"]},
                              reason="delegate_to_self")
    if _approves_step(session, request, target.id):
        raise Conflict(f"{target.email} is already an approver of step {request['step_name']!r}",
                       {"to": ["already an approver"]}, reason="delegate_to_approver",
                       params={"user": target.email, "step": request["step_name"]})
    definition = version_definition(session, request["process_id"], request["process_version"])
    step, _ = _step_of(definition, request["step_index"])
    delay = escalation_delay(step)
    _hand_over(session, request, task, target, "delegated", comment, utcnow() + timedelta(seconds=delay) if delay else None)
    session.audit("approval.delegate", object=request["object"], record_id=request["record_id"],
                  after={"request": request["id"], "step": request["step_name"], "to": target.email, "comment": comment})
    return get_request(session, request["id"], check_access=False)


def _approves_step(session: TenantSession, request: dict[str, Any], user_id: int) -> bool:
    """Does the user hold an open or approved task in the current step (so one person never counts twice)?"""
    return session.conn.execute(sa.select(approval_tasks.c.id).where(
        approval_tasks.c.request_id == request["id"], approval_tasks.c.step_index == request["step_index"],
        approval_tasks.c.approver_id == user_id, approval_tasks.c.status.in_(("pending", "approved")))).first() is not None


def _hand_over(session: TenantSession, request: dict[str, Any], task: Any, target: Any, status: str,
               comment: str | None, due: datetime | None) -> None:
    now = utcnow()
    session.conn.execute(approval_tasks.update().where(approval_tasks.c.id == task.id).values(
        status=status, delegated_to=target.id, decided_at=now, comment=comment))
    session.conn.execute(approval_tasks.insert().values(
        request_id=request["id"], step_index=task.step_index, step_name=task.step_name, approver_id=target.id,
        status="pending", created_at=now, due_at=due))
    source = _user(session, task.approver_id)
    _history(session, request, status, (task.step_index, task.step_name), comment,
             {"from": source.email if source else task.approver_id, "to": target.email})
    verb = "delegated to you" if status == "delegated" else "escalated to you"
    _notify(session, [target.id], f"Approval {verb}: {request['object']} #{request['record_id']}",
            f"{request['process_name']}, step {task.step_name!r}" + (f": {comment}" if comment else ""), request)


def escalate_due(session: TenantSession, now: datetime | None = None) -> list[int]:
    """Hand every open task past its deadline to the approver's manager or the step's named user.

    Called by the scheduler's tick (``WORKFLOW_TICK_HOOK``) once per tenant; answers the ids of
    the tasks escalated.
    """
    now = now or utcnow()
    due = session.conn.execute(
        sa.select(approval_tasks.c.id, approval_tasks.c.request_id)
        .join(approval_requests, approval_requests.c.id == approval_tasks.c.request_id)
        .where(approval_tasks.c.status == "pending", approval_tasks.c.due_at.is_not(None),
               approval_tasks.c.due_at <= now, approval_requests.c.status == "pending")
        .order_by(approval_tasks.c.id)).all()
    escalated: list[int] = []
    for task_id, request_id in due:
        request = _lock_request(session, request_id)
        task = session.conn.execute(sa.select(approval_tasks).where(approval_tasks.c.id == task_id)).first()
        if request["status"] != "pending" or task.status != "pending":
            continue
        definition = version_definition(session, request["process_id"], request["process_version"])
        step, where = _step_of(definition, task.step_index)
        escalation = step.get("escalation") or {}
        if escalation.get("to") == "manager":
            approver = _user(session, task.approver_id)
            target, why = _user(session, approver.manager_id if approver else None), "the approver has no manager"
        else:
            target, why = find_user(session, escalation.get("to")), f"no user {escalation.get('to')!r}"
        if target is not None and not target.active:
            why, target = f"{target.email} is inactive", None
        elif target is not None and (target.id == task.approver_id or _approves_step(session, request, target.id)):
            why, target = f"{target.email} is already an approver of this step", None
        if target is None:
            session.conn.execute(approval_tasks.update().where(approval_tasks.c.id == task.id).values(due_at=None))
            _history(session, request, "escalation_failed", where, details={"reason": why})
            continue
        _hand_over(session, request, task, target, "escalated", None, None)
        session.audit("approval.escalate", object=request["object"], record_id=request["record_id"],
                      after={"request": request["id"], "step": where[1], "to": target.email})
        escalated.append(task.id)
    return escalated


# -- hooks -------------------------------------------------------------------------------------


def record_guard(session: TenantSession, object_name: str, record_id: int, action: str) -> None:
    """``RECORD_GUARD_HOOK``: a record awaiting approval cannot be changed or deleted by people.

    Automations (rules, approval outcomes) may still change it: a rule that submits a record and
    then sets a field on it must not be stopped by its own submission.
    """
    if session.actor.automated or object_name not in _objects_with_processes(session):
        return
    if session.dialect == "postgresql":  # wait for a submit in flight, then see its request
        table = load_model(session).object(object_name).table
        session.conn.execute(sa.select(table.c.id).where(table.c.id == record_id).with_for_update())
    pending = pending_request(session, object_name, record_id)
    if pending is not None:
        verb = "changed" if action == "update" else "deleted"
        raise Conflict(
            f"{object_name} {record_id} is locked: awaiting approval in {pending.process_name!r} "
            f"(request {pending.id}, step {pending.step_name!r}); it cannot be {verb} until the request is "
            f"approved, rejected or recalled", {"approval": [f"request {pending.id} is pending"]},
            reason="awaiting_approval",
            params={"object": object_name, "id": record_id, "process": pending.process_name, "request": pending.id,
                    "step": pending.step_name, "action": action})


def _objects_with_processes(session: TenantSession) -> frozenset[str]:
    """Objects that have (or had) an approval process: only their records can be locked.
    Cached per workflow version, which every new process moves."""
    key = (session.tenant, workflow_version(session))
    cache = session.platform.cache("approval_objects")
    objects = cache.get(key)
    if objects is None or session.cache.get("workflow_dirty"):
        objects = frozenset(session.conn.execute(sa.select(approval_processes.c.object).distinct()).scalars())
        if not session.cache.get("workflow_dirty"):
            if len(cache) > 512:
                cache.clear()
            cache[key] = objects
    return objects


def approval_exists(session: TenantSession, object_name: str, process_name: str) -> bool:
    """``APPROVAL_EXISTS_HOOK``: lets rules name processes."""
    return find_process(session, object_name, process_name) is not None


def submit_from_rule(session: TenantSession, object_name: str, record_id: int, process_name: str,
                     comment: str | None, batch: RunBatch | None = None) -> int:
    """``SUBMIT_APPROVAL_HOOK``: the rule action submit_approval; answers the request's id."""
    return _submit(session, object_name, record_id, process_name, comment, batch)
