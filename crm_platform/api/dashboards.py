"""Dashboard endpoints: stored dashboards, running every widget, one widget's rows as CSV."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from crm_platform.core.permissions import access_policy
from metadata import dashboards

from .context import json_body, unit_of_work


def register(api: Blueprint) -> None:
    @api.get("/dashboards")
    def dashboards_index():
        with unit_of_work() as session:
            return jsonify({"data": dashboards.list_dashboards(session)})

    @api.post("/dashboards")
    def dashboards_create():
        document = json_body()
        with unit_of_work() as session:
            return jsonify(dashboards.create_dashboard(session, document)), 201

    @api.get("/dashboards/<dashboard_id>")
    def dashboards_show(dashboard_id: str):
        with unit_of_work() as session:
            return jsonify(dashboards.get_dashboard(session, dashboard_id))

    @api.put("/dashboards/<dashboard_id>")
    def dashboards_replace(dashboard_id: str):
        document = json_body()
        with unit_of_work() as session:
            return jsonify(dashboards.update_dashboard(session, dashboard_id, document))

    @api.delete("/dashboards/<dashboard_id>")
    def dashboards_delete(dashboard_id: str):
        with unit_of_work() as session:
            dashboards.delete_dashboard(session, dashboard_id)
        return "", 204

    @api.get("/dashboards/<dashboard_id>/run")
    def dashboards_run(dashboard_id: str):
        """Every widget's rows and chart data; a widget the caller may not run is an error entry."""
        with unit_of_work() as session:
            return jsonify(dashboards.run_dashboard(session, access_policy(session), dashboard_id))

    @api.get("/dashboards/<dashboard_id>/widgets/<index>/csv")
    def dashboards_widget_csv(dashboard_id: str, index: str):
        with unit_of_work() as session:
            filename, content = dashboards.widget_csv(session, access_policy(session), dashboard_id, index)
        return Response(content, mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
