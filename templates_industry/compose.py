"""Turning a pack's items into the platform's documents, and the stable keys and checksums that
record what a pack installed.

Stable keys (``kind`` / ``key``):

- ``object`` / ``lead``: an object's header (label, label_plural, description, title_field)
- ``field`` / ``lead.region``, ``layout`` / ``lead.form``, ``pipeline`` / ``opportunity``
- ``role`` / ``sales_rep`` (label and flags), ``access`` / ``sales_rep.lead`` (the permission row),
  ``field_access`` / ``advisor.client.id_number``
- ``approval`` / ``quote.discount_approval``, ``rule`` / ``lead_round_robin`` (the pack's key)
- ``report`` / ``leads_by_source``, ``dashboard`` / ``sales_overview`` (the pack's key)
- ``user`` / ``wang.fang@example.com``, ``record`` / ``account:acc_huadong`` (sample data)
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from crm_platform.core.roles import ACTIONS
from metadata.definitions import ObjectDef, content_key

from .pack import CsvRow, Item, Pack

HEADER_KEYS = ("label", "label_plural", "description", "title_field")
ROLE_FLAGS = ("customize", "manage_users", "audit")


def checksum(document: Any) -> str:
    """A checksum of a JSON document that ignores key order."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def same_document(document: Any, other: Any) -> bool:
    """Whether two JSON documents surely have the same checksum, found without computing it: their
    pickles are the same, so they hold the same values of the same types (Python's ``==`` takes
    ``1``, ``1.0`` and ``True`` for one another, a checksum does not). Equal documents built
    differently (sharing some part, or with their keys in another order) may answer False."""
    return pickle.dumps(document, pickle.HIGHEST_PROTOCOL) == pickle.dumps(other, pickle.HIGHEST_PROTOCOL)


def part_checksum(pack: Pack, kind: str, key: str, document: Any) -> str:
    """``checksum(document)``, where ``document`` is the pack's own part (kind, key): computed once
    per pack as read, since every plan into every tenant compares every part of the pack. Each part
    is always derived the same way from the pack's unchanging documents, so the key names it."""
    return pack.derive(("checksum", kind, key), lambda: checksum(document))


# -- objects -------------------------------------------------------------------------------------


def pack_object(pack: Pack, name: str) -> tuple[ObjectDef, str | None]:
    """The pack's object ``name`` as an ObjectDef, and its content key: made once per pack as read
    (shared, read-only, like the pack's documents)."""
    def make() -> tuple[ObjectDef, str | None]:
        obj = ObjectDef.from_document(pack.objects[name].document)
        return obj, content_key(obj.document)

    return pack.derive(("object", name), make)


def object_header(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: document[key] for key in HEADER_KEYS if document.get(key) is not None}


def object_parts(document: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    """Every stable part of an object document, keyed by (kind, key)."""
    name = document["name"]
    parts: dict[tuple[str, str], Any] = {("object", name): object_header(document)}
    for fd in document.get("fields") or []:
        parts[("field", f"{name}.{fd['name']}")] = fd
    for layout_name, layout in (document.get("layouts") or {}).items():
        parts[("layout", f"{name}.{layout_name}")] = layout
    if document.get("pipeline"):
        parts[("pipeline", name)] = document["pipeline"]
    return parts


def extension_parts(document: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    """The stable parts an object extension adds: its fields and its own layouts."""
    name = document["extends"]
    parts: dict[tuple[str, str], Any] = {}
    for fd in document.get("fields") or []:
        parts[("field", f"{name}.{fd['name']}")] = fd
    for layout_name, layout in (document.get("layouts") or {}).items():
        parts[("layout", f"{name}.{layout_name}")] = layout
    return parts


def extended(document: Mapping[str, Any], extension: Mapping[str, Any]) -> dict[str, Any]:
    """An object document with an extension's fields and layouts added."""
    return {**document, "fields": [*(document.get("fields") or []), *extension.get("fields", [])],
            "layouts": {**(document.get("layouts") or {}), **(extension.get("layouts") or {})}}


# -- roles ---------------------------------------------------------------------------------------


def role_header(document: Mapping[str, Any]) -> dict[str, Any]:
    header = {"label": document.get("label") or document["name"]}
    for flag in ROLE_FLAGS:
        header[flag] = bool(document.get(flag, False))
    return header


def access_entry(row: Mapping[str, str]) -> dict[str, str]:
    return {action: row.get(action) or "none" for action in ACTIONS}


def field_access_entry(row: Mapping[str, str]) -> dict[str, Any]:
    """``{"access": "masked", "mask": {"keep_last": 4}}`` (mask only when the row gives one)."""
    entry: dict[str, Any] = {"access": row["access"]}
    mask = {key: int(row[key]) for key in ("keep_last", "keep_first") if row.get(key)}
    if mask and row["access"] == "masked":
        entry["mask"] = mask
    return entry


def role_parts(document: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    """The stable parts of a stored role document."""
    name = document["name"]
    parts: dict[tuple[str, str], Any] = {("role", name): role_header(document)}
    for object_name, entry in (document.get("permissions") or {}).items():
        parts[("access", f"{name}.{object_name}")] = {action: entry.get(action, "none") for action in ACTIONS}
    masks = document.get("masks") or {}
    for object_name, fields in (document.get("field_access") or {}).items():
        for field_name, access in fields.items():
            entry: dict[str, Any] = {"access": access}
            mask = (masks.get(object_name) or {}).get(field_name)
            if mask:
                entry["mask"] = mask
            parts[("field_access", f"{name}.{object_name}.{field_name}")] = entry
    return parts


def set_role_part(document: dict[str, Any], kind: str, key: str, value: Any) -> None:
    """Write one stable part into a role document (in place)."""
    if kind == "role":
        document.update(value)
        return
    _, object_name, *rest = key.split(".")
    if kind == "access":
        document.setdefault("permissions", {})[object_name] = dict(value)
        return
    field_name = rest[0]
    document.setdefault("field_access", {}).setdefault(object_name, {})[field_name] = value["access"]
    masks = document.setdefault("masks", {})
    if value.get("mask"):
        masks.setdefault(object_name, {})[field_name] = dict(value["mask"])
    elif field_name in (masks.get(object_name) or {}):
        masks[object_name].pop(field_name)
        if not masks[object_name]:
            masks.pop(object_name)
    if not masks:
        document.pop("masks")


def pack_role_parts(pack: Pack) -> dict[tuple[str, str], tuple[Item, Any]]:
    """The role parts a pack declares (headers, access rows, field access rows) with their items
    (made once per pack as read: read-only)."""
    return pack.derive("role_parts", lambda: _pack_role_parts(pack))


def _pack_role_parts(pack: Pack) -> dict[tuple[str, str], tuple[Item, Any]]:
    parts: dict[tuple[str, str], tuple[Item, Any]] = {}
    for name, item in pack.roles.items():
        parts[("role", name)] = (item, role_header(item.document))
    for item in pack.access:
        row = item.document
        parts[("access", f"{row['role']}.{row['object']}")] = (item, access_entry(row))
    for item in pack.field_access:
        row = item.document
        parts[("field_access", f"{row['role']}.{row['object']}.{row['field']}")] = (item, field_access_entry(row))
    return parts


def empty_role(name: str) -> dict[str, Any]:
    return {"name": name, "label": name, **{flag: False for flag in ROLE_FLAGS}, "permissions": {}, "field_access": {}}


# -- rules and approvals ---------------------------------------------------------------------------


def rule_document(item: Item) -> dict[str, Any]:
    """A pack's rule entry as the workflow engine takes it (without the pack's ``key``)."""
    return {k: v for k, v in item.document.items() if k != "key"}


def report_document(item: Item) -> dict[str, Any]:
    """A pack's report entry as the report service takes it: without the pack's ``key``, shared."""
    return {**{k: v for k, v in item.document.items() if k != "key"}, "shared": True}


def check_pack_report(model: Any, document: dict[str, Any]) -> dict[str, Any]:
    """The report as it will be stored (checked against ``model``, a compiled tenant model), shared;
    raises ``ValidationError`` naming each problem, or ``NotFound`` for an unknown object."""
    from metadata.reports import check_report

    checked = check_report(model.object(document.get("object")), document, frozenset())
    return {**checked, "shared": True}


def normalize_path(path: str) -> str:
    """``actions.0.value`` (jsonschema) -> ``actions[0].value``."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)


# -- sample data -----------------------------------------------------------------------------------

RELATIVE_DATE = re.compile(r"^today(?:([+-])(\d{1,5}))?$")
RELATIVE_MOMENT = re.compile(r"^now(?:([+-])(\d{1,6})([dhm]))?$")
SAMPLE_SYSTEM_COLUMNS = ("key", "owner", "stage")


def relative_value(field_type: str, cell: str, now: datetime) -> str | None:
    """``today+30`` for a date, ``now-2h`` for a datetime, as ISO text; None when the cell is literal."""
    if field_type == "date":
        match = RELATIVE_DATE.match(cell)
        if match:
            days = int(match.group(2) or 0) * (-1 if match.group(1) == "-" else 1)
            return (now.date() + timedelta(days=days)).isoformat()
    if field_type == "datetime":
        match = RELATIVE_MOMENT.match(cell)
        if match:
            amount = int(match.group(2) or 0) * (-1 if match.group(1) == "-" else 1)
            unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(3) or "m"]
            moment = now + timedelta(**{unit: amount})
            return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return None


def sample_record(model: Any, row: CsvRow, resolve_key: Callable[[str, str], Any],
                  resolve_user: Callable[[str], Any], now: datetime | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """A CSV row of sample records as record data for the record service, and the problems by column.

    ``resolve_key(object, key)`` answers a record id (or raises ``LookupError``), ``resolve_user(email)``
    a user id (or raises ``LookupError``).
    """
    now = now or datetime.now(timezone.utc)
    data: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for column, cell in row.values.items():
        if column == "key" or cell == "":
            continue
        try:
            if column == "owner":
                data["owner_id"] = resolve_user(cell)
            elif column == "stage":
                if not model.has_pipeline:
                    problems[column] = f"{model.name} has no pipeline"
                data["stage"] = cell
            elif column in model.fields:
                fd = model.fields[column]
                if fd.computed:
                    problems[column] = f"a {fd.type} field is computed; leave the column out"
                elif fd.type == "lookup":
                    data[column] = resolve_key(fd.target, cell)
                elif fd.type == "user":
                    data[column] = resolve_user(cell)
                elif fd.type == "multi_picklist":
                    data[column] = [part.strip() for part in cell.split(";") if part.strip()]
                else:
                    data[column] = relative_value(fd.type, cell, now) or cell
            else:
                problems[column] = f"{model.name} has no field {column!r}"
        except LookupError as exc:
            problems[column] = str(exc.args[0]) if exc.args else f"unknown reference {cell!r}"
    return data, problems


def split_roles(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def today() -> date:
    return datetime.now(timezone.utc).date()


def ordered_unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
