"""Helpers for the template-pack tests: installing into a test tenant, and a snapshot of everything
an install may touch (definitions, tables and their columns, roles, rules, processes, users, pack records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from templates_industry import Installer, PackRegistry, plan_install

FIXTURES = Path(__file__).parent / "fixtures"
PACKS = ("crm_core", "education", "finance", "retail")
INDUSTRY_PACKS = ("education", "finance", "retail")


def install(handle: Any, reference: str, sample: bool = False, dry_run: bool = False, registry: Any = None) -> Any:
    """Plan, then apply unless ``dry_run``, in one unit of work of the tenant's admin; answers the plan."""
    registry = registry or PackRegistry()
    with handle.session() as session:
        plan = plan_install(session, reference, registry, with_sample_data=sample)
        if not dry_run:
            Installer(session, plan).apply()
    return plan


def snapshot(handle: Any) -> dict[str, Any]:
    """Everything an install can change in a tenant, in comparable form."""
    from crm_platform.core.tables import meta_state, roles, users
    from metadata.dashboards import dashboards
    from metadata.tables import autonumber_counters, object_definitions, record_tags, stage_history
    from templates_industry.tables import installed_packs, pack_items
    from workflow_engine.tables import approval_processes, approval_requests, rule_runs, rules, scheduled_jobs

    with handle.session(write=False) as session:
        conn = session.conn
        inspector = sa.inspect(conn)
        schema = session.schema
        tables = sorted(inspector.get_table_names(schema=schema))
        shot: dict[str, Any] = {"tables": tables}
        shot["columns"] = {t: sorted(c["name"] for c in inspector.get_columns(t, schema=schema))
                           for t in tables if t.startswith("obj_")}
        shot["indexes"] = {t: sorted(i["name"] for i in inspector.get_indexes(t, schema=schema))
                           for t in tables if t.startswith("obj_")}
        shot["rows"] = {t: conn.execute(sa.select(sa.func.count()).select_from(sa.Table(t, sa.MetaData()))).scalar_one()
                        for t in tables if t.startswith("obj_")}

        def rows(table: sa.Table, *order: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in conn.execute(sa.select(table).order_by(*order)).mappings()]

        shot["definitions"] = {r["name"]: r["definition"] for r in rows(object_definitions, object_definitions.c.name)}
        shot["roles"] = {r["name"]: r["definition"] for r in rows(roles, roles.c.name)}
        shot["rules"] = [(r["name"], r["definition"], r["deleted"]) for r in rows(rules, rules.c.id)]
        shot["approval_processes"] = [(r["name"], r["definition"]) for r in rows(approval_processes, approval_processes.c.id)]
        shot["approval_requests"] = len(rows(approval_requests, approval_requests.c.id))
        shot["users"] = sorted(r["email"] for r in rows(users, users.c.id))
        shot["meta_state"] = {r["key"]: r["value"] for r in rows(meta_state, meta_state.c.key)}
        shot["dashboards"] = [(r["name"], r["definition"], r["shared"]) for r in rows(dashboards, dashboards.c.id)]
        shot["installed_packs"] = rows(installed_packs, installed_packs.c.name)
        shot["pack_items"] = len(rows(pack_items, pack_items.c.pack, pack_items.c.kind, pack_items.c.key))
        shot["counters"] = rows(autonumber_counters, autonumber_counters.c.object, autonumber_counters.c.field)
        shot["stage_history"] = len(rows(stage_history, stage_history.c.id))
        shot["tags"] = len(rows(record_tags, record_tags.c.object))
        shot["rule_runs"] = len(rows(rule_runs, rule_runs.c.id))
        shot["scheduled_jobs"] = len(rows(scheduled_jobs, scheduled_jobs.c.id))
    return shot


def records(handle: Any, object_name: str, **filters: Any) -> list[dict[str, Any]]:
    from metadata import RecordService

    with handle.session(write=False) as session:
        service = RecordService(session)
        arguments = {"per_page": ["500"], "sort": ["id"], **{k: [str(v)] for k, v in filters.items()}}
        query = service.parse_list(object_name, arguments)
        return service.list(object_name, query)[0]


def key_id(handle: Any, object_name: str, key: str) -> int:
    """The id of the sample record a pack installed under ``key``."""
    from templates_industry.tables import pack_items

    with handle.session(write=False) as session:
        ref = session.conn.execute(sa.select(pack_items.c.ref).where(
            pack_items.c.kind == "record", pack_items.c.key == f"{object_name}:{key}")).scalar_one()
    return int(ref)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
