"""Files on records: stored content-addressed under the instance folder, versioned by file name.

Uploading a file whose name the record already has adds a version; every version stays
downloadable. The declared type must match what the bytes are (a renamed executable is refused),
and the size is limited (``CRM_MAX_ATTACHMENT_MB``).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, ValidationError
from crm_platform.core.session import TenantSession, utcnow

from .sql_types import UTCDateTime
from .tables import tenant_metadata

attachments = sa.Table(
    "sys_attachments",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_sys_attachments_record", "object", "record_id", "filename"),
)

#: Content types we accept, with the leading bytes their files start with (None: text).
SIGNATURES: dict[str, tuple[bytes, ...] | None] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
    "application/zip": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (b"PK\x03\x04",),
    "text/plain": None,
    "text/csv": None,
}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def attachment_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {k: m[k] for k in ("id", "object", "record_id", "filename", "version", "content_type", "size", "sha256",
                              "created_by")} | {"created_at": _iso(m["created_at"])}


def storage_root(session: TenantSession) -> Path:
    return session.platform.db.instance_path / "attachments" / session.tenant


def _check(filename: str, content: bytes, max_bytes: int) -> tuple[str, str]:
    name = _UNSAFE_NAME.sub("_", (filename or "").strip())[:255]
    if not name or name in (".", ".."):
        raise ValidationError("the file needs a name", {"file": ["missing file name"]})
    if not content:
        raise ValidationError("the file is empty", {"file": ["empty file"]})
    if len(content) > max_bytes:
        raise ValidationError(f"the file is larger than {max_bytes // (1024 * 1024)} MB", {"file": ["too large"]})
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type not in SIGNATURES:
        raise ValidationError(f"files of type {content_type} are not accepted", {"file": [f"type {content_type} not accepted"]})
    signatures = SIGNATURES[content_type]
    if signatures is None:
        if b"\x00" in content[:8192]:
            raise ValidationError(f"{name} is not a text file", {"file": ["content does not match the type"]})
    elif not content.startswith(signatures):
        raise ValidationError(f"{name} is not really {content_type}", {"file": ["content does not match the type"]})
    return name, content_type


def add_attachment(session: TenantSession, object_name: str, record_id: int, filename: str, content: bytes,
                   max_bytes: int) -> dict[str, Any]:
    name, content_type = _check(filename, content, max_bytes)
    digest = hashlib.sha256(content).hexdigest()
    path = storage_root(session) / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        temporary.write_bytes(content)
        temporary.replace(path)
    version = (session.conn.execute(sa.select(sa.func.max(attachments.c.version)).where(
        attachments.c.object == object_name, attachments.c.record_id == record_id,
        attachments.c.filename == name)).scalar() or 0) + 1
    attachment_id = session.conn.execute(attachments.insert().values(
        object=object_name, record_id=record_id, filename=name, version=version, content_type=content_type,
        size=len(content), sha256=digest, created_by=session.actor.user_id, created_at=utcnow(),
    )).inserted_primary_key[0]
    created = get_attachment(session, attachment_id)
    session.audit("attachment.create", object=object_name, record_id=record_id, after=created)
    return created


def get_attachment(session: TenantSession, attachment_id: Any) -> dict[str, Any]:
    try:
        key = int(attachment_id)
    except (TypeError, ValueError):
        raise NotFound(f"attachment {attachment_id!r} does not exist") from None
    row = session.conn.execute(sa.select(attachments).where(attachments.c.id == key)).first()
    if row is None:
        raise NotFound(f"attachment {attachment_id!r} does not exist")
    return attachment_json(row)


def attachment_content(session: TenantSession, attachment: dict[str, Any]) -> bytes:
    path = storage_root(session) / attachment["sha256"][:2] / attachment["sha256"]
    if not path.exists():
        raise NotFound(f"the content of attachment {attachment['id']} is missing")
    return path.read_bytes()


def record_attachments(session: TenantSession, object_name: str, record_id: int) -> list[dict[str, Any]]:
    rows = session.conn.execute(sa.select(attachments).where(
        attachments.c.object == object_name, attachments.c.record_id == record_id
    ).order_by(attachments.c.filename, attachments.c.version.desc())).all()
    return [attachment_json(r) for r in rows]


def delete_attachment(session: TenantSession, attachment_id: Any) -> None:
    """Delete one version (the stored bytes stay while other versions or records share them)."""
    before = get_attachment(session, attachment_id)
    session.conn.execute(attachments.delete().where(attachments.c.id == before["id"]))
    session.audit("attachment.delete", object=before["object"], record_id=before["record_id"], before=before)


def attachment_ids(session: TenantSession, object_name: str, record_id: int) -> list[int]:
    """The ids of a record's attachments (what a merge moves, so that undo can move them back)."""
    return list(session.conn.execute(sa.select(attachments.c.id).where(
        attachments.c.object == object_name, attachments.c.record_id == record_id).order_by(attachments.c.id)).scalars())


def move_attachments_back(session: TenantSession, object_name: str, ids: list[int], from_id: int, to_id: int) -> int:
    """Move the named attachments from one record to another (those still on ``from_id``)."""
    if not ids:
        return 0
    return session.conn.execute(attachments.update().where(
        attachments.c.object == object_name, attachments.c.record_id == from_id, attachments.c.id.in_(ids))
        .values(record_id=to_id)).rowcount


def move_attachments(session: TenantSession, object_name: str, from_id: int, to_id: int) -> int:
    return session.conn.execute(attachments.update().where(
        attachments.c.object == object_name, attachments.c.record_id == from_id).values(record_id=to_id)).rowcount


def forget_attachments(session: TenantSession, object_name: str, record_id: int) -> None:
    session.conn.execute(attachments.delete().where(attachments.c.object == object_name,
                                                    attachments.c.record_id == record_id))
