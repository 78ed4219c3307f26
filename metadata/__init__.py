"""Metadata: definitions, the field-type registry, live tables, records and the query language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import activities, attachments, dashboards, duplicates, importing, reports, views  # noqa: F401 - their tables belong to every tenant
from .definitions import FieldDef, ObjectDef, label_text, layout_of
from .designer import REFERENCE_HOOK, Designer
from .field_types import FIELD_TYPES, FieldType
from .model import ObjectModel, TenantModel, load_model
from .query import ListQuery, parse_list_arguments
from .records import RecordService
from .references import reference
from .tables import tenant_metadata

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

__all__ = [
    "FIELD_TYPES",
    "REFERENCE_HOOK",
    "Designer",
    "FieldDef",
    "FieldType",
    "ListQuery",
    "ObjectDef",
    "ObjectModel",
    "RecordService",
    "TenantModel",
    "init_platform",
    "label_text",
    "layout_of",
    "load_model",
    "parse_list_arguments",
    "reference",
]


def init_platform(platform: Platform) -> None:
    """Register the metadata layer's tables with the foundation."""
    platform.register_tenant_tables(tenant_metadata)
