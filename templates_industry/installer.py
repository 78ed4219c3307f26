"""Applying a plan: every step in the caller's unit of work (one transaction, DDL included), so a
failure anywhere leaves the tenant exactly as it was. Objects go through the metadata designer,
roles through the core, rules and approval processes through the workflow engine and sample records
through the record service: each with its own checks, audit entries and events."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from crm_platform.core.bulk import bulk_insert
from crm_platform.core.errors import Conflict, CRMError, ValidationError
from crm_platform.core.permissions import access_policy
from crm_platform.core.roles import put_role
from crm_platform.core.session import TenantSession, utcnow
from crm_platform.core.users import create_users
from metadata import Designer, RecordService, load_model

from . import approvals
from .compose import checksum, same_document, sample_record, split_roles
from .pack import Pack
from .planner import ItemRecord, Op, Plan, Planner
from .registry import PackRegistry, pack_registry
from .state import TenantState
from .tables import installed_packs, pack_items


class Installer:
    """Carries out a plan's steps in order inside one tenant session."""

    def __init__(self, session: TenantSession, plan: Plan) -> None:
        self.session = session
        self.plan = plan
        self._designer: Designer | None = None
        self.state = TenantState.load_records(session)
        self.records: dict[tuple[str, str], int] = {}
        self.refs: dict[tuple[str, str, str], str] = {}
        self.now = datetime.now(timezone.utc)
        self._records: RecordService | None = None
        self._pending: tuple[Op, list[tuple[Any, dict[str, Any]]]] | None = None
        self._pending_keys: set[tuple[str, str]] = set()

    @property
    def designer(self) -> Designer:
        if self._designer is None:
            self._designer = Designer(self.session)
        return self._designer

    @property
    def record_service(self) -> RecordService:
        if self._records is None:
            self._records = RecordService(self.session)
        return self._records

    def apply(self) -> None:
        plan = self.plan
        if plan.conflicts:
            first = plan.conflicts[0]
            raise Conflict(
                f"the plan has {len(plan.conflicts)} conflict(s) with the tenant; first: "
                f"{first.kind} {first.key}: {first.detail}",
                {f"{c.pack}: {c.kind} {c.key}": [c.detail] for c in plan.conflicts},
            )
        with _old_objects_frozen():
            ops = plan.ops
            index = 0
            while index < len(ops):
                if ops[index].kind == "create_object":  # a run of new objects: one metadata change
                    end = index
                    while end < len(ops) and ops[end].kind == "create_object":
                        end += 1
                    self.designer.create_objects([op.args["document"] for op in ops[index:end]])
                    index = end
                    continue
                handler: Callable[[Op], None] = getattr(self, f"_{ops[index].kind}")
                handler(ops[index])
                index += 1
            self._write_items()
        self.session.audit("pack.install", object="pack", after={
            "pack": plan.target,
            "packs": [step.to_dict() for step in plan.packs],
            "with_sample_data": plan.with_sample_data,
            "summary": plan.summary(),
        })

    # -- metadata ------------------------------------------------------------------------------

    def _update_object(self, op: Op) -> None:
        self.designer.update_object(op.args["object"], op.args["patch"])

    def _add_field(self, op: Op) -> None:
        self.designer.add_field(op.args["object"], op.args["field"])

    def _update_field(self, op: Op) -> None:
        self.designer.update_field(op.args["object"], op.args["field"], op.args["patch"])

    def _put_layout(self, op: Op) -> None:
        self.designer.put_layout(op.args["object"], op.args["layout"], op.args["document"])

    def _put_pipeline(self, op: Op) -> None:
        self.designer.put_pipeline(op.args["object"], op.args["pipeline"])

    # -- security --------------------------------------------------------------------------------

    def _put_role(self, op: Op) -> None:
        model = load_model(self.session)
        known = {name: set(obj.fields) | {"owner_id", "stage"} for name, obj in model.objects.items()}
        put_role(self.session, op.args["document"], known)

    # -- workflow --------------------------------------------------------------------------------

    def _create_approval(self, op: Op) -> None:
        process_id, _ = approvals.create_process(self.session, op.args["document"])
        self.refs[(op.pack, "approval", op.args["key"])] = str(process_id) if process_id is not None else None

    def _update_approval(self, op: Op) -> None:
        approvals.update_process(self.session, op.args["id"], op.args["document"])

    def _create_rule(self, op: Op) -> None:
        from workflow_engine import insert_rule

        self.refs[(op.pack, "rule", op.args["key"])] = str(insert_rule(self.session, op.args["document"]))

    def _update_rule(self, op: Op) -> None:
        from workflow_engine import update_rule

        update_rule(self.session, op.args["id"], op.args["patch"])

    # -- reports ---------------------------------------------------------------------------------

    def _create_report(self, op: Op) -> None:
        from metadata.reports import create_report

        created = create_report(self.session, access_policy(self.session), op.args["document"])
        self.refs[(op.pack, "report", op.args["key"])] = str(created["id"])

    def _update_report(self, op: Op) -> None:
        from metadata.reports import update_report

        update_report(self.session, access_policy(self.session), op.args["id"], op.args["document"])

    def _create_dashboard(self, op: Op) -> None:
        from .dashboards import create_pack_dashboard

        created = create_pack_dashboard(self.session, op.args["document"], self.refs)
        self.refs[(op.pack, "dashboard", op.args["key"])] = str(created)

    def _update_dashboard(self, op: Op) -> None:
        from .dashboards import update_pack_dashboard

        update_pack_dashboard(self.session, op.args["id"], op.args["document"], self.refs)

    # -- sample data -----------------------------------------------------------------------------

    def _create_users(self, op: Op) -> None:
        """A sample file's users through ``create_users``: the same checks as one by one, in one
        insert; a manager named earlier in the file is passed by e-mail."""
        rows: list[Any] = []
        new: list[dict[str, Any]] = []
        earlier: set[str] = set()
        for row in op.args["rows"]:
            values = row.values
            manager = values.get("manager", "").strip().lower()
            fields = {"email": values["email"], "name": values.get("name", ""),
                      "roles": split_roles(values.get("roles")), "team": values.get("team") or None}
            if manager in earlier:
                fields["manager"] = manager
            elif manager:
                try:
                    fields["manager_id"] = self._user_id(manager)
                except LookupError as exc:
                    self._insert_users(op, rows, new)  # an earlier row's own problem comes first
                    raise _located(exc, op.args["file"], row.line) from None
            earlier.add(values["email"].strip().lower())
            rows.append(row)
            new.append(fields)
        self._insert_users(op, rows, new)

    def _insert_users(self, op: Op, rows: list[Any], new: list[dict[str, Any]]) -> None:
        try:
            created = create_users(self.session, new)
        except CRMError as exc:
            raise _batch_located(exc, op.args["file"], [row.line for row in rows]) from None
        for user in created:
            self.state.users[user["email"]] = user["id"]
            self.refs[(op.pack, "user", user["email"])] = str(user["id"])

    def _user_id(self, email: str) -> int:
        user_id = self.state.users.get(email.strip().lower())
        if user_id is None or user_id < 0:
            raise LookupError(f"no user {email!r}")
        return user_id

    def _record_id(self, object_name: str, key: str) -> int | None:
        """The id of a sample record by key; None when the tenant has deleted it since it was installed."""
        if (object_name, key) in self._pending_keys:  # a row earlier in the same batch: insert the batch first
            self._flush_records()
        record_id = self.records.get((object_name, key))
        if record_id is not None:
            return record_id
        record_id = self.state.record_id(object_name, key)
        if record_id is None:
            raise LookupError(f"no {object_name} record with key {key!r}")
        table = load_model(self.session).object(object_name).table
        if self.session.conn.execute(sa.select(table.c.id).where(table.c.id == record_id)).first() is None:
            return None
        return record_id

    def _create_records(self, op: Op) -> None:
        """A sample file's rows through ``RecordService.create_many`` (same checks, audit and events as
        one by one, in batched inserts); a row that refers to one still pending flushes the batch first."""
        object_name = op.args["object"]
        model = load_model(self.session).object(object_name)
        self._pending = (op, [])
        try:
            for row in op.args["rows"]:
                data, problems = sample_record(model, row, self._record_id, self._user_id, self.now)
                if problems:
                    column, message = next(iter(problems.items()))
                    raise ValidationError(f"{op.args['file']}: line {row.line}: {column}: {message}",
                                          {f"{op.args['file']}: line {row.line}: {k}": [v] for k, v in problems.items()})
                self._pending[1].append((row, data))
                self._pending_keys.add((object_name, row.values["key"]))
            self._flush_records()
        finally:
            self._pending = None
            self._pending_keys.clear()

    def _flush_records(self) -> None:
        if self._pending is None or not self._pending[1]:
            return
        op, batch = self._pending
        object_name = op.args["object"]
        self._pending = (op, [])
        self._pending_keys.clear()
        try:
            created = self.record_service.create_many(object_name, [data for _, data in batch])
        except CRMError as exc:
            raise _batch_located(exc, op.args["file"], [row.line for row, _ in batch]) from None
        for (row, _), record in zip(batch, created):
            key = row.values["key"]
            self.records[(object_name, key)] = record["id"]
            self.refs[(op.pack, "record", f"{object_name}:{key}")] = str(record["id"])

    # -- the record of what was installed ----------------------------------------------------------

    def _record_pack(self, op: Op) -> None:
        pack: Pack = op.args["pack"]
        now = utcnow()
        conn = self.session.conn
        existing = conn.execute(sa.select(installed_packs.c.sample_data).where(installed_packs.c.name == pack.name)).first()
        values = {"version": pack.version_text, "label": pack.label,
                  "dependencies": [str(r) for r in pack.dependencies], "updated_at": now}
        if existing is None:
            conn.execute(installed_packs.insert().values(name=pack.name, installed_at=now,
                                                         sample_data=op.args["sample_data"], **values))
        else:
            conn.execute(installed_packs.update().where(installed_packs.c.name == pack.name).values(
                sample_data=existing.sample_data or op.args["sample_data"], **values))

    def _write_items(self) -> None:
        plan = self.plan
        if not plan.items and not self.refs:
            return
        after = self._written_state()
        versions = {step.name: step.version for step in plan.packs}
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        forget: list[tuple[str, str, str]] = []
        now = utcnow()
        parts: dict[tuple[str, str], dict[Any, Any]] = {}
        for item in plan.items:
            key = (item.pack, item.kind, item.key)
            if item.forget:
                forget.append(key)
                continue
            ref = self.refs.get(key, item.ref)
            installed = item.installed
            if item.refresh:
                value = after.value(item.kind, item.key, ref, parts)
                if value is None:
                    installed = None
                elif item.planned is not None and same_document(value, item.planned):
                    installed = item.source  # the pack's part as it is, whose checksum that is
                else:
                    installed = checksum(value)
            rows[key] = _item_row(item, ref, installed, versions.get(item.pack, ""), now)
        for key, ref in self.refs.items():
            if key not in rows and key[1] in ("user", "record"):
                rows[key] = {"pack": key[0], "kind": key[1], "key": key[2], "ref": ref, "source_checksum": None,
                             "installed_checksum": None, "version": versions.get(key[0], ""), "updated_at": now}
        conn = self.session.conn
        # One delete per (pack, kind) of the entries being replaced or forgotten (a fresh install has
        # none); what packs had recorded was read when the installer started, and only it writes them.
        stale: dict[tuple[str, str], list[str]] = {}
        for pack, kind, key in [*forget, *rows]:
            if (pack, kind, key) in self.state.items:
                stale.setdefault((pack, kind), []).append(key)
        for (pack, kind), keys in stale.items():
            for start in range(0, len(keys), 500):
                conn.execute(pack_items.delete().where(pack_items.c.pack == pack, pack_items.c.kind == kind,
                                                       pack_items.c.key.in_(keys[start:start + 500])))
        if rows:  # ~500 rows on a first install: at the driver level, as audit rows are
            columns = [column.name for column in pack_items.columns]
            inserter = bulk_insert(conn, self.session.cache, pack_items, columns)
            inserter.insert(conn, [[row[name] for name in columns] for row in rows.values()])


    def _written_state(self) -> TenantState:
        """The tenant's documents of the keys this install wrote, for their installed checksums:
        only those read back, and the definitions as the Designer holds them."""
        plan = self.plan
        refreshed = [(item.kind, self.refs.get((item.pack, item.kind, item.key), item.ref))
                     for item in plan.items if item.refresh and not item.forget]
        ids: dict[str, list[int]] = {}
        for kind, ref in refreshed:
            if ref and kind in ("rule", "report", "dashboard"):
                ids.setdefault(kind, []).append(int(ref))
        after = TenantState.load_written(self.session, self.state, {kind for kind, _ in refreshed}, ids)
        # Reports written just now, so that dashboards read back name them by key.
        after.new_report_refs = {int(ref): key[2] for key, ref in
                                 [*(((i.pack, i.kind, i.key), i.ref) for i in plan.items), *self.refs.items()]
                                 if key[1] == "report" and ref}
        return after


def _item_row(item: ItemRecord, ref: str | None, installed: str | None, version: str, now: Any) -> dict[str, Any]:
    return {"pack": item.pack, "kind": item.kind, "key": item.key, "ref": ref, "source_checksum": item.source,
            "installed_checksum": installed, "version": version, "updated_at": now}


def _located(exc: Exception, file: str, line: int) -> CRMError:
    """The same error, saying which sample file and line caused it."""
    if isinstance(exc, CRMError):
        located = type(exc)(f"{file}: line {line}: {exc.message}", exc.details)
        return located
    return ValidationError(f"{file}: line {line}: {exc.args[0] if exc.args else exc}")


def _batch_located(exc: CRMError, file: str, lines: list[int]) -> CRMError:
    """An error of ``create_many`` (naming ``rows[i]``) saying which sample file and line caused it."""
    match = _ROW.match(exc.message)
    if match is None or int(match.group(1)) >= len(lines):
        return _located(exc, file, lines[0])
    index = int(match.group(1))
    prefix = f"rows[{index}]."
    details = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in exc.details.items()}
    return _located(type(exc)(exc.message[match.end():], details), file, lines[index])


_ROW = re.compile(r"rows\[(\d+)\]: ")


@contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Keep the garbage collector off the objects that existed before: an install allocates a great
    deal, and a full collection over a server's whole heap in the middle of it cost 10-300 ms
    (cycles among the new objects are still collected; the old ones rejoin the heap afterwards)."""
    if gc.get_freeze_count():  # already frozen by a caller: theirs to undo
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# -- the entry points ------------------------------------------------------------------------------


def plan_install(session: TenantSession, reference: str | Pack, registry: PackRegistry | None = None,
                 with_sample_data: bool = False) -> Plan:
    """The plan of installing a pack (by name, path or as read) into the session's tenant; writes nothing."""
    registry = registry or pack_registry(session.platform)
    pack = registry.open(reference) if isinstance(reference, str) else reference
    with _old_objects_frozen():
        return Planner(session, registry, with_sample_data).plan_for(pack)


def install(session: TenantSession, reference: str | Pack, registry: PackRegistry | None = None,
            with_sample_data: bool = False, dry_run: bool = False) -> Plan:
    """Plan, then (unless ``dry_run``) apply in the session's transaction: all or nothing."""
    plan = plan_install(session, reference, registry, with_sample_data)
    if not dry_run:
        Installer(session, plan).apply()
    return plan
