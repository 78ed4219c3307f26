"""Record data beyond fields: tags, activities and the timeline."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request

from crm_platform.core.errors import PermissionDenied, ValidationError
from crm_platform.core.permissions import access_policy
from metadata import RecordService, attachments, duplicates, views
from metadata.activities import add_activity, delete_activity, due_tasks, get_activity, record_activities, update_activity
from metadata.audiences import add_members_from_view
from metadata.merge_undo import undo_merge
from metadata.exporting import FORMATS, export_rows, render_export
from metadata.tags import add_tags, clean_tags, remove_tags, tags_of
from metadata.timeline import timeline

from .context import json_body, require, unit_of_work


def _readable(session: Any, object_name: str, record_id: str) -> dict[str, Any]:
    """The record if the caller may read it (else 403/404, as for the record itself)."""
    return RecordService(session).get(object_name, record_id)


def _writable(session: Any, object_name: str, record_id: str) -> dict[str, Any]:
    record = _readable(session, object_name, record_id)
    policy = access_policy(session)
    scope = policy.require(object_name, "update")
    if not policy.covers(session, scope, record.get("owner_id")):
        raise PermissionDenied(f"you may not change {object_name} {record['id']}")
    return record


def _integer(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer", {name: ["must be an integer"]}) from None


def register(api: Blueprint) -> None:
    @api.get("/views")
    def views_index():
        with unit_of_work() as session:
            return jsonify({"data": views.list_views(session, request.args.get("object"))})

    @api.post("/views")
    def views_create():
        document = json_body()
        with unit_of_work() as session:
            object_name = document.get("object") if isinstance(document.get("object"), str) else ""
            policy = access_policy(session)
            policy.require(object_name, "read")
            return jsonify(views.create_view(session, document, policy.unreadable(object_name))), 201

    @api.get("/views/<view_id>")
    def views_show(view_id: str):
        with unit_of_work() as session:
            return jsonify(views.get_view(session, view_id))

    @api.patch("/views/<view_id>")
    def views_update(view_id: str):
        patch = json_body()
        with unit_of_work() as session:
            view = views.get_view(session, view_id)
            unreadable = access_policy(session).unreadable(view["object"])
            return jsonify(views.update_view(session, view_id, patch, unreadable))

    @api.delete("/views/<view_id>")
    def views_delete(view_id: str):
        with unit_of_work() as session:
            views.delete_view(session, view_id)
        return "", 204

    @api.get("/records/<name>/<record_id>/attachments")
    def attachments_index(name: str, record_id: str):
        with unit_of_work() as session:
            record = _readable(session, name, record_id)
            return jsonify({"data": attachments.record_attachments(session, name, record["id"])})

    @api.post("/records/<name>/<record_id>/attachments")
    def attachments_upload(name: str, record_id: str):
        """Multipart upload (field ``file``); the same name again adds a version."""
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError("send the file as multipart form field 'file'", {"file": ["required"]})
        limit = current_app.config["CRM_MAX_ATTACHMENT_MB"] * 1024 * 1024
        content = upload.stream.read(limit + 1)
        with unit_of_work() as session:
            record = _writable(session, name, record_id)
            created = attachments.add_attachment(session, name, record["id"], upload.filename or "", content, limit)
            return jsonify(created), 201

    @api.get("/attachments/<attachment_id>")
    def attachments_download(attachment_id: str):
        with unit_of_work() as session:
            attachment = attachments.get_attachment(session, attachment_id)
            _readable(session, attachment["object"], attachment["record_id"])  # 404 unless readable
            content = attachments.attachment_content(session, attachment)
        return Response(content, mimetype=attachment["content_type"], headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment['filename'])}",
            "X-Content-Type-Options": "nosniff",
        })

    @api.delete("/attachments/<attachment_id>")
    def attachments_delete(attachment_id: str):
        with unit_of_work() as session:
            attachment = attachments.get_attachment(session, attachment_id)
            _writable(session, attachment["object"], attachment["record_id"])
            attachments.delete_attachment(session, attachment_id)
        return "", 204

    @api.get("/duplicate-rules")
    def duplicate_rules_index():
        with unit_of_work() as session:
            return jsonify({"data": duplicates.list_rules(session, request.args.get("object"))})

    @api.post("/duplicate-rules")
    def duplicate_rules_create():
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            object_name = document.get("object")
            if not isinstance(object_name, str):
                raise ValidationError("say which object the rule is for", {"object": ["required"]})
            return jsonify(duplicates.create_rule(session, object_name, document)), 201

    @api.delete("/duplicate-rules/<rule_id>")
    def duplicate_rules_delete(rule_id: str):
        with unit_of_work() as session:
            require(session, "customize")
            duplicates.delete_rule(session, rule_id)
        return "", 204

    @api.get("/duplicates/<name>")
    def duplicates_scan(name: str):
        """Groups of likely duplicates, limited to records the caller may read."""
        with unit_of_work() as session:
            service = RecordService(session)
            model = service.object(name)
            policy = access_policy(session)
            scope = policy.require(name, "read")
            groups = duplicates.scan(session, name)
            criterion = policy.criterion(session, model.table, scope)
            if criterion is not None:
                readable = set(session.conn.execute(sa.select(model.table.c.id).where(criterion)).scalars())
                groups = [{**g, "records": [i for i in g["records"] if i in readable]} for g in groups]
                groups = [g for g in groups if len(g["records"]) > 1]
            return jsonify({"data": groups})

    @api.post("/records/<name>/merge")
    def records_merge(name: str):
        document = json_body()
        with unit_of_work() as session:
            return jsonify(duplicates.merge(session, name, document))

    @api.post("/records/<name>/<record_id>/members-from-view")
    def records_members_from_view(name: str, record_id: str):
        """Every record of a saved view becomes a member of this record (a campaign's audience)."""
        document = json_body()
        with unit_of_work() as session:
            return jsonify(add_members_from_view(session, name, record_id, document))

    @api.post("/records/<name>/merge/<entry_id>/undo")
    def records_merge_undo(name: str, entry_id: str):
        """Undo a merge, named by its ``record.merge`` audit entry (the merge answer's ``audit_id``)."""
        with unit_of_work() as session:
            return jsonify(undo_merge(session, name, entry_id))

    @api.get("/records/<name>/export")
    def records_export(name: str):
        """The filtered list as CSV or XLSX (``format=csv|xlsx`` plus any list filter)."""
        fmt = request.args.get("format", "csv")
        with unit_of_work(write=True) as session:
            service = RecordService(session)
            columns, labels, rows = export_rows(service, name, request.args.to_dict(flat=False))
            content, count = render_export(fmt, labels, rows)
            filters = {k: v for k, v in request.args.to_dict(flat=False).items() if k != "format"}
            session.audit("record.export", object=name, after={"format": fmt, "rows": count, "columns": columns,
                                                               "filters": filters})
        return Response(content, mimetype=FORMATS[fmt].split(";")[0], headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Content-Type": FORMATS[fmt],
        })

    @api.get("/records/<name>/<record_id>/tags")
    def tags_index(name: str, record_id: str):
        with unit_of_work() as session:
            record = _readable(session, name, record_id)
            return jsonify({"tags": tags_of(session, name, record["id"])})

    @api.post("/records/<name>/<record_id>/tags")
    def tags_add(name: str, record_id: str):
        tags = clean_tags(json_body().get("tags"))
        with unit_of_work() as session:
            record = _writable(session, name, record_id)
            add_tags(session, name, record["id"], tags)
            return jsonify({"tags": tags_of(session, name, record["id"])})

    @api.delete("/records/<name>/<record_id>/tags")
    def tags_remove(name: str, record_id: str):
        tags = clean_tags(json_body().get("tags"))
        with unit_of_work() as session:
            record = _writable(session, name, record_id)
            remove_tags(session, name, record["id"], tags)
            return jsonify({"tags": tags_of(session, name, record["id"])})

    @api.get("/records/<name>/<record_id>/activities")
    def activities_index(name: str, record_id: str):
        with unit_of_work() as session:
            record = _readable(session, name, record_id)
            return jsonify({"data": record_activities(session, name, record["id"])})

    @api.post("/records/<name>/<record_id>/activities")
    def activities_create(name: str, record_id: str):
        document = json_body()
        with unit_of_work() as session:
            record = _readable(session, name, record_id)
            return jsonify(add_activity(session, name, record["id"], g.actor.user_id, document)), 201

    def _own_activity(session: Any, activity_id: str) -> dict[str, Any]:
        activity = get_activity(session, activity_id)
        _readable(session, activity["object"], activity["record_id"])  # 404 unless the record is readable
        policy = access_policy(session)
        if activity["owner_id"] != g.actor.user_id and not policy.is_admin:
            _writable(session, activity["object"], activity["record_id"])
        return activity

    @api.patch("/activities/<activity_id>")
    def activities_update(activity_id: str):
        document = json_body()
        with unit_of_work() as session:
            _own_activity(session, activity_id)
            return jsonify(update_activity(session, activity_id, document))

    @api.delete("/activities/<activity_id>")
    def activities_delete(activity_id: str):
        with unit_of_work() as session:
            _own_activity(session, activity_id)
            delete_activity(session, activity_id)
        return "", 204

    @api.get("/activities")
    def activities_due():
        """The caller's open activities: ``due=today`` or ``due=overdue``."""
        with unit_of_work() as session:
            return jsonify({"data": due_tasks(session, g.actor.user_id, request.args.get("due", "overdue"))})

    @api.get("/records/<name>/<record_id>/timeline")
    def record_timeline(name: str, record_id: str):
        with unit_of_work() as session:
            record = _readable(session, name, record_id)
            page, per_page = _integer("page", 1), _integer("per_page", 50)
            entries, total = timeline(session, access_policy(session), name, record["id"], page, per_page)
            return jsonify({"data": entries, "meta": {"total": total, "page": page, "per_page": per_page}})
