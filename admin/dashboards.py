"""``/admin/dashboards/``: dashboards drawn with Chart.js in a responsive grid, and their editor.

Every widget runs as the signed-in user (a widget they may not run shows a placeholder); the editor
places the tenant's saved reports and the built-in pipeline reports, in order, each with a title,
a chart type and a width.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from crm_platform.core.errors import CRMError, PermissionDenied
from metadata import dashboards, load_model
from metadata.reports import list_reports

from .i18n import label
from .meta import field_label, object_label, option_label, stage_label
from .messages import design_problems
from .ui import UIView, context_of, flash_error, policy_of, render_error, ui_session

CHARTS = {"": lazy_gettext("Default"), "bar": lazy_gettext("Bar"),
          "horizontal_bar": lazy_gettext("Horizontal bar"), "line": lazy_gettext("Line"), "pie": lazy_gettext("Pie"),
          "doughnut": lazy_gettext("Doughnut"), "funnel": lazy_gettext("Funnel"), "table": lazy_gettext("Table")}
WIDTHS = {1: lazy_gettext("One column"), 2: lazy_gettext("Two columns"), 3: lazy_gettext("Full width")}
PLACEHOLDERS = {"not_found": lazy_gettext("This report does not exist or is not shared with you."),
                "forbidden": lazy_gettext("You do not have access to this report's data."),
                "validation_error": lazy_gettext("This report uses fields you cannot see, or can no longer run.")}


def _reference_key(reference: Any) -> str:
    """A widget's report as the editor's select names it: ``report:12``, ``funnel:deal``, ``won_lost:deal``."""
    if isinstance(reference, int):
        return f"report:{reference}"
    return f"{reference['builtin']}:{reference['object']}"


def _reference(key: str) -> Any:
    kind, _sep, value = key.partition(":")
    if kind == "report":
        return int(value) if value.isdigit() else value
    return {"builtin": kind, "object": value}


def report_choices(session: Any) -> list[dict[str, Any]]:
    """What a widget may show: the user's visible saved reports, then every readable pipeline's
    funnel and won/lost."""
    tenant_model = load_model(session)
    policy = policy_of(session)
    choices = []
    for report in list_reports(session):
        model = tenant_model.objects.get(report["object"])
        choices.append({"key": f"report:{report['id']}", "group": _("Saved reports"),
                        "text": f"{report['name']} ({object_label(model) if model else report['object']})"})
    for name, model in tenant_model.objects.items():
        if model.has_pipeline and policy.scope(name, "read") != "none":
            choices.append({"key": f"funnel:{name}", "group": _("Pipeline reports"),
                            "text": _("Funnel: %(object)s", object=object_label(model))})
            choices.append({"key": f"won_lost:{name}", "group": _("Pipeline reports"),
                            "text": _("Won and lost: %(object)s", object=object_label(model))})
    return choices


def _document_from_form() -> dict[str, Any]:
    """The dashboard the editor posted; widget rows come as parallel lists, in their order on the page."""
    form = request.form
    label_parts = {k: form.get(f"label_{k}", "").strip() for k in ("en", "zh")}
    widgets = []
    originals = form.getlist("widget_title_original")
    for index, (key, title, chart, width) in enumerate(zip(
            form.getlist("widget_report"), form.getlist("widget_title"), form.getlist("widget_chart"),
            form.getlist("widget_width"), strict=False)):
        widget: dict[str, Any] = {"report": _reference(key)}
        if title.strip():
            widget["title"] = _kept_title(title.strip(), originals[index] if index < len(originals) else "")
        if chart:
            widget["chart"] = chart
        widget["width"] = int(width) if width.isdigit() else width
        widgets.append(widget)
    document: dict[str, Any] = {"name": form.get("name", "").strip(), "shared": form.get("shared") == "on",
                                "widgets": widgets}
    if any(label_parts.values()):
        document["label"] = {k: v for k, v in label_parts.items() if v}
    return document


def _kept_title(title: str, original: str) -> Any:
    """The widget's bilingual title when the user left its text as shown, else the text typed."""
    try:
        before = json.loads(original) if original else None
    except ValueError:
        return title
    return before if isinstance(before, dict) and label(before) == title else title


#: Series names of the built-in reports, shown in the reader's language.
SERIES = {"won": lazy_gettext("Won"), "lost": lazy_gettext("Lost"), "reached": lazy_gettext("Reached")}
FUNCTIONS = {"count": lazy_gettext("Count"), "sum": lazy_gettext("Sum"), "avg": lazy_gettext("Average"),
             "min": lazy_gettext("Minimum"), "max": lazy_gettext("Maximum")}
BUILTIN_COLUMNS = {"stage": lazy_gettext("Stage"), "reached": lazy_gettext("Reached"), "current": lazy_gettext("Now in stage"),
                   "conversion_to_next": lazy_gettext("Conversion to next"),
                   "average_seconds_in_stage": lazy_gettext("Average seconds in stage"), "period": lazy_gettext("Period"),
                   "won": lazy_gettext("Won"), "lost": lazy_gettext("Lost")}


def _source(session: Any, widget: dict[str, Any]) -> str:
    """What the widget shows, in words: the saved report's name, or the built-in and its object."""
    reference = widget["report"]
    if not isinstance(reference, dict):
        return widget.get("source") or ""
    model = load_model(session).objects.get(reference["object"])
    name = object_label(model) if model else reference["object"]
    if reference["builtin"] == "funnel":
        return _("Funnel: %(object)s", object=name)
    return _("Won and lost: %(object)s", object=name)


def _present(session: Any, widget: dict[str, Any]) -> dict[str, Any]:
    widget["source"] = _source(session, widget)
    widget["heading"] = label(widget.get("title")) or widget["source"] or _("Widget")
    if "error" in widget:
        widget["error"]["text"] = str(PLACEHOLDERS.get(widget["error"]["code"], _("This widget cannot be shown.")))
    else:
        _localize(session, widget)
    return widget


def _value_labeller(model: Any, group: dict[str, Any]) -> Any:
    """How a group-by's values read: a stage's or an option's label instead of its stored value."""
    name = group["field"]
    if group.get("bucket"):
        return str
    if name == "stage":
        return lambda value: stage_label(model, value) if value is not None else "—"
    fd = model.fields.get(name)
    if fd is not None and fd.type == "picklist":
        return lambda value: option_label(fd, value) if value is not None else "—"
    return lambda value: "—" if value is None else str(value)


def _localize(session: Any, widget: dict[str, Any]) -> None:
    """Labels in the reader's language: columns, series, and stage or option values on the chart."""
    model = load_model(session).objects.get(widget.get("object"))
    chart, groups = widget["chart"], widget.get("group_by", [])
    if model is None:
        return
    if isinstance(widget["report"], dict):
        widget["columns"] = [str(BUILTIN_COLUMNS.get(c, c)) for c in widget["columns"]]
        for dataset in chart["datasets"]:
            dataset["key"] = dataset["label"]
            dataset["label"] = str(SERIES.get(dataset["label"], dataset["label"]))
    else:
        names = [field_label(model, g["field"]) for g in groups]
        for aggregate in widget.get("aggregates", []):
            names.append(str(FUNCTIONS[aggregate["fn"]]) + (f" · {field_label(model, aggregate['field'])}"
                                                              if aggregate.get("field") else ""))
        widget["columns"] = names
        if len(groups) == 1:
            for dataset, name in zip(chart["datasets"], names[1:], strict=False):
                dataset["label"] = name
        elif len(groups) == 2:
            second = _value_labeller(model, groups[1])
            for dataset in chart["datasets"]:
                dataset["label"] = second(None if dataset["label"] == "None" else dataset["label"])
    labellers = [_value_labeller(model, g) for g in groups]
    if labellers:
        chart["labels"] = [labellers[0](None if v == "None" else v) for v in chart["labels"]]
        for row in widget["rows"]:
            for index, labeller in enumerate(labellers):
                row[index] = labeller(row[index])


class DashboardsView(UIView):
    """The list of dashboards, one dashboard's charts, the editor, CSV of a widget."""

    @expose("/")
    def index(self) -> Any:
        with ui_session() as session:
            boards = dashboards.list_dashboards(session)
            me = session.actor.user_id
        for board in boards:
            board["title"] = label(board.get("label"), board["name"])
            board["mine"] = board["owner_id"] == me
        return self.render("crm/dashboards/index.html", boards=boards, title=_("Dashboards"))

    @expose("/<int:dashboard_id>/")
    def show(self, dashboard_id: int) -> Any:
        with ui_session() as session:
            try:
                result = dashboards.run_dashboard(session, policy_of(session), dashboard_id)
            except CRMError as exc:
                return render_error(exc)
            can_edit = result["dashboard"]["owner_id"] == session.actor.user_id or session.actor.is_admin
            widgets = [_present(session, widget) for widget in result["widgets"]]
        board = result["dashboard"]
        return self.render("crm/dashboards/show.html", board=board, widgets=widgets, can_edit=can_edit,
                           title=label(board.get("label"), board["name"]))

    def _editor(self, dashboard_id: int | None) -> Any:
        problems: dict[str, list[str]] = {}
        document: dict[str, Any] | None = None
        if request.method == "POST":
            document = _document_from_form()
            try:
                with ui_session(write=True) as session:
                    saved = (dashboards.update_dashboard(session, dashboard_id, document) if dashboard_id
                             else dashboards.create_dashboard(session, document))
            except CRMError as exc:
                problems = design_problems(exc, context_of(exc))
            else:
                flash(_("Dashboard saved."), "success")
                return redirect(url_for(".show", dashboard_id=saved["id"]))
        with ui_session() as session:
            try:
                stored = dashboards.get_dashboard(session, dashboard_id) if dashboard_id else None
                if stored is not None and stored["owner_id"] != session.actor.user_id and not session.actor.is_admin:
                    raise PermissionDenied(_("Only the owner of a dashboard (or an admin) may change it."))
            except CRMError as exc:
                return render_error(exc)
            choices = report_choices(session)
        document = document or stored or {"name": "", "shared": False, "widgets": []}
        rows = [{"key": _reference_key(w["report"]) if not isinstance(w["report"], str) else "",
                 "title": label(w.get("title")), "original": json.dumps(w.get("title")) if w.get("title") else "",
                 "chart": w.get("chart") or "", "width": w.get("width", 1)}
                for w in document.get("widgets", [])]
        parts = document.get("label") if isinstance(document.get("label"), dict) else {"en": document.get("label") or ""}
        title = label(stored.get("label"), stored["name"]) if stored else _("New dashboard")
        return self.render("crm/dashboards/edit.html", document=document, rows=rows, label_parts=parts,
                           choices=choices, charts=CHARTS, widths=WIDTHS, problems=problems,
                           dashboard_id=dashboard_id, title=title), (422 if problems else 200)

    @expose("/new/", methods=("GET", "POST"))
    def new(self) -> Any:
        return self._editor(None)

    @expose("/<int:dashboard_id>/edit/", methods=("GET", "POST"))
    def edit(self, dashboard_id: int) -> Any:
        return self._editor(dashboard_id)

    @expose("/<int:dashboard_id>/delete/", methods=("POST",))
    def delete(self, dashboard_id: int) -> Any:
        try:
            with ui_session(write=True) as session:
                dashboards.delete_dashboard(session, dashboard_id)
        except CRMError as exc:
            flash_error(exc)
            return redirect(url_for(".show", dashboard_id=dashboard_id))
        flash(_("Dashboard deleted."), "success")
        return redirect(url_for(".index"))

    @expose("/<int:dashboard_id>/widgets/<int:index>/csv")
    def widget_csv(self, dashboard_id: int, index: int) -> Any:
        with ui_session() as session:
            try:
                filename, content = dashboards.widget_csv(session, policy_of(session), dashboard_id, index)
            except CRMError as exc:
                return render_error(exc)
        return Response(content, mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
