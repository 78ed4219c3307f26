"""A large import on a real Celery worker with Redis (same harness as test_celery.py)."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from metadata import load_model
from metadata.import_jobs import IMPORT_RUNNER_SERVICE, upload_path
from tests.api.test_imports import MAPPING, MEMBER
from tests.api.test_imports_async import rows
from tests.workflow.receivers import wait_for
from tests.workflow.test_celery import app, queue, workers  # noqa: F401 - the worker harness


@pytest.fixture
def members(api, platform):
    platform.settings["CRM_IMPORT_ASYNC_ROWS"] = 1000
    assert api.post("/objects", json=MEMBER).status_code == 201
    return api


def test_a_large_import_is_carried_out_by_a_real_worker(members, tenant, platform, workers):
    from workflow_engine.tasks import CeleryRunner

    assert isinstance(platform.services[IMPORT_RUNNER_SERVICE], CeleryRunner)
    data = {"file": (io.BytesIO(rows(2500, bad=(7,))), "big.csv"), "object": "member",
            "mapping": json.dumps(MAPPING), "on_error": "skip"}
    queued = members.post("/imports", data=data, content_type="multipart/form-data")
    assert queued.status_code == 202 and queued.json["status"] == "queued", queued.json
    import_id = queued.json["id"]
    assert upload_path(platform, tenant.slug, import_id).exists()
    assert members.get("/records/member").json["meta"]["total"] == 0  # nothing runs in this process

    workers()
    seen = []

    def finished():
        status = members.get(f"/imports/{import_id}").json
        seen.append(status["processed"])
        return status["status"] in ("done", "failed") and status

    result = wait_for(finished, timeout=120, what="the import")
    assert (result["status"], result["created"], result["skipped"], result["total"]) == ("done", 2499, 1, 2500)
    assert result["errors"][0]["row"] == 9 and result["errors"][0]["column"] == "积分"
    assert seen == sorted(seen)  # progress only moves forward
    assert members.get("/records/member").json["meta"]["total"] == 2499
    assert not upload_path(platform, tenant.slug, import_id).exists()

    # The same task delivered again does nothing twice.
    platform.services[IMPORT_RUNNER_SERVICE].submit_import(tenant.slug, import_id)
    failing = members.post("/imports", data={**data, "file": (io.BytesIO(rows(1200, bad=(1100,))), "bad.csv"),
                                             "on_error": "abort"}, content_type="multipart/form-data").json
    result = wait_for(lambda: (s := members.get(f"/imports/{failing['id']}").json)["status"] in ("done", "failed") and s,
                      timeout=120, what="the second import")
    assert result["status"] == "failed" and result["created"] == 0
    assert members.get("/records/member").json["meta"]["total"] == 2499


def test_an_all_or_nothing_import_shows_progress_and_keeps_nothing_until_it_commits(members, tenant, platform,
                                                                                     workers):
    """On PostgreSQL a row the import must update is held locked by this test, so the worker stops
    mid-file: its progress is visible while none of its rows are. (SQLite has one writer at a time,
    so there the worker could not even start while we hold a lock: only the outcome is checked.)"""
    members.post("/imports", data={"file": (io.BytesIO(rows(1)), "one.csv"), "object": "member",
                                   "mapping": json.dumps(MAPPING)},
                 content_type="multipart/form-data")
    content = rows(1800)  # M0 (already there, updated by the upsert) ... M1799
    locker = None
    if platform.db.control_engine.dialect.name == "postgresql":
        locker = platform.db.tenant_connection(tenant.slug, write=True)
        locker.begin()
        with tenant.session(write=False) as session:
            table = load_model(session).object("member").table
        locker.execute(sa.update(table).where(table.c.code == "M0").values(points=7))
        # The file puts M0 last: the import blocks there, after every other row.
        header, *lines = content.decode().splitlines()
        content = "\n".join([header, *lines[1:], lines[0]]).encode()
    queued = members.post("/imports", data={"file": (io.BytesIO(content), "big.csv"), "object": "member",
                                            "mapping": json.dumps(MAPPING), "mode": "upsert", "key": "code"},
                          content_type="multipart/form-data").json
    assert queued["status"] == "queued", queued
    workers()
    try:
        if locker is not None:
            def blocked() -> dict:
                status = members.get(f"/imports/{queued['id']}").json
                return status["processed"] >= 1500 and status

            running = wait_for(blocked, timeout=120, what="the import to report progress")
            assert running["status"] == "running" and running["total"] == 1800
            assert members.get("/records/member").json["meta"]["total"] == 1  # nothing of it is visible yet
            locker.rollback()
    finally:
        if locker is not None:
            locker.close()
    result = wait_for(lambda: (s := members.get(f"/imports/{queued['id']}").json)["status"] in ("done", "failed") and s,
                      timeout=120, what="the import")
    assert (result["status"], result["created"], result["updated"], result["processed"]) == ("done", 1799, 1, 1800)
    assert members.get("/records/member").json["meta"]["total"] == 1800
