"""Background work on a real Celery worker with Redis: ``crm worker`` runs as a subprocess on the
same instance folder and database as the test app, whose runs go to Celery through the broker.

Each test uses its own queue, so parallel test processes (and other runs on this machine) never
take each other's tasks. Without Redis the tests skip (CI forbids skips, so it notices).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crm_platform.app import create_app
from crm_platform.core.platform import get_platform
from tests.conftest import TEST_DATABASE_URL
from tests.workflow.receivers import WebhookReceiver, app_config, wait_for
from workflow_engine import RUNNER_SERVICE
from workflow_engine.tables import outbox, rule_runs

REPO = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("CRM_TEST_BROKER_URL", "redis://127.0.0.1:6379/11")
#: Short enough that a killed worker's task comes back within seconds (production: an hour).
TRANSPORT_OPTIONS = {"visibility_timeout": 4, "unacked_restore_interval": 1, "unacked_restore_throttle": 1,
                     "unacked_mutex_expire": 5}

LEAD = {"name": "lead", "label": "Lead", "fields": [
    {"name": "company", "type": "text", "required": True},
    {"name": "amount", "type": "currency"},
    {"name": "priority", "type": "picklist", "options": [{"value": "low"}, {"value": "high"}]},
]}
TASK = {"name": "task", "label": "Task", "fields": [
    {"name": "subject", "type": "text", "required": True},
    {"name": "lead", "type": "lookup", "target": "lead", "on_delete": "cascade"},
]}


@pytest.fixture
def queue() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(BROKER, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable at {BROKER}: {exc}")
    name = f"crm-test-{uuid.uuid4().hex[:12]}"
    yield name
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def app(tmp_path, queue):
    app = create_app(app_config(tmp_path, CRM_BROKER_URL=BROKER, CRM_CELERY_QUEUE=queue,
                                CRM_BROKER_TRANSPORT_OPTIONS=TRANSPORT_OPTIONS))
    yield app
    app.extensions["celery"].close()
    get_platform(app).db.dispose()


class Worker:
    """``crm worker`` in its own process group, logging to a file."""

    def __init__(self, app: Any, queue: str, log: Path) -> None:
        self.app, self.queue, self.log = app, queue, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        env = {key: value for key, value in os.environ.items()
               if key not in ("CRM_DATABASE_URL", "CRM_INSTANCE_PATH", "CRM_BROKER_URL")}
        env.update(CRM_BROKER_URL=BROKER, CRM_CELERY_QUEUE=self.queue,
                   CRM_BROKER_TRANSPORT_OPTIONS=json.dumps(TRANSPORT_OPTIONS),
                   CRM_ARGON2_TIME_COST="1", CRM_ARGON2_MEMORY_COST="64")
        if TEST_DATABASE_URL:
            env["CRM_DATABASE_URL"] = TEST_DATABASE_URL
        command = [sys.executable, "-m", "crm_platform.cli", "--instance", self.app.instance_path,
                   "worker", "--concurrency", "1", "--loglevel", "info"]
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_for(self._ready, timeout=40, what=f"the worker to start (log: {self.log})")
        return self

    def _ready(self) -> bool:
        text = self.log.read_bytes()[self.offset:].decode(errors="replace")
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{text[-3000:]}")
        return " ready." in text

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def workers(app, queue, tmp_path):
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(app, queue, tmp_path / "worker.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def crm(api):
    for document in (LEAD, TASK):
        assert api.post("/objects", json=document).status_code == 201
    return api


def add_rule(api, **document):
    response = api.post("/rules", json={"object": "lead", "trigger": {"type": "on_create"}, **document})
    assert response.status_code == 201, response.json
    return response.json


def runs_of(tenant, rule_id):
    with tenant.session(write=False) as session:
        return session.conn.execute(sa.select(rule_runs).where(rule_runs.c.rule_id == rule_id).order_by(rule_runs.c.id)).all()


def outbox_rows(tenant):
    with tenant.session(write=False) as session:
        return session.conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()


def finished(tenant, rule_id, count=1):
    runs = runs_of(tenant, rule_id)
    return len(runs) >= count and all(r.status not in ("queued", "running") for r in runs) and runs


def test_broker_configuration(app, platform):
    from workflow_engine.tasks import CeleryRunner

    celery = app.extensions["celery"]
    assert isinstance(platform.services[RUNNER_SERVICE], CeleryRunner)
    conf = celery.conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert conf.broker_url == BROKER and conf.result_backend is None
    assert conf.beat_schedule["workflow-tick"]["schedule"] == 60.0
    assert {"workflow.run_rule_run", "workflow.deliver_outbox", "workflow.tick"} <= set(celery.tasks.keys())


def test_without_a_broker_work_runs_in_process(tmp_path):
    from workflow_engine.runner import InProcessRunner

    app = create_app(app_config(tmp_path))
    try:
        assert "celery" not in app.extensions
        assert isinstance(get_platform(app).services[RUNNER_SERVICE], InProcessRunner)
    finally:
        get_platform(app).db.dispose()


def test_runs_are_carried_out_by_a_real_worker(crm, tenant, workers):
    rule = add_rule(crm, name="hot", condition="amount > 1000",
                    actions=[{"type": "set_field", "field": "priority", "value": "high"},
                             {"type": "create_record", "object": "task",
                              "values": {"subject": "Call", "lead": {"formula": "id"}}}])
    lead = crm.post("/records/lead", json={"company": "Big", "amount": 5000}).json
    # Committed and queued; nothing runs in this process.
    [run] = runs_of(tenant, rule["id"])
    assert run.status == "queued"
    assert crm.get(f"/records/lead/{lead['id']}").json["priority"] is None

    workers()
    [run] = wait_for(lambda: finished(tenant, rule["id"]), what="the run")
    assert (run.status, run.attempts) == ("succeeded", 1)
    assert crm.get(f"/records/lead/{lead['id']}").json["priority"] == "high"
    assert crm.get("/records/task").json["meta"]["total"] == 1

    # The same run delivered again (a redelivered message, a tick's re-submission) does nothing.
    tenant.platform.services[RUNNER_SERVICE].submit_runs(tenant.slug, [run.id])
    crm.post("/records/lead", json={"company": "Second", "amount": 2000})
    runs = wait_for(lambda: finished(tenant, rule["id"], 2), what="the second run")
    assert [(r.status, r.attempts) for r in runs] == [("succeeded", 1), ("succeeded", 1)]
    assert crm.get("/records/task").json["meta"]["total"] == 2


def test_killed_worker_loses_nothing_and_does_nothing_twice(crm, tenant, workers):
    receiver = WebhookReceiver(hold_first=True).start()
    try:
        rule = add_rule(crm, name="to erp", actions=[
            {"type": "create_record", "object": "task", "values": {"subject": "Welcome call", "lead": {"formula": "id"}}},
            {"type": "webhook", "url": receiver.url + "/hook", "secret": "kill-test-secret"}])
        first = workers()
        lead = crm.post("/records/lead", json={"company": "Acme"}).json
        # The worker ran the rule, then started delivering the webhook: the receiver holds it.
        assert receiver.held.wait(30), "the webhook never arrived"
        first.kill()
        wait_for(lambda: receiver.aborted, timeout=10, what="the receiver to see the killed client go away")
        [entry] = outbox_rows(tenant)
        assert (entry.status, entry.attempts) == ("pending", 0)  # the killed attempt left no trace

        workers()  # the unacknowledged task comes back to the new worker
        wait_for(lambda: outbox_rows(tenant)[0].status == "sent", timeout=40, what="the redelivered webhook")
        [entry] = outbox_rows(tenant)
        assert entry.attempts == 1
        assert len(receiver.completed) == 1 and len(receiver.aborted) == 1
        assert receiver.completed[0].json()["record"]["id"] == lead["id"]
        [run] = runs_of(tenant, rule["id"])
        assert (run.status, run.attempts) == ("succeeded", 1)
        assert crm.get("/records/task").json["meta"]["total"] == 1
    finally:
        receiver.stop()


def _unacked(queue: str) -> list[Any]:
    """Messages a worker has taken from ``queue`` but not acknowledged (Redis transport's bookkeeping)."""
    import redis

    client = redis.Redis.from_url(BROKER)
    try:
        entries = [json.loads(raw) for raw in client.hvals("unacked")]
    finally:
        client.close()
    return [entry for entry in entries if entry[2] == queue]


def test_worker_killed_in_the_middle_of_a_run_leaves_it_to_the_next_worker(crm, tenant, workers, queue):
    rule = add_rule(crm, name="follow up", actions=[
        {"type": "create_record", "object": "task", "values": {"subject": "Call", "lead": {"formula": "id"}}},
        {"type": "set_field", "field": "priority", "value": "high"}])
    lead = crm.post("/records/lead", json={"company": "Acme"}).json
    [run] = runs_of(tenant, rule["id"])
    # Hold the run's row (PostgreSQL) or the tenant's write lock (SQLite): the worker's run blocks.
    conn = tenant.platform.db.tenant_connection(tenant.slug, write=True)
    blocker = conn.begin()
    try:
        conn.execute(sa.select(rule_runs.c.id).where(rule_runs.c.id == run.id).with_for_update())
        first = workers()
        wait_for(lambda: _unacked(queue), timeout=20, what="the worker to take the run")
        first.kill()
    finally:
        blocker.rollback()
        conn.close()
    assert [(r.status, r.attempts) for r in runs_of(tenant, rule["id"])] == [("queued", 0)]

    workers()
    [run] = wait_for(lambda: finished(tenant, rule["id"]), timeout=40, what="the redelivered run")
    assert (run.status, run.attempts) == ("succeeded", 1)
    assert crm.get("/records/task").json["meta"]["total"] == 1
    assert crm.get(f"/records/lead/{lead['id']}").json["priority"] == "high"
    assert _unacked(queue) == []
