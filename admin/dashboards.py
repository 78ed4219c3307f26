"""``/admin/dashboards/``: dashboards drawn with Chart.js in a responsive grid, and their editor.

Every widget runs as the signed-in user (a widget they may not run shows a placeholder); the editor
places the tenant's saved reports and the built-in pipeline reports, in order, each with a title,
a chart type and a width.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from crm_platform.core.errors import CRMError
from metadata import dashboards, load_model
from metadata.reports import list_reports

from .i18n import label
from .meta import object_label
from .ui import UIView, policy_of, render_error, ui_session

CHARTS = {"": lazy_gettext("As the report says"), "bar": lazy_gettext("Bar"),
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
    for key, title, chart, width in zip(form.getlist("widget_report"), form.getlist("widget_title"),
                                        form.getlist("widget_chart"), form.getlist("widget_width"), strict=False):
        widget: dict[str, Any] = {"report": _reference(key)}
        if title.strip():
            widget["title"] = title.strip()
        if chart:
            widget["chart"] = chart
        widget["width"] = int(width) if width.isdigit() else width
        widgets.append(widget)
    document: dict[str, Any] = {"name": form.get("name", "").strip(), "shared": form.get("shared") == "on",
                                "widgets": widgets}
    if any(label_parts.values()):
        document["label"] = {k: v for k, v in label_parts.items() if v}
    return document


def _problems(exc: CRMError) -> dict[str, list[str]]:
    details = getattr(exc, "details", None) or {}
    return {key: list(messages) for key, messages in details.items()} or {"": [exc.message]}


def _title(widget: dict[str, Any]) -> str:
    return label(widget.get("title")) or widget.get("source") or _("Widget")


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
        board = result["dashboard"]
        widgets = []
        for widget in result["widgets"]:
            widget["heading"] = _title(widget)
            if "error" in widget:
                widget["error"]["text"] = str(PLACEHOLDERS.get(widget["error"]["code"], _("This widget cannot be shown.")))
            widgets.append(widget)
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
                problems = _problems(exc)
            else:
                flash(_("Dashboard saved."), "success")
                return redirect(url_for(".show", dashboard_id=saved["id"]))
        with ui_session() as session:
            try:
                stored = dashboards.get_dashboard(session, dashboard_id) if dashboard_id else None
                if stored is not None and stored["owner_id"] != session.actor.user_id and not session.actor.is_admin:
                    from crm_platform.core.errors import PermissionDenied

                    raise PermissionDenied(_("Only the owner of a dashboard (or an admin) may change it."))
            except CRMError as exc:
                return render_error(exc)
            choices = report_choices(session)
        document = document or stored or {"name": "", "shared": False, "widgets": []}
        rows = [{"key": _reference_key(w["report"]) if not isinstance(w["report"], str) else "",
                 "title": label(w.get("title")), "chart": w.get("chart") or "", "width": w.get("width", 1)}
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
            flash(exc.message, "danger")
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
