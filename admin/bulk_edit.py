"""Bulk edit from the list view: the field-typed value pickers, reading the chosen value, and
applying it record by record through the record service (its permission and validation checks
per record), so one refused record is reported without stopping the others."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from crm_platform.core.errors import CRMError, ValidationError
from crm_platform.core.permissions import AccessPolicy
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import users
from metadata import FieldDef, ObjectModel, RecordService

from .meta import field_label, option_label, readable_fields

NUMBER_TYPES = {"integer": "1", "decimal": "any", "currency": "0.01", "percent": "any"}
SKIPPED_TYPES = ("rich_text", "multi_picklist")


def bulk_kind(fd: FieldDef) -> str:
    """The picker a field gets: select, date, datetime, checkbox, lookup, user, number or text."""
    if fd.type == "picklist":
        return "select"
    if fd.type in ("date", "datetime", "lookup", "user"):
        return fd.type
    if fd.type == "boolean":
        return "checkbox"
    if fd.type in NUMBER_TYPES:
        return "number"
    return "text"


def bulk_fields(session: TenantSession, policy: AccessPolicy, model: ObjectModel) -> list[dict[str, Any]]:
    """The fields this user may set in bulk, each with its picker."""
    unwritable = policy.unwritable(model.name)
    people: list[tuple[str, str]] | None = None
    fields = []
    for fd in readable_fields(policy, model):
        if fd.computed or fd.name in unwritable or fd.type in SKIPPED_TYPES:
            continue
        kind = bulk_kind(fd)
        entry: dict[str, Any] = {"name": fd.name, "label": field_label(model, fd.name), "kind": kind,
                                 "step": NUMBER_TYPES.get(fd.type), "target": fd.target if kind == "lookup" else None}
        if kind == "select":
            entry["options"] = [(o["value"], option_label(fd, o["value"])) for o in fd.options]
        elif kind == "user":
            if people is None:
                rows = session.conn.execute(sa.select(users.c.id, users.c.name, users.c.email)
                                            .where(users.c.active.is_(True)).order_by(users.c.name)).all()
                people = [(str(r.id), r.name or r.email) for r in rows]
            entry["options"] = people
        fields.append(entry)
    return fields


def bulk_value(fd: FieldDef, raw: str | None) -> Any:
    """The submitted value as the record service takes it (an empty picker clears the field)."""
    if fd.type == "boolean":
        return (raw or "").lower() in ("1", "true", "yes", "on")
    text = (raw or "").strip()
    if text == "":
        return None
    if fd.type in ("lookup", "user"):
        if not text.isdigit():
            raise ValidationError(_("Choose a record from the list."), {fd.name: ["expected a record id"]})
        return int(text)
    return text


def apply_bulk(service: RecordService, object_name: str, ids: list[str], name: str, value: Any) -> tuple[int, list[tuple[str, str]]]:
    """Set ``name`` to ``value`` on each record; answers how many changed and (id, reason) of the others."""
    updated, failed = 0, []
    for record_id in ids:
        try:
            service.update(object_name, record_id, {name: value})
        except CRMError as exc:
            reasons = [f"{m}" for messages in (exc.details or {}).values()
                       for m in (messages if isinstance(messages, list) else [messages])]
            failed.append((record_id, "; ".join(reasons) if reasons and exc.status == 422 else exc.message))
        else:
            updated += 1
    return updated, failed
