"""jQuery QueryBuilder filter definitions generated from an object's fields.

The builder's JSON is our condition format, so the same definitions serve list filters, rule
conditions and approval entry criteria; fields hidden or masked for the user are not offered.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _

from crm_platform.core.permissions import AccessPolicy
from metadata import ObjectModel
from metadata.conditions import TAGS_FIELD
from metadata.field_types import kind_of

from .meta import field_label, option_label, stage_label

TEXT_OPERATORS = ["equal", "not_equal", "contains", "not_contains", "begins_with", "not_begins_with",
                  "ends_with", "not_ends_with", "in", "not_in", "is_empty", "is_not_empty", "is_null", "is_not_null"]
ORDERED_OPERATORS = ["equal", "not_equal", "less", "less_or_equal", "greater", "greater_or_equal", "between",
                     "not_between", "is_null", "is_not_null"]
CHOICE_OPERATORS = ["equal", "not_equal", "is_null", "is_not_null"]
MULTI_OPERATORS = ["contains", "not_contains", "is_empty", "is_not_empty"]
REFERENCE_OPERATORS = ["equal", "not_equal", "is_null", "is_not_null"]
TAG_OPERATORS = ["contains", "not_contains", "in", "not_in", "is_empty", "is_not_empty"]
WORKFLOW_OPERATORS = ["changed", "changed_to"]


def _definition(name: str, text: str, kind: str, values: dict[str, str] | None, integer: bool) -> dict[str, Any]:
    base: dict[str, Any] = {"id": name, "label": text}
    if kind == "text":
        return {**base, "type": "string", "operators": TEXT_OPERATORS, "value_separator": ","}
    if kind == "number":
        return {**base, "type": "integer" if integer else "double", "input": "number",
                "operators": ORDERED_OPERATORS}
    if kind == "boolean":
        return {**base, "type": "boolean", "input": "radio", "values": {"true": _("Yes"), "false": _("No")},
                "operators": ["equal", "is_null", "is_not_null"]}
    if kind in ("date", "datetime"):
        placeholder = "YYYY-MM-DD" if kind == "date" else "YYYY-MM-DDTHH:MM"
        return {**base, "type": "date" if kind == "date" else "datetime", "input": "text",
                "placeholder": placeholder, "operators": ORDERED_OPERATORS}
    if kind == "choice":
        return {**base, "type": "string", "input": "select", "values": values or {}, "operators": CHOICE_OPERATORS}
    if kind == "multi_choice":
        return {**base, "type": "string", "input": "select", "values": values or {}, "operators": MULTI_OPERATORS}
    if kind == "tags":  # "in" takes several tags, comma-separated
        return {**base, "type": "string", "input": "text", "operators": TAG_OPERATORS, "value_separator": ","}
    return {**base, "type": "integer", "input": "number", "operators": REFERENCE_OPERATORS}


CACHE = "admin_querybuilder"


def cached_filters_json(session: Any, version: int, model: ObjectModel, policy: AccessPolicy) -> str:
    """The list filters as JSON, built once per (tenant, metadata version, language, what is unreadable)."""
    from .i18n import current_language

    key = (session.tenant, version, model.name, current_language(), policy.unreadable(model.name))
    cache = session.platform.cache(CACHE)
    found = cache.get(key)
    if found is None:
        found = json.dumps(querybuilder_filters(model, policy), ensure_ascii=False)
        if len(cache) > 512:
            cache.clear()
        cache[key] = found
    return found


def querybuilder_filters(model: ObjectModel, policy: AccessPolicy, workflow: bool = False) -> list[dict[str, Any]]:
    unreadable = policy.unreadable(model.name)
    filters = []
    for fd in model.definition.fields:
        if fd.name in unreadable or fd.type == "rich_text":
            continue
        kind = kind_of(fd)
        values = {o["value"]: option_label(fd, o["value"]) for o in fd.options} if fd.options else None
        filters.append(_definition(fd.name, field_label(model, fd.name), kind, values, fd.type == "integer"))
    if model.has_pipeline:
        stages = {name: stage_label(model, name) for name in model.stages}
        filters.append(_definition("stage", field_label(model, "stage"), "choice", stages, False))
    for name, kind in (("owner_id", "reference"), ("created_at", "datetime"), ("updated_at", "datetime"),
                       ("id", "number")):
        filters.append(_definition(name, field_label(model, name), kind, None, True))
    if workflow:
        for definition in filters:
            definition["operators"] = [*definition["operators"], *WORKFLOW_OPERATORS]
    # Tagging is no record change, so "changed" means nothing for tags.
    filters.append(_definition(TAGS_FIELD, _("Tags"), "tags", None, False))
    return filters
