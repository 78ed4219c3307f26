"""(b) Creating records through the REST API via the WSGI stack (Flask test client) vs raw Core.

One ``POST /api/v1/records/deal`` per record, each request its own unit of work (token lookup,
tenant session, validation, insert, audit entry, commit). Bodies are JSON-encoded beforehand so
the client does as little as possible.

Baselines measured in the same run on the same database and engine:
- raw Core single-row inserts in ONE transaction (the baseline of records_create.py);
- raw Core single-row inserts with one COMMIT per row (what "each request its own transaction"
  costs without any platform code).
Also shown: the test client's own floor (an unrouted GET that returns 404 without touching the
database), to tell client cost from platform cost.

    .venv/bin/python bench/rest_create.py                 # SQLite, 20,000 requests
    .venv/bin/python bench/rest_create.py --count 5000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
"""

from __future__ import annotations

import argparse
import json
import time

import sqlalchemy as sa

import _common as c

#: No goal is set for this path; for reference, (e) asks 715 records/s over real HTTP from one client.
HTTP_GOAL_ONE_CLIENT = 715


def run_raw(bench: c.Bench, raw: sa.Table, rows: list[dict], commit_each: bool) -> float:
    insert = raw.insert()
    with bench.connect() as conn:
        started = time.perf_counter()
        if commit_each:
            for row in rows:
                with conn.begin():
                    conn.execute(insert, row)
        else:
            with conn.begin():
                for row in rows:
                    conn.execute(insert, row)
        return time.perf_counter() - started


def run_rest(client, headers: dict, bodies: list[bytes]) -> float:
    path = f"/api/v1/records/{c.OBJECT_NAME}"
    started = time.perf_counter()
    for body in bodies:
        response = client.post(path, data=body, headers=headers, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"unexpected {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return time.perf_counter() - started


def client_floor(client, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        client.get("/no-such-page")
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20000, help="requests (records) per run (default 20000)")
    c.common_arguments(parser)
    args = parser.parse_args()

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"(b) rest_create: {args.count:,} x POST /api/v1/records/{c.OBJECT_NAME} (Flask test client) vs raw Core", bench)
        model = bench.create_object(c.object_document())
        raw = c.twin_table(model.table, "raw_deal")
        with bench.connect() as conn, conn.begin():
            raw.create(conn)
        inputs = c.json_inputs(args.count)
        rows = [c.native_row(d, bench.admin_id) for d in inputs]
        bodies = [json.dumps(d).encode() for d in inputs]
        client = bench.app.test_client()
        headers = dict(bench.headers)

        run_raw(bench, raw, rows[:300], False)
        run_raw(bench, raw, rows[:300], True)
        run_rest(client, headers, bodies[:300])

        cpu = {}
        started = time.process_time()
        raw_s = run_raw(bench, raw, rows, commit_each=False)
        cpu["raw"] = time.process_time() - started
        started = time.process_time()
        raw_each_s = run_raw(bench, raw, rows, commit_each=True)
        cpu["raw_each"] = time.process_time() - started
        started = time.process_time()
        rest_s = run_rest(client, headers, bodies)
        cpu["rest"] = time.process_time() - started
        floor_s = client_floor(client, 2000)

        n = args.count
        raw_rate, raw_each_rate, rest_rate = n / raw_s, n / raw_each_s, n / rest_s
        c.table(
            [
                ["raw Core single-row inserts, 1 txn", f"{raw_s:.3f}", f"{raw_rate:,.0f}", f"{raw_s / n * 1e6:.1f}",
                 f"{cpu['raw'] / n * 1e6:.1f}", "1.000", ""],
                ["raw Core single-row inserts, commit per row", f"{raw_each_s:.3f}", f"{raw_each_rate:,.0f}",
                 f"{raw_each_s / n * 1e6:.1f}", f"{cpu['raw_each'] / n * 1e6:.1f}", f"{raw_each_rate / raw_rate:.3f}", "1.000"],
                ["REST POST via test client, 1 txn/request", f"{rest_s:.3f}", f"{rest_rate:,.0f}", f"{rest_s / n * 1e6:.1f}",
                 f"{cpu['rest'] / n * 1e6:.1f}", f"{rest_rate / raw_rate:.3f}", f"{rest_rate / raw_each_rate:.3f}"],
            ],
            ["path", "seconds", "records/s", "us/record", "CPU us/record", "ratio vs raw 1 txn", "ratio vs raw commit/row"],
        )
        print(f"  test-client floor (unrouted GET -> 404): {floor_s * 1e6:.0f} us/request "
              f"({floor_s / (rest_s / n) * 100:.0f}% of a REST create)")
        with bench.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(model.table)).scalar_one()
        assert stored == 300 + n, stored
        ratio = rest_rate / raw_rate
        print(f"RESULT rest_create dialect={bench.dialect} count={n} raw_rps={raw_rate:.0f} raw_commit_each_rps="
              f"{raw_each_rate:.0f} rest_rps={rest_rate:.0f} ratio={ratio:.3f} "
              f"ratio_vs_commit_each={rest_rate / raw_each_rate:.3f} (no goal; (e) asks {HTTP_GOAL_ONE_CLIENT}/s over HTTP)")

        if args.profile:
            m = max(500, n // 10)
            print(f"\n-- cProfile of {m:,} REST creates (untimed) --")
            with c.maybe_profile(args.profile):
                run_rest(client, headers, bodies[:m])


if __name__ == "__main__":
    main()
