"""(a) Creating records through metadata.RecordService in ONE unit of work vs raw Core inserts.

Service: ``tenant_session`` + ``RecordService.create`` per record (validation, defaults, formula,
owner check, audit entry, event), one commit at the end.
Raw: SQLAlchemy Core ``conn.execute(table.insert(), row)`` per row into a plain table with the same
columns and types, on the same engine, in one transaction, with the already-converted values
(including the computed formula value and the system columns).

Goal: service throughput >= 0.25 x raw.

    .venv/bin/python bench/records_create.py                       # SQLite, 20,000 records
    .venv/bin/python bench/records_create.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa

import _common as c

GOAL = 0.25


def run_raw(bench: c.Bench, raw: sa.Table, rows: list[dict]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds)."""
    insert = raw.insert()
    with bench.connect() as conn:
        started, cpu = time.perf_counter(), time.process_time()
        with conn.begin():
            for row in rows:
                conn.execute(insert, row)
        return time.perf_counter() - started, time.process_time() - cpu


def run_service(bench: c.Bench, inputs: list[dict]) -> tuple[float, float]:
    from metadata import RecordService

    started, cpu = time.perf_counter(), time.process_time()
    with bench.session() as session:
        service = RecordService(session)
        for data in inputs:
            service.create(c.OBJECT_NAME, data)
    return time.perf_counter() - started, time.process_time() - cpu


def run_bulk(bench: c.Bench, inputs: list[dict]) -> tuple[float, float]:
    """The record service's bulk path (imports, packs): the same checks, inserts batched."""
    from metadata import RecordService

    started, cpu = time.perf_counter(), time.process_time()
    with bench.session() as session:
        RecordService(session).create_many(c.OBJECT_NAME, inputs)
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20000, help="records per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs of each side; best is kept (default 3)")
    c.common_arguments(parser)
    args = parser.parse_args()

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"(a) records_create: {args.count:,} records in one unit of work, RecordService vs raw Core", bench)
        model = bench.create_object(c.object_document())
        raw = c.twin_table(model.table, "raw_deal")
        with bench.connect() as conn, conn.begin():
            raw.create(conn)
        inputs = c.json_inputs(args.count)
        rows = [c.native_row(d, bench.admin_id) for d in inputs]

        # Warm-up: compile statements, fill caches, touch the files.
        run_raw(bench, raw, rows[:300])
        run_service(bench, inputs[:300])

        run_bulk(bench, inputs[:300])
        raw_times, service_times, bulk_times = [], [], []
        for _ in range(args.repeat):
            raw_times.append(run_raw(bench, raw, rows))
            service_times.append(run_service(bench, inputs))
            bulk_times.append(run_bulk(bench, inputs))
        (raw_s, raw_cpu), (service_s, service_cpu) = min(raw_times), min(service_times)
        bulk_s, bulk_cpu = min(bulk_times)
        bulk_ratio = (args.count / bulk_s) / (args.count / raw_s)
        raw_rate, service_rate = args.count / raw_s, args.count / service_s
        ratio = service_rate / raw_rate
        n = args.count

        c.table(
            [
                ["raw Core single-row inserts, 1 txn", f"{raw_s:.3f}", f"{raw_rate:,.0f}", f"{raw_s / n * 1e6:.1f}",
                 f"{raw_cpu / n * 1e6:.1f}", "1.000", "1.000"],
                ["RecordService.create, 1 unit of work", f"{service_s:.3f}", f"{service_rate:,.0f}",
                 f"{service_s / n * 1e6:.1f}", f"{service_cpu / n * 1e6:.1f}", f"{ratio:.3f}", f"{raw_cpu / service_cpu:.3f}"],
                ["RecordService.create_many, 1 unit of work", f"{bulk_s:.3f}", f"{n / bulk_s:,.0f}",
                 f"{bulk_s / n * 1e6:.1f}", f"{bulk_cpu / n * 1e6:.1f}", f"{bulk_ratio:.3f}", f"{raw_cpu / bulk_cpu:.3f}"],
            ],
            ["path", "seconds", "records/s", "us/record", "CPU us/record", "ratio", "CPU-time ratio"],
        )
        print(f"  all runs (s): raw {[round(t[0], 3) for t in raw_times]}, service {[round(t[0], 3) for t in service_times]}")
        print(f"  overhead per record: {(service_s - raw_s) / n * 1e6:.1f} us (wall), "
              f"{(service_cpu - raw_cpu) / n * 1e6:.1f} us (CPU of this process)")
        with bench.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(model.table)).scalar_one()
        expected = 600 + 2 * args.count * args.repeat
        assert stored == expected, f"expected {expected} records, found {stored}"
        print(f"RESULT records_create dialect={bench.dialect} count={args.count} raw_rps={raw_rate:.0f} "
              f"service_rps={service_rate:.0f} ratio={ratio:.3f} cpu_ratio={raw_cpu / service_cpu:.3f} "
              f"goal>={GOAL} {c.verdict(ratio >= GOAL)}")
        print(f"RESULT records_create_bulk dialect={bench.dialect} count={args.count} raw_rps={raw_rate:.0f} "
              f"service_rps={n / bulk_s:.0f} ratio={bulk_ratio:.3f} goal>={GOAL} {c.verdict(bulk_ratio >= GOAL)}")

        if args.profile:
            n = max(1000, args.count // 4)
            print(f"\n-- cProfile of RecordService.create x {n:,} (untimed) --")
            with c.maybe_profile(args.profile):
                run_service(bench, inputs[:n])


if __name__ == "__main__":
    main()
