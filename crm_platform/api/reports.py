"""Report endpoints: stored reports, running them (JSON or CSV), built-in pipeline reports."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify, request

from crm_platform.core.permissions import access_policy
from metadata import reports

from .context import json_body, unit_of_work


def register(api: Blueprint) -> None:
    @api.get("/reports")
    def reports_index():
        with unit_of_work() as session:
            return jsonify({"data": reports.list_reports(session)})

    @api.post("/reports")
    def reports_create():
        document = json_body()
        with unit_of_work() as session:
            return jsonify(reports.create_report(session, access_policy(session), document)), 201

    @api.get("/reports/<report_id>")
    def reports_show(report_id: str):
        with unit_of_work() as session:
            return jsonify(reports.get_report(session, report_id))

    @api.put("/reports/<report_id>")
    def reports_replace(report_id: str):
        document = json_body()
        with unit_of_work() as session:
            return jsonify(reports.update_report(session, access_policy(session), report_id, document))

    @api.delete("/reports/<report_id>")
    def reports_delete(report_id: str):
        with unit_of_work() as session:
            reports.delete_report(session, report_id)
        return "", 204

    @api.get("/reports/<report_id>/run")
    def reports_run(report_id: str):
        """Rows and chart data; ``format=csv`` downloads the rows."""
        with unit_of_work() as session:
            report = reports.get_report(session, report_id)
            result = reports.run_report(session, access_policy(session), report)
        if request.args.get("format") == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(result["columns"])
            writer.writerows(result["rows"])
            return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="report-{report["id"]}.csv"'})
        return jsonify({"report": report, **result})

    @api.post("/reports/run")
    def reports_run_unsaved():
        """Run a definition without saving it (the report builder's preview)."""
        document = json_body()
        with unit_of_work() as session:
            return jsonify(reports.run_report(session, access_policy(session), document))

    @api.get("/reports/funnel/<name>")
    def reports_funnel(name: str):
        with unit_of_work() as session:
            return jsonify(reports.funnel(session, access_policy(session), name))

    @api.get("/reports/won-lost/<name>")
    def reports_won_lost(name: str):
        with unit_of_work() as session:
            return jsonify(reports.won_lost(session, access_policy(session), name, request.args.get("bucket", "month")))
