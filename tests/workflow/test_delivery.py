"""Delivery of what rules send out: e-mail to a real SMTP server, webhooks to a real HTTP server,
with retries and backoff driven by the scheduler tick (time moves by passing ``now``)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm_platform.app import create_app
from crm_platform.core.platform import get_platform
from crm_platform.core.session import utcnow
from tests.workflow.receivers import WebhookReceiver, app_config, smtp_server  # noqa: F401 - the smtp fixture
from workflow_engine import outbox as outbox_module
from workflow_engine.scheduler import tick
from workflow_engine.tables import outbox, rule_runs

CONTACT = {
    "name": "contact",
    "label": "Contact",
    "fields": [
        {"name": "name", "type": "text", "required": True},
        {"name": "email", "type": "email"},
        {"name": "company", "type": "text"},
    ],
}
SECRET = "webhook-secret-1234"


@pytest.fixture
def app(tmp_path, smtp):  # the suite's app, with its SMTP server on loopback
    app = create_app(app_config(tmp_path, CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=smtp.port,
                                CRM_MAIL_FROM="crm@example.com"))
    yield app
    get_platform(app).db.dispose()


@pytest.fixture
def contacts(api):
    assert api.post("/objects", json=CONTACT).status_code == 201
    return api


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


def add_rule(api, **document):
    response = api.post("/rules", json={"object": "contact", "trigger": {"type": "on_create"}, **document})
    assert response.status_code == 201, response.json
    return response.json


def outbox_rows(tenant):
    with tenant.session(write=False) as session:
        return session.conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()


def retry_until_settled(tenant, row_id, limit=10):
    """Tick at each retry moment until the entry is sent or failed; answers (attempts, delays) seen."""
    delays = []
    for _ in range(limit):
        row = next(r for r in outbox_rows(tenant) if r.id == row_id)
        if row.status != "pending":
            return row, delays
        tick(tenant.platform, now=row.next_attempt_at, tenants=[tenant.slug])
        before = utcnow()
        after = next(r for r in outbox_rows(tenant) if r.id == row_id)
        if after.status == "pending":
            delays.append((after.next_attempt_at - before).total_seconds())
    raise AssertionError("the outbox entry never settled")


def test_send_email_rule_delivers_over_smtp(contacts, tenant, smtp):
    add_rule(contacts, name="welcome", actions=[{"type": "send_email", "to": "email",
                                                 "subject": "Welcome, {{ record.name }}",
                                                 "body": "Hello {{ record.name }} from {{ record.company }}"}])
    contacts.post("/records/contact", json={"name": "Li Wei", "email": "li@example.com", "company": "Acme"})
    assert [(m["to"], m["subject"]) for m in smtp.messages] == [(["li@example.com"], "Welcome, Li Wei")]
    assert smtp.messages[0]["from"] == "crm@example.com"
    assert "Hello Li Wei from Acme" in smtp.messages[0]["body"]
    [row] = outbox_rows(tenant)
    assert (row.kind, row.status, row.attempts, row.last_error) == ("email", "sent", 1, None)


def test_email_is_retried_with_backoff_then_failed_and_recovers_when_the_server_is_back(contacts, tenant, smtp):
    add_rule(contacts, name="welcome", actions=[{"type": "send_email", "to": "email", "subject": "Hi {{ record.name }}"}])
    smtp.stop()
    contacts.post("/records/contact", json={"name": "A", "email": "a@example.com"})
    [row] = outbox_rows(tenant)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert 25 <= (row.next_attempt_at - utcnow()).total_seconds() <= 31
    final, delays = retry_until_settled(tenant, row.id)
    assert (final.status, final.attempts) == ("failed", outbox_module.MAX_ATTEMPTS)
    assert final.last_error
    # exponential backoff: 60, 120, 240 seconds after attempts 2, 3, 4
    assert [round(d / 10) * 10 for d in delays] == [60, 120, 240]
    # a failed entry stays failed; the run that queued it is in the run log with the outbox id
    tick(tenant.platform, now=utcnow() + timedelta(days=30), tenants=[tenant.slug])
    assert outbox_rows(tenant)[0].attempts == outbox_module.MAX_ATTEMPTS
    with tenant.session(write=False) as session:
        run = session.conn.execute(sa.select(rule_runs)).one()
    assert run.status == "succeeded" and run.outcomes[0]["result"]["queued"] == [row.id]

    contacts.post("/records/contact", json={"name": "B", "email": "b@example.com"})
    second = outbox_rows(tenant)[-1]
    assert (second.status, second.attempts) == ("pending", 1)
    smtp.start()
    counts = tick(tenant.platform, now=second.next_attempt_at, tenants=[tenant.slug])
    assert counts["outbox_resubmitted"] == 1
    assert (outbox_rows(tenant)[-1].status, outbox_rows(tenant)[-1].attempts) == ("sent", 2)
    assert [m["to"] for m in smtp.messages] == [["b@example.com"]]


def test_webhook_posts_signed_json(contacts, tenant, receiver):
    rule = add_rule(contacts, name="notify erp", actions=[{"type": "webhook", "url": receiver.url + "/crm/hook",
                                                           "secret": SECRET}])
    created = contacts.post("/records/contact", json={"name": "Zhang", "company": "北京贸易"}).json
    [receipt] = receiver.received
    assert receipt.path == "/crm/hook"
    assert receipt.headers["content-type"].startswith("application/json")
    body = receipt.json()
    assert body["rule"] == {"id": rule["id"], "name": "notify erp", "version": 1}
    assert body["event"]["type"] == "record.created"
    assert body["object"] == "contact"
    assert body["record"]["id"] == created["id"] and body["record"]["company"] == "北京贸易"
    expected = "sha256=" + hmac.new(SECRET.encode(), receipt.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(receipt.headers["x-crm-signature"], expected)
    forged = "sha256=" + hmac.new(b"another-secret", receipt.body, hashlib.sha256).hexdigest()
    assert receipt.headers["x-crm-signature"] != forged
    [row] = outbox_rows(tenant)
    assert (row.kind, row.status, row.attempts) == ("webhook", "sent", 1)


def test_webhook_without_its_own_secret_is_signed_with_the_tenant_secret(contacts, tenant, receiver, platform):
    add_rule(contacts, name="plain", actions=[{"type": "webhook", "url": receiver.url}])
    contacts.post("/records/contact", json={"name": "A"})
    [receipt] = receiver.received
    tenant_secret = platform.settings["CRM_SECRET_KEY"] + tenant.slug
    assert receipt.headers["x-crm-signature"] == outbox_module.sign(tenant_secret, receipt.body)


def test_failing_webhook_is_retried_with_backoff_then_failed(contacts, tenant, receiver):
    receiver.status = 500
    add_rule(contacts, name="erp", actions=[{"type": "webhook", "url": receiver.url, "secret": SECRET}])
    contacts.post("/records/contact", json={"name": "A"})
    [row] = outbox_rows(tenant)
    assert (row.status, row.attempts) == ("pending", 1) and "500" in row.last_error
    # not due yet: a tick now does nothing
    assert tick(tenant.platform, now=utcnow(), tenants=[tenant.slug])["outbox_resubmitted"] == 0
    final, delays = retry_until_settled(tenant, row.id)
    assert (final.status, final.attempts) == ("failed", outbox_module.MAX_ATTEMPTS)
    assert "500" in final.last_error
    assert [round(d / 10) * 10 for d in delays] == [60, 120, 240]
    assert len(receiver.received) == outbox_module.MAX_ATTEMPTS
    # every attempt carried the same signed body
    assert len({r.body for r in receiver.received}) == 1
