"""What a tenant has now: definitions, roles, rules, approval processes, users, and what packs installed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from crm_platform.core.database import copy_document
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import roles, users
from metadata import load_model
from metadata.dashboards import dashboards
from metadata.reports import reports
from workflow_engine.tables import rules

from . import approvals
from .compose import object_parts, role_parts
from .tables import installed_packs, pack_items


def _same(document: Any) -> Any:
    return document


@dataclass(frozen=True)
class ItemRow:
    pack: str
    kind: str
    key: str
    ref: str | None
    source_checksum: str | None
    installed_checksum: str | None
    version: str


@dataclass(frozen=True)
class RuleRow:
    id: int
    object: str
    name: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class ReportRow:
    id: int
    object: str
    name: str
    definition: dict[str, Any]
    shared: bool

    @property
    def document(self) -> dict[str, Any]:
        """The report as a pack declares it (compared with the pack's to see tenant edits)."""
        return {**self.definition, "shared": self.shared}


@dataclass(frozen=True)
class DashboardRow:
    id: int
    name: str
    definition: dict[str, Any]
    shared: bool



def _roles(session: TenantSession) -> dict[str, dict[str, Any]]:
    return {row.name: row.definition for row in session.conn.execute(sa.select(roles.c.name, roles.c.definition))}


def _rules(session: TenantSession, ids: list[int] | None = None) -> dict[int, RuleRow]:
    query = sa.select(rules.c.id, rules.c.object, rules.c.name, rules.c.definition).where(rules.c.deleted.is_(False))
    if ids is not None:
        query = query.where(rules.c.id.in_(ids))
    return {row.id: RuleRow(row.id, row.object, row.name, row.definition)
            for row in session.conn.execute(query.order_by(rules.c.id))}


def _reports(session: TenantSession, ids: list[int] | None = None) -> dict[int, ReportRow]:
    query = sa.select(reports.c.id, reports.c.object, reports.c.name, reports.c.definition, reports.c.shared)
    if ids is not None:
        query = query.where(reports.c.id.in_(ids))
    return {row.id: ReportRow(row.id, row.object, row.name, row.definition, bool(row.shared))
            for row in session.conn.execute(query.order_by(reports.c.id))}


def _dashboards(session: TenantSession, ids: list[int] | None = None) -> dict[int, DashboardRow]:
    query = sa.select(dashboards.c.id, dashboards.c.name, dashboards.c.definition, dashboards.c.shared)
    if ids is not None:
        query = query.where(dashboards.c.id.in_(ids))
    return {row.id: DashboardRow(row.id, row.name, row.definition, bool(row.shared))
            for row in session.conn.execute(query.order_by(dashboards.c.id))}


@dataclass
class TenantState:
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[int, RuleRow] = field(default_factory=dict)
    approvals: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    reports: dict[int, ReportRow] = field(default_factory=dict)
    dashboards: dict[int, DashboardRow] = field(default_factory=dict)
    #: Report ids of stable keys not yet in ``items`` (written by the install in progress).
    new_report_refs: dict[int, str] = field(default_factory=dict)
    items: dict[tuple[str, str, str], ItemRow] = field(default_factory=dict)
    installed: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    #: (kind, key) -> the packs that recorded it
    by_key: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: TenantSession, copied: bool = True) -> TenantState:
        """Everything. The planner changes its state as it plans (``copied``: its own copies of the
        definitions and roles); a state only read (``copied=False``) keeps the loaded documents."""
        own = copy_document if copied else _same
        state = cls.load_records(session)
        state.definitions = {name: own(obj.document) for name, obj in load_model(session).definitions.items()}
        state.roles = {name: own(document) for name, document in _roles(session).items()}
        state.rules = _rules(session)
        state.approvals = approvals.list_processes(session)
        state.reports = _reports(session)
        state.dashboards = _dashboards(session)
        state.installed = {row["name"]: dict(row) for row in session.conn.execute(sa.select(installed_packs)).mappings()}
        return state

    @classmethod
    def load_written(cls, session: TenantSession, records: TenantState, kinds: set[str],
                     ids: dict[str, list[int]]) -> TenantState:
        """The tenant's documents of stable keys an install just wrote, read as :meth:`load` reads
        them (so they give the same checksums) but no more: parts of ``kinds`` only, and rules,
        reports and dashboards only of ``ids`` (by kind). ``records``: what packs recorded."""
        state = cls(items=records.items, by_key=records.by_key, users=records.users)
        state.definitions = {name: obj.document for name, obj in load_model(session).definitions.items()}
        if kinds & {"role", "access", "field_access"}:
            state.roles = _roles(session)
        if "approval" in kinds:
            state.approvals = approvals.list_processes(session)
        if ids.get("rule"):
            state.rules = _rules(session, ids["rule"])
        if ids.get("report"):
            state.reports = _reports(session, ids["report"])
        if ids.get("dashboard"):
            state.dashboards = _dashboards(session, ids["dashboard"])
        return state

    @classmethod
    def load_records(cls, session: TenantSession) -> TenantState:
        """Only what packs recorded and the users: what applying a plan looks up (the planner has
        read the rest already)."""
        conn = session.conn
        state = cls()
        for row in conn.execute(sa.select(pack_items)):
            state.items[(row.pack, row.kind, row.key)] = ItemRow(
                row.pack, row.kind, row.key, row.ref, row.source_checksum, row.installed_checksum, row.version)
            state.by_key.setdefault((row.kind, row.key), []).append(row.pack)
        state.users = {row.email: row.id for row in conn.execute(sa.select(users.c.email, users.c.id))}
        return state

    def owner_of(self, kind: str, key: str, besides: str | None = None) -> str | None:
        """The pack that installed (kind, key), other than ``besides``."""
        for pack in self.by_key.get((kind, key), ()):
            if pack != besides:
                return pack
        return None

    def record_id(self, object_name: str, key: str) -> int | None:
        """The id of a sample record any pack installed under ``key``."""
        item_key = f"{object_name}:{key}"
        for pack in self.by_key.get(("record", item_key), ()):
            row = self.items[(pack, "record", item_key)]
            if row.ref:
                return int(row.ref)
        return None

    def rule_by_name(self, object_name: str, name: str) -> RuleRow | None:
        for rule in self.rules.values():
            if rule.object == object_name and rule.name == name:
                return rule
        return None

    def shared_report(self, object_name: str, name: str) -> ReportRow | None:
        for report in self.reports.values():
            if report.shared and report.object == object_name and report.name == name:
                return report
        return None

    def shared_dashboard(self, name: str) -> DashboardRow | None:
        for dashboard in self.dashboards.values():
            if dashboard.shared and dashboard.name == name:
                return dashboard
        return None

    def report_keys(self) -> dict[int, str]:
        """Report id -> the stable key a pack installed it under (how pack dashboards name reports)."""
        keys = {int(row.ref): key for (_, kind, key), row in self.items.items() if kind == "report" and row.ref}
        return {**keys, **self.new_report_refs}

    def _parts(self, group: str, key: str, cache: dict[tuple[str, str], dict[Any, Any]] | None) -> dict[Any, Any]:
        """The parts of the object or role a key belongs to ({} when it no longer exists)."""
        name = key.split(".", 1)[0]
        if cache is not None and (group, name) in cache:
            return cache[(group, name)]
        document = (self.definitions if group == "object" else self.roles).get(name)
        found = ((object_parts if group == "object" else role_parts)(document) if document else {})
        if cache is not None:
            cache[(group, name)] = found
        return found

    def value(self, kind: str, key: str, ref: str | None = None,
              parts: dict[tuple[str, str], dict[Any, Any]] | None = None) -> Any:
        """The tenant's current document for a stable key (None when it no longer exists).

        ``parts``: a cache of each object's and role's parts, for a caller that reads many keys
        of a state that no longer changes (otherwise every field would take its whole object apart).
        """
        if kind in ("object", "field", "layout", "pipeline"):
            return self._parts("object", key, parts).get((kind, key))
        if kind in ("role", "access", "field_access"):
            return self._parts("role", key, parts).get((kind, key))
        if kind == "rule":
            rule = self.rules.get(int(ref)) if ref else None
            return rule.definition if rule else None
        if kind == "report":
            report = self.reports.get(int(ref)) if ref else None
            return report.document if report else None
        if kind == "dashboard":
            from .dashboards import tenant_document

            dashboard = self.dashboards.get(int(ref)) if ref else None
            return tenant_document(dashboard, self.report_keys()) if dashboard else None
        if kind == "approval":
            found = self.approvals.get(key)
            return found[1] if found else None
        return None
