"""(c) A filtered, sorted, paginated list: record service and REST API vs the raw Core query.

The object is created through the Designer (a real object table), loaded with Core executemany,
then ``amount`` and ``region`` are made ``indexed: true`` through ``Designer.update_field`` as an
admin would, and the table is ANALYZEd. The query is

    region = 'east' AND amount > 50000, sort -amount, page 3, per_page 50   (+ the total count)

measured as
- service: tenant_session + metadata.parse_list_arguments + RecordService.list (dicts out);
- REST:    GET /api/v1/records/deal?region=east&amount__gt=50000&sort=-amount&page=3&per_page=50
           through the Flask test client (JSON out);
- raw:     SQLAlchemy Core select(...).where(...).order_by(amount DESC, id DESC).limit/offset + a
           select count(*), in one transaction on a connection from the same engine;
- raw, same SQL: the raw query with exactly the ORDER BY our query layer emits
           (amount DESC NULLS FIRST, id DESC), to separate SQL shape from Python overhead.
Median of ``--runs`` runs after warm-up, the paths taking turns (so a noisy moment hits all). Goal: ours >= 0.5 x raw speed (time <= 2 x raw).

    .venv/bin/python bench/list_query.py                      # SQLite, 100,000 rows
    .venv/bin/python bench/list_query.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench   # 1,000,000 rows
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from urllib.parse import urlencode

import sqlalchemy as sa

import _common as c

GOAL = 0.5
THRESHOLD = 50000
PAGE, PER_PAGE = 3, 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, help="rows to load (default 100000 on SQLite, 1000000 on PostgreSQL)")
    parser.add_argument("--runs", type=int, default=25, help="measured runs per path (median reported; default 25)")
    c.common_arguments(parser)
    args = parser.parse_args()

    from metadata import Designer, RecordService, parse_list_arguments

    with c.Bench(args.database_url, args.keep) as bench:
        rows = args.rows or (100_000 if bench.dialect == "sqlite" else 1_000_000)
        c.header(f"(c) list_query: filtered + sorted + paginated list on {rows:,} rows", bench)
        model = bench.create_object(c.object_document(indexed=False))
        print(f"  loading {rows:,} rows with Core executemany ...", flush=True)
        with bench.connect() as conn:
            load_s = c.bulk_load(conn, model.table, rows, bench.admin_id)
        index_times = {}
        for name in ("amount", "region"):
            started = time.perf_counter()
            with bench.session() as session:
                Designer(session).update_field(c.OBJECT_NAME, name, {"indexed": True})
            index_times[name] = time.perf_counter() - started
        c.settle(bench)
        print(f"  load {load_s:.1f} s ({rows / load_s:,.0f} rows/s); Designer.update_field indexed=true: "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in index_times.items()))
        model = bench.model()
        table = model.table

        arguments = {"region": ["east"], "amount__gt": [str(THRESHOLD)], "sort": ["-amount"],
                     "page": [str(PAGE)], "per_page": [str(PER_PAGE)]}
        url = f"/api/v1/records/{c.OBJECT_NAME}?" + urlencode({k: v[0] for k, v in arguments.items()})
        client = bench.app.test_client()
        headers = dict(bench.headers)

        def service_query() -> tuple[list[int], int]:
            with bench.session(write=False) as session:
                service = RecordService(session)
                query = parse_list_arguments(service.object(c.OBJECT_NAME), arguments)
                records, total = service.list(c.OBJECT_NAME, query)
            return [r["id"] for r in records], total

        def rest_query() -> tuple[list[int], int]:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            document = response.get_json()
            return [r["id"] for r in document["data"]], document["meta"]["total"]

        raw = c.twin_table(table, table.name)
        where = sa.and_(raw.c.region == "east", raw.c.amount > Decimal(THRESHOLD))
        count_statement = sa.select(sa.func.count()).select_from(raw).where(where)
        plain = (sa.select(raw).where(where).order_by(raw.c.amount.desc(), raw.c.id.desc())
                 .limit(PER_PAGE).offset((PAGE - 1) * PER_PAGE))
        same_sql = (sa.select(raw).where(where).order_by(raw.c.amount.desc().nulls_first(), raw.c.id.desc())
                    .limit(PER_PAGE).offset((PAGE - 1) * PER_PAGE))

        def raw_query(statement: sa.Select) -> tuple[list[int], int]:
            with bench.connect() as conn, conn.begin():
                found = conn.execute(statement).all()
                total = conn.execute(count_statement).scalar_one()
            return [r.id for r in found], total

        expected = raw_query(plain)
        for name, fn in [("service", service_query), ("rest", rest_query), ("raw same SQL", lambda: raw_query(same_sql))]:
            got = fn()
            assert got == expected, f"{name} returned {got[1]} / {got[0][:5]}..., raw {expected[1]} / {expected[0][:5]}..."
        print(f"  matching rows: {expected[1]:,}; page {PAGE} ids {expected[0][:3]}... (all paths agree)")

        paths = [("raw", lambda: raw_query(plain)), ("raw same SQL", lambda: raw_query(same_sql)),
                 ("service", service_query), ("rest", rest_query)]
        results = c.interleaved_median_ms(paths, args.runs, warmup=3)
        raw_ms = results["raw"]
        labels = {
            "raw": "raw Core select + count (ORDER BY amount DESC, id DESC)",
            "raw same SQL": "raw Core, same ORDER BY as ours (DESC NULLS FIRST)",
            "service": "parse_list_arguments + RecordService.list",
            "rest": "REST GET via Flask test client",
        }
        c.table([[labels[k], f"{v:.2f}", f"{raw_ms / v:.3f}"] for k, v in results.items()],
                ["path", "median ms/query", "speed vs raw"])
        if bench.dialect == "sqlite":
            with bench.connect() as conn:
                compiled = str(same_sql.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled).all()
                print("  plan (ours):  " + " | ".join(r[-1] for r in plan))
                compiled = str(plain.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled).all()
                print("  plan (raw):   " + " | ".join(r[-1] for r in plan))
        else:
            with bench.connect() as conn, conn.begin():
                conn.exec_driver_sql(f'SET LOCAL search_path TO "{bench.schema}"')  # text SQL is not schema-translated
                for label, statement in [("ours", same_sql), ("raw", plain)]:
                    compiled = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
                    plan = conn.exec_driver_sql("EXPLAIN " + compiled.replace("%", "%%")).scalars().all()
                    print(f"  plan ({label}): " + " | ".join(p.strip() for p in plan[:6]))
        for name in ("service", "rest"):
            ratio = raw_ms / results[name]
            print(f"RESULT list_query dialect={bench.dialect} rows={rows} path={name} ms={results[name]:.2f} "
                  f"raw_ms={raw_ms:.2f} speed_ratio={ratio:.3f} goal>={GOAL} {c.verdict(ratio >= GOAL)}")

        if args.profile:
            print("\n-- cProfile of 200 service + 200 REST list queries (untimed) --")
            with c.maybe_profile(args.profile):
                for _ in range(200):
                    service_query()
                    rest_query()


if __name__ == "__main__":
    main()
