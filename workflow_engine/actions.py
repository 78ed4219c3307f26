"""Rule actions: each a small function that does one thing to the tenant's data and reports it.

Actions that stay in the database (fields, records, owners, tags, notifications, approvals) run in
the run's transaction. E-mail and webhooks leave the database: they are written to the outbox in
that same transaction and delivered after commit, with retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import ValidationError
from crm_platform.core.session import TenantSession, utcnow
from crm_platform.core.tables import users
from metadata import RecordService
from metadata.formulas import Formula
from metadata.model import ObjectModel, TenantModel
from metadata.tags import add_tags, remove_tags

from .batch import RunBatch
from .definitions import CompiledRule
from .tables import notifications, outbox
from .templates import render

#: Hook name: callables ``(session, object_name, record_id, process_name, comment, batch=None)``
#: submitting a record for approval (the approvals module registers it).
SUBMIT_APPROVAL_HOOK = "workflow.submit_approval"


@dataclass
class ActionContext:
    """What an action sees: the run's unit of work, the rule, and the record as it is now."""

    session: TenantSession
    model: TenantModel
    rule: CompiledRule
    obj: ObjectModel
    record: dict[str, Any]  # stored Python values
    run_id: int
    event: dict[str, Any]
    #: What the runs of this unit of work share (users, round-robin positions, their records).
    batch: RunBatch

    @property
    def records(self) -> RecordService:
        return RecordService(self.session, self.batch.known_users)

    def record_json(self) -> dict[str, Any]:
        return self.obj.dump(self.record)

    def update(self, values: dict[str, Any]) -> None:
        """Change the record; :attr:`record` becomes what is stored (no need to read it back)."""
        current = self.batch.records.get(self.obj, self.record["id"])
        self.record = self.records.update_values(self.obj.name, self.record["id"], values, current)


def _formula_names(obj: ObjectModel) -> list[str]:
    return [*obj.fields, "id", "created_at", "updated_at", "owner_id", *(["stage"] if obj.has_pipeline else [])]


def _value(ctx: ActionContext, value: Any, result_type: str = "text") -> Any:
    """A literal, or ``{"formula": ...}`` evaluated on the triggering record."""
    if isinstance(value, dict) and set(value) == {"formula"}:
        result = _formula(ctx, value["formula"], result_type).evaluate(ctx.record)
        return _jsonable(result)
    return value


def _formula(ctx: ActionContext, expression: str, result_type: str) -> Formula:
    """An action's formula on the rule's object, compiled once per (tenant, metadata version)."""
    cache = ctx.session.platform.cache("workflow_action_formulas")
    key = (ctx.session.tenant, ctx.model.version, ctx.obj.name, expression, result_type)
    formula = cache.get(key)
    if formula is None:
        formula = Formula(expression, _formula_names(ctx.obj), result_type)
        if len(cache) > 2048:
            cache.clear()
        cache[key] = formula
    return formula


def _jsonable(value: Any) -> Any:
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _result_type(target: ObjectModel, field_name: str) -> str:
    from metadata.field_types import value_type_of

    fd = target.fields.get(field_name)
    if fd is None:
        return "integer" if field_name == "owner_id" else "text"
    kind = value_type_of(fd)
    return kind if kind in ("text", "integer", "decimal", "currency", "percent", "boolean", "date", "datetime") else (
        "integer" if kind in ("lookup", "user") else "text")


def _values(ctx: ActionContext, target: ObjectModel, values: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(ctx, value, _result_type(target, name)) for name, value in values.items()}


# -- record actions ----------------------------------------------------------------------------


def set_field(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    raw = {"formula": action["formula"]} if "formula" in action else action.get("value")
    value = _value(ctx, raw, _result_type(ctx.obj, action["field"]))
    ctx.update({action["field"]: value})
    return {"field": action["field"], "value": ctx.record_json().get(action["field"])}


def create_record(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    target = ctx.model.object(action["object"])
    created = ctx.records.create(target.name, _values(ctx, target, action["values"]))
    return {"object": target.name, "record_id": created["id"]}


def update_related(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    if "object" in action:
        target = ctx.model.object(action["object"])
        ids = ctx.session.conn.execute(
            sa.select(target.table.c.id).where(target.table.c[action["lookup"]] == ctx.record["id"])
        ).scalars().all()
    else:
        fd = ctx.obj.fields[action["lookup"]]
        target = ctx.model.object(fd.target)
        parent = ctx.record.get(action["lookup"])
        ids = [parent] if parent is not None else []
    values = _values(ctx, target, action["values"])
    for record_id in ids:
        ctx.records.update(target.name, record_id, values)
    return {"object": target.name, "updated": list(ids)}


def assign_owner(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    """Round robin over a team, the least loaded member, a named user, or a territory map."""
    session, strategy = ctx.session, action["strategy"]
    team, emails = action.get("team"), action.get("users")
    territory = action.get("territory")
    if territory:
        key = ctx.record.get(territory["field"])
        key = str(key) if key is not None else None
        if key in (territory.get("users") or {}):
            emails, team, strategy = [territory["users"][key]], None, "user"
        elif key in (territory.get("teams") or {}):
            team = territory["teams"][key]
        elif team is None and emails is None:
            return {"skipped": f"no territory for {territory['field']}={key!r}"}
    if strategy == "user":
        emails = [action["user"]] if "user" in action else emails
    pool = ctx.batch.pool(team, emails)
    if not pool:
        raise ValidationError(f"assign_owner: nobody to assign to (team {team!r}, users {emails!r})")
    if strategy == "least_loaded":
        counts = dict(session.conn.execute(
            sa.select(ctx.obj.table.c.owner_id, sa.func.count()).where(
                ctx.obj.table.c.owner_id.in_([u.id for u in pool])).group_by(ctx.obj.table.c.owner_id)).all())
        chosen = min(pool, key=lambda u: (counts.get(u.id, 0), u.id))
    elif strategy == "round_robin":
        pool_key = f"team:{team}" if team is not None else "users:" + ",".join(sorted(u.email for u in pool))
        pool_key = pool_key[:200]
        last = ctx.batch.cursor(ctx.rule.id, pool_key)
        after = [u for u in pool if last is not None and u.id > last]
        chosen = after[0] if after else pool[0]
        ctx.batch.move_cursor(ctx.rule.id, pool_key, chosen.id)
    else:
        chosen = pool[0]
    ctx.update({"owner_id": chosen.id})
    return {"owner_id": chosen.id, "email": chosen.email}


def add_tag(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    return {"added": add_tags(ctx.session, ctx.obj.name, ctx.record["id"], [action["tag"]])}


def remove_tag(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    return {"removed": remove_tags(ctx.session, ctx.obj.name, ctx.record["id"], [action["tag"]])}


def submit_approval(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    hooks = ctx.session.platform.hooks.get(SUBMIT_APPROVAL_HOOK, [])
    if not hooks:
        raise ValidationError("approval processes are not available")
    result = hooks[0](ctx.session, ctx.obj.name, ctx.record["id"], action["process"], action.get("comment"),
                      batch=ctx.batch)
    return {"process": action["process"], "request": result}


# -- messages ----------------------------------------------------------------------------------


def recipients(ctx: ActionContext, to: str) -> list[Any]:
    """Users (id, email, name) named by ``owner``, ``manager``, ``creator``, ``role:x``, ``team:x``,
    an e-mail address, or a user field of the record."""
    session = ctx.session
    columns = (users.c.id, users.c.email, users.c.name, users.c.manager_id)

    def by_ids(ids: list[Any]) -> list[Any]:
        return [user for user in map(ctx.batch.user, ids) if user is not None]

    if to == "owner":
        return by_ids([ctx.record.get("owner_id")])
    if to == "creator":
        return by_ids([ctx.record.get("created_by")])
    if to == "manager":
        owner = by_ids([ctx.record.get("owner_id")])
        return by_ids([owner[0].manager_id]) if owner else []
    if to.startswith("role:"):
        role = to[5:]
        rows = session.conn.execute(sa.select(*columns, users.c.roles).where(users.c.active.is_(True))).all()
        return [r for r in rows if role in (r.roles or [])]
    if to.startswith("team:"):
        return session.conn.execute(sa.select(*columns).where(users.c.team == to[5:], users.c.active.is_(True))).all()
    if "@" in to:
        found = session.conn.execute(sa.select(*columns).where(users.c.email == to.lower())).all()
        return found or [_Address(to)]
    fd = ctx.obj.fields.get(to)
    if fd is not None and fd.type == "user":
        return by_ids([ctx.record.get(to)])
    if fd is not None and fd.type == "email" and ctx.record.get(to):
        return [_Address(ctx.record[to])]
    return []


@dataclass(frozen=True)
class _Address:
    email: str
    id: None = None
    name: str = ""


def _context(ctx: ActionContext, person: Any = None) -> dict[str, Any]:
    return {"record": ctx.record_json(), "object": ctx.obj.name, "rule": ctx.rule.name,
            "user": {"email": getattr(person, "email", ""), "name": getattr(person, "name", "")}}


def notify(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    people = [p for p in recipients(ctx, action["to"]) if p.id is not None]
    now = utcnow()
    rows = [{"user_id": p.id, "title": render(action["title"], _context(ctx, p))[:300],
             "body": render(action.get("body"), _context(ctx, p)), "object": ctx.obj.name,
             "record_id": ctx.record["id"], "created_at": now} for p in people]
    if rows:
        ctx.session.conn.execute(notifications.insert(), rows)
    return {"notified": [p.email for p in people]}


def _enqueue(ctx: ActionContext, kind: str, payload: dict[str, Any]) -> int:
    now = utcnow()
    outbox_id = ctx.session.conn.execute(outbox.insert().values(
        kind=kind, payload=payload, status="pending", attempts=0, next_attempt_at=now, run_id=ctx.run_id,
        created_at=now)).inserted_primary_key[0]
    ctx.session.cache.setdefault("outbox_ids", []).append(outbox_id)
    return outbox_id


def send_email(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    people = recipients(ctx, action["to"])
    if not people:
        return {"skipped": f"no recipient for {action['to']!r}"}
    queued = []
    for person in people:
        context = _context(ctx, person)
        queued.append(_enqueue(ctx, "email", {
            "to": person.email, "subject": render(action["subject"], context)[:300],
            "body": render(action.get("body"), context),
        }))
    return {"queued": queued, "to": [p.email for p in people]}


def webhook(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    body = {"rule": {"id": ctx.rule.id, "name": ctx.rule.name, "version": ctx.rule.version},
            "event": {k: ctx.event.get(k) for k in ("id", "type", "occurred_at")},
            "object": ctx.obj.name, "record": ctx.record_json()}
    outbox_id = _enqueue(ctx, "webhook", {"url": action["url"], "secret": action.get("secret"), "body": body})
    return {"queued": [outbox_id], "url": action["url"]}


ACTIONS: dict[str, Callable[[ActionContext, dict[str, Any]], dict[str, Any]]] = {
    "set_field": set_field,
    "create_record": create_record,
    "update_related": update_related,
    "assign_owner": assign_owner,
    "add_tag": add_tag,
    "remove_tag": remove_tag,
    "notify": notify,
    "send_email": send_email,
    "webhook": webhook,
    "submit_approval": submit_approval,
}
