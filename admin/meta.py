"""Metadata as the UI reads it: labels in the user's language, title fields, what a user may see.

A field the user's roles hide is left out of every list built here, so no template can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from crm_platform.core.permissions import AccessPolicy
from metadata import FieldDef, ObjectModel, layout_of

from .i18n import label

TITLE_TYPES = ("text", "autonumber", "email", "phone")
SYSTEM_LABELS = {
    "id": lambda: _("ID"),
    "created_at": lambda: _("Created"),
    "updated_at": lambda: _("Last modified"),
    "created_by": lambda: _("Created by"),
    "updated_by": lambda: _("Modified by"),
    "owner_id": lambda: _("Owner"),
    "version": lambda: _("Version"),
    "stage": lambda: _("Stage"),
    "_tags": lambda: _("Tags"),
}

#: Field types by what the designers call them.
TYPE_LABELS = {
    "text": lambda: _("Text"), "textarea": lambda: _("Long text"), "rich_text": lambda: _("Rich text"),
    "integer": lambda: _("Whole number"), "decimal": lambda: _("Decimal number"), "currency": lambda: _("Currency"),
    "percent": lambda: _("Percent"), "boolean": lambda: _("Checkbox"), "date": lambda: _("Date"),
    "datetime": lambda: _("Date and time"), "email": lambda: _("E-mail"), "phone": lambda: _("Phone"),
    "url": lambda: _("URL"), "picklist": lambda: _("Picklist"), "multi_picklist": lambda: _("Multi-select picklist"),
    "lookup": lambda: _("Lookup (relationship)"), "user": lambda: _("User"), "formula": lambda: _("Formula"),
    "autonumber": lambda: _("Auto number"),
}


def type_label(name: Any) -> str:
    """A field type in the user's language (an unknown one as it came)."""
    maker = TYPE_LABELS.get(str(name))
    return maker() if maker is not None else str(name)


def object_label(model: ObjectModel, plural: bool = False) -> str:
    document = model.definition.document
    if plural and document.get("label_plural"):
        return label(document["label_plural"], model.name)
    return label(document.get("label"), model.name)


def title_field(model: ObjectModel) -> str | None:
    named = model.definition.document.get("title_field")
    if named and named in model.fields:
        return named
    if "name" in model.fields:
        return "name"
    for fd in model.definition.fields:
        if fd.type in TITLE_TYPES:
            return fd.name
    return None


def field_label(model: ObjectModel, name: str) -> str:
    fd = model.fields.get(name)
    if fd is not None:
        return label(fd.label, name)
    maker = SYSTEM_LABELS.get(name)
    return maker() if maker else name


def stage_label(model: ObjectModel, stage: str | None) -> str:
    if stage is None:
        return ""
    found = model.stages.get(stage)
    return label(found.get("label"), stage) if found else stage


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    field: FieldDef | None
    sortable: bool

    @property
    def numeric(self) -> bool:
        ftype = self.field.result_type if self.field is not None and self.field.type == "formula" else (
            self.field.type if self.field is not None else None)
        return ftype in ("integer", "decimal", "currency", "percent")


def visible(policy: AccessPolicy, model: ObjectModel, name: str) -> bool:
    return policy.access(model.name, name) != "hidden"


def list_columns(policy: AccessPolicy, model: ObjectModel, names: list[str] | None = None) -> list[Column]:
    """The list layout's columns (or a saved view's ``names``) that this user may see."""
    if not names:
        names = (layout_of(model.definition, "list") or {"columns": ["id"]})["columns"]
    unreadable = policy.unreadable(model.name)
    columns = []
    for name in names:
        if not visible(policy, model, name) or (name not in model.fields and name not in model.table.c):
            continue
        fd = model.fields.get(name)
        sortable = name not in unreadable and not (fd is not None and fd.type == "multi_picklist")
        columns.append(Column(name, field_label(model, name), fd, sortable))
    return columns or [Column("id", field_label(model, "id"), None, True)]


def form_sections(policy: AccessPolicy, model: ObjectModel) -> list[dict[str, Any]]:
    """The form layout's sections with the fields this user may see (in order)."""
    layout = layout_of(model.definition, "form") or {"sections": []}
    sections = []
    placed: set[str] = set()
    for section in layout["sections"]:
        names = [n for n in section["fields"] if n in model.fields and visible(policy, model, n)]
        placed.update(section["fields"])
        sections.append({"label": label(section.get("label")), "columns": section.get("columns", 2), "fields": names})
    return [s for s in sections if s["fields"]]


def readable_fields(policy: AccessPolicy, model: ObjectModel) -> list[FieldDef]:
    return [fd for fd in model.definition.fields if visible(policy, model, fd.name)]


def option_label(fd: FieldDef, value: Any) -> str:
    for option in fd.options:
        if option["value"] == value:
            return label(option.get("label"), str(value))
    return str(value)
