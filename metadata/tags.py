"""Tags on records: add, remove, read, and filter lists by them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import ValidationError
from crm_platform.core.session import TenantSession, utcnow

from .tables import record_tags

MAX_TAG_LENGTH = 50
MAX_TAGS_PER_CALL = 100


def clean_tags(tags: Any) -> list[str]:
    """Validate a list of tags: 1-50 characters of text each, no control characters."""
    if not isinstance(tags, list) or len(tags) > MAX_TAGS_PER_CALL:
        raise ValidationError(f"tags must be a list of at most {MAX_TAGS_PER_CALL} strings", {"tags": ["expected a list"]})
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG_LENGTH \
                or any(ord(ch) < 32 for ch in tag):
            raise ValidationError(f"invalid tag {tag!r}: use 1 to {MAX_TAG_LENGTH} printable characters",
                                  {"tags": [f"invalid tag {str(tag)[:60]!r}"]})
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return cleaned


def tags_of(session: TenantSession, object_name: str, record_id: int) -> list[str]:
    return session.conn.execute(
        sa.select(record_tags.c.tag)
        .where(record_tags.c.object == object_name, record_tags.c.record_id == record_id)
        .order_by(record_tags.c.tag)
    ).scalars().all()


def add_tags(session: TenantSession, object_name: str, record_id: int, tags: Iterable[str]) -> list[str]:
    """Add tags (already present ones are kept); answers the tags that were new."""
    present = set(tags_of(session, object_name, record_id))
    new = [t for t in tags if t not in present]
    if new:
        now = utcnow()
        session.conn.execute(record_tags.insert(), [
            {"object": object_name, "record_id": record_id, "tag": t, "created_at": now,
             "created_by": session.actor.user_id} for t in new
        ])
        session.audit("record.tag", object=object_name, record_id=record_id,
                      before={"tags": sorted(present)}, after={"tags": sorted(present | set(new))})
    return new


def remove_tags(session: TenantSession, object_name: str, record_id: int, tags: Iterable[str]) -> list[str]:
    present = set(tags_of(session, object_name, record_id))
    gone = [t for t in tags if t in present]
    if gone:
        session.conn.execute(record_tags.delete().where(
            record_tags.c.object == object_name, record_tags.c.record_id == record_id, record_tags.c.tag.in_(gone)))
        session.audit("record.untag", object=object_name, record_id=record_id,
                      before={"tags": sorted(present)}, after={"tags": sorted(present - set(gone))})
    return gone


def tagged_criterion(table: sa.Table, object_name: str, tag: str) -> Any:
    """WHERE clause: records of ``table`` that carry ``tag``."""
    return table.c.id.in_(
        sa.select(record_tags.c.record_id).where(record_tags.c.object == object_name, record_tags.c.tag == tag)
    )


def tagged_any(table: sa.Table, object_name: str, tags: Iterable[str] | None) -> Any:
    """WHERE clause: records of ``table`` carrying any of ``tags`` (``None``: any tag at all)."""
    chosen = sa.select(record_tags.c.record_id).where(record_tags.c.object == object_name)
    if tags is not None:
        chosen = chosen.where(record_tags.c.tag.in_(list(tags)))
    return table.c.id.in_(chosen)


def tags_by_record(session: TenantSession, object_name: str, record_ids: Iterable[int]) -> dict[int, list[str]]:
    """The tags of several records in one query (records without tags are absent)."""
    ids = list(record_ids)
    found: dict[int, list[str]] = {}
    if not ids:
        return found
    rows = session.conn.execute(
        sa.select(record_tags.c.record_id, record_tags.c.tag)
        .where(record_tags.c.object == object_name, record_tags.c.record_id.in_(ids))
        .order_by(record_tags.c.tag))
    for record_id, tag in rows:
        found.setdefault(record_id, []).append(tag)
    return found


def forget_record(session: TenantSession, object_name: str, record_id: int) -> None:
    session.conn.execute(record_tags.delete().where(
        record_tags.c.object == object_name, record_tags.c.record_id == record_id))
