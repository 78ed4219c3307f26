"""The unit of work: one tenant, one actor, one transaction, events and audit entries flushed with it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import tables
from .bulk import bulk_insert
from .database import dumps
from .events import Event, EventBatch, EventQueue
from .inserted import InsertedRows

if TYPE_CHECKING:
    from .platform import Platform


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user of the tenant, or the system itself (CLI, installer, workflow)."""

    user_id: int | None
    email: str
    roles: tuple[str, ...] = ()
    team: str | None = None
    read_only: bool = False
    #: True for rules and approval outcomes acting on their own (not a person at a keyboard).
    automated: bool = False

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, email="system", roles=("admin",))


VERSIONS = sa.select(tables.meta_state.c.key, tables.meta_state.c.value)
BUMP = tables.meta_state.update().where(tables.meta_state.c.key == sa.bindparam("_key")).values(
    value=tables.meta_state.c.value + 1).returning(tables.meta_state.c.value)
SET_VERSION = tables.meta_state.update().where(tables.meta_state.c.key == sa.bindparam("_key"))

#: Hook name: callables ``(session)`` run inside the transaction just before it commits.
BEFORE_COMMIT_HOOK = "session.before_commit"
#: Audit entries are written in batches of this size inside the transaction (outside savepoints),
#: so a long unit of work does not hold every entry, for the cyclic GC to walk, until commit.
AUDIT_BATCH = 500
#: The audit table's columns in the order a queued entry holds them; before and after are JSON text.
AUDIT_COLUMNS = ("at", "user_id", "user_email", "action", "object", "record_id", "before", "after")
AuditRow = tuple[datetime, "int | None", str, str, "str | None", "int | None", "str | None", "str | None"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TenantSession:
    """A transaction in one tenant's namespace. Collects events and audit entries until commit."""

    platform: Platform
    tenant: str
    actor: Actor
    conn: Connection
    events: EventQueue = field(default_factory=EventQueue)
    #: Queued audit rows (see :data:`AUDIT_COLUMNS`), serialized when queued: what is audited is
    #: the state at that moment, and the flush hands them to the driver as they are.
    audit_entries: list[AuditRow] = field(default_factory=list)
    after_commit_callbacks: list[Callable[[], None]] = field(default_factory=list)
    #: Values cached for the life of this transaction (compiled metadata, lookups).
    cache: dict[str, Any] = field(default_factory=dict)
    #: Automation depth of the changes made here (see :attr:`Event.depth`).
    depth: int = 0
    #: How many audit entries were already written to this transaction (see :meth:`mark`).
    audit_flushed: int = 0
    #: Version counters whose row this transaction has locked, with their current value, and
    #: those of them moved since in memory only (see :meth:`bump`).
    held_versions: dict[str, int] = field(default_factory=dict)
    unwritten_versions: set[str] = field(default_factory=set)
    #: Rows this transaction inserted (records, users): a reference to one needs no query.
    inserted: InsertedRows = field(default_factory=InsertedRows)
    #: Tables this transaction created: no other transaction sees them, so nobody can write
    #: into them meanwhile (checks made here hold until the commit).
    created_tables: set[str] = field(default_factory=set)

    @property
    def schema(self) -> str | None:
        """The real schema name, for tools (alembic) that ignore ``schema_translate_map``."""
        return self.platform.db.tenant_schema(self.tenant)

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def publish(self, event_type: str, **fields: Any) -> None:
        self.events.append(
            Event(type=event_type, tenant=self.tenant, actor_id=self.actor.user_id, depth=self.depth, **fields)
        )

    def publish_batch(self, event_type: str, object: str, values: Sequence[dict[str, Any]],
                      describe: Callable[[dict[str, Any]], dict[str, Any]],
                      records: Sequence[dict[str, Any]] | None = None) -> None:
        """One event per record of a bulk write (``values`` carry the ids), built only when read:
        ``describe`` turns stored values into the JSON ``record``, unless ``records`` has them."""
        self.events.add_batch(EventBatch(event_type, self.tenant, object, self.actor.user_id, self.depth, values,
                                         describe, records))

    def audit(
        self,
        action: str,
        *,
        object: str | None = None,
        record_id: int | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        self.audit_entries.append((
            utcnow(), self.actor.user_id, self.actor.email, action, object, record_id,
            None if before is None else dumps(before), None if after is None else dumps(after),
        ))
        self._maybe_flush_audit()

    def audit_serialized(self, action: str, object: str, entries: Iterable[tuple[int, str]], at: datetime) -> None:
        """Audit entries of a bulk write, one per record: (record id, ``after`` already as JSON text)."""
        user_id, email = self.actor.user_id, self.actor.email
        self.audit_entries.extend([(at, user_id, email, action, object, record_id, None, after)
                                   for record_id, after in entries])
        self._maybe_flush_audit()

    def _maybe_flush_audit(self) -> None:
        if len(self.audit_entries) >= AUDIT_BATCH:
            self.write_queued_audit()

    def write_queued_audit(self) -> None:
        """Write the queued audit entries now, unless a savepoint is open: rolling it back would
        take earlier, kept entries with it (they are written at commit then)."""
        if not self.conn.in_nested_transaction():
            self.flush_audit()

    def version(self, key: str) -> int:
        """One of the tenant's version counters (metadata, security, workflow), read once per unit
        of work: every cache of compiled definitions is keyed by them."""
        versions = self.cache.get("versions")
        if versions is None:
            versions = {**dict(self.conn.execute(VERSIONS).all()), **self.held_versions}
            self.cache["versions"] = versions
        return versions[key]

    def bump(self, key: str) -> int:
        """Move a version counter: every process's caches keyed by it become stale.

        The first bump of a counter in a unit of work updates its row, outside any savepoint: the
        row stays locked (on SQLite the whole database) until the transaction ends, so nobody else
        can move it meanwhile, and later bumps only count on in memory; :meth:`write_versions`
        stores the last value before the commit. An install bumps ~40 times: 3 updates, not 40.
        A bump inside a savepoint updates the row (its lock would go with a rollback)."""
        if key in self.held_versions:
            value = self.held_versions[key] = self.held_versions[key] + 1
            self.unwritten_versions.add(key)
        else:
            value = self.conn.execute(BUMP, {"_key": key}).scalar_one()
            if not self.conn.in_nested_transaction():
                self.held_versions[key] = value
        versions = self.cache.get("versions")
        if versions is not None:  # a new dict: a copy of the cache taken before stays as it was
            self.cache["versions"] = {**versions, key: value}
        return value

    def write_versions(self) -> None:
        """Store the counters :meth:`bump` moved in memory (called before the commit)."""
        for key in sorted(self.unwritten_versions):
            self.conn.execute(SET_VERSION, {"_key": key, "value": self.held_versions[key]})
        self.unwritten_versions.clear()

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.after_commit_callbacks.append(callback)

    def flush_audit(self) -> None:
        if self.audit_entries:
            inserter = bulk_insert(self.conn, self.cache, tables.audit_log, AUDIT_COLUMNS, ("before", "after"))
            inserter.insert(self.conn, self.audit_entries)
            self.audit_flushed += len(self.audit_entries)
            self.audit_entries = []

    def mark(self) -> tuple[int, int, int]:
        """A point to come back to with :meth:`forget_since` when a savepoint opened with it is
        rolled back."""
        return self.events.position(), self.audit_flushed + len(self.audit_entries), self.inserted.position()

    def forget_since(self, mark: tuple[int, int, int]) -> None:
        """Drop the events, audit entries and inserted rows noted since ``mark``; call it together
        with rolling back the savepoint opened at ``mark`` (which takes the audit rows written
        since with it)."""
        events, audited, inserted = mark
        self.events.truncate(events)
        self.inserted.cut(inserted)
        keep = audited - self.audit_flushed
        if keep >= 0:
            del self.audit_entries[keep:]
        else:
            self.audit_entries = []
            self.audit_flushed = audited


@contextmanager
def tenant_session(
    platform: Platform, tenant: str, actor: Actor, write: bool = True, depth: int = 0
) -> Iterator[TenantSession]:
    """Open a unit of work; commit (then dispatch events) on success, roll back everything on error."""
    conn = platform.db.tenant_connection(tenant, write=write)
    try:
        transaction = conn.begin()
        session = TenantSession(platform=platform, tenant=tenant, actor=actor, conn=conn, depth=depth)
        try:
            yield session
            # Layers above may add work to the same transaction (the workflow engine logs rule
            # runs here, so a committed change always has its runs recorded).
            for hook in platform.hooks.get(BEFORE_COMMIT_HOOK, ()):
                hook(session)
            session.flush_audit()
            session.write_versions()
        except BaseException:
            transaction.rollback()
            raise
        transaction.commit()
    finally:
        conn.close()
    platform.events.dispatch(session.events)
    for callback in session.after_commit_callbacks:
        callback()
