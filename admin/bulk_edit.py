"""Bulk edit from the list view: the field-typed value pickers, reading the chosen value, and
applying it record by record through the record service (its permission and validation checks
per record), so one refused record is reported without stopping the others."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from crm_platform.core.errors import CRMError, ValidationError
from crm_platform.core.permissions import AccessPolicy
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import users
from metadata import FieldDef, ObjectModel, RecordService, load_model

from .messages import Context, error_message
from .meta import field_label, object_label, option_label, readable_fields, title_field

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


@dataclass(frozen=True)
class Refusal:
    """A record bulk edit did not change: its title (None when the user may not read it) and why."""

    record_id: int
    title: str | None
    reason: str


def apply_bulk(service: RecordService, object_name: str, ids: list[str], name: str,
               value: Any) -> tuple[int, list[Refusal]]:
    """Set ``name`` to ``value`` on each record; answers how many changed and why the others were refused,
    in the user's language."""
    updated, failed = 0, []
    model = service.object(object_name)
    context = Context(model, load_model(service.session))
    for record_id in ids:
        try:
            service.update(object_name, record_id, {name: value})
        except CRMError as exc:
            failed.append((int(record_id), error_message(exc, context)))
        else:
            updated += 1
    titles = readable_titles(service, model, [record_id for record_id, _reason in failed])
    return updated, [Refusal(record_id, titles.get(record_id), reason) for record_id, reason in failed]


def readable_titles(service: RecordService, model: ObjectModel, ids: list[int]) -> dict[int, str]:
    """Titles of the records among ``ids`` the user may read (through the service: their scope and
    field access); a record without a title shows as ``Deal #7``."""
    if not ids:
        return {}
    tree = {"condition": "AND", "rules": [{"field": "id", "operator": "in", "value": ids}]}
    rows, _total = service.list(model.name, service.parse_list(
        model.name, {"filter": [json.dumps(tree)], "per_page": [str(len(ids))]}, max_per_page=len(ids)))
    name = title_field(model)
    shown = name is not None and service.policy.access(model.name, name) not in ("hidden", "masked")
    return {row["id"]: str(row[name]) if shown and row.get(name) not in (None, "")
            else f"{object_label(model)} #{row['id']}" for row in rows}
