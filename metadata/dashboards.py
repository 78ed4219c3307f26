"""Dashboards: a named, ordered grid of report widgets, private or shared like saved views.

A widget points at a saved report (by id) or at a built-in pipeline report (funnel, won/lost) of an
object, with its own title, chart type and width (1 to 3 columns). A dashboard runs every widget as
its reader: a widget whose report they may not see or run (report private to someone else, object
not readable, a hidden field in it) comes back as an error placeholder, never as data.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator

from crm_platform.core.errors import CRMError, FieldErrors, NotFound, PermissionDenied, ValidationError
from crm_platform.core.permissions import AccessPolicy
from crm_platform.core.session import TenantSession, utcnow

from . import reports
from .definitions import shape_problem
from .exporting import neutralize
from .model import load_model
from .sql_types import UTCDateTime
from .tables import tenant_metadata

dashboards = sa.Table(
    "sys_dashboards",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("owner_id", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
#: Built once (``.values()`` would build and key a new statement on every save).
INSERT_DASHBOARD = dashboards.insert()

#: What a reader sees instead of a widget they may not run; the message says nothing about the data.
PLACEHOLDERS = {
    "not_found": "this widget's report does not exist or is not shared with you",
    "forbidden": "you do not have access to this widget's data",
    "validation_error": "this widget's report uses fields you cannot see, or can no longer run",
}


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("metadata").joinpath("schemas/dashboard.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def check_dashboard(session: TenantSession, document: Any) -> dict[str, Any]:
    """The dashboard as stored: shape checked by its JSON Schema, then every widget's report resolved
    as the author (who may only place reports they can see, on objects that exist)."""
    errors = FieldErrors()
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path)):
        parts = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            parts.append(next(k for k in error.validator_value if k not in error.instance))
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            parts.append(next(k for k in error.instance if k not in error.schema.get("properties", {})))
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
        coded = shape_problem(error)
        errors.add(path or "dashboard", error.message[:300], coded["code"], **coded["params"])
    if not errors:
        model = load_model(session)
        for index, widget in enumerate(document.get("widgets", [])):
            reference = widget["report"]
            key = f"widgets[{index}].report"
            try:
                if isinstance(reference, int):
                    reports.get_report(session, reference)
                elif not model.object(reference["object"]).has_pipeline:
                    errors.add(key, f"{reference['object']} has no pipeline, so it has no {reference['builtin']} report",
                               "no_pipeline", object=reference["object"])
            except NotFound as exc:
                errors.add(key, exc.message, "report_not_found", id=reference)
    if errors:
        first, messages = next(iter(errors.details.items()))
        raise ValidationError(f"invalid dashboard: {first}: {messages[0]}", errors.details, problems=errors.problems)
    return {
        "name": document["name"],
        "label": document.get("label"),
        "widgets": [{"report": w["report"], "title": w.get("title"), "chart": w.get("chart"), "width": w.get("width", 1)}
                    for w in document.get("widgets", [])],
    }


def dashboard_json(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {"id": m["id"], **m["definition"], "shared": m["shared"], "owner_id": m["owner_id"]}


def create_dashboard(session: TenantSession, document: Any) -> dict[str, Any]:
    checked = check_dashboard(session, document)
    now = utcnow()
    shared = bool(document.get("shared", False))
    dashboard_id = session.conn.execute(INSERT_DASHBOARD, {
        "name": checked["name"], "definition": checked, "shared": shared, "owner_id": session.actor.user_id,
        "created_at": now, "updated_at": now}).inserted_primary_key[0]
    created = {"id": dashboard_id, **checked, "shared": shared, "owner_id": session.actor.user_id}  # as read back
    session.audit("dashboard.create", record_id=dashboard_id, after=created)
    return created


def get_dashboard(session: TenantSession, dashboard_id: Any) -> dict[str, Any]:
    """A dashboard the actor may open: their own, a shared one, or any for an admin."""
    try:
        key = int(dashboard_id)
    except (TypeError, ValueError):
        raise NotFound(f"dashboard {dashboard_id!r} does not exist") from None
    row = session.conn.execute(sa.select(dashboards).where(dashboards.c.id == key)).first()
    if row is None or not (row.shared or row.owner_id == session.actor.user_id or session.actor.is_admin):
        raise NotFound(f"dashboard {dashboard_id!r} does not exist")
    return dashboard_json(row)


def list_dashboards(session: TenantSession) -> list[dict[str, Any]]:
    rows = session.conn.execute(sa.select(dashboards).where(
        sa.or_(dashboards.c.shared.is_(True), dashboards.c.owner_id == session.actor.user_id)
    ).order_by(dashboards.c.name, dashboards.c.id)).all()
    return [dashboard_json(r) for r in rows]


def _own(session: TenantSession, dashboard_id: Any) -> dict[str, Any]:
    dashboard = get_dashboard(session, dashboard_id)
    if dashboard["owner_id"] != session.actor.user_id and not session.actor.is_admin:
        raise PermissionDenied("only the owner of a dashboard (or an admin) may change it")
    return dashboard


def update_dashboard(session: TenantSession, dashboard_id: Any, document: Any) -> dict[str, Any]:
    """Replace the whole definition (PUT): what is not sent is reset to its default."""
    before = _own(session, dashboard_id)
    checked = check_dashboard(session, document)
    session.conn.execute(dashboards.update().where(dashboards.c.id == before["id"]).values(
        name=checked["name"], definition=checked, shared=document.get("shared", False), updated_at=utcnow()))
    after = get_dashboard(session, before["id"])
    session.audit("dashboard.update", record_id=before["id"], before=before, after=after)
    return after


def delete_dashboard(session: TenantSession, dashboard_id: Any) -> None:
    before = _own(session, dashboard_id)
    session.conn.execute(dashboards.delete().where(dashboards.c.id == before["id"]))
    session.audit("dashboard.delete", record_id=before["id"], before=before)


# -- running ---------------------------------------------------------------------------------------


def run_widget(session: TenantSession, policy: AccessPolicy, widget: dict[str, Any]) -> dict[str, Any]:
    """One widget's columns, rows and Chart.js data, as the reader; raises when they may not run it."""
    reference = widget["report"]
    if isinstance(reference, int):
        report = reports.get_report(session, reference)
        result = reports.run_report(session, policy, report)
        columns, rows, chart, source = result["columns"], result["rows"], result["chart"], report["name"]
        shape = {"object": report["object"], "group_by": report.get("group_by") or [],
                 "aggregates": report.get("aggregates") or [{"fn": "count"}]}
    elif reference["builtin"] == "funnel":
        result = reports.funnel(session, policy, reference["object"])
        columns = ["stage", "reached", "current", "conversion_to_next", "average_seconds_in_stage"]
        rows = [[stage[c] for c in columns] for stage in result["stages"]]
        chart, source = result["chart"], f"funnel: {reference['object']}"
        shape = {"object": reference["object"], "group_by": [{"field": "stage"}]}
    else:
        result = reports.won_lost(session, policy, reference["object"], reference.get("bucket", "month"))
        columns = ["period", "won", "lost"]
        rows = [[row[c] for c in columns] for row in result["rows"]]
        chart, source = result["chart"], f"won/lost: {reference['object']}"
        shape = {"object": reference["object"], "group_by": []}
    if widget.get("chart"):
        chart = {**chart, "type": widget["chart"]}
    return {"source": source, "columns": columns, "rows": rows, "chart": chart, **shape}


def run_dashboard(session: TenantSession, policy: AccessPolicy, dashboard_id: Any) -> dict[str, Any]:
    """Every widget run as the reader; one the reader may not run is an error placeholder."""
    dashboard = get_dashboard(session, dashboard_id)
    widgets = []
    for index, widget in enumerate(dashboard["widgets"]):
        entry = {"index": index, "title": widget.get("title"), "width": widget.get("width", 1), "report": widget["report"]}
        try:
            entry.update(run_widget(session, policy, widget))
        except CRMError as exc:
            entry["error"] = {"code": exc.code, "message": PLACEHOLDERS.get(exc.code, "this widget cannot be shown")}
        widgets.append(entry)
    return {"dashboard": dashboard, "widgets": widgets}


def widget_csv(session: TenantSession, policy: AccessPolicy, dashboard_id: Any, index: Any) -> tuple[str, bytes]:
    """A file name and the CSV bytes of one widget's rows; cells a spreadsheet would evaluate are
    neutralized as in exports."""
    dashboard = get_dashboard(session, dashboard_id)
    try:
        position = int(index)
    except (TypeError, ValueError):
        raise NotFound(f"widget {index!r} does not exist") from None
    if not 0 <= position < len(dashboard["widgets"]):
        raise NotFound(f"dashboard {dashboard['id']} has no widget {index!r} (widgets are numbered from 0)")
    result = run_widget(session, policy, dashboard["widgets"][position])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralize(c) for c in result["columns"]])
    for row in result["rows"]:
        writer.writerow(["" if v is None else neutralize(v) for v in row])
    # A byte-order mark so that Excel opens UTF-8 (Chinese text) correctly.
    return f"dashboard-{dashboard['id']}-widget-{position}.csv", ("\ufeff" + buffer.getvalue()).encode("utf-8")
