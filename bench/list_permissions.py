"""Security: listing as a team-scoped user with two hidden fields vs as the tenant admin.

100,000 records owned by 20 users in 4 teams; the reader is on a team of 5, so their scope is an
``owner_id IN (...)`` criterion compiled into the SQL, and two fields are hidden from them. The same
list (``region=east&sort=-amount&page=3&per_page=50`` plus the total) is timed through the record
service for both users, and the raw Core query (no permissions) is the baseline.
Goal: the restricted user's time at most 1.3 x the admin's.

    .venv/bin/python bench/list_permissions.py
    .venv/bin/python bench/list_permissions.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench
"""

from __future__ import annotations

import argparse
import random

import sqlalchemy as sa

import _common as c

GOAL = 1.3
USERS, TEAMS = 20, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=25)
    c.common_arguments(parser)
    args = parser.parse_args()

    from crm_platform.core.roles import put_role
    from crm_platform.core.session import Actor, tenant_session
    from crm_platform.core.tables import users
    from crm_platform.core.users import create_user
    from metadata import RecordService

    with c.Bench(args.database_url, args.keep) as bench:
        c.header(f"security: team-scoped list with hidden fields vs admin, {args.rows:,} rows", bench)
        model = bench.create_object(c.object_document(indexed=True))
        with bench.session() as session:
            put_role(session, {"name": "rep", "permissions": {"deal": {"read": "team"}},
                               "field_access": {"deal": {"employees": "hidden", "contact_email": "hidden"}}})
            ids = [create_user(session, f"user{i}@example.com", None, roles=["rep"], team=f"team{i % TEAMS}")["id"]
                   for i in range(USERS)]
            reader = session.conn.execute(sa.select(users).where(users.c.id == ids[0])).first()
        rng = random.Random(7)
        with bench.connect() as conn:
            rows = list(c.native_rows(args.rows, None))
            for row in rows:
                row["owner_id"] = ids[rng.randrange(USERS)]
            for start in range(0, len(rows), 10000):
                with conn.begin():
                    conn.execute(model.table.insert(), rows[start:start + 10000])
        c.settle(bench)
        arguments = {"region": ["east"], "sort": ["-amount"], "page": ["3"], "per_page": ["50"]}
        rep = Actor(reader.id, reader.email, ("rep",), reader.team)

        def listing(actor: Actor):
            def run() -> tuple[list, int]:
                with tenant_session(bench.platform, bench.slug, actor, write=False) as session:
                    service = RecordService(session)
                    return service.list("deal", service.parse_list("deal", arguments))
            return run

        table = model.table

        def raw() -> tuple[list, int]:
            with bench.connect() as conn, conn.begin():
                where = table.c.region == "east"
                page = conn.execute(sa.select(table).where(where).order_by(table.c.amount.desc(), table.c.id.desc())
                                    .limit(50).offset(100)).all()
                total = conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
                return page, total

        shown, total = listing(rep)()
        assert shown and all("employees" not in r and "contact_email" not in r for r in shown)
        print(f"  the team reader sees {total:,} of the records; the admin sees {listing(bench.actor)()[1]:,}")
        medians = c.interleaved_median_ms(
            [("admin", listing(bench.actor)), ("team + 2 hidden", listing(rep)), ("raw Core", raw)], args.runs)
        ratio = medians["team + 2 hidden"] / medians["admin"]
        c.table([[name, f"{ms:.2f}"] for name, ms in medians.items()], ["path", "median ms"])
        print(f"\n  restricted / admin = {ratio:.2f}x (goal <= {GOAL}x): {c.verdict(ratio <= GOAL)}")
        print(f"  admin / raw Core   = {medians['admin'] / medians['raw Core']:.2f}x")


if __name__ == "__main__":
    main()
