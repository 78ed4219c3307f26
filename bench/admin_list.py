"""(f) The admin UI's list view vs the same query through the REST API, both through the WSGI stack.

An object with 30 fields (text, numbers, dates, picklists, e-mail, boolean, a lookup) and 100,000
rows (loaded with Core executemany); its list layout shows 10 columns, including a picklist (labels)
and a lookup (the related record's title, fetched for the page in one query). A signed-in session
asks for

    GET /admin/records/big/?q=...&sort=-amount&page=3&per_page=50      (HTML page: 50 rows, total, pager)

and a token-authenticated client for the same list through the API

    GET /api/v1/records/big?q=...&sort=-amount&page=3&per_page=50     (JSON: 50 records of 30 fields, total)

both through the Flask test client (the full WSGI stack: routing, session or token, unit of work,
record service, rendering). The raw Core query (select + count) is printed for reference. Median of
``--runs`` runs after warm-up, the paths taking turns. Goal: the list view takes under 2 x the API's time.

    .venv/bin/python bench/admin_list.py                      # SQLite, 100,000 rows
    .venv/bin/python bench/admin_list.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
"""

from __future__ import annotations

import argparse
import random
import re
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

import _common as c

GOAL = 2.0
OBJECT = "big"
PAGE, PER_PAGE = 3, 50
REGIONS = ("east", "west", "north", "south")
TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def big_object() -> dict[str, Any]:
    """30 fields: 8 text-like, 8 numbers, 4 dates, 4 picklists, 2 booleans, 2 e-mails, 1 lookup, 1 textarea."""
    fields: list[dict[str, Any]] = [{"name": "name", "type": "text", "required": True, "label": {"en": "Name", "zh": "名称"}}]
    fields += [{"name": f"text_{i}", "type": "text", "label": f"Text {i}"} for i in range(1, 8)]
    fields += [{"name": "amount", "type": "currency", "label": "Amount", "indexed": True}]
    fields += [{"name": f"number_{i}", "type": "integer" if i % 2 else "decimal", "label": f"Number {i}"} for i in range(1, 8)]
    fields += [{"name": f"date_{i}", "type": "date", "label": f"Date {i}"} for i in range(1, 5)]
    fields += [{"name": f"choice_{i}", "type": "picklist", "label": f"Choice {i}",
                "options": [{"value": r, "label": {"en": r.title(), "zh": r}} for r in REGIONS]} for i in range(1, 5)]
    fields += [{"name": f"flag_{i}", "type": "boolean", "label": f"Flag {i}"} for i in range(1, 3)]
    fields += [{"name": f"mail_{i}", "type": "email", "label": f"Mail {i}"} for i in range(1, 3)]
    fields += [{"name": "account", "type": "lookup", "target": "company", "label": "Company"}]
    fields += [{"name": "notes", "type": "textarea", "label": "Notes"}]
    assert len(fields) == 30
    return {"name": OBJECT, "label": {"en": "Big object", "zh": "大对象"}, "title_field": "name", "fields": fields,
            "layouts": {"list": {"columns": ["name", "amount", "choice_1", "choice_2", "date_1", "number_1",
                                             "flag_1", "mail_1", "account", "text_1"], "sort": "-amount"}}}


def rows_for(count: int, owner: int, companies: int, seed: int = 7) -> Any:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    for i in range(count):
        row: dict[str, Any] = {"created_at": now, "updated_at": now, "created_by": owner, "updated_by": owner,
                               "owner_id": owner, "version": 1, "name": f"Record {i} {rng.randrange(10**6)}",
                               "amount": Decimal(rng.randrange(10**7)) / 100, "account": 1 + i % companies,
                               "notes": "Line one\nLine two"}
        for k in range(1, 8):
            row[f"text_{k}"] = f"value {k}-{rng.randrange(1000)}"
            row[f"number_{k}"] = rng.randrange(10**6) if k % 2 else Decimal(rng.randrange(10**6)) / 100
        for k in range(1, 5):
            row[f"date_{k}"] = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
            row[f"choice_{k}"] = REGIONS[rng.randrange(4)]
        for k in range(1, 3):
            row[f"flag_{k}"] = rng.random() < 0.5
            row[f"mail_{k}"] = f"person{i}.{k}@example.com"
        yield row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows to load (default 100,000)")
    parser.add_argument("--runs", type=int, default=25, help="measured runs per path (median reported; default 25)")
    parser.add_argument("--search", default="", help="a q= text search added to both requests (default none)")
    c.common_arguments(parser)
    args = parser.parse_args()

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"(f) admin_list: list view of a 30-field object, {args.rows:,} rows, page of {PER_PAGE}, vs REST", bench)
        bench.create_object({"name": "company", "label": "Company", "title_field": "name",
                             "fields": [{"name": "name", "type": "text"}]})
        model = bench.create_object(big_object())
        companies = 200
        with bench.connect() as conn, conn.begin():
            company = bench.model("company").table
            now = datetime.now(timezone.utc)
            conn.execute(company.insert(), [{"name": f"Company {i}", "created_at": now, "updated_at": now,
                                             "owner_id": bench.admin_id, "version": 1} for i in range(companies)])
        print(f"  loading {args.rows:,} rows ...", flush=True)
        started = time.perf_counter()
        with bench.connect() as conn:
            generator = rows_for(args.rows, bench.admin_id, companies)
            done = 0
            while done < args.rows:
                batch = [next(generator) for _ in range(min(5000, args.rows - done))]
                with conn.begin():
                    conn.execute(model.table.insert(), batch)
                done += len(batch)
        print(f"  loaded in {time.perf_counter() - started:.1f} s", flush=True)
        c.settle(bench)

        parameters = {"sort": "-amount", "page": str(PAGE), "per_page": str(PER_PAGE)}
        if args.search:
            parameters["q"] = args.search
        query = urlencode(parameters)
        api = bench.app.test_client()
        ui = bench.app.test_client()
        token = TOKEN.search(ui.get("/login").get_data(as_text=True)).group(1)
        response = ui.post("/login", data={"tenant": bench.slug, "email": "admin@example.com",
                                           "password": "correct horse battery", "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]

        def list_view() -> int:
            response = ui.get(f"/admin/records/{OBJECT}/?{query}")
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            return len(response.get_data())

        def rest() -> int:
            response = api.get(f"/api/v1/records/{OBJECT}?{query}", headers=bench.headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            return len(response.get_data())

        table = model.table
        statement = (sa.select(table).order_by(table.c.amount.desc().nulls_first(), table.c.id.desc())
                     .limit(PER_PAGE).offset((PAGE - 1) * PER_PAGE))

        def raw() -> int:
            with bench.connect() as conn, conn.begin():
                found = conn.execute(statement).all()
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            return len(found)

        sizes = {"list view": list_view(), "rest": rest(), "raw": raw()}
        print(f"  response sizes: list view {sizes['list view']:,} bytes of HTML, REST {sizes['rest']:,} bytes of JSON")
        results = c.interleaved_median_ms([("raw", raw), ("rest", rest), ("list view", list_view)], args.runs, warmup=3)
        c.table([[name, f"{ms:.2f}", f"{ms / results['rest']:.2f}"] for name, ms in results.items()],
                ["path", "median ms/request", "x REST time"])
        ratio = results["list view"] / results["rest"]
        print(f"RESULT admin_list dialect={bench.dialect} rows={args.rows} fields=30 per_page={PER_PAGE} "
              f"list_ms={results['list view']:.2f} rest_ms={results['rest']:.2f} raw_ms={results['raw']:.2f} "
              f"time_ratio={ratio:.2f} goal<{GOAL} {c.verdict(ratio < GOAL)}")
        if args.profile:
            print("\n-- cProfile of 100 list views (untimed) --")
            with c.maybe_profile(args.profile):
                for _ in range(100):
                    list_view()


if __name__ == "__main__":
    main()
