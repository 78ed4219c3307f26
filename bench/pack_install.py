"""(f) Installing crm_core + education with sample data into a fresh tenant vs issuing the same
tables, indexes and inserts directly through SQLAlchemy Core.

Platform: one ``tenant_session`` + ``templates_industry.install("education", with_sample_data=True)``:
the packs read and checked (cached per process once read, like a server would), the plan against
the tenant, every object through the Designer (checks, DDL, definitions, audit), roles, approval
processes and rules through their own services, sample users, sample records through the record
service (validation, formulas, autonumbers, audit, events), and the pack's record of what it
installed; timed until the unit of work has committed and the rules the sample data triggered
(round-robin assignment, approvals, reminders...) have run after commit.
Raw: in another fresh tenant (same engine, same pragmas or PostgreSQL schema), the same CREATE TABLE
and CREATE INDEX statements (the platform's tables and indexes, reflected) and the same rows (read
back from the platform's tables, already converted) with Core executemany, in one transaction;
since 2026-12-02 also the rows the install adds to the platform's own tenant tables (audit entries,
object definitions, roles, users, rules, approval processes, rule runs, stage history, pack
records...): the installer must write them, so a floor without them is not the same work.

Goal: platform <= 2 x raw.

    .venv/bin/python bench/pack_install.py
    .venv/bin/python bench/pack_install.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import sqlalchemy as sa

import _common as c

GOAL = 2.0
PACK = "education"


def fresh_tenant(bench: c.Bench) -> str:
    from crm_platform.core.tenancy import create_tenant

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    create_tenant(bench.platform, slug)
    return slug


def drop_tenant(bench: c.Bench, slug: str) -> None:
    from crm_platform.core.tenancy import delete_tenant

    if not bench.keep:
        delete_tenant(bench.platform, slug)


def run_platform(bench: c.Bench, slug: str) -> tuple[float, Any]:
    from crm_platform.core.session import Actor, tenant_session
    from templates_industry import install

    started = time.perf_counter()
    with tenant_session(bench.platform, slug, Actor.system()) as session:
        plan = install(session, PACK, with_sample_data=True)
    return time.perf_counter() - started, plan


def platform_rows(bench: c.Bench, slug: str) -> dict[str, set[tuple[Any, ...]]]:
    """The primary keys of the rows in the platform's own tenant tables (audit, definitions, roles...)."""
    from crm_platform.core.session import Actor, tenant_session

    keys: dict[str, set[tuple[Any, ...]]] = {}
    with tenant_session(bench.platform, slug, Actor.system(), write=False) as session:
        for table_set in bench.platform.tenant_table_sets:
            for table in table_set.sorted_tables:
                pk = list(table.primary_key.columns)
                keys[table.name] = {tuple(r) for r in session.conn.execute(sa.select(*pk))} if pk else set()
    return keys


def capture(bench: c.Bench, slug: str, before: dict[str, set[tuple[Any, ...]]]
            ) -> tuple[sa.MetaData, dict[str, list[dict[str, Any]]], list[tuple[sa.Table, list[dict[str, Any]]]]]:
    """The object tables the platform created (columns and indexes, reflected) and their rows; and
    the rows the install added to the platform's own tables (those a fresh tenant did not have)."""
    from metadata import load_model

    from crm_platform.core.session import Actor, tenant_session

    metadata = sa.MetaData()
    rows: dict[str, list[dict[str, Any]]] = {}
    bookkeeping: list[tuple[sa.Table, list[dict[str, Any]]]] = []
    with tenant_session(bench.platform, slug, Actor.system(), write=False) as session:
        model = load_model(session)
        inspector = sa.inspect(session.conn)
        for name, obj in sorted(model.objects.items()):
            twin = c.twin_table(obj.table, obj.table.name, metadata)
            for index in inspector.get_indexes(obj.table.name, schema=session.schema):
                sa.Index(index["name"], *(twin.c[col] for col in index["column_names"]), unique=bool(index["unique"]))
            rows[twin.name] = [dict(r) for r in session.conn.execute(sa.select(obj.table).order_by(obj.table.c.id)).mappings()]
        for table_set in bench.platform.tenant_table_sets:
            for table in table_set.sorted_tables:
                pk = list(table.primary_key.columns)
                if not pk:
                    continue
                added = [dict(r) for r in session.conn.execute(sa.select(table).order_by(*pk)).mappings()
                         if tuple(r[col.name] for col in pk) not in before.get(table.name, set())]
                if added:
                    bookkeeping.append((table, added))
    return metadata, rows, bookkeeping


def run_raw(bench: c.Bench, slug: str, metadata: sa.MetaData, rows: dict[str, list[dict[str, Any]]],
            bookkeeping: list[tuple[sa.Table, list[dict[str, Any]]]]) -> float:
    conn = bench.platform.db.tenant_connection(slug, write=True)
    with conn:
        started = time.perf_counter()
        with conn.begin():
            metadata.create_all(conn, checkfirst=False)
            for table in metadata.sorted_tables:
                if rows[table.name]:
                    conn.execute(table.insert(), rows[table.name])
            for table, added in bookkeeping:
                conn.execute(table.insert(), added)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each side, medians kept (default 5)")
    c.common_arguments(parser)
    args = parser.parse_args()

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"(f) pack_install: crm_core + {PACK} with sample data into a fresh tenant, installer vs raw Core", bench)
        # A first install reads and checks the packs (then cached while their files do not change).
        slug = fresh_tenant(bench)
        before = platform_rows(bench, slug)
        cold, plan = run_platform(bench, slug)
        metadata, rows, bookkeeping = capture(bench, slug, before)
        drop_tenant(bench, slug)
        tables = len(metadata.tables)
        indexes = sum(len(t.indexes) for t in metadata.tables.values())
        records = sum(len(r) for r in rows.values())
        kept = sum(len(r) for _, r in bookkeeping)
        print(f"  plan: {len(plan.changes)} changes; {tables} tables, {indexes} indexes, {records} records "
              f"(after the rules ran), {kept} rows in {len(bookkeeping)} platform tables "
              f"({', '.join(t.name for t, _ in bookkeeping)}); first install {cold * 1000:.0f} ms (packs read and checked)",
              flush=True)

        platform_times: list[float] = []
        raw_times: list[float] = []
        for _ in range(args.runs):  # the two paths take turns, each into a fresh tenant
            slug = fresh_tenant(bench)
            elapsed, _ = run_platform(bench, slug)
            platform_times.append(elapsed)
            drop_tenant(bench, slug)
            slug = fresh_tenant(bench)
            raw_times.append(run_raw(bench, slug, metadata, rows, bookkeeping))
            drop_tenant(bench, slug)
        if args.profile:
            with c.maybe_profile(args.profile):
                slug = fresh_tenant(bench)
                run_platform(bench, slug)
            drop_tenant(bench, slug)

        platform_ms = statistics.median(platform_times) * 1000
        raw_ms = statistics.median(raw_times) * 1000
        ratio = platform_ms / raw_ms
        c.table([
            ["raw Core: CREATE TABLE/INDEX + executemany (records and bookkeeping rows), 1 txn", f"{raw_ms:.1f}", "1.00"],
            [f"installer: install({PACK!r}, with_sample_data=True)", f"{platform_ms:.1f}", f"{ratio:.1f}"],
        ], ["path", "median ms", "x raw"])
        print(f"  all runs (ms): raw {[round(t * 1000, 1) for t in raw_times]}, "
              f"installer {[round(t * 1000, 1) for t in platform_times]}")
        ok = ratio <= GOAL
        print(f"RESULT pack_install dialect={bench.dialect} tables={tables} records={records} "
              f"installer_ms={platform_ms:.1f} raw_ms={raw_ms:.1f} ratio={ratio:.2f} goal<={GOAL} {c.verdict(ok)}")


if __name__ == "__main__":
    main()
