"""Reports: an object, a condition, up to two group-bys (fields or date buckets), aggregates, a chart.

A report runs as one GROUP BY query limited by the reader's read scope; grouping or aggregating on
a field hidden or masked from the reader is refused. Built-in reports for every pipeline: the
funnel (records that reached each stage, conversion to the next, average time in stage) and
won/lost by period, both from the stage history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import NotFound, PermissionDenied, ValidationError
from crm_platform.core.permissions import AccessPolicy
from crm_platform.core.session import TenantSession, utcnow

from . import conditions
from .model import ObjectModel, load_model
from .sql_types import UTCDateTime
from .tables import stage_history, tenant_metadata

BUCKETS = ("day", "week", "month", "quarter", "year")
FUNCTIONS = ("count", "sum", "avg", "min", "max")
CHARTS = ("table", "bar", "line", "pie", "funnel")
MAX_GROUPS = 1000
KEYS = frozenset({"name", "label", "object", "condition", "group_by", "aggregates", "chart", "shared"})

reports = sa.Table(
    "sys_reports",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("owner_id", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
#: Built once (``.values()`` would build and key a new statement on every save).
INSERT_REPORT = reports.insert()


def check_report(model: ObjectModel, document: Any, unreadable: frozenset[str]) -> dict[str, Any]:
    """Validate a report definition against the object's fields, as the reader may use them."""
    if not isinstance(document, dict):
        raise ValidationError("a report must be a JSON object", {"report": ["expected an object"]})
    errors: dict[str, list[str]] = {k: ["unknown field"] for k in document if k not in KEYS}
    refs = model.field_refs
    if not isinstance(document.get("name"), str) or not 0 < len(document["name"]) <= 200:
        errors.setdefault("name", []).append("1 to 200 characters")
    checked: dict[str, Any] = {"name": document.get("name"), "object": model.name}
    label = document.get("label")
    if label is not None:
        if not _is_label(label):
            errors.setdefault("label", []).append('a text or {"en": ..., "zh": ...} of up to 200 characters each')
        else:
            checked["label"] = label
    try:
        checked["condition"] = conditions.validate(
            document.get("condition"), {n: r for n, r in refs.items() if n not in unreadable})
    except ValidationError as exc:
        errors.setdefault("condition", []).extend(exc.details.get("filter", [exc.message]))
    groups = document.get("group_by") or []
    if not isinstance(groups, list) or len(groups) > 2:
        errors.setdefault("group_by", []).append("at most two group-bys")
        groups = []
    checked["group_by"] = []
    for index, group in enumerate(groups):
        path = f"group_by[{index}]"
        if not isinstance(group, dict) or not isinstance(group.get("field"), str):
            errors.setdefault(path, []).append('{"field": ..., "bucket": day|week|month|quarter|year}')
            continue
        name, bucket = group["field"], group.get("bucket")
        if name not in refs:
            errors.setdefault(path, []).append(f"unknown field {name!r}")
        elif name in unreadable:
            errors.setdefault(path, []).append(f"you cannot group by {name!r} (hidden or masked for you)")
        elif refs[name].kind in ("multi_choice", "tags"):
            errors.setdefault(path, []).append(f"cannot group by {name!r}: it holds several values")
        elif bucket is not None and (bucket not in BUCKETS or refs[name].kind not in ("date", "datetime")):
            errors.setdefault(path, []).append(f"bucket is one of {', '.join(BUCKETS)}, on a date or datetime field")
        checked["group_by"].append({"field": name, **({"bucket": bucket} if bucket else {})})
    aggregates = document.get("aggregates") or [{"fn": "count"}]
    checked["aggregates"] = []
    if not isinstance(aggregates, list) or not 0 < len(aggregates) <= 10:
        errors.setdefault("aggregates", []).append("1 to 10 aggregates")
        aggregates = []
    for index, aggregate in enumerate(aggregates):
        path = f"aggregates[{index}]"
        fn = aggregate.get("fn") if isinstance(aggregate, dict) else None
        if fn not in FUNCTIONS:
            errors.setdefault(path, []).append(f"fn is one of {', '.join(FUNCTIONS)}")
            continue
        name = aggregate.get("field")
        if fn != "count":
            if name not in refs:
                errors.setdefault(path, []).append(f"{fn} needs a field")
                continue
            if name in unreadable:
                errors.setdefault(path, []).append(f"you cannot aggregate {name!r} (hidden or masked for you)")
            elif fn in ("sum", "avg") and refs[name].kind != "number":
                errors.setdefault(path, []).append(f"{fn} needs a number field, not {name!r}")
        checked["aggregates"].append({"fn": fn, **({"field": name} if fn != "count" else {})})
    chart = document.get("chart", "table")
    if chart not in CHARTS:
        errors.setdefault("chart", []).append(f"one of {', '.join(CHARTS)}")
    checked["chart"] = chart
    if errors:
        first, messages = next(iter(errors.items()))
        raise ValidationError(f"invalid report: {first}: {messages[0]}", errors)
    return checked


def _is_label(label: Any) -> bool:
    if isinstance(label, str):
        return 0 < len(label) <= 200
    return (isinstance(label, dict) and bool(label) and set(label) <= {"en", "zh"}
            and all(isinstance(v, str) and len(v) <= 200 for v in label.values()))


def _bucket(column: Any, bucket: str, dialect: str) -> Any:
    if dialect == "postgresql":
        formats = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}
        moment = sa.func.timezone("UTC", column) if isinstance(column.type, UTCDateTime) else column
        return sa.func.to_char(moment, formats[bucket])
    if bucket == "quarter":
        month = sa.cast(sa.func.strftime("%m", column), sa.Integer)
        return sa.func.strftime("%Y", column) + "-Q" + sa.cast((month + 2) // 3, sa.String)
    formats = {"day": "%Y-%m-%d", "week": "%Y-W%W", "month": "%Y-%m", "year": "%Y"}
    return sa.func.strftime(formats[bucket], column)


def _aggregate(table: sa.Table, aggregate: dict[str, Any]) -> Any:
    if aggregate["fn"] == "count":
        return sa.func.count()
    return getattr(sa.func, aggregate["fn"])(table.c[aggregate["field"]])


def run_report(session: TenantSession, policy: AccessPolicy, definition: dict[str, Any]) -> dict[str, Any]:
    model = load_model(session).object(definition["object"])
    scope = policy.require(model.name, "read")
    # Checked again as the reader running it: a shared report cannot reveal what they may not see.
    checked = check_report(model, {k: v for k, v in definition.items() if k in KEYS}, policy.unreadable(model.name))
    table = model.table
    keys = [
        (_bucket(table.c[g["field"]], g["bucket"], session.dialect) if g.get("bucket") else table.c[g["field"]])
        .label(f"g{index}")
        for index, g in enumerate(checked["group_by"])
    ]
    values = [_aggregate(table, a).label(f"a{index}") for index, a in enumerate(checked["aggregates"])]
    criteria = [conditions.compile_clause(checked["condition"], model.field_refs)] if checked["condition"] else []
    scoped = policy.criterion(session, table, scope)
    if scoped is not None:
        criteria.append(scoped)
    query = sa.select(*keys, *values).select_from(table).where(sa.and_(sa.true(), *criteria))
    if keys:
        query = query.group_by(*keys).order_by(*(key.asc().nulls_last() for key in keys)).limit(MAX_GROUPS + 1)
    rows = session.conn.execute(query).all()
    if len(rows) > MAX_GROUPS:
        raise ValidationError(f"more than {MAX_GROUPS} groups; narrow the condition or group more coarsely",
                              {"group_by": ["too many groups"]})
    columns = [g["field"] + (f" ({g['bucket']})" if g.get("bucket") else "") for g in checked["group_by"]] + [
        a["fn"] + (f"({a['field']})" if a.get("field") else "") for a in checked["aggregates"]]
    data = [[_plain(v) for v in row] for row in rows]
    return {"columns": columns, "rows": data, "chart": _chart(checked, columns, data)}


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _chart(checked: dict[str, Any], columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """Chart.js-shaped data: labels from the first group-by, one dataset per aggregate (or per
    value of the second group-by when there are two)."""
    groups, aggregates = len(checked["group_by"]), len(checked["aggregates"])
    if groups == 0:
        return {"type": checked["chart"], "labels": [""], "datasets": [
            {"label": columns[i], "data": [rows[0][i] if rows else 0]} for i in range(aggregates)]}
    labels = list(dict.fromkeys(str(r[0]) for r in rows))
    if groups == 1:
        return {"type": checked["chart"], "labels": labels, "datasets": [
            {"label": columns[1 + i], "data": [r[1 + i] for r in rows]} for i in range(aggregates)]}
    series: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in rows:
        series[str(row[1])][str(row[0])] = row[2]
    return {"type": checked["chart"], "labels": labels, "datasets": [
        {"label": name, "data": [values.get(label, 0) for label in labels]} for name, values in series.items()]}


# -- stored reports ------------------------------------------------------------------------------


def report_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {"id": m["id"], **m["definition"], "shared": m["shared"], "owner_id": m["owner_id"]}


def create_report(session: TenantSession, policy: AccessPolicy, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("object"), str):
        raise ValidationError("a report needs an object", {"object": ["required"]})
    model = load_model(session).object(document["object"])
    policy.require(model.name, "read")
    checked = check_report(model, document, policy.unreadable(model.name))
    now = utcnow()
    shared = bool(document.get("shared", False))
    report_id = session.conn.execute(INSERT_REPORT, {
        "name": checked["name"], "object": model.name, "definition": checked, "shared": shared,
        "owner_id": session.actor.user_id, "created_at": now, "updated_at": now}).inserted_primary_key[0]
    session.audit("report.create", object="report", record_id=report_id, after=checked)
    return {"id": report_id, **checked, "shared": shared, "owner_id": session.actor.user_id}  # as get_report reads it


def update_report(session: TenantSession, policy: AccessPolicy, report_id: Any, document: Any) -> dict[str, Any]:
    """Replace a stored report's definition (checked as for a new one); its owner or an admin only."""
    report = get_report(session, report_id)
    if report["owner_id"] != session.actor.user_id and not session.actor.is_admin:
        raise PermissionDenied("only the owner of a report (or an admin) may change it")
    if not isinstance(document, dict) or document.get("object", report["object"]) != report["object"]:
        raise ValidationError("a report keeps its object", {"object": ["cannot change"]})
    model = load_model(session).object(report["object"])
    policy.require(model.name, "read")
    checked = check_report(model, document, policy.unreadable(model.name))
    shared = bool(document.get("shared", report["shared"]))
    session.conn.execute(reports.update().where(reports.c.id == report["id"]).values(
        name=checked["name"], definition=checked, shared=shared, updated_at=utcnow()))
    session.audit("report.update", object="report", record_id=report["id"], before=report,
                  after={**checked, "shared": shared})
    return get_report(session, report["id"])


def get_report(session: TenantSession, report_id: Any) -> dict[str, Any]:
    try:
        key = int(report_id)
    except (TypeError, ValueError):
        raise NotFound(f"report {report_id!r} does not exist") from None
    row = session.conn.execute(sa.select(reports).where(reports.c.id == key)).first()
    if row is None or not (row.shared or row.owner_id == session.actor.user_id or session.actor.is_admin):
        raise NotFound(f"report {report_id!r} does not exist")
    return report_json(row)


def list_reports(session: TenantSession) -> list[dict[str, Any]]:
    rows = session.conn.execute(sa.select(reports).where(
        sa.or_(reports.c.shared.is_(True), reports.c.owner_id == session.actor.user_id)).order_by(reports.c.name)).all()
    return [report_json(r) for r in rows]


def delete_report(session: TenantSession, report_id: Any) -> None:
    report = get_report(session, report_id)
    if report["owner_id"] != session.actor.user_id and not session.actor.is_admin:
        raise PermissionDenied("only the owner of a report (or an admin) may delete it")
    session.conn.execute(reports.delete().where(reports.c.id == report["id"]))
    session.audit("report.delete", object="report", record_id=report["id"], before=report)


# -- built-in pipeline reports ------------------------------------------------------------------------


def _history(session: TenantSession, policy: AccessPolicy, model: ObjectModel) -> list[Any]:
    if not model.has_pipeline:
        raise ValidationError(f"{model.name} has no pipeline", {"object": ["no pipeline"]})
    scope = policy.require(model.name, "read")
    query = sa.select(stage_history).where(stage_history.c.object == model.name)
    scoped = policy.criterion(session, model.table, scope)
    if scoped is not None:
        query = query.where(stage_history.c.record_id.in_(sa.select(model.table.c.id).where(scoped)))
    return session.conn.execute(query).all()


def funnel(session: TenantSession, policy: AccessPolicy, object_name: str) -> dict[str, Any]:
    """Per stage: records that ever reached it, records in it now, conversion to the next stage
    (of those that reached this one), and the average time spent in it."""
    model = load_model(session).object(object_name)
    history = _history(session, policy, model)
    reached: dict[str, set[int]] = defaultdict(set)
    durations: dict[str, list[float]] = defaultdict(list)
    now = datetime.now(timezone.utc)
    for entry in history:
        reached[entry.to_stage].add(entry.record_id)
        left = entry.left_at or now
        entered = entry.entered_at
        durations[entry.to_stage].append((left - entered).total_seconds())
    current = dict(session.conn.execute(sa.select(model.table.c.stage, sa.func.count()).where(
        model.table.c.id.in_({e.record_id for e in history}) if history else sa.false()
    ).group_by(model.table.c.stage)).all())
    stages = list(model.stages.values())
    rows = []
    for index, stage in enumerate(stages):
        name = stage["name"]
        count = len(reached.get(name, ()))
        following = stages[index + 1]["name"] if index + 1 < len(stages) and stage.get("category", "open") == "open" else None
        converted = len(reached.get(name, set()) & reached.get(following, set())) if following else None
        rows.append({
            "stage": name, "category": stage.get("category", "open"), "probability": stage.get("probability"),
            "reached": count, "current": current.get(name, 0),
            "conversion_to_next": round(converted / count, 4) if following and count else None,
            "average_seconds_in_stage": round(sum(durations[name]) / len(durations[name]), 1) if durations[name] else None,
        })
    return {"object": object_name, "stages": rows, "chart": {"type": "funnel", "labels": [r["stage"] for r in rows],
                                                              "datasets": [{"label": "reached", "data": [r["reached"] for r in rows]}]}}


def won_lost(session: TenantSession, policy: AccessPolicy, object_name: str, bucket: str = "month") -> dict[str, Any]:
    """Records entering a won or a lost stage, per period."""
    if bucket not in BUCKETS:
        raise ValidationError(f"bucket is one of {', '.join(BUCKETS)}", {"bucket": ["unknown bucket"]})
    model = load_model(session).object(object_name)
    categories = {s["name"]: s.get("category", "open") for s in model.stages.values()}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"won": 0, "lost": 0})
    for entry in _history(session, policy, model):
        category = categories.get(entry.to_stage)
        if category in ("won", "lost"):
            counts[_period(entry.entered_at, bucket)][category] += 1
    labels = sorted(counts)
    return {"object": object_name, "bucket": bucket,
            "rows": [{"period": p, **counts[p]} for p in labels],
            "chart": {"type": "bar", "labels": labels, "datasets": [
                {"label": "won", "data": [counts[p]["won"] for p in labels]},
                {"label": "lost", "data": [counts[p]["lost"] for p in labels]}]}}


def _period(moment: datetime, bucket: str) -> str:
    if bucket == "day":
        return f"{moment:%Y-%m-%d}"
    if bucket == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return f"{moment:%Y-%m}"
    if bucket == "quarter":
        return f"{moment.year}-Q{(moment.month + 2) // 3}"
    return f"{moment.year}"
