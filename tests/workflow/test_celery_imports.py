"""A large import on a real Celery worker with Redis (same harness as test_celery.py)."""

from __future__ import annotations

import io
import json

import pytest

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
