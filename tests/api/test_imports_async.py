"""Large imports as a background task, here on the embedded runner (in-process after commit)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from metadata.import_jobs import execute_import, get_import_status, upload_path
from metadata.importing import imports
from tests.api.test_imports import MAPPING, MEMBER

HEADER = "编号,姓名,积分,入会日期,等级\n"


def rows(count: int, bad: tuple[int, ...] = ()) -> bytes:
    lines = [f"M{i},Member {i},{-1 if i in bad else i},2025-01-01,gold" for i in range(count)]
    return (HEADER + "\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def members(api, platform):
    platform.settings["CRM_IMPORT_ASYNC_ROWS"] = 1000
    assert api.post("/objects", json=MEMBER).status_code == 201
    return api


def send(api, content: bytes, **form):
    data = {"file": (io.BytesIO(content), "big.csv"), "object": "member", "mapping": json.dumps(MAPPING), **form}
    return api.post("/imports", data=data, content_type="multipart/form-data")


def test_a_large_file_runs_as_a_task_and_reports_progress(members, tenant, platform):
    seen: list[tuple[str, int]] = []

    def watch(event):  # after each committed chunk, as another request would see it
        with tenant.session(write=False) as session:
            import_id = session.conn.execute(sa.select(sa.func.max(imports.c.id))).scalar()
            status = get_import_status(session, import_id)
        seen.append((status["status"], status["processed"]))

    # Embedded: the import runs in-process right after the upload commits.
    platform.events.subscribe("record.created", watch)
    try:
        response = send(members, rows(1200), on_error="skip")
    finally:
        platform.events.unsubscribe("record.created", watch)
    assert response.status_code == 201, response.json
    result = members.get(f"/imports/{response.json['id']}").json
    assert (result["status"], result["processed"], result["total"], result["created"]) == ("done", 1200, 1200, 1200)
    assert ("running", 500) in seen and ("running", 1000) in seen
    assert members.get("/records/member").json["meta"]["total"] == 1200
    assert not upload_path(platform, tenant.slug, result["id"]).exists()


def test_embedded_abort_keeps_nothing_and_skip_keeps_the_good_rows(members, platform, tenant):
    failed = send(members, rows(1500, bad=(1400,)))
    assert failed.status_code == 201 and failed.json["status"] == "failed", failed.json
    assert [e["row"] for e in failed.json["errors"]] == [1402] and failed.json["created"] == 0
    assert members.get("/records/member").json["meta"]["total"] == 0
    kept = send(members, rows(1500, bad=(3, 1400)), on_error="skip").json
    assert (kept["status"], kept["created"], kept["skipped"], kept["error_count"]) == ("done", 1498, 2, 2)
    assert members.get("/records/member").json["meta"]["total"] == 1498
    # Delivered again (late acknowledgement): nothing happens twice.
    assert execute_import(platform, tenant.slug, kept["id"]) == "done"
    assert members.get("/records/member").json["meta"]["total"] == 1498


def test_the_file_is_kept_until_the_worker_runs_it(members, platform, tenant):
    platform.services["imports.runner"] = type("Later", (), {"submit_import": lambda self, t, i: None})()
    try:
        queued = send(members, rows(1000))
    finally:
        platform.services.pop("imports.runner")
    assert queued.status_code == 202 and queued.json["status"] == "queued" and queued.json["total"] == 1000
    path = upload_path(platform, tenant.slug, queued.json["id"])
    assert path.exists() and Path(platform.db.instance_path) in path.parents
    assert execute_import(platform, tenant.slug, queued.json["id"]) == "done"
    assert execute_import(platform, tenant.slug, queued.json["id"]) == "done"
    assert members.get(f"/imports/{queued.json['id']}").json["created"] == 1000
    assert members.get("/records/member").json["meta"]["total"] == 1000


def test_crm_import_follows_a_background_import(cli, tmp_path, monkeypatch):
    import uuid

    from crm_platform.app import create_app
    from crm_platform.core.platform import get_platform
    from crm_platform.core.session import Actor, tenant_session
    from metadata import Designer
    from tests.conftest import TEST_DATABASE_URL

    monkeypatch.setenv("CRM_IMPORT_ASYNC_ROWS", "100")
    slug = f"imp-{uuid.uuid4().hex[:8]}"
    assert cli("tenant", "create", slug).exit_code == 0
    config = {"INSTANCE_PATH": str(tmp_path / "instance")}
    if TEST_DATABASE_URL:
        config["CRM_DATABASE_URL"] = TEST_DATABASE_URL
    platform = get_platform(create_app(config))
    with tenant_session(platform, slug, Actor.system()) as session:
        Designer(session).create_object(MEMBER)
    platform.db.dispose()
    big = tmp_path / "big.csv"
    big.write_bytes(rows(300))
    result = cli("import", "--tenant", slug, "--object", "member", "--file", str(big), "--mapping", json.dumps(MAPPING))
    assert result.exit_code == 0, result.output
    assert "done: 300 created" in result.output


def test_the_tick_sends_again_an_import_whose_message_was_lost(members, platform, tenant):
    from datetime import timedelta

    from crm_platform.core.session import utcnow
    from workflow_engine.scheduler import tick

    platform.services["imports.runner"] = type("Lost", (), {"submit_import": lambda self, t, i: None})()
    try:
        queued = send(members, rows(1000)).json
    finally:
        platform.services.pop("imports.runner")
    tick(platform, tenants=[tenant.slug])  # just uploaded: it may still be on its way
    assert members.get(f"/imports/{queued['id']}").json["status"] == "queued"
    tick(platform, now=utcnow() + timedelta(minutes=10), tenants=[tenant.slug])
    assert members.get(f"/imports/{queued['id']}").json["status"] == "done"
    assert members.get("/records/member").json["meta"]["total"] == 1000


def test_a_lost_upload_fails_the_import_with_a_reason(members, platform, tenant):
    platform.services["imports.runner"] = type("Later", (), {"submit_import": lambda self, t, i: None})()
    try:
        queued = send(members, rows(1000)).json
    finally:
        platform.services.pop("imports.runner")
    upload_path(platform, tenant.slug, queued["id"]).unlink()
    assert execute_import(platform, tenant.slug, queued["id"]) == "failed"
    result = members.get(f"/imports/{queued['id']}").json
    assert result["status"] == "failed" and "uploaded file is gone" in result["errors"][-1]["reason"]
