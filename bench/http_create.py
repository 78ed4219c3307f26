"""(e) Creating records over real HTTP against ``crm serve --workers 2`` (gunicorn), SQLite.

Set-up, all through the public surface: a temporary instance folder; ``crm tenant create`` with an
admin; ``crm token create``; ``crm serve --workers 2`` on 127.0.0.1 and a free port; the object
created with ``POST /api/v1/objects``. Then ``POST /api/v1/records/deal`` from 1 client thread and
from 4 concurrent client threads (http.client, keep-alive requested; ``--requests`` per run in
total). The server is always stopped at the end.

Baseline (same run, same machine): raw SQLAlchemy Core single-row inserts with one COMMIT per row
into an equivalent plain table in a SQLite file with the same settings as a tenant file (WAL,
synchronous=NORMAL).

Goals: 715 records/s from 1 client, 570 records/s from 4 clients.

    .venv/bin/python bench/http_create.py
    .venv/bin/python bench/http_create.py --requests 4000 --workers 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

import _common as c

GOALS = {1: 715.0, 4: 570.0}
HOST = "127.0.0.1"
CRM = str(Path(sys.executable).with_name("crm"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def cli(instance: str, *arguments: str, env: dict) -> str:
    result = subprocess.run([CRM, "--instance", instance, *arguments], capture_output=True, text=True, env=env,
                            timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"crm {' '.join(arguments[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


class Client:
    """One keep-alive connection (re-opened transparently when the server closes it)."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "Connection": "keep-alive"}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.conn.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def wait_until_up(port: int, token: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            client = Client(port, token)
            status, _ = client.request("GET", "/api/v1/objects")
            client.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not come up in {timeout} s:\n{log.read_text()[-2000:]}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group (started with a new session)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


def post_records(port: int, token: str, bodies: list[bytes], threads: int) -> tuple[float, list[str]]:
    path = f"/api/v1/records/{c.OBJECT_NAME}"
    errors: list[str] = []
    shares = [bodies[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(share: list[bytes]) -> None:
        client = Client(port, token)
        try:
            barrier.wait()
            for body in share:
                status, data = client.request("POST", path, body)
                if status != 201:
                    errors.append(f"{status}: {data[:200]!r}")
                    if len(errors) > 20:
                        return
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            client.close()

    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, errors


def raw_commit_per_row(folder: str, count: int, owner_id: int) -> float:
    """Core single-row inserts, one COMMIT each, in a SQLite file configured like a tenant file."""
    from crm_platform.core.database import _make_sqlite_transactional
    from metadata.definitions import ObjectDef
    from metadata.model import ObjectModel

    engine = sa.create_engine(f"sqlite:///{folder}/raw.db", connect_args={"check_same_thread": False, "timeout": 30})
    _make_sqlite_transactional(engine)  # WAL, synchronous=NORMAL, BEGIN on begin: exactly as tenant files
    try:
        source = ObjectModel(ObjectDef.from_document(c.object_document()), sa.MetaData()).table
        raw = c.twin_table(source, "raw_deal")
        rows = list(c.native_rows(count + 300, owner_id))
        insert = raw.insert()
        with engine.connect() as conn:
            with conn.begin():
                raw.create(conn)
            for row in rows[:300]:
                with conn.begin():
                    conn.execute(insert, row)
            started = time.perf_counter()
            for row in rows[300:]:
                with conn.begin():
                    conn.execute(insert, row)
            return time.perf_counter() - started
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="POSTs per run (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--clients", default="1,4", help="client thread counts to run (default 1,4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client count; median and best reported (default 3)")
    parser.add_argument("--raw-count", type=int, default=5000, help="rows for the raw baseline (default 5000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance folder")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="crm-bench-http-")
    instance = os.path.join(folder, "instance")
    env = {k: v for k, v in os.environ.items() if k not in {"CRM_DATABASE_URL", "CRM_INSTANCE_PATH"}}
    # The editable install's finder may predate newer top-level packages (``admin``); make the
    # checkout importable for the ``crm`` script whatever the state of the install.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(c.ROOT), env.get("PYTHONPATH", "")) if p)
    log = Path(folder) / "server.log"
    server = None
    try:
        c.header(f"(e) http_create: POST /api/v1/records/{c.OBJECT_NAME} over HTTP to `crm serve --workers "
                 f"{args.workers}` (gunicorn, SQLite), {args.requests:,} requests per run",
                 extra=f"instance: {instance}")
        cli(instance, "tenant", "create", "bench", "--admin-email", "admin@example.com",
            "--admin-password", "correct horse battery", env=env)
        token = cli(instance, "token", "create", "--tenant", "bench", "--email", "admin@example.com", env=env).splitlines()[-1]
        port = free_port()
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [CRM, "--instance", instance, "serve", "--host", HOST, "--port", str(port), "--workers", str(args.workers)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        wait_until_up(port, token, server, log)
        client = Client(port, token)
        status, data = client.request("POST", "/api/v1/objects", json.dumps(c.object_document()).encode())
        if status != 201:
            raise SystemExit(f"creating the object failed: {status} {data[:300]!r}")
        client.close()
        print(f"  server up on {HOST}:{port} (pid {server.pid}); object created")

        counts = [int(x) for x in args.clients.split(",") if x.strip()]
        runs = len(counts) * args.repeat
        inputs = c.json_inputs(args.requests * runs + 200, seed=7)
        bodies = [json.dumps(d).encode() for d in inputs]
        # Warm-up: every worker loads the metadata and opens its connections.
        warm_s, errors = post_records(port, token, bodies[:200], max(counts))
        if errors:
            raise SystemExit(f"warm-up failed: {errors[:3]}")
        runs_by_count: dict[int, list[float]] = {t: [] for t in counts}
        offset = 200
        for _ in range(args.repeat):  # interleaved, so a noisy moment does not hit one side only
            for threads in counts:
                chunk = bodies[offset:offset + args.requests]
                offset += args.requests
                seconds, errors = post_records(port, token, chunk, threads)
                if errors:
                    raise SystemExit(f"{len(errors)} failed requests with {threads} clients, e.g. {errors[:3]}")
                runs_by_count[threads].append(seconds)
        results = {t: (statistics.median(v), args.requests / statistics.median(v)) for t, v in runs_by_count.items()}

        client = Client(port, token)
        status, data = client.request("GET", f"/api/v1/records/{c.OBJECT_NAME}?per_page=1")
        client.close()
        total = json.loads(data)["meta"]["total"]
        assert total == 200 + args.requests * runs, total

        raw_s = raw_commit_per_row(folder, args.raw_count, 1)
        raw_rate = args.raw_count / raw_s
        rows = [["raw Core insert + COMMIT per row (in-process)", f"{raw_s:.3f}", f"{raw_rate:,.0f}", "1.000", "", ""]]
        for threads, (seconds, rate) in results.items():
            goal = GOALS.get(threads)
            rows.append([f"HTTP POST, {threads} client thread(s)", f"{seconds:.3f}", f"{rate:,.0f}", f"{rate / raw_rate:.3f}",
                         f"{goal:.0f}" if goal else "", c.verdict(rate >= goal) if goal else ""])
        c.table(rows, ["path", "median s", "records/s", "ratio vs raw", "goal", "goal met"])
        for threads, seconds in runs_by_count.items():
            print(f"  {threads} client(s), every run: " + ", ".join(f"{args.requests / s:,.0f}/s" for s in seconds))
        print(f"  mean latency: " + ", ".join(f"{t} client(s) {s / args.requests * 1000 * t:.2f} ms"
                                              for t, (s, _) in results.items()))
        for threads, (seconds, rate) in results.items():
            goal = GOALS.get(threads)
            print(f"RESULT http_create clients={threads} workers={args.workers} requests={args.requests} rps={rate:.0f} "
                  f"raw_commit_each_rps={raw_rate:.0f} ratio={rate / raw_rate:.3f}"
                  + (f" goal>={goal:.0f} {c.verdict(rate >= goal)}" if goal else ""))
    finally:
        if server is not None:
            stop(server)
            print(f"  server stopped (exit code {server.returncode})")
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
