"""Workflow endpoints: rules, their versions and run log, rule tests, notifications."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from crm_platform.core.errors import NotFound, ValidationError
from workflow_engine import (
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    test_rule,
    update_rule,
)
from workflow_engine.log import RUN_STATUSES, rule_log
from workflow_engine.rules import get_rule_row
from workflow_engine.tables import notifications, rule_versions

from .context import json_body, page_arguments, require, unit_of_work


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def register(api: Blueprint) -> None:
    @api.get("/rules")
    def rules_index():
        with unit_of_work() as session:
            return jsonify({"data": list_rules(session, request.args.get("object"))})

    @api.post("/rules")
    def rules_create():
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(create_rule(session, document)), 201

    @api.get("/rules/<rule_id>")
    def rules_show(rule_id: str):
        with unit_of_work() as session:
            return jsonify(get_rule(session, rule_id))

    @api.patch("/rules/<rule_id>")
    def rules_update(rule_id: str):
        patch = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            return jsonify(update_rule(session, rule_id, patch))

    @api.delete("/rules/<rule_id>")
    def rules_delete(rule_id: str):
        with unit_of_work() as session:
            require(session, "customize")
            delete_rule(session, rule_id)
        return "", 204

    @api.get("/rules/<rule_id>/versions")
    def rules_versions(rule_id: str):
        with unit_of_work() as session:
            row = get_rule_row(session, rule_id)
            versions = session.conn.execute(
                sa.select(rule_versions).where(rule_versions.c.rule_id == row.id).order_by(rule_versions.c.version.desc())
            ).mappings().all()
            return jsonify({"data": [{"version": v["version"], "definition": v["definition"],
                                      "created_at": _iso(v["created_at"]), "created_by": v["created_by"]} for v in versions]})

    @api.post("/rules/<rule_id>/test")
    def rules_test(rule_id: str):
        document = json_body()
        if "record_id" not in document:
            raise ValidationError("say which record to test on: {\"record_id\": ...}", {"record_id": ["required"]})
        with unit_of_work() as session:
            require(session, "customize")
            row = get_rule_row(session, rule_id)
            return jsonify(test_rule(session, row.id, row.version, document["record_id"]))

    @api.get("/rules/<rule_id>/runs")
    def rules_runs(rule_id: str):
        with unit_of_work() as session:
            row = get_rule_row(session, rule_id)
            return jsonify(_log(session, rule_id=row.id))

    @api.get("/rule-runs")
    def runs_index():
        with unit_of_work() as session:
            record = request.args.get("record")
            if record is not None and not record.isdigit():
                raise ValidationError("record must be an id", {"record": ["must be an integer"]})
            status = request.args.get("status")
            if status is not None and status not in RUN_STATUSES:
                raise ValidationError(f"status is one of {', '.join(RUN_STATUSES)}", {"status": ["unknown status"]})
            return jsonify(_log(session, object_name=request.args.get("object"),
                                record_id=int(record) if record else None, status=status))

    @api.get("/notifications")
    def notifications_index():
        with unit_of_work() as session:
            criteria = [notifications.c.user_id == g.actor.user_id]
            if request.args.get("unread") == "1":
                criteria.append(notifications.c.read_at.is_(None))
            rows = session.conn.execute(
                sa.select(notifications).where(*criteria).order_by(notifications.c.id.desc()).limit(200)
            ).mappings().all()
            return jsonify({"data": [{**{k: r[k] for k in ("id", "title", "body", "object", "record_id")},
                                      "created_at": _iso(r["created_at"]), "read_at": _iso(r["read_at"])} for r in rows]})

    @api.post("/notifications/<notification_id>/read")
    def notifications_read(notification_id: str):
        from crm_platform.core.session import utcnow

        with unit_of_work() as session:
            try:
                key = int(notification_id)
            except ValueError:
                raise NotFound(f"notification {notification_id!r} does not exist") from None
            result = session.conn.execute(notifications.update().where(
                notifications.c.id == key, notifications.c.user_id == g.actor.user_id).values(read_at=utcnow()))
            if result.rowcount != 1:
                raise NotFound(f"notification {notification_id!r} does not exist")
        return "", 204


def _log(session: Any, **filters: Any) -> dict[str, Any]:
    page, per_page = page_arguments()
    entries, total = rule_log(session, page=page, per_page=per_page, **filters)
    return {"data": entries, "meta": {"total": total, "page": page, "per_page": per_page}}
