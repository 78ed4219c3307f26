"""Delivering what rules send out of the database: e-mail over SMTP, webhooks as signed JSON POSTs.

Each outbox row is delivered at most once successfully; a failure is retried with exponential
backoff and, after :data:`MAX_ATTEMPTS`, kept as ``failed`` with its last error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import urllib.error
import urllib.request
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crm_platform.core.database import json_default
from crm_platform.core.session import Actor, tenant_session, utcnow

from .tables import outbox

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

MAX_ATTEMPTS = 5
BACKOFF = timedelta(seconds=30)
SIGNATURE_HEADER = "X-CRM-Signature"
TIMEOUT_SECONDS = 10


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC of the body>``: receivers recompute it with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send_webhook(payload: dict[str, Any], tenant_secret: str) -> None:
    body = json.dumps(payload["body"], default=json_default, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(payload["url"], data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "crm-platform-webhook/1",
        SIGNATURE_HEADER: sign(payload.get("secret") or tenant_secret, body),
    })
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) checked on save
        if not 200 <= response.status < 300:
            raise RuntimeError(f"webhook answered HTTP {response.status}")


def send_email(payload: dict[str, Any], settings: dict[str, Any]) -> None:
    message = EmailMessage()
    message["From"] = settings.get("CRM_MAIL_FROM") or "crm@localhost"
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message.set_content(payload.get("body") or "")
    host, port = settings.get("CRM_SMTP_HOST") or "127.0.0.1", int(settings.get("CRM_SMTP_PORT") or 25)
    with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
        if settings.get("CRM_SMTP_STARTTLS"):
            smtp.starttls()
        if settings.get("CRM_SMTP_USER"):
            smtp.login(settings["CRM_SMTP_USER"], settings.get("CRM_SMTP_PASSWORD") or "")
        smtp.send_message(message)


def deliver(platform: Platform, tenant: str, outbox_id: int) -> str:
    """Try to deliver one outbox entry; answers its status afterwards."""
    with tenant_session(platform, tenant, Actor.system()) as session:
        query = sa.select(outbox).where(outbox.c.id == outbox_id)
        if session.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = session.conn.execute(query).first()
        if row is None or row.status != "pending":
            return row.status if row is not None else "missing"
        error = None
        try:
            if row.kind == "webhook":
                send_webhook(row.payload, platform.settings["CRM_SECRET_KEY"] + tenant)
            elif row.kind == "email":
                send_email(row.payload, platform.settings)
            else:
                error = f"unknown outbox kind {row.kind!r}"
        except (OSError, smtplib.SMTPException, urllib.error.URLError, RuntimeError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, Any] = {"status": "sent", "attempts": attempts, "sent_at": utcnow(), "last_error": None}
        else:
            final = attempts >= MAX_ATTEMPTS
            values = {"status": "failed" if final else "pending", "attempts": attempts, "last_error": error[:4000],
                      "next_attempt_at": utcnow() + BACKOFF * (2 ** (attempts - 1))}
        session.conn.execute(outbox.update().where(outbox.c.id == outbox_id).values(**values))
        return values["status"]
