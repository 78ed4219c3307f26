"""What the rule runs carried out in one unit of work share, so that each thing is read once.

Rule actions change records, tags, approvals and messages, never users, rules or approval
processes: what a batch of runs reads of those holds for the whole batch, so it is read once and
kept for the batch only (a new batch reads again). Records do change: :class:`RecordView` reads
the batch's records in one query per object and follows the unit of work's record events, so a
run sees what the runs before it wrote. A round-robin position moves in memory and is written
once per (rule, pool) when the batch is done (:meth:`RunBatch.finish`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crm_platform.core.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED, STAGE_CHANGED
from crm_platform.core.tables import users
from metadata import load_model

from .approval_definitions import find_process, version_definition
from .rules import compiled_version, compiled_versions
from .tables import assignment_state

if TYPE_CHECKING:
    from crm_platform.core.session import TenantSession
    from metadata.model import ObjectModel

    from .definitions import CompiledRule

#: The events that change a record a view holds.
RECORD_CHANGES = frozenset({RECORD_CREATED, RECORD_UPDATED, RECORD_DELETED, STAGE_CHANGED})
#: Most ids in one ``IN`` list.
CHUNK = 500
MOVE_CURSOR = assignment_state.update().where(
    assignment_state.c.rule_id == sa.bindparam("_rule"), assignment_state.c.pool == sa.bindparam("_pool"))


class RecordView:
    """Records as they are now in this unit of work, each read once, and on PostgreSQL locked
    (so that concurrent runs on a record happen one after another).

    An update event carries the record's stored values (the row the update returned), which
    replace the view's copy; a deletion leaves None; any other change (a write that did not say
    what it stored, a new record reusing an id) drops the copy, to be read again when asked for.
    """

    def __init__(self, session: TenantSession) -> None:
        self.session = session
        self._rows: dict[tuple[str, int], dict[str, Any] | None] = {}
        self._seen = session.events.position()

    def prefetch(self, obj: ObjectModel, ids: Iterable[int]) -> None:
        """Read these records of ``obj`` in one query (per :data:`CHUNK`), unless already held."""
        self._follow()
        wanted = [i for i in dict.fromkeys(ids) if (obj.name, i) not in self._rows]
        for start in range(0, len(wanted), CHUNK):
            self._read(obj, wanted[start:start + CHUNK])

    def get(self, obj: ObjectModel, record_id: int) -> dict[str, Any] | None:
        """A copy of the record's stored values (None: it does not exist)."""
        self._follow()
        key = (obj.name, record_id)
        if key not in self._rows:
            self._read(obj, [record_id])
        row = self._rows[key]
        return dict(row) if row is not None else None

    def _read(self, obj: ObjectModel, ids: list[int]) -> None:
        table = obj.table
        query = sa.select(table).where(table.c.id == ids[0] if len(ids) == 1 else table.c.id.in_(ids))
        if self.session.dialect == "postgresql":
            query = query.with_for_update()
        found = {row.id: dict(row._mapping) for row in self.session.conn.execute(query)}
        for record_id in ids:
            self._rows[(obj.name, record_id)] = found.get(record_id)

    def _follow(self) -> None:
        """Bring the held records up to date with the events queued since last time."""
        events = self.session.events
        position = events.position()
        if position < self._seen:  # a savepoint was rolled back: what it undid is unknown here
            self._rows.clear()
        elif position > self._seen and self._rows:
            objects = {name for name, _ in self._rows}
            for event in events.select(RECORD_CHANGES, objects, since=self._seen):
                key = (event.object, event.record_id)
                if key not in self._rows:
                    continue
                if event.type == RECORD_DELETED:
                    self._rows[key] = None
                elif event.type != RECORD_CREATED and event.values is not None:
                    self._rows[key] = event.values
                else:
                    del self._rows[key]
        self._seen = position


class RunBatch:
    """The reads the runs of one unit of work share, and the round-robin positions they move."""

    def __init__(self, session: TenantSession) -> None:
        self.session = session
        self.records = RecordView(session)
        self._rules: dict[tuple[int, int], CompiledRule] = {}
        #: Users read in this batch: a reference to one of them needs no existence check.
        self.known_users: set[int] = set()
        self._pools: dict[tuple[str | None, tuple[str, ...] | None], list[Any]] = {}
        self._users: dict[int, Any] = {}
        self._active: list[Any] | None = None
        self._processes: dict[tuple[str, str], Any] = {}
        self._definitions: dict[tuple[int, int], dict[str, Any]] = {}
        #: Per rule: the round-robin position of each pool as stored, and as moved since.
        self._stored_cursors: dict[int, dict[str, int]] = {}
        self._cursors: dict[tuple[int, str], int] = {}

    def prepare(self, runs: Iterable[Any]) -> None:
        """Read what these runs (``sys_rule_runs`` rows) will need together: the rule versions
        they started with in one query, their records in one query per object."""
        queued = [run for run in runs if run is not None and run.status == "queued"]
        objects = load_model(self.session).objects
        wanted: dict[str, list[int]] = {}
        for run in queued:
            if run.event_type != RECORD_DELETED and run.object in objects:
                wanted.setdefault(run.object, []).append(run.record_id)
        for name, ids in wanted.items():
            self.records.prefetch(objects[name], ids)
        self._rules.update(compiled_versions(self.session, [(run.rule_id, run.rule_version) for run in queued]))

    def rule(self, rule_id: int, version: int) -> CompiledRule:
        """A version of a rule, compiled."""
        rule = self._rules.get((rule_id, version))
        return rule if rule is not None else compiled_version(self.session, rule_id, version)

    def pool(self, team: str | None = None, emails: list[str] | None = None) -> list[Any]:
        """The active users of a team and/or among some e-mail addresses, by id (taken from
        :meth:`active_users`: one read serves every pool of the batch)."""
        key = (team, tuple(e.lower() for e in emails) if emails is not None else None)
        if key not in self._pools:
            among = frozenset(key[1]) if key[1] is not None else None
            self._pools[key] = [user for user in self.active_users()
                                if (team is None or user.team == team) and (among is None or user.email in among)]
        return self._pools[key]

    def user(self, user_id: Any) -> Any:
        """The user with this id (a full row), or None."""
        if user_id is None:
            return None
        if user_id not in self._users:
            self._users[user_id] = self.session.conn.execute(sa.select(users).where(users.c.id == user_id)).first()
            if self._users[user_id] is not None:
                self.known_users.add(user_id)
        return self._users[user_id]

    def active_users(self) -> list[Any]:
        """Every active user (full rows), by id: read once per batch that assigns or resolves
        approvers by role (a tenant's users are hundreds, not millions)."""
        if self._active is None:
            self._active = self.session.conn.execute(
                sa.select(users).where(users.c.active.is_(True)).order_by(users.c.id)).all()
            self._users.update((user.id, user) for user in self._active)
            self.known_users.update(self._users)
        return self._active

    def process(self, object_name: str, name: str) -> Any:
        """The live approval process of that name on that object, or None."""
        key = (object_name, name)
        if key not in self._processes:
            self._processes[key] = find_process(self.session, object_name, name)
        return self._processes[key]

    def process_definition(self, process_id: int, version: int) -> dict[str, Any]:
        """A version of an approval process's definition."""
        key = (process_id, version)
        if key not in self._definitions:
            self._definitions[key] = version_definition(self.session, process_id, version)
        return self._definitions[key]

    def cursor(self, rule_id: int, pool: str) -> int | None:
        """The last user a rule's round robin over ``pool`` assigned (None: it never did)."""
        if (rule_id, pool) in self._cursors:
            return self._cursors[(rule_id, pool)]
        return self._stored(rule_id).get(pool)

    def move_cursor(self, rule_id: int, pool: str, user_id: int) -> None:
        self._stored(rule_id)
        self._cursors[(rule_id, pool)] = user_id

    def _stored(self, rule_id: int) -> dict[str, int]:
        if rule_id not in self._stored_cursors:
            self._stored_cursors[rule_id] = dict(self.session.conn.execute(
                sa.select(assignment_state.c.pool, assignment_state.c.last_user_id)
                .where(assignment_state.c.rule_id == rule_id)).all())
        return self._stored_cursors[rule_id]

    def finish(self) -> None:
        """Write the round-robin positions the batch moved: one insert and one update at most."""
        added, moved = [], []
        for (rule_id, pool), user_id in self._cursors.items():
            stored = self._stored_cursors[rule_id]
            if pool not in stored:
                added.append({"rule_id": rule_id, "pool": pool, "last_user_id": user_id})
            elif stored[pool] != user_id:
                moved.append({"_rule": rule_id, "_pool": pool, "last_user_id": user_id})
            stored[pool] = user_id
        self._cursors.clear()
        if added:
            self.session.conn.execute(assignment_state.insert(), added)
        if moved:
            self.session.conn.execute(MOVE_CURSOR, moved)
