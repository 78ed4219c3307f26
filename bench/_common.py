"""Shared helpers for the benchmarks: an app on a temporary instance, a tenant with an admin and a
token, the benchmark object (8 fields of mixed types), input generators and the raw-Core twins.

Not a test module; imported by the ``bench/*.py`` scripts (run them from the repository root).
"""

from __future__ import annotations

import argparse
import os
import platform as py_platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OBJECT_NAME = "deal"
REGIONS = ("east", "west", "north", "south")

#: The benchmark object: ~8 fields of mixed types, one of them a formula.
def object_document(indexed: bool = False, name: str = OBJECT_NAME) -> dict[str, Any]:
    return {
        "name": name,
        "label": {"en": "Deal", "zh": "商机"},
        "fields": [
            {"name": "title", "type": "text", "required": True, "max_length": 200},
            {"name": "employees", "type": "integer", "min": 0},
            {"name": "amount", "type": "currency", "indexed": indexed},
            {"name": "region", "type": "picklist", "indexed": indexed,
             "options": [{"value": r} for r in REGIONS]},
            {"name": "close_date", "type": "date"},
            {"name": "active", "type": "boolean"},
            {"name": "contact_email", "type": "email"},
            {"name": "commission", "type": "formula", "expression": "amount * 0.1", "result_type": "currency"},
        ],
    }


# -- inputs ---------------------------------------------------------------------------------------

BASE_DATE = date(2024, 1, 1)
CENT = Decimal("0.01")


def json_input(i: int, rng: random.Random) -> dict[str, Any]:
    """A record as an API client sends it (JSON types)."""
    return {
        "title": f"Deal {i} with customer {rng.randrange(10**6)}",
        "employees": rng.randrange(1, 5000),
        "amount": round(rng.uniform(100, 100000), 2),
        "region": REGIONS[rng.randrange(4)],
        "close_date": (BASE_DATE + timedelta(days=rng.randrange(730))).isoformat(),
        "active": rng.random() < 0.7,
        "contact_email": f"buyer{i}@example{rng.randrange(100)}.com",
    }


def json_inputs(count: int, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [json_input(i, rng) for i in range(count)]


def native_row(data: dict[str, Any], owner_id: int | None, now: datetime | None = None) -> dict[str, Any]:
    """The same record as the stored Python values (what the raw baseline inserts)."""
    now = now or datetime.now(timezone.utc)
    amount = Decimal(str(data["amount"])).quantize(CENT)
    return {
        "created_at": now, "updated_at": now, "created_by": owner_id, "updated_by": owner_id,
        "owner_id": owner_id, "version": 1,
        "title": data["title"], "employees": data["employees"], "amount": amount, "region": data["region"],
        "close_date": date.fromisoformat(data["close_date"]), "active": data["active"],
        "contact_email": data["contact_email"],
        "commission": (amount * Decimal("0.1")).quantize(CENT, rounding=ROUND_HALF_UP),
    }


def native_rows(count: int, owner_id: int | None, seed: int = 42) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    for i in range(count):
        yield native_row(json_input(i, rng), owner_id, now)


def twin_table(source: sa.Table, name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """A plain table with exactly the source's columns and types (no metadata layer behind it)."""
    return sa.Table(name, metadata or sa.MetaData(), *(c._copy() for c in source.columns))


# -- app, tenant ----------------------------------------------------------------------------------


class Bench:
    """An app on a temporary instance folder (SQLite) or on ``--database-url``, with one tenant."""

    def __init__(self, database_url: str | None = None, keep: bool = False, prefix: str = "bench") -> None:
        self.keep = keep
        self.tmp = tempfile.mkdtemp(prefix="crm-bench-")
        try:
            self._set_up(database_url, prefix)
        except BaseException:  # a failed set-up leaves nothing behind
            if getattr(self, "tenant_created", False):
                from crm_platform.core.tenancy import delete_tenant

                try:
                    delete_tenant(self.platform, self.slug)
                except Exception:  # noqa: BLE001 - already failing; report the first error
                    pass
            if hasattr(self, "platform"):
                self.platform.db.dispose()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _set_up(self, database_url: str | None, prefix: str) -> None:
        from crm_platform.app import create_app
        from crm_platform.core.platform import get_platform
        from crm_platform.core.session import Actor, tenant_session
        from crm_platform.core.tenancy import create_tenant, create_token
        from crm_platform.core.users import create_user

        config: dict[str, Any] = {
            "INSTANCE_PATH": os.path.join(self.tmp, "instance"),
            # Only user creation hashes passwords; keep set-up quick.
            "CRM_ARGON2_TIME_COST": 1,
            "CRM_ARGON2_MEMORY_COST": 64,
        }
        if database_url:
            config["CRM_DATABASE_URL"] = database_url
        self.app = create_app(config)
        self.platform = get_platform(self.app)
        self.dialect = self.platform.db.control_engine.dialect.name
        self.slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
        create_tenant(self.platform, self.slug)
        self.tenant_created = True
        with tenant_session(self.platform, self.slug, Actor.system()) as session:
            admin = create_user(session, "admin@example.com", "correct horse battery", roles=["admin"])
        self.admin_id = admin["id"]
        self.actor = Actor(self.admin_id, "admin@example.com", ("admin",))
        self.token = create_token(self.platform, self.slug, self.admin_id)
        self.headers = {"Authorization": f"Bearer {self.token}"}

    # -- units of work -----------------------------------------------------------------------

    def session(self, write: bool = True) -> Any:
        from crm_platform.core.session import tenant_session

        return tenant_session(self.platform, self.slug, self.actor, write=write)

    def connect(self) -> sa.Connection:
        """A plain connection into the tenant's namespace (same engine, same pragmas)."""
        return self.platform.db.tenant_connection(self.slug)

    @property
    def schema(self) -> str | None:
        return self.platform.db.tenant_schema(self.slug)

    def create_object(self, document: dict[str, Any]) -> Any:
        from metadata import Designer, load_model

        with self.session() as session:
            Designer(session).create_object(document)
        with self.session(write=False) as session:
            return load_model(session).object(document["name"])

    def model(self, name: str = OBJECT_NAME) -> Any:
        from metadata import load_model

        with self.session(write=False) as session:
            return load_model(session).object(name)

    def close(self) -> None:
        from crm_platform.core.tenancy import delete_tenant

        try:
            if not self.keep:
                delete_tenant(self.platform, self.slug)
        finally:
            self.platform.db.dispose()
            if not self.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def bulk_load(conn: sa.Connection, table: sa.Table, count: int, owner_id: int | None, seed: int = 42,
              chunk: int = 10000, progress: bool = True) -> float:
    """Core executemany in chunks; returns seconds."""
    started = time.perf_counter()
    rows = native_rows(count, owner_id, seed)
    done = 0
    insert = table.insert()
    while done < count:
        batch = [next(rows) for _ in range(min(chunk, count - done))]
        with conn.begin():
            conn.execute(insert, batch)
        done += len(batch)
        if progress and (done % (chunk * 20) == 0 or done == count):
            rate = done / (time.perf_counter() - started)
            print(f"    loaded {done:>9,} rows into {table.name} ({rate:,.0f} rows/s)", flush=True)
    return time.perf_counter() - started


# -- measuring and printing ------------------------------------------------------------------------


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 2) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), times


def machine_line() -> str:
    return f"{py_platform.python_implementation()} {py_platform.python_version()} on {os.cpu_count()} CPUs, " \
           f"SQLAlchemy {sa.__version__}"


def load_line() -> str:
    """The machine's load when the benchmark starts: other work on 2 cores skews every figure."""
    one, five, _ = os.getloadavg()
    return f"load average at start: {one:.2f} (1 min), {five:.2f} (5 min)"


def header(title: str, bench: Bench | None = None, extra: str = "") -> None:
    print("=" * 100)
    print(title)
    print(machine_line())
    print(load_line())
    if bench is not None:
        url = bench.platform.db.url.render_as_string(hide_password=True)
        print(f"database: {bench.dialect} ({url}), tenant {bench.slug}")
    if extra:
        print(extra)
    print("=" * 100, flush=True)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench); "
                        "default: SQLite files in a temporary instance folder")
    parser.add_argument("--keep", action="store_true", help="keep the tenant and temporary folder afterwards")
    parser.add_argument("--profile", metavar="FILE", help="also profile the platform path with cProfile into FILE (.pstats)")


@contextmanager
def maybe_profile(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return "?"


def settle(bench: Bench) -> None:
    """After a bulk load: fresh statistics, and on PostgreSQL a VACUUM so that autovacuum does not
    wake up on the freshly loaded table in the middle of the measurements."""
    if bench.dialect == "postgresql":
        engine = bench.platform.db.control_engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'SET search_path TO "{bench.schema}"')
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("RESET search_path")
    else:
        with bench.connect() as conn, conn.begin():
            conn.exec_driver_sql("ANALYZE")


def interleaved_median_ms(paths: list[tuple[str, Callable[[], Any]]], runs: int, warmup: int = 2) -> dict[str, float]:
    """Median milliseconds per path, the paths taking turns run after run."""
    for _ in range(warmup):
        for _, fn in paths:
            fn()
    times: dict[str, list[float]] = {name: [] for name, _ in paths}
    for _ in range(runs):
        for name, fn in paths:
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}
