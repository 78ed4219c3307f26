"""The record service: create, read, update, delete records of any object, validated by its metadata.

Every write records an audit entry and queues an after-commit event; nothing here knows who listens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sized
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa
from marshmallow import ValidationError as MarshmallowError
from sqlalchemy.exc import IntegrityError

from crm_platform.core.errors import (
    Conflict, CRMError, ExpressionError, FieldErrors, NotFound, PermissionDenied, ValidationError, problem,
)
from crm_platform.core.bulk import bulk_insert
from crm_platform.core.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED, STAGE_CHANGED
from crm_platform.core.permissions import AccessPolicy, access_policy
from crm_platform.core.session import TenantSession, utcnow
from crm_platform.core.tables import users

from .definitions import label_text
from .fast_load import SLOW
from .field_types import fits_limit
from .field_errors import code_of, flat_messages
from .model import WRITABLE_SYSTEM_FIELDS, ObjectModel, TenantModel, load_model
from .query import ListQuery, list_records, parse_list_arguments, where_clause
from .tables import autonumber_counters, stage_history
from .activities import forget_activities
from .attachments import forget_attachments
from . import conditions
from .tags import forget_record, tagged_criterion
from .views import get_view, view_condition

#: Hook name: callables ``(session, object_name, record_id, action)`` that may refuse a change to a
#: record by raising (approvals lock records under review). ``action`` is "update" or "delete".
RECORD_GUARD_HOOK = "record.guard"
READ_ONLY_SYSTEM_FIELDS = frozenset({"id", "created_at", "updated_at", "created_by", "updated_by", "version"})
USER_EXISTS = sa.select(users.c.id).where(users.c.id == sa.bindparam("_id"))
#: The users among a list of ids given as one expanding parameter ``_ids``.
USERS_AMONG = sa.select(users.c.id).where(users.c.id.in_(sa.bindparam("_ids", expanding=True)))
NEXT_NUMBER = (
    autonumber_counters.update()
    .where(autonumber_counters.c.object == sa.bindparam("_object"), autonumber_counters.c.field == sa.bindparam("_field"))
    .values(value=autonumber_counters.c.value + sa.bindparam("_count"))
    .returning(autonumber_counters.c.value)
)
LEAVE_STAGE = stage_history.update().where(
    stage_history.c.object == sa.bindparam("_object"), stage_history.c.record_id == sa.bindparam("_record"),
    stage_history.c.left_at.is_(None),
)
#: The type of ``dict.keys()``: a set-like view that needs no copy for membership tests.
_KEYS = type({}.keys())
AUTONUMBER_TOKEN = re.compile(r"\{(0+|YYYY|YY|MM|DD)\}")


def format_autonumber(pattern: str, number: int, today: datetime | None = None) -> str:
    """``LEAD-{0000}`` with 7 gives ``LEAD-0007``; ``{YYYY}``, ``{MM}``, ``{DD}`` give today's date."""
    today = today or utcnow()

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("0"):
            return str(number).zfill(len(token))
        return {"YYYY": f"{today:%Y}", "YY": f"{today:%y}", "MM": f"{today:%m}", "DD": f"{today:%d}"}[token]

    return AUTONUMBER_TOKEN.sub(replace, pattern)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


class RecordService:
    """Record operations inside one unit of work."""

    def __init__(self, session: TenantSession, known_users: Collection[int] = ()) -> None:
        self.session = session
        self.conn = session.conn
        #: Ids of users the caller has just read in this unit of work (users are never deleted):
        #: a reference to one of them needs no check.
        self.known_users = known_users
        #: While :meth:`create_many` prepares rows: each row's reference checks and unique values,
        #: one entry per row in order, checked together before the rows are inserted (see
        #: :meth:`_settle_checks`).
        self._deferred_checks: list[_DeferredChecks] | None = None
        #: Per object, the keys a record may carry without a closer look (see _refuse_keys), with
        #: the compiled object and the reader's policy they were computed from.
        self._plain_keys: dict[str, tuple[ObjectModel, AccessPolicy, frozenset[str]]] = {}
        #: Autonumbers a bulk create took in one update per field, by (object, field).
        self._reserved_numbers: dict[tuple[str, str], Iterator[int]] = {}

    @property
    def model(self) -> TenantModel:
        return load_model(self.session)

    def object(self, name: str) -> ObjectModel:
        return self.model.object(name)

    @property
    def policy(self) -> AccessPolicy:
        return access_policy(self.session)

    # -- reading -------------------------------------------------------------------------------

    def get(self, object_name: str, record_id: Any) -> dict[str, Any]:
        model = self.object(object_name)
        scope = self.policy.require(model.name, "read")
        return self.policy.present(model.name, model.dump(self._row(model, record_id, scope)))

    def parse_list(self, object_name: str, arguments: Mapping[str, Any], max_per_page: int = 500,
                   extra_parameters: frozenset[str] = frozenset()) -> ListQuery:
        """Read list parameters as this reader may use them: hidden and masked fields are unknown.
        ``tag=vip`` (repeatable) keeps records carrying every tag given."""
        model = self.object(object_name)
        self.policy.require(model.name, "read")
        unreadable = self.policy.unreadable(model.name)
        views = arguments.get("view", [])
        if views and "sort" not in arguments:
            view_sort = get_view(self.session, views[0]).get("sort")
            if view_sort:
                arguments = {**arguments, "sort": [view_sort]}
        query = parse_list_arguments(model, arguments, max_per_page, extra_parameters | {"tag", "view"},
                                     unreadable=unreadable)
        for tag in arguments.get("tag", []):
            query.criteria.append(tagged_criterion(model.table, model.name, tag))
        for view_id in views:
            tree = view_condition(self.session, model.name, view_id, unreadable)
            if tree:
                query.criteria.append(conditions.compile_clause(tree, model.field_refs))
        return query

    def list(self, object_name: str, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
        model = self.object(object_name)
        scope = self.policy.require(model.name, "read")
        criterion = self.policy.criterion(self.session, model.table, scope)
        if criterion is not None:
            query.criteria.append(criterion)
        query.unreadable = self.policy.unreadable(model.name)
        rows, total = list_records(self.conn, model, query)
        present = self.policy.present
        return [present(model.name, model.dump(row)) for row in rows], total

    def totals(self, object_name: str, query: ListQuery, by: str, sums: Iterable[str]) -> dict[Any, dict[str, Any]]:
        """Count and sums per value of ``by`` over every matching record the reader may see, in SQL
        (a board shows one page of cards per column, its totals are of all of them). Fields the
        reader may not read are not summed."""
        model = self.object(object_name)
        scope = self.policy.require(model.name, "read")
        unreadable = self.policy.unreadable(model.name)
        if by not in model.table.c or by in unreadable:
            raise ValidationError(f"cannot group {model.name} by {by}", {"by": ["unknown or unreadable field"]},
                                  problems={"by": [problem("unknown_field")]})
        summed = [n for n in sums if n in model.table.c and n not in unreadable]
        criteria = list(query.criteria)
        criterion = self.policy.criterion(self.session, model.table, scope)
        if criterion is not None:
            criteria.append(criterion)
        scoped = ListQuery(condition=query.condition, search=query.search, criteria=criteria, unreadable=unreadable)
        group = model.table.c[by]
        rows = self.conn.execute(
            sa.select(group, sa.func.count(), *(sa.func.sum(model.table.c[n]) for n in summed))
            .where(where_clause(model, scoped)).group_by(group)
        ).all()
        return {row[0]: {"count": row[1], "sums": dict(zip(summed, row[2:]))} for row in rows}

    def stage_history(self, object_name: str, record_id: Any) -> list[dict[str, Any]]:
        model = self.object(object_name)
        row = self._row(model, record_id, self.policy.require(model.name, "read"))
        entries = self.conn.execute(
            sa.select(stage_history)
            .where(stage_history.c.object == object_name, stage_history.c.record_id == row.id)
            .order_by(stage_history.c.entered_at, stage_history.c.id)
        ).mappings().all()
        now = utcnow()
        return [
            {
                "from_stage": e["from_stage"],
                "stage": e["to_stage"],
                "entered_at": model_json(e["entered_at"]),
                "left_at": model_json(e["left_at"]),
                "seconds_in_stage": ((e["left_at"] or now) - e["entered_at"]).total_seconds(),
                "user_id": e["user_id"],
            }
            for e in entries
        ]

    def _row(self, model: ObjectModel, record_id: Any, scope: str = "all") -> Any:
        """The row, if the scope covers it; a record outside the scope does not exist for the reader."""
        record_id = _record_id(record_id)
        limit = self.policy.criterion(self.session, model.table, scope) if scope != "all" else None
        if limit is None:
            row = self.conn.execute(model.row_statement, {"_id": record_id}).first()
        else:
            row = self.conn.execute(sa.select(model.table).where(model.table.c.id == record_id, limit)).first()
        if row is None:
            raise NotFound(f"{model.name} {record_id} does not exist", reason="record_not_found",
                           params={"object": model.name, "id": record_id})
        return row

    # -- writing -------------------------------------------------------------------------------

    def create(self, object_name: str, data: Any) -> dict[str, Any]:
        model = self.object(object_name)
        scope = self.policy.require(model.name, "create")
        values = self._prepare_create(model, scope, data, utcnow())
        values["id"] = self._execute_unique(
            model, lambda: self.conn.execute(model.insert_statement, values).inserted_primary_key[0])
        self.session.inserted.add(model.table.name, (values["id"],))
        return self._created(model, values)

    def create_many(self, object_name: str, rows: Iterable[Any], batch_size: int = 500) -> list[dict[str, Any]]:
        """Create many records with the same checks as :meth:`create`, inserting them in batches.

        A bad row raises a :class:`ValidationError` whose message and details name its position
        (``rows[12]``); the caller's unit of work then rolls back the rows already inserted.
        """
        model = self.object(object_name)
        present = self.policy.present
        return [present(model.name, record) for record in self._create_batches(model, rows, batch_size, True)]

    def insert_many(self, object_name: str, rows: Iterable[Any], batch_size: int = 500) -> int:
        """:meth:`create_many` for callers that only count the records (imports): the same checks,
        audit entries and events, without answering a copy of every record."""
        return sum(1 for _ in self._create_batches(self.object(object_name), rows, batch_size, False))

    def _create_batches(self, model: ObjectModel, rows: Iterable[Any], batch_size: int,
                        answer: bool) -> Iterator[dict[str, Any]]:
        """Validate and insert; yields the JSON form of each record (with ``answer``) or its id."""
        scope = self.policy.require(model.name, "create")
        now = utcnow()
        batch: list[dict[str, Any]] = []
        seen: dict[str, set[Any]] = {name: set() for name in model.unique}
        first = 0
        outer, self._deferred_checks = self._deferred_checks, []
        if model.autonumbers and isinstance(rows, Sized) and len(rows) > 1:
            self._reserve_numbers(model, len(rows))
        try:
            for index, data in enumerate(rows):
                try:
                    values = self._prepare_create(model, scope, data, now)
                    for name in model.unique:
                        if values.get(name) is not None:
                            if values[name] in seen[name]:
                                raise Conflict(f"{name} must be unique: {values[name]!r} occurs twice",
                                               {name: ["duplicate within the batch"]},
                                               problems={name: [problem("duplicate_in_batch", value=values[name])]})
                            seen[name].add(values[name])
                except (ValidationError, Conflict, PermissionDenied) as exc:
                    self._settle_checks(first)  # one by one, an earlier check would have failed first
                    raise exc.rekeyed(f"rows[{index}]: {exc.message}", f"rows[{index}].") from None
                batch.append(values)
                if len(batch) >= batch_size:
                    self._settle_checks(first)
                    yield from self._insert_batch(model, batch, first, now, answer)
                    first, batch = index + 1, []
            if batch:
                self._settle_checks(first)
                yield from self._insert_batch(model, batch, first, now, answer)
        finally:
            self._deferred_checks = outer
            for fd in model.autonumbers:  # a failed batch leaves a gap, as a failed single create does
                self._reserved_numbers.pop((model.name, fd.name), None)

    def _insert_batch(self, model: ObjectModel, batch: list[dict[str, Any]], first: int, now: datetime,
                      answer: bool) -> list[Any]:
        """Insert at the driver level (COPY on PostgreSQL, an executemany of tuples on SQLite; see
        :mod:`crm_platform.core.bulk`), then queue one audit row per record, its JSON serialized
        once, and the batch's created events, built only if something listens."""
        columns = [name for name in model.columns if name != "id" and any(name in values for values in batch)]
        dialect = self.session.dialect
        if dialect == "postgresql":
            for values, record_id in zip(batch, self._allocate_ids(model, len(batch))):
                values["id"] = record_id
            columns.insert(0, "id")
        rows = _column_rows(batch, columns)
        if dialect == "postgresql":
            inserter = bulk_insert(self.conn, self.session.cache, model.table, columns)
            self._execute_unique(model, lambda: inserter.insert(self.conn, rows), batch, first)
        elif dialect == "sqlite":
            inserter = bulk_insert(self.conn, self.session.cache, model.table, columns)

            def insert() -> int:
                inserter.insert(self.conn, rows)
                return self.conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()

            # The unit of work holds the write lock (BEGIN IMMEDIATE) and a new rowid is the
            # largest plus one (ids never reach 2**63 - 1, where SQLite would pick at random), so
            # the batch took the ids up to the last one inserted.
            last = self._execute_unique(model, insert, batch, first)
            for record_id, values in enumerate(batch, last - len(batch) + 1):
                values["id"] = record_id
        else:  # any other database: the ids as the insert answers them
            returning = model.table.insert().returning(model.table.c.id, sort_by_parameter_order=True)
            parameters = [dict(zip(columns, row)) for row in rows]
            ids = self._execute_unique(model, lambda: self.conn.execute(returning, parameters).scalars().all(),
                                       batch, first)
            for values, record_id in zip(batch, ids):
                values["id"] = record_id
        if model.has_pipeline:
            entered = [self._stage_row(model.name, values["id"], None, values["stage"], now)
                       for values in batch if values.get("stage")]
            if entered:
                self.conn.execute(stage_history.insert(), entered)
        ids = [values["id"] for values in batch]
        self.session.inserted.add(model.table.name, ids)
        self.session.audit_serialized("record.create", model.name, zip(ids, model.record_json.texts(batch)), now)
        records = model.dump_many(batch) if answer else None
        self.session.publish_batch(RECORD_CREATED, model.name, batch, model.dump, records)
        return records if records is not None else ids

    def _allocate_ids(self, model: ObjectModel, count: int) -> list[int]:
        """``count`` fresh ids from the table's sequence, in one query (safe under concurrency)."""
        table = f'"{self.session.schema}"."{model.table.name}"' if self.session.schema else f'"{model.table.name}"'
        # One array rather than a row per id: the driver reads it in one go; the sequence is
        # looked up in the same query.
        sequence = sa.func.pg_get_serial_sequence(sa.literal(table), "id")
        return self.conn.execute(
            sa.select(sa.func.array_agg(sa.func.nextval(sequence))).select_from(sa.func.generate_series(1, count))
        ).scalar_one()

    def _prepare_create(self, model: ObjectModel, scope: str, data: Any, now: datetime) -> dict[str, Any]:
        """Validated, complete column values for a new record (everything but its id)."""
        values = self._load(model, data, partial=False)
        if values.get("owner_id") is not None:
            self._check_owner(model, scope, values["owner_id"], "create")
        for name, default in model.defaults.items():
            if name not in values:
                values[name] = model.record_fields[name].deserialize(default)
        actor = self.session.actor.user_id
        values.setdefault("owner_id", actor)
        if model.has_pipeline and values.get("stage") is None:
            values["stage"] = next(iter(model.stages), None)
        self._validate_values(model, values, changed=values.keys(), record_id=None)
        for fd in model.autonumbers:
            values[fd.name] = format_autonumber(fd.format, self._next_number(model.name, fd.name), now)
        values.update(created_at=now, updated_at=now, created_by=actor, updated_by=actor, version=1)
        self._compute_formulas(model, values)
        return values

    def _created(self, model: ObjectModel, values: dict[str, Any]) -> dict[str, Any]:
        """Bookkeeping once a record exists: stage history, audit, event."""
        record_id = values["id"]
        record = model.dump(values)
        if model.has_pipeline and values.get("stage"):
            self._enter_stage(model.name, record_id, None, values["stage"], values["created_at"])
        self.session.audit("record.create", object=model.name, record_id=record_id, after=record)
        self.session.publish(RECORD_CREATED, object=model.name, record_id=record_id, record=record, values=values)
        return self.policy.present(model.name, record)

    def update(self, object_name: str, record_id: Any, data: Any) -> dict[str, Any]:
        model = self.object(object_name)
        return self.policy.present(model.name, self._update(model, record_id, data, None).record)

    def update_values(self, object_name: str, record_id: Any, data: Any,
                      current: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """:meth:`update` for automation that goes on working with the record (rule actions): answers
        its stored values as a read gives them (the row the update returned), unmasked, so that
        the caller need not read it back.

        ``current`` is the record as the caller read (and locked) it in this unit of work; it is
        not read again when the writer may read every record of the object. One that is no longer
        current fails the update's version check (a 409), so it never overwrites a newer change."""
        return dict(self._update(self.object(object_name), record_id, data, current).values)

    def _update(self, model: ObjectModel, record_id: Any, data: Any, current: Mapping[str, Any] | None) -> _Stored:
        scope = self.policy.require(model.name, "read")
        if current is None or scope != "all" or current["id"] != _record_id(record_id):
            current = self._row(model, record_id, scope)._mapping
        scope = self.policy.require(model.name, "update")
        if not self.policy.covers(self.session, scope, current["owner_id"]):
            raise PermissionDenied(f"you may not update {model.name} {current['id']}", reason="update_outside_scope",
                                   params={"object": model.name, "id": current["id"], "scope": scope})
        if isinstance(data, dict) and data.get("owner_id") is not None and data["owner_id"] != current["owner_id"]:
            self._check_owner(model, scope, data["owner_id"], "update")
        return self._update_row(model, current, data)

    def _guard(self, model: ObjectModel, record_id: int, action: str) -> None:
        for guard in self.session.platform.hooks.get(RECORD_GUARD_HOOK, ()):
            guard(self.session, model.name, record_id, action)

    def _update_row(self, model: ObjectModel, current_row: Mapping[str, Any], data: Any) -> _Stored:
        """Write a change to the record ``current_row`` holds; answers what is stored now. Events
        and the audit see the stored values too (a decimal as its column rounds it)."""
        self._guard(model, current_row["id"], "update")
        if not isinstance(data, dict):
            raise ValidationError("a record must be a JSON object", {"record": ["expected a JSON object"]},
                                  problems={"record": [problem("not_an_object")]})
        data = dict(data)
        expected_version = data.pop("version", None)
        current = dict(current_row)
        if expected_version is not None:
            if not isinstance(expected_version, int) or isinstance(expected_version, bool):
                raise ValidationError("version must be an integer", {"version": ["must be an integer"]},
                                      problems={"version": [problem("not_integer")]})
            if expected_version != current["version"]:
                raise Conflict(
                    f"{model.name} {current['id']} was changed by someone else (version {current['version']}, "
                    f"you sent {expected_version}); reload it and try again",
                    {"version": [f"current version is {current['version']}"]},
                    reason="stale_version",
                    params={"object": model.name, "id": current["id"], "current": current["version"],
                            "sent": expected_version},
                    problems={"version": [problem("current_version", version=current["version"])]},
                )
        changes = self._load(model, data, partial=True)
        merged = {**current, **changes}
        self._validate_values(model, merged, changed=changes.keys(), record_id=current["id"])
        self._compute_formulas(model, merged)
        changed = {k: v for k, v in merged.items() if k in model.table.c and current.get(k) != v}
        if not changed:
            return _Stored(current, model.dump(current))
        now = utcnow()
        changed.update(updated_at=now, updated_by=self.session.actor.user_id, version=current["version"] + 1)
        parameters = {**changed, "_id": current["id"], "_version": current["version"]}
        row = self._execute_unique(model, lambda: self.conn.execute(model.update_statement, parameters).first())
        if row is None:
            raise Conflict(f"{model.name} {current['id']} was changed concurrently; reload it and try again",
                           reason="changed_concurrently", params={"object": model.name, "id": current["id"]})
        merged = dict(row._mapping)
        record, previous = model.dump(merged), model.dump(current)
        diff_keys = [k for k in changed if k not in ("updated_at", "updated_by", "version")]
        self.session.audit(
            "record.update", object=model.name, record_id=current["id"],
            before={k: previous[k] for k in diff_keys}, after={k: record[k] for k in diff_keys},
        )
        self.session.publish(RECORD_UPDATED, object=model.name, record_id=current["id"], record=record, previous=previous,
                             values=merged, previous_values=current)
        if "stage" in changed:
            self._enter_stage(model.name, current["id"], current.get("stage"), changed["stage"], now)
            self.session.publish(
                STAGE_CHANGED, object=model.name, record_id=current["id"], record=record, previous=previous,
                extra={"from": current.get("stage"), "to": changed["stage"]}, values=merged, previous_values=current,
            )
        return _Stored(merged, record)

    def delete(self, object_name: str, record_id: Any) -> None:
        model = self.object(object_name)
        row = self._row(model, record_id, self.policy.require(model.name, "read"))
        scope = self.policy.require(model.name, "delete")
        if not self.policy.covers(self.session, scope, row.owner_id):
            raise PermissionDenied(f"you may not delete {model.name} {row.id}", reason="delete_outside_scope",
                                   params={"object": model.name, "id": row.id, "scope": scope})
        self._delete_row(model, row, set())

    def _delete_row(self, model: ObjectModel, row: Any, seen: set[tuple[str, int]]) -> None:
        self._guard(model, row.id, "delete")
        seen.add((model.name, row.id))
        self._apply_on_delete(model, row.id, seen)
        self.conn.execute(model.table.delete().where(model.table.c.id == row.id))
        self.session.inserted.discard(model.table.name, row.id)
        self.conn.execute(
            stage_history.delete().where(stage_history.c.object == model.name, stage_history.c.record_id == row.id)
        )
        forget_record(self.session, model.name, row.id)
        forget_activities(self.session, model.name, row.id)
        forget_attachments(self.session, model.name, row.id)
        record = model.dump(row)
        self.session.audit("record.delete", object=model.name, record_id=row.id, before=record)
        self.session.publish(RECORD_DELETED, object=model.name, record_id=row.id, previous=record,
                             previous_values=dict(row._mapping))

    # -- steps ---------------------------------------------------------------------------------

    def _load(self, model: ObjectModel, data: Any, partial: bool) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValidationError("a record must be a JSON object", {"record": ["expected a JSON object"]},
                                  problems={"record": [problem("not_an_object")]})
        policy = self.policy
        known = self._plain_keys.get(model.name)
        if known is None or known[0] is not model or known[1] is not policy:  # compiled again since
            known = self._plain_keys[model.name] = (
                model, policy, model.writable_keys - READ_ONLY_SYSTEM_FIELDS - policy.unwritable(model.name))
        if not data.keys() <= known[2]:
            self._refuse_keys(model, data)
        if "stage" in data and not model.has_pipeline:
            raise ValidationError(f"{model.name} has no pipeline", {"stage": [f"{model.name} has no pipeline"]},
                                  problems={"stage": [problem("no_pipeline", object=model.name)]})
        # The schema's own fields, driven directly: Schema.load's bookkeeping costs more than
        # the validation itself on this hot path, and every field-level message is kept.
        fast = model.fast_converters
        values: dict[str, Any] = {}
        slow = []
        for key, value in data.items():
            convert = fast.get(key)
            if convert is not None:
                converted = convert(value)
                if converted is not SLOW:
                    values[key] = converted
                    continue
            slow.append(key)
        if slow:
            self._load_slowly(model, data, slow, values)
        return values

    def _refuse_keys(self, model: ObjectModel, data: dict[str, Any]) -> None:
        """Raise for the keys of ``data`` this writer may not write (unknown keys are left to
        the field checks, which name them)."""
        denied = FieldErrors()
        unwritable = self.policy.unwritable(model.name)
        for key in data:
            if key in READ_ONLY_SYSTEM_FIELDS:
                denied.add(key, "system field; it cannot be written", "system_field")
            elif key in model.fields and model.fields[key].computed:
                ftype = model.fields[key].type
                denied.add(key, f"{ftype} field; it is computed and cannot be written", "computed_field", type=ftype)
            elif key in unwritable:
                denied.add(key, "you may not write this field", "not_writable")
        if denied:
            raise PermissionDenied(
                "read-only fields: " + ", ".join(f"{k} ({v[0]})" for k, v in denied.details.items()), denied.details,
                reason="read_only_fields", params={"fields": list(denied.details)}, problems=denied.problems,
            )

    def _load_slowly(self, model: ObjectModel, data: dict[str, Any], keys: list[str], values: dict[str, Any]) -> None:
        """The values the quick converters left, through the marshmallow fields: their messages."""
        fields = model.record_fields
        errors = FieldErrors()
        for key in keys:
            field = fields.get(key)
            if field is None:
                errors.add(key, "unknown field", "unknown_field")
                continue
            try:
                values[key] = field.deserialize(data[key])
            except MarshmallowError as exc:
                for message in flat_messages(exc.messages):
                    code, params = code_of(message)
                    errors.add(key, str(message), code, **params)
        if errors:
            raise _invalid(model, errors)

    def _check_owner(self, model: ObjectModel, scope: str, owner_id: Any, action: str) -> None:
        if isinstance(owner_id, int) and not isinstance(owner_id, bool) and not self.policy.covers(self.session, scope, owner_id):
            raise PermissionDenied(
                f"you may not {action} {model.name} records owned by user {owner_id}",
                {"owner_id": [f"outside your {scope} scope"]},
                reason="owner_outside_scope", params={"object": model.name, "owner": owner_id, "action": action},
                problems={"owner_id": [problem("outside_scope", scope=scope)]},
            )

    def _validate_values(
        self, model: ObjectModel, values: Mapping[str, Any], changed: Iterable[str], record_id: int | None
    ) -> None:
        if not isinstance(changed, (set, frozenset, _KEYS)):
            changed = set(changed)
        # The field rules below collect their errors only when one of them could fail: a write
        # that fills every required field of an object without dependent picklists or stages
        # (the usual one) skips them.
        required = model.required if any(_is_empty(values.get(name)) for name in model.required) else ()
        if required or model.dependent_picklists or (model.has_pipeline and "stage" in changed):
            errors = self._value_errors(model, values, changed, record_id, required)
            if errors:
                raise _invalid(model, errors)
        self._check_references(model, values, changed)
        if model.unique:
            self._check_unique(model, values, changed, record_id)

    def _value_errors(self, model: ObjectModel, values: Mapping[str, Any], changed: Collection[str],
                      record_id: int | None, required: Iterable[str]) -> FieldErrors:
        """Required fields left empty, dependent picklist choices and the stage's own rules."""
        errors = FieldErrors()
        for name in required:
            if (record_id is None or name in changed) and _is_empty(values.get(name)):
                errors.add(name, "required", "required")
        for fd in model.dependent_picklists:
            controlling_field = fd.depends_on["field"]
            controlling = values.get(controlling_field)
            value = values.get(fd.name)
            allowed = fd.depends_on["values"].get(controlling) if controlling is not None else None
            if value is not None and allowed is not None and value not in allowed:
                errors.add(fd.name, f"{value!r} is not allowed when {controlling_field} is {controlling!r}",
                           "dependent_choice", value=value, field=controlling_field, controlling=controlling)
        if model.has_pipeline and "stage" in changed:
            stage = values.get("stage")
            if stage is not None and stage not in model.stages:
                errors.add("stage", f"unknown stage {stage!r}; stages: {', '.join(model.stages)}", "unknown_stage",
                           stage=stage, stages=list(model.stages))
            elif stage is not None:
                missing = [f for f in model.stages[stage].get("required_fields", []) if _is_empty(values.get(f))]
                if missing:
                    errors.add("stage", f"stage {stage!r} requires: {', '.join(missing)}", "stage_requires",
                               stage=stage, fields=missing)
                    for name in missing:
                        errors.add(name, f"required to enter stage {stage!r}", "required_for_stage", stage=stage)
        return errors

    def _check_references(self, model: ObjectModel, values: Mapping[str, Any], changed: Collection[str]) -> None:
        checks: list[tuple[str, str, str | None, Any]] = []
        actor = self.session.actor.user_id
        for name, ftype, target in model.reference_checks:
            value = values.get(name)
            if name not in changed or value is None:
                continue
            if ftype == "user" and (value == actor or value in self.known_users):
                continue  # the acting user exists, and so do the ones the caller knows
            checks.append((name, ftype, target, value))
        if self._deferred_checks is not None:
            self._deferred_checks.append(_DeferredChecks(model, checks, ()))
            return
        inserted = self.session.inserted
        found = {(ftype, target, value) for _, ftype, target, value in checks
                 if inserted.among(self._target_table(ftype, target), (value,))
                 or self.conn.execute(USER_EXISTS if ftype == "user" else self.model.object(target).exists_statement,
                                      {"_id": value}).first() is not None}
        errors = _missing_references(checks, found)
        if errors:
            raise _invalid(model, errors)

    def _target_table(self, ftype: str, target: str | None) -> str:
        """The table a user or lookup reference points into."""
        return users.name if ftype == "user" else self.model.object(target).table.name

    def _settle_checks(self, first: int) -> None:
        """The checks :meth:`create_many` deferred (rows ``first`` onwards), with one query per
        target object, one for users and one per unique field instead of one per value; the first
        row that names a record or user that does not exist, or takes a unique value another
        record holds, fails as it would have one by one, keyed ``rows[i]``."""
        pending, self._deferred_checks = self._deferred_checks or [], []
        wanted: dict[tuple[str, str | None], set[Any]] = {}
        unique: dict[tuple[str, str], set[Any]] = {}
        for row in pending:
            for _, ftype, target, value in row.references:
                wanted.setdefault((ftype, target), set()).add(value)
            for name, value in row.unique:
                unique.setdefault((row.model.name, name), set()).add(value)
        found: set[tuple[str, str | None, Any]] = set()
        for (ftype, target), ids in wanted.items():
            known = self.session.inserted.among(self._target_table(ftype, target), ids)
            found.update((ftype, target, value) for value in known)
            query = USERS_AMONG if ftype == "user" else self.model.object(target).ids_among_statement
            for chunk in _chunks(list(ids - known)):
                found.update((ftype, target, value) for value in self.conn.execute(query, {"_ids": chunk}).scalars())
        taken: dict[tuple[str, str], dict[Any, Any]] = {}
        for (object_name, name), values in unique.items():
            query = self.model.object(object_name).unique_among_statements[name]
            held = taken[(object_name, name)] = {}
            for chunk in _chunks(list(values)):
                held.update(self.conn.execute(query, {"_values": chunk}).all())
        for index, row in enumerate(pending, first):
            errors = _missing_references(row.references, found)
            exc: CRMError | None = _invalid(row.model, errors) if errors else None
            for name, value in row.unique if exc is None else ():
                existing = taken[(row.model.name, name)].get(value)
                if existing is not None:
                    exc = _not_unique(row.model, name, value, existing)
                    break
            if exc is not None:
                raise exc.rekeyed(f"rows[{index}]: {exc.message}", f"rows[{index}].")

    def _check_unique(self, model: ObjectModel, values: Mapping[str, Any], changed: Collection[str],
                      record_id: int | None) -> None:
        if self._deferred_checks is not None and record_id is None:  # a bulk create: checked per batch
            self._deferred_checks[-1] = self._deferred_checks[-1]._replace(unique=tuple(
                (name, values[name]) for name in model.unique if name in changed and values.get(name) is not None))
            return
        for name in model.unique:
            value = values.get(name)
            if name not in changed or value is None:
                continue
            alone, others = model.unique_statements[name]
            if record_id is None:
                existing = self.conn.execute(alone, {"_value": value}).scalar()
            else:
                existing = self.conn.execute(others, {"_value": value, "_self": record_id}).scalar()
            if existing is not None:
                raise _not_unique(model, name, value, existing)

    def _execute_unique(self, model: ObjectModel, write: Callable[[], Any], batch: list[dict[str, Any]] | None = None,
                        first: int = 0) -> Any:
        """Run ``write`` (which reads its own result); a unique index that fires (a concurrent
        duplicate) becomes a clear 409, naming the row of ``batch`` that collided when it can be
        found. The result is read inside the guarding savepoint: SQLite refuses to release a
        savepoint while a RETURNING cursor is still open. SQLite undoes a single failed statement
        by itself and the transaction goes on, so a one-row write (no ``batch``) needs no savepoint
        there; a batch does, or the rows before the failing one would stay. Into a table this
        transaction created nobody else writes: the checks made before the write are the last word."""
        if not model.unique and not model.autonumbers or model.table.name in self.session.created_tables:
            return write()
        try:
            if batch is None and self.session.dialect == "sqlite":
                return write()
            with self.conn.begin_nested():
                return write()
        except IntegrityError:
            if batch is not None:
                self._name_collision(model, batch, first)
            raise Conflict(
                f"a {model.name} with the same unique value was saved at the same time; try again",
                {name: ["must be unique"] for name in model.unique},
                reason="unique_race", params={"object": model.name},
                problems={name: [problem("unique_race")] for name in model.unique},
            ) from None

    def _name_collision(self, model: ObjectModel, batch: list[dict[str, Any]], first: int) -> None:
        """Raise the :class:`Conflict` of the first row of a failed batch insert whose unique value
        another record now holds (the savepoint is rolled back: only committed records answer)."""
        for name in model.unique:
            wanted = {values[name] for values in batch if values.get(name) is not None}
            if not wanted:
                continue
            column = model.table.c[name]
            taken = dict(self.conn.execute(sa.select(column, model.table.c.id).where(column.in_(wanted))).all())
            for offset, values in enumerate(batch):
                value = values.get(name)
                if value in taken:
                    index = first + offset
                    raise Conflict(
                        f"rows[{index}]: {name} must be unique: {model.name} {taken[value]} already has {value!r}",
                        {f"rows[{index}].{name}": [f"already used by {model.name} {taken[value]}"]},
                        reason="not_unique",
                        params={"object": model.name, "field": name, "value": value, "id": taken[value]},
                        problems={f"rows[{index}].{name}": [problem("unique", object=model.name, id=taken[value],
                                                                     value=value)]},
                    )

    def _compute_formulas(self, model: ObjectModel, values: dict[str, Any]) -> None:
        for name, formula, limit in model.formula_limits:
            try:
                value = values[name] = formula.evaluate(values)
            except ExpressionError as exc:
                raise ValidationError(f"formula {name!r}: {exc.message}", {name: [exc.message]},
                                      problems={name: [problem("formula_failed", error=exc.message)]}) from None
            if not fits_limit(limit, value):
                message = f"the formula's result {values[name]} is out of the range a {formula.result_type} can store"
                raise ValidationError(f"formula {name!r}: {message}", {name: [message]},
                                      problems={name: [problem("formula_out_of_range", value=values[name],
                                                               type=formula.result_type)]})

    def _next_number(self, object_name: str, field_name: str) -> int:
        reserved = self._reserved_numbers.get((object_name, field_name))
        number = next(reserved, None) if reserved is not None else None
        if number is not None:
            return number
        return self.conn.execute(NEXT_NUMBER, {"_object": object_name, "_field": field_name, "_count": 1}).scalar_one()

    def _reserve_numbers(self, model: ObjectModel, count: int) -> None:
        """Take the next ``count`` numbers of each autonumber field of ``model`` in one update each
        (the counter row stays locked until the transaction ends, so they are ours alone)."""
        for fd in model.autonumbers:
            last = self.conn.execute(NEXT_NUMBER, {"_object": model.name, "_field": fd.name, "_count": count}).scalar_one()
            self._reserved_numbers[(model.name, fd.name)] = iter(range(last - count + 1, last + 1))

    def _enter_stage(self, object_name: str, record_id: int, from_stage: str | None, to_stage: str, now: datetime) -> None:
        if from_stage is not None:
            self.conn.execute(LEAVE_STAGE, {"_object": object_name, "_record": record_id, "left_at": now})
        self.conn.execute(stage_history.insert(), self._stage_row(object_name, record_id, from_stage, to_stage, now))

    def _stage_row(self, object_name: str, record_id: int, from_stage: str | None, to_stage: str,
                   now: datetime) -> dict[str, Any]:
        return {"object": object_name, "record_id": record_id, "from_stage": from_stage, "to_stage": to_stage,
                "entered_at": now, "user_id": self.session.actor.user_id}

    def _apply_on_delete(self, model: ObjectModel, record_id: int, seen: set[tuple[str, int]]) -> None:
        for other_name, field_name in self.model.referencing_lookups(model.name):
            other = self.model.object(other_name)
            fd = other.fields[field_name]
            column = other.table.c[field_name]
            ids = self.conn.execute(sa.select(other.table.c.id).where(column == record_id)).scalars().all()
            ids = [i for i in ids if (other_name, i) not in seen]
            if not ids:
                continue
            if fd.on_delete == "restrict":
                raise Conflict(
                    f"{model.name} {record_id} is referenced by {len(ids)} {other_name} record(s) "
                    f"through {other_name}.{field_name}; delete or re-point them first",
                    {"references": [f"{other_name} {i}" for i in ids[:20]]},
                    reason="still_referenced",
                    params={"object": model.name, "id": record_id, "count": len(ids), "other": other_name,
                            "field": field_name},
                )
            # Cascades follow the data model, not the reader's sharing, as in every CRM.
            for other_row in self.conn.execute(sa.select(other.table).where(other.table.c.id.in_(ids))).all():
                if fd.on_delete == "cascade":
                    self._delete_row(other, other_row, seen)
                else:
                    self._update_row(other, other_row._mapping, {field_name: None})


def _column_rows(batch: list[dict[str, Any]], columns: list[str]) -> list[list[Any]]:
    """Each record's values in the order of ``columns`` (None where a record has none)."""
    complete = itemgetter(*columns)  # every system column is there: never a single column
    rows = []
    for values in batch:
        try:
            rows.append(list(complete(values)) if len(values) == len(columns) else [values.get(c) for c in columns])
        except KeyError:  # as many keys as columns, not the same ones
            rows.append([values.get(c) for c in columns])
    return rows


def model_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _record_id(value: Any) -> int:
    try:
        record_id = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"record {value!r} does not exist", reason="no_such_record", params={"id": value}) from None
    if record_id < 1 or record_id > 2**63 - 1:
        raise NotFound(f"record {value!r} does not exist", reason="no_such_record", params={"id": value})
    return record_id


class _Stored(NamedTuple):
    """A record as an update left it: its stored values and their JSON form."""

    values: dict[str, Any]
    record: dict[str, Any]


class _DeferredChecks(NamedTuple):
    """What one row of a bulk create still has to pass: its references and its unique values
    (a tuple: a bulk create makes one per row)."""

    model: ObjectModel
    references: list[tuple[str, str, str | None, Any]]
    unique: tuple[tuple[str, Any], ...]


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _not_unique(model: ObjectModel, name: str, value: Any, existing: Any) -> Conflict:
    return Conflict(
        f"{name} must be unique: {model.name} {existing} already has {value!r}",
        {name: [f"already used by {model.name} {existing}"]},
        reason="not_unique", params={"object": model.name, "field": name, "value": value, "id": existing},
        problems={name: [problem("unique", object=model.name, id=existing, value=value)]},
    )


def _missing_references(checks: list[tuple[str, str, str | None, Any]],
                        found: set[tuple[str, str | None, Any]]) -> FieldErrors:
    errors = FieldErrors()
    for name, ftype, target, value in checks:
        if (ftype, target, value) in found:
            continue
        if ftype == "user":
            errors.add(name, f"user {value} does not exist", "user_not_found", id=value)
        else:
            errors.add(name, f"{target} record {value} does not exist", "lookup_not_found", object=target, id=value)
    return errors


def _invalid(model: ObjectModel, errors: FieldErrors) -> ValidationError:
    return ValidationError(_summary(model, errors.details), errors.details, reason="invalid_record",
                           params={"object": model.name}, problems=errors.problems)


def _summary(model: ObjectModel, errors: Mapping[str, list[str]]) -> str:
    parts = [f"{name}: {messages[0]}" for name, messages in errors.items()]
    more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
    return f"invalid {label_text(model.definition.label).lower() or model.name}: " + "; ".join(parts[:3]) + more


__all__ = ["RecordService", "format_autonumber", "WRITABLE_SYSTEM_FIELDS"]
