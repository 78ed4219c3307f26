"""(d) Adding a nullable field to a big object table through the Designer vs raw ALTER TABLE ADD COLUMN.

The object table (created through the Designer) is loaded with Core executemany; the raw twin (same
columns and types, no metadata behind it) is filled with INSERT ... SELECT from it. Then, for each
of a few nullable field types, the same column is added
- through ``Designer(session).add_field`` in its own unit of work (what POST /objects/deal/fields
  does): timed for the add_field call alone and for the whole unit of work including the commit;
- through a raw ``ALTER TABLE ... ADD COLUMN`` in its own transaction on the twin.
No table rewrite is checked: PostgreSQL's ``pg_class.relfilenode`` is unchanged before/after; on
SQLite the table's root page and the database's page count are unchanged.
Goal: under 100 ms through the Designer, and no rewrite.

    .venv/bin/python bench/add_field.py                       # SQLite, 100,000 rows
    .venv/bin/python bench/add_field.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench   # 1,000,000 rows
"""

from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa

import _common as c

GOAL_MS = 100.0
FIELDS = [
    ({"name": "note", "type": "text", "label": "Note"}, "VARCHAR(255)"),
    ({"name": "seats", "type": "integer"}, "BIGINT"),
    ({"name": "renewal", "type": "date"}, "DATE"),
    ({"name": "tier", "type": "picklist", "options": [{"value": "gold"}, {"value": "silver"}]}, "VARCHAR(100)"),
    ({"name": "discount", "type": "currency"}, "NUMERIC(18, 2)"),
]


def storage_identity(conn: sa.Connection, dialect: str, schema: str | None, table: str) -> tuple:
    """What changes if the table is rewritten (read outside any other transaction)."""
    try:
        return _storage_identity(conn, dialect, schema, table)
    finally:
        conn.rollback()


def _storage_identity(conn: sa.Connection, dialect: str, schema: str | None, table: str) -> tuple:
    if dialect == "postgresql":
        return tuple(conn.execute(
            sa.text("SELECT c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relname = :table"),
            {"schema": schema, "table": table},
        ).one())
    rootpage = conn.exec_driver_sql("SELECT rootpage FROM sqlite_master WHERE type='table' AND name=?", (table,)).scalar_one()
    pages = conn.exec_driver_sql("SELECT count(*) FROM dbstat WHERE name=?", (table,)).scalar_one()
    return (rootpage, pages)


def wal_reset(conn: sa.Connection, dialect: str) -> None:
    """SQLite: empty the WAL so that its frame count afterwards is the number of pages written."""
    if dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
        conn.rollback()


def pages_written(conn: sa.Connection, dialect: str) -> int | None:
    if dialect != "sqlite":
        return None
    frames = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1]
    conn.rollback()
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, help="rows (default 100000 on SQLite, 1000000 on PostgreSQL)")
    c.common_arguments(parser)
    args = parser.parse_args()

    from metadata import Designer

    with c.Bench(args.database_url, args.keep) as bench:
        rows = args.rows or (100_000 if bench.dialect == "sqlite" else 1_000_000)
        c.header(f"(d) add_field: adding a nullable field to a {rows:,}-row object table", bench)
        model = bench.create_object(c.object_document(indexed=True))
        raw = c.twin_table(model.table, "raw_deal")
        schema = bench.schema
        quoted = (lambda name: f'"{schema}"."{name}"') if schema else (lambda name: f'"{name}"')
        with bench.connect() as conn:
            with conn.begin():
                raw.create(conn)
            print(f"  loading {rows:,} rows with Core executemany ...", flush=True)
            load_s = c.bulk_load(conn, model.table, rows, bench.admin_id)
            with conn.begin():
                columns = ", ".join(col.name for col in raw.columns)
                conn.exec_driver_sql(f"INSERT INTO {quoted(raw.name)} ({columns}) SELECT {columns} FROM {quoted(model.table.name)}")
        c.settle(bench)
        print(f"  load {load_s:.1f} s ({rows / load_s:,.0f} rows/s); raw twin filled by INSERT ... SELECT")

        results = []
        # Warm-up: the first Designer change compiles the jsonschema validators, alembic's context...
        with bench.session() as session:
            Designer(session).update_object(c.OBJECT_NAME, {"label": {"en": "Deal", "zh": "商机"}})
        for field, sql_type in FIELDS:
            with bench.connect() as conn:
                before = storage_identity(conn, bench.dialect, schema, model.table.name)
                wal_reset(conn, bench.dialect)
            started = time.perf_counter()
            with bench.session() as session:
                inner = time.perf_counter()
                Designer(session).add_field(c.OBJECT_NAME, field)
                inner_ms = (time.perf_counter() - inner) * 1000
            unit_ms = (time.perf_counter() - started) * 1000
            with bench.connect() as conn:
                written = pages_written(conn, bench.dialect)
                after = storage_identity(conn, bench.dialect, schema, model.table.name)
                raw_before = storage_identity(conn, bench.dialect, schema, raw.name)
                wal_reset(conn, bench.dialect)
                started = time.perf_counter()
                with conn.begin():
                    conn.exec_driver_sql(f'ALTER TABLE {quoted(raw.name)} ADD COLUMN "{field["name"]}" {sql_type}')
                raw_ms = (time.perf_counter() - started) * 1000
                raw_written = pages_written(conn, bench.dialect)
                raw_after = storage_identity(conn, bench.dialect, schema, raw.name)
            same = before == after and (written is None or written < max(50, after[1] // 20))
            raw_same = raw_before == raw_after and (raw_written is None or raw_written < max(50, raw_after[1] // 20))
            results.append((field, inner_ms, unit_ms, raw_ms, same, raw_same, before, after, written, raw_written))

        sqlite = bench.dialect == "sqlite"
        c.table(
            [[f"{f['name']} ({f['type']})", f"{inner:.1f}", f"{unit:.1f}", f"{raw_ms:.1f}", f"{raw_ms / unit:.3f}",
              "no" if same else f"YES {b}->{a}", "no" if raw_same else "YES",
              *([str(w), str(rw)] if sqlite else [])]
             for f, inner, unit, raw_ms, same, raw_same, b, a, w, rw in results],
            ["field", "add_field ms", "unit of work ms", "raw ALTER ms", "speed vs raw", "rewrite (ours)", "rewrite (raw)",
             *(["pages written (ours)", "pages written (raw)"] if sqlite else [])],
        )
        identity = "relfilenode" if not sqlite else "(rootpage, table pages)"
        print(f"  {identity} of {model.table.name}: {results[0][6]} before the first, {results[-1][7]} after the last"
              + ("; pages written = WAL frames appended by the change" if sqlite else ""))
        unit_median = statistics.median(r[2] for r in results)
        raw_median = statistics.median(r[3] for r in results)
        no_rewrite = all(r[4] for r in results)
        ok = unit_median < GOAL_MS and max(r[2] for r in results) < GOAL_MS and no_rewrite
        print(f"RESULT add_field dialect={bench.dialect} rows={rows} unit_ms_median={unit_median:.1f} "
              f"unit_ms_max={max(r[2] for r in results):.1f} raw_ms_median={raw_median:.1f} "
              f"speed_ratio={raw_median / unit_median:.3f} no_rewrite={no_rewrite} goal<{GOAL_MS:.0f}ms {c.verdict(ok)}")

        if args.profile:
            print("\n-- cProfile of 5 more add_field units of work (untimed) --")
            with c.maybe_profile(args.profile):
                for i in range(5):
                    with bench.session() as session:
                        Designer(session).add_field(c.OBJECT_NAME, {"name": f"extra_{i}", "type": "text"})


if __name__ == "__main__":
    main()
