"""The list query language: field filters, condition trees, text search, sort and pages.

``?amount__gt=100&region__in=east,north&filter={...}&q=acme&sort=-amount,name&page=2&per_page=50``
becomes one condition tree (so filters share the validation and SQL compilation of every other
condition in the platform), then one SELECT and one COUNT.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_platform.core.errors import FieldErrors, ValidationError

from . import conditions
from .definitions import layout_of

#: Suffix operators of ``<field>__<op>=value`` and the condition operators they stand for.
SUFFIX_OPERATORS = {
    "eq": "equal",
    "ne": "not_equal",
    "gt": "greater",
    "gte": "greater_or_equal",
    "lt": "less",
    "lte": "less_or_equal",
    "in": "in",
    "contains": "contains",
    "startswith": "begins_with",
    "isnull": "is_null",
}
RESERVED_PARAMETERS = frozenset({"filter", "q", "sort", "page", "per_page", "format", "fields"})
MAX_SEARCH_LENGTH = 200
MAX_PARAMETER_LENGTH = 10000


@dataclass
class ListQuery:
    """A validated list request."""

    condition: dict[str, Any] | None = None
    search: str | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    page: int = 1
    per_page: int = 50
    #: Extra WHERE criteria added by callers (permissions, tags) rather than by the user.
    criteria: list[Any] = field(default_factory=list)
    #: Fields the reader may not filter, sort or search on (hidden or masked for them).
    unreadable: frozenset[str] = frozenset()


def parse_list_arguments(
    model: Any,
    arguments: Mapping[str, Sequence[str]],
    max_per_page: int = 500,
    extra_parameters: frozenset[str] = frozenset(),
    unreadable: frozenset[str] = frozenset(),
) -> ListQuery:
    """Read query-string arguments (each name to its list of values) into a :class:`ListQuery`.

    Fields in ``unreadable`` are treated as unknown, so filtering cannot reveal their values.
    """
    errors = FieldErrors()
    rules: list[dict[str, Any]] = []
    query = ListQuery(unreadable=unreadable)
    refs = {name: ref for name, ref in model.field_refs.items() if name not in unreadable}
    for name, values in arguments.items():
        if any(len(v) > MAX_PARAMETER_LENGTH for v in values):
            errors.add(name, f"longer than {MAX_PARAMETER_LENGTH} characters", "parameter_too_long",
                       max=MAX_PARAMETER_LENGTH)
            continue
        if name in RESERVED_PARAMETERS or name in extra_parameters:
            continue
        field_name, _, suffix = name.partition("__")
        if field_name not in refs:
            errors.add(name, f"unknown filter field {field_name!r}", "unknown_filter_field", field=field_name)
            continue
        operator = SUFFIX_OPERATORS.get(suffix or "eq")
        if operator is None:
            errors.add(name, f"unknown filter operator {suffix!r}; use one of: {', '.join(SUFFIX_OPERATORS)}",
                       "unknown_filter_suffix", field=field_name, operator=suffix, operators=list(SUFFIX_OPERATORS))
            continue
        for value in values:
            rules.append(_rule(field_name, operator, value, errors, name))
    raw_filter = _single(arguments, "filter", errors)
    if raw_filter:
        try:
            tree = json.loads(raw_filter)
        except ValueError as exc:
            errors.add("filter", f"not valid JSON: {exc}", "filter_not_json")
        except RecursionError:
            errors.add("filter", "nested too deeply", "filter_too_deep")
        else:
            if tree and not isinstance(tree, dict):
                errors.add("filter", "must be a condition tree (a JSON object)", "filter_not_tree")
            elif tree:
                rules.append(tree)
    if errors:
        raise ValidationError(_summary(errors.details), errors.details, problems=errors.problems)
    if rules:
        tree = rules[0] if len(rules) == 1 and "rules" in rules[0] else {"condition": "AND", "rules": rules}
        query.condition = conditions.validate(tree, refs)
    search = _single(arguments, "q", errors)
    if search:
        if len(search) > MAX_SEARCH_LENGTH:
            errors.add("q", f"longer than {MAX_SEARCH_LENGTH} characters", "search_too_long", max=MAX_SEARCH_LENGTH)
        query.search = search.strip() or None
    query.sort = _sort(model, refs, _single(arguments, "sort", errors), errors)
    query.page = _integer(_single(arguments, "page", errors), "page", 1, 1, 10**7, errors)
    query.per_page = _integer(_single(arguments, "per_page", errors), "per_page", 50, 1, max_per_page, errors)
    if errors:
        raise ValidationError(_summary(errors.details), errors.details, problems=errors.problems)
    return query


def _rule(field_name: str, operator: str, value: str, errors: FieldErrors, name: str) -> dict[str, Any]:
    if operator == "in":
        return {"field": field_name, "operator": "in", "value": [v for v in value.split(",") if v != ""]}
    if operator == "is_null":
        if value.lower() in {"1", "true", "yes"}:
            return {"field": field_name, "operator": "is_null", "value": None}
        if value.lower() in {"0", "false", "no"}:
            return {"field": field_name, "operator": "is_not_null", "value": None}
        errors.add(name, "isnull takes true or false", "isnull_value")
    return {"field": field_name, "operator": operator, "value": value}


def _single(arguments: Mapping[str, Sequence[str]], name: str, errors: FieldErrors) -> str | None:
    values = arguments.get(name)
    if not values:
        return None
    if len(values) > 1:
        errors.add(name, "given more than once", "given_twice")
    return values[0]


def _integer(raw: str | None, name: str, default: int, low: int, high: int, errors: FieldErrors) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.add(name, f"must be an integer, not {raw[:40]!r}", "not_integer")
        return default
    if not low <= value <= high:
        errors.add(name, f"must be between {low} and {high}", "between", min=low, max=high)
    return value


def _sort(model: Any, refs: Mapping[str, Any], raw: str | None, errors: FieldErrors) -> list[tuple[str, bool]]:
    explicit = raw is not None
    if raw is None:
        raw = (layout_of(model.definition, "list") or {}).get("sort") or "-id"
    keys: list[tuple[str, bool]] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        name = part.lstrip("-")
        if name not in refs:
            if explicit:
                errors.add("sort", f"unknown sort field {name!r}", "unknown_sort_field", field=name)
            continue
        if refs[name].kind == "tags":
            errors.add("sort", f"cannot sort by {name!r}", "not_sortable", field=name)
            continue
        if model.fields.get(name) is not None and model.fields[name].type == "multi_picklist":
            errors.add("sort", f"cannot sort by multi-picklist {name!r}", "multi_picklist_sort", field=name)
            continue
        keys.append((name, part.startswith("-")))
    return keys


def _summary(errors: Mapping[str, list[str]]) -> str:
    return "invalid list parameters: " + "; ".join(f"{k}: {v[0]}" for k, v in list(errors.items())[:3])


def where_clause(model: Any, query: ListQuery) -> Any:
    criteria = list(query.criteria)
    if query.condition:
        criteria.append(conditions.compile_clause(query.condition, model.field_refs))
    if query.search:
        columns = [c for c in model.searchable if c.key not in query.unreadable]
        matches = [column.icontains(query.search, autoescape=True) for column in columns]
        criteria.append(sa.or_(*matches) if matches else sa.false())
    return sa.and_(sa.true(), *criteria)


def order_by(model: Any, query: ListQuery) -> list[Any]:
    table = model.table
    # Empty values sort as the largest on every database (PostgreSQL's own order, which its indexes serve).
    keys = [
        table.c[name].desc().nulls_first() if descending else table.c[name].asc().nulls_last()
        for name, descending in query.sort
    ]
    if not any(name == "id" for name, _ in query.sort):
        keys.append(table.c.id.desc() if query.sort and query.sort[0][1] else table.c.id.asc())
    return keys


def list_records(conn: Connection, model: Any, query: ListQuery) -> tuple[list[Any], int]:
    """One page of rows and the total number of matching rows."""
    where = where_clause(model, query)
    rows = conn.execute(
        sa.select(model.table)
        .where(where)
        .order_by(*order_by(model, query))
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    ).all()
    if query.page == 1 and len(rows) < query.per_page:
        total = len(rows)
    else:
        total = conn.execute(sa.select(sa.func.count()).select_from(model.table).where(where)).scalar_one()
    return rows, total
