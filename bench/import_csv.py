"""Issue 7 (a): importing a CSV file of 100,000 rows through the importer vs raw Core executemany.

Importer: ``metadata.importing.run_import`` in one unit of work (read and decode the file, map the
columns, validate every row through ``RecordService.create_many``: conversion, defaults, formula,
owner, audit entry and event per record), ``on_error=abort``.
Raw: SQLAlchemy Core ``conn.execute(table.insert(), rows)`` (executemany, chunks of 10,000) into a
plain table with the same columns and types, with the already-converted values, one transaction.

Goal: importer throughput >= 0.5 x raw.

    .venv/bin/python bench/import_csv.py                       # SQLite
    .venv/bin/python bench/import_csv.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
"""

from __future__ import annotations

import argparse
import csv
import io
import time

import sqlalchemy as sa

import _common as c

GOAL = 0.5
COLUMNS = ["Title", "Employees", "Amount", "Region", "Close date", "Active", "E-mail"]
MAPPING = {"Title": "title", "Employees": "employees", "Amount": "amount", "Region": "region",
           "Close date": "close_date", "Active": "active", "E-mail": "contact_email"}


def csv_file(inputs: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for d in inputs:
        writer.writerow([d["title"], d["employees"], d["amount"], d["region"], d["close_date"],
                         "true" if d["active"] else "false", d["contact_email"]])
    return buffer.getvalue().encode("utf-8")


def run_raw(bench: c.Bench, raw: sa.Table, rows: list[dict], chunk: int = 10000) -> tuple[float, float]:
    insert = raw.insert()
    with bench.connect() as conn:
        started, cpu = time.perf_counter(), time.process_time()
        with conn.begin():
            for start in range(0, len(rows), chunk):
                conn.execute(insert, rows[start:start + chunk])
        return time.perf_counter() - started, time.process_time() - cpu


def run_import(bench: c.Bench, content: bytes) -> tuple[float, float]:
    from metadata.importing import run_import as importer

    started, cpu = time.perf_counter(), time.process_time()
    with bench.session() as session:
        result = importer(session, c.OBJECT_NAME, "deals.csv", content, MAPPING)
    assert result["status"] == "done" and result["error_count"] == 0, result["errors"][:3]
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100000, help="rows in the file (default 100000)")
    parser.add_argument("--repeat", type=int, default=2, help="measured runs of each side; best is kept (default 2)")
    c.common_arguments(parser)
    args = parser.parse_args()

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"7 (a) import_csv: a CSV file of {args.count:,} rows, importer vs raw Core executemany", bench)
        model = bench.create_object(c.object_document())
        raw = c.twin_table(model.table, "raw_deal")
        with bench.connect() as conn, conn.begin():
            raw.create(conn)
        inputs = c.json_inputs(args.count)
        rows = [c.native_row(d, bench.admin_id) for d in inputs]
        content = csv_file(inputs)
        print(f"  file: {len(content) / 1e6:.1f} MB, {args.count:,} rows, {len(COLUMNS)} columns", flush=True)

        run_raw(bench, raw, rows[:1000])  # warm-up
        run_import(bench, csv_file(inputs[:1000]))
        raw_times, import_times = [], []
        for _ in range(args.repeat):
            raw_times.append(run_raw(bench, raw, rows))
            import_times.append(run_import(bench, content))
        (raw_s, raw_cpu), (import_s, import_cpu) = min(raw_times), min(import_times)
        n = args.count
        raw_rate, import_rate = n / raw_s, n / import_s
        ratio = import_rate / raw_rate
        c.table(
            [
                ["raw Core executemany, 1 txn", f"{raw_s:.3f}", f"{raw_rate:,.0f}", f"{raw_s / n * 1e6:.1f}",
                 f"{raw_cpu / n * 1e6:.1f}", "1.000"],
                ["importer (run_import, abort), 1 unit of work", f"{import_s:.3f}", f"{import_rate:,.0f}",
                 f"{import_s / n * 1e6:.1f}", f"{import_cpu / n * 1e6:.1f}", f"{ratio:.3f}"],
            ],
            ["path", "seconds", "rows/s", "us/row", "CPU us/row", "ratio"],
        )
        print(f"  all runs (s): raw {[round(t[0], 3) for t in raw_times]}, "
              f"importer {[round(t[0], 3) for t in import_times]}")
        with bench.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(model.table)).scalar_one()
        expected = 1000 + n * args.repeat
        assert stored == expected, f"expected {expected} records, found {stored}"
        print(f"RESULT import_csv dialect={bench.dialect} count={n} raw_rps={raw_rate:.0f} "
              f"import_rps={import_rate:.0f} ratio={ratio:.3f} goal>={GOAL} {c.verdict(ratio >= GOAL)}")

        if args.profile:
            part = inputs[: max(5000, n // 10)]
            print(f"\n-- cProfile of the importer x {len(part):,} rows (untimed) --")
            with c.maybe_profile(args.profile):
                run_import(bench, csv_file(part))


if __name__ == "__main__":
    main()
