"""Issue 7 (b): a report grouping 1,000,000 rows by a picklist and a month bucket vs hand-written SQL.

The object is created through the Designer and loaded with Core executemany (chunks of 10,000),
then VACUUM ANALYZE. The report is

    group_by region (picklist), close_date by month; aggregates count, sum(amount)

measured as
- service: tenant_session + access_policy + ``metadata.reports.run_report`` (rows and chart data out);
- REST:    POST /api/v1/reports/run through the Flask test client (JSON out);
- raw:     the equivalent hand-written SQL, ``SELECT region, to_char(close_date, 'YYYY-MM'), count(*),
           sum(amount) FROM <table> GROUP BY 1, 2 ORDER BY 1, 2`` (strftime on SQLite), on a connection
           from the same engine.
Median of ``--runs`` runs after warm-up, the paths taking turns. Goal: service time <= 1.2 x raw.

    .venv/bin/python bench/report_group.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
    .venv/bin/python bench/report_group.py --rows 100000                       # SQLite
"""

from __future__ import annotations

import argparse

import sqlalchemy as sa

import _common as c

GOAL = 1.2
REPORT = {"name": "deals by region and month", "object": c.OBJECT_NAME,
          "group_by": [{"field": "region"}, {"field": "close_date", "bucket": "month"}],
          "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}], "chart": "bar"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to load (default 1000000)")
    parser.add_argument("--runs", type=int, default=9, help="measured runs per path (median reported; default 9)")
    c.common_arguments(parser)
    args = parser.parse_args()

    from crm_platform.core.permissions import access_policy
    from metadata.reports import run_report

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"7 (b) report_group: group {args.rows:,} rows by a picklist and a month bucket", bench)
        model = bench.create_object(c.object_document())
        print(f"  loading {args.rows:,} rows with Core executemany ...", flush=True)
        with bench.connect() as conn:
            load_s = c.bulk_load(conn, model.table, args.rows, bench.admin_id)
        c.settle(bench)
        print(f"  load {load_s:.1f} s ({args.rows / load_s:,.0f} rows/s), then VACUUM ANALYZE / ANALYZE", flush=True)
        table = model.table
        if bench.dialect == "postgresql":
            month = sa.text("to_char(close_date, 'YYYY-MM')")
        else:
            month = sa.text("strftime('%Y-%m', close_date)")
        name = f'"{bench.schema}".{table.name}' if bench.schema else table.name  # a checked identifier
        raw_sql = sa.text(f"SELECT region, {month.text} AS month, count(*), sum(amount) FROM {name} "
                          "GROUP BY 1, 2 ORDER BY 1, 2")
        client = bench.app.test_client()

        def service() -> list:
            with bench.session(write=False) as session:
                return run_report(session, access_policy(session), REPORT)["rows"]

        def rest() -> list:
            response = client.post("/api/v1/reports/run", json=REPORT, headers=bench.headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return response.json["rows"]

        def raw() -> list:
            with bench.connect() as conn:
                return conn.execute(raw_sql).all()

        ours, theirs = service(), raw()
        assert len(ours) == len(theirs) and [r[:3] for r in ours] == [list(r[:3]) for r in theirs], \
            (ours[:3], theirs[:3])
        assert sum(r[2] for r in ours) == args.rows
        times = c.interleaved_median_ms([("service", service), ("rest", rest), ("raw", raw)], args.runs)
        service_ratio, rest_ratio = times["service"] / times["raw"], times["rest"] / times["raw"]
        c.table(
            [["raw hand-written SQL", f"{times['raw']:.1f}", "1.00x"],
             ["run_report (service)", f"{times['service']:.1f}", f"{service_ratio:.2f}x"],
             ["POST /reports/run (REST)", f"{times['rest']:.1f}", f"{rest_ratio:.2f}x"]],
            ["path", "median ms", "time vs raw"],
        )
        print(f"  {len(ours)} groups; median of {args.runs} runs each, paths taking turns")
        print(f"RESULT report_group dialect={bench.dialect} rows={args.rows} raw_ms={times['raw']:.1f} "
              f"service_ms={times['service']:.1f} rest_ms={times['rest']:.1f} ratio={service_ratio:.2f} "
              f"rest_ratio={rest_ratio:.2f} goal<={GOAL} {c.verdict(service_ratio <= GOAL)}")


if __name__ == "__main__":
    main()
