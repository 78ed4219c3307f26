"""Where the time of one record creation goes: the steps of RecordService.create and the fixed costs
of a REST request, each measured alone (same inputs, same compiled model, same database).

Not a goal benchmark: it attributes the gap found by records_create.py, rest_create.py and
http_create.py. Figures are microseconds per record or per call.

    .venv/bin/python bench/request_costs.py [--database-url ...]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import _common as c


class _Discard(Exception):
    pass


def per_call_us(fn: Any, count: int = 2000, warmup: int = 100) -> float:
    for _ in range(warmup):
        fn()
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="records for the per-step timings (default 5000)")
    c.common_arguments(parser)
    args = parser.parse_args()

    from crm_platform.core.session import utcnow
    from crm_platform.core.tenancy import authenticate_token
    from metadata import RecordService, load_model

    with c.Bench(args.database_url, args.keep) as bench:
        c.header("request_costs: the steps of one record creation, each alone", bench)
        model = bench.create_object(c.object_document())
        raw = c.twin_table(model.table, "raw_deal")
        with bench.connect() as conn, conn.begin():
            raw.create(conn)
        inputs = c.json_inputs(args.count)
        rows = [c.native_row(d, bench.admin_id) for d in inputs]
        steps: list[tuple[str, float]] = []

        insert = raw.insert()
        with bench.connect() as conn, conn.begin():
            for row in rows[:200]:
                conn.execute(insert, row)
            started = time.perf_counter()
            for row in rows:
                conn.execute(insert, row)
            steps.append(("raw Core single-row insert (1 txn)", (time.perf_counter() - started) / len(rows) * 1e6))

        with bench.session() as session:
            service = RecordService(session)
            for data in inputs[:200]:
                service.create(c.OBJECT_NAME, data)
            started = time.perf_counter()
            for data in inputs:
                service.create(c.OBJECT_NAME, data)
            steps.append(("RecordService.create, whole (excl. commit)", (time.perf_counter() - started) / len(inputs) * 1e6))
            flush = session.flush_audit
            flushed: list[float] = []

            def timed_flush() -> None:  # the audit rows go in at commit: time that step of this unit of work
                count, began = len(session.audit_entries), time.perf_counter()
                flush()
                flushed.append((time.perf_counter() - began) / max(count, 1) * 1e6)

            session.flush_audit = timed_flush  # type: ignore[method-assign]
        steps.append(("  audit rows insert (executemany at commit)", flushed[0]))

        try:
            with bench.session() as session:
                service = RecordService(session)
                m = service.object(c.OBJECT_NAME)
                started = time.perf_counter()
                loaded = [service._load(m, d, partial=False) for d in inputs]
                steps.append(("  _load (validation and conversion)", (time.perf_counter() - started) / len(inputs) * 1e6))
                now = utcnow()
                for v in loaded:
                    v.update(created_at=now, updated_at=now, created_by=bench.admin_id, updated_by=bench.admin_id,
                             version=1, owner_id=bench.admin_id)
                started = time.perf_counter()
                for v in loaded:
                    service._validate_values(m, v, changed=v.keys(), record_id=None)
                steps.append(("  _validate_values (required, references, unique)", (time.perf_counter() - started) / len(inputs) * 1e6))
                started = time.perf_counter()
                for v in loaded:
                    service._compute_formulas(m, v)
                steps.append(("  _compute_formulas", (time.perf_counter() - started) / len(inputs) * 1e6))
                started = time.perf_counter()
                dumped = [m.dump(v) for v in loaded]
                steps.append(("  model.dump", (time.perf_counter() - started) / len(inputs) * 1e6))
                started = time.perf_counter()
                for i, record in enumerate(dumped):
                    session.audit("record.create", object=m.name, record_id=i, after=record)
                    session.publish("record.created", object=m.name, record_id=i, record=record)
                steps.append(("  session.audit + session.publish", (time.perf_counter() - started) / len(inputs) * 1e6))
                session.audit_entries.clear()
                session.events.clear()
                raise _Discard  # roll the unit of work back: leave nothing behind
        except _Discard:
            pass

        def empty_write_unit() -> None:
            with bench.session():
                pass

        def unit_with_model() -> None:
            with bench.session() as session:
                load_model(session)

        client = bench.app.test_client()
        body = json.dumps(inputs[0]).encode()
        steps.append(("REST: authenticate_token (control + tenant lookups)", per_call_us(lambda: authenticate_token(bench.platform, bench.token))))
        steps.append(("REST: empty write unit of work (BEGIN IMMEDIATE..COMMIT, hooks)", per_call_us(empty_write_unit)))
        steps.append(("REST: write unit of work + load_model", per_call_us(unit_with_model)))
        steps.append(("REST: Flask test client floor (unrouted GET, 404)", per_call_us(lambda: client.get("/no-such-page"))))
        steps.append(("REST: whole POST /api/v1/records/deal via test client", per_call_us(
            lambda: client.post(f"/api/v1/records/{c.OBJECT_NAME}", data=body, headers=bench.headers,
                                content_type="application/json"), count=2000)))
        c.table([[name, f"{us:.1f}"] for name, us in steps], ["step", "us per record / call"])
        for name, us in steps:
            print(f"RESULT request_costs dialect={bench.dialect} step={name.strip()!r} us={us:.1f}")


if __name__ == "__main__":
    main()
