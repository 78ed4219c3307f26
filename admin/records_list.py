"""The list view of any object: search, visual filters, sorting, pagination, saved views, bulk
edit and delete, CSV export, and the search-as-you-type answer lookups use."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from crm_platform.core.errors import CRMError, NotFound, ValidationError
from metadata import RecordService, load_model, views

from .bulk_edit import Refusal, apply_bulk, bulk_fields, bulk_value
from .display import References, cell_renderer, plain_value, table_rows
from .filters import cached_filters_json
from .messages import Context, error_message, labelled, list_error
from .meta import field_label, list_columns, object_label, readable_fields, title_field
from .ui import error_context, flash_error, json_error, render_error, ui_session

LIST_PARAMETERS = ("q", "filter", "sort", "page", "per_page")
PER_PAGE_CHOICES = (20, 50, 100, 200)
EXPORT_PAGE = 500
MAX_EXPORT_ROWS = 100_000


def list_arguments(source: Any, saved: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Only the list parameters the record service knows, a saved view's tree and sort as the defaults."""
    arguments: dict[str, list[str]] = {}
    for key, value in (("filter", (saved or {}).get("condition")), ("sort", (saved or {}).get("sort"))):
        if value not in (None, ""):
            arguments[key] = [value if isinstance(value, str) else json.dumps(value)]
    for key in LIST_PARAMETERS:
        values = [v for v in source.getlist(key) if v != ""]
        if values:
            arguments[key] = values
    return arguments


def refusals_html(object_name: str, refused: list[Refusal]) -> Markup:
    """The records bulk edit did not change, each by its title linked to it, with the reason."""
    items = []
    for refusal in refused:
        if refusal.title is None:  # not readable: no title, no link
            name = Markup("#{}").format(refusal.record_id)
        else:
            href = url_for(".show", object_name=object_name, record_id=refusal.record_id)
            name = Markup('<a href="{}" class="alert-link" data-refused="{}">{}</a>').format(
                href, refusal.record_id, refusal.title)
        items.append(Markup("<li>{}</li>").format(labelled(name, refusal.reason)))
    return Markup('{}<ul class="mb-0" data-bulk-refusals>{}</ul>').format(_("Not changed:"), Markup("").join(items))


class ListMixin:
    """Routes of the list view, mixed into the one records view."""

    @expose("/<object_name>/")
    def index_view(self, object_name: str) -> Any:
        with ui_session() as session:
            service = RecordService(session)
            try:
                model = service.object(object_name)
                policy = service.policy
                policy.require(model.name, "read")
            except CRMError as exc:
                return render_error(exc)
            try:
                saved = self._saved_view(session, object_name, request.args.get("view"))
            except CRMError as exc:
                return render_error(exc)
            arguments = list_arguments(request.args, saved)
            error = None
            try:
                query = service.parse_list(object_name, arguments, current_app.config["CRM_MAX_PER_PAGE"])
                rows, total = service.list(object_name, query)
            except ValidationError as exc:
                error = list_error(exc, Context(model))
                query = service.parse_list(object_name, {}, current_app.config["CRM_MAX_PER_PAGE"])
                rows, total = service.list(object_name, query)
            columns = list_columns(policy, model, saved["columns"] if saved else None)
            refs = References(session, load_model(session), policy)
            refs.load(model, rows)
            masked = {n for n, a in policy.restricted(model.name).items() if a == "masked"}
            shown = [(c.name, c.label, ' class="text-end crm-num"' if c.numeric else "",
                      cell_renderer(c.field, c.name, refs, model, c.name in masked)) for c in columns]
            cells = [
                {
                    "id": row["id"], "href": refs.record_url(object_name, row["id"]),
                    "cells": [(text, css, render(row.get(name))) for name, text, css, render in shown],
                }
                for row in rows
            ]
            editable = bulk_fields(session, policy, model)
            pages = max(1, -(-total // query.per_page))
            can_update = policy.scope(model.name, "update") != "none"
            can_delete = policy.scope(model.name, "delete") != "none"
            base = url_for(".index_view", object_name=object_name)
            list_args = {k: v[0] for k, v in arguments.items() if k != "page"}
            if saved:
                list_args["view"] = str(saved["id"])
            sort_now = ",".join(("-" if d else "") + n for n, d in query.sort)

            def link(**changes: Any) -> str:
                merged = {**list_args, **changes}
                return base + ("?" + urlencode(merged) if merged else "")

            sort_links = {c.name: link(sort=("-" if sort_now == c.name else "") + c.name) for c in columns}
            return self.render(
                "crm/records/list.html", sort_links=sort_links,
                previous_link=link(page=query.page - 1), next_link=link(page=query.page + 1),
                model=model, object_name=object_name, columns=columns, rows=cells, total=total,
                page=query.page, pages=pages, per_page=query.per_page, per_page_choices=PER_PAGE_CHOICES,
                sort=",".join(("-" if d else "") + n for n, d in query.sort),
                q=arguments.get("q", [""])[0], filter_json=arguments.get("filter", [""])[0],
                error=error, saved_views=views.list_views(session, object_name), current_view=saved,
                column_names=",".join(c.name for c in columns),
                qb_filters_json=cached_filters_json(session, load_model(session).version, model, policy),
                can_create=policy.scope(model.name, "create") != "none",
                can_update=can_update, can_delete=can_delete,
                rows_html=table_rows(cells, can_update or can_delete, _("Select")),
                can_export=policy.scope(model.name, "export") != "none",
                bulk_fields=editable, title=object_label(model, plural=True),
                list_args=list_args,
            )

    @staticmethod
    def _saved_view(session: Any, object_name: str, view_id: str | None) -> dict[str, Any] | None:
        """The view named by ``?view=`` (the API's saved views): the user's own or a shared one."""
        if not view_id:
            return None
        view = views.get_view(session, view_id)
        if view["object"] != object_name:
            raise NotFound(_("That view does not exist."))
        return view

    @expose("/<object_name>/views/", methods=("POST",))
    def save_view_action(self, object_name: str) -> Any:
        with ui_session(write=True) as session:
            try:
                service = RecordService(session)
                model = service.object(object_name)
                unreadable = service.policy.unreadable(model.name)
                document: dict[str, Any] = {"object": model.name, "name": request.form.get("name", "").strip(),
                                            "shared": bool(request.form.get("shared"))}
                raw_filter = request.form.get("filter", "").strip()
                if raw_filter:
                    try:
                        document["condition"] = json.loads(raw_filter)
                    except ValueError:
                        raise ValidationError(_("The filter is not valid JSON."), {"filter": ["invalid JSON"]}) from None
                if request.form.get("sort", "").strip():
                    document["sort"] = request.form["sort"].strip()
                columns = [c for c in request.form.get("columns", "").split(",") if c]
                if columns:
                    document["columns"] = columns
                view = views.create_view(session, document, unreadable)
            except CRMError as exc:
                flash_error(exc)
                return redirect(url_for(".index_view", object_name=object_name))
        flash(_("View saved."), "success")
        return redirect(url_for(".index_view", object_name=object_name, view=view["id"]))

    @expose("/<object_name>/views/<int:view_id>/delete/", methods=("POST",))
    def delete_view_action(self, object_name: str, view_id: int) -> Any:
        with ui_session(write=True) as session:
            try:
                self._saved_view(session, object_name, str(view_id))
                views.delete_view(session, view_id)
            except CRMError as exc:
                flash_error(exc)
        return redirect(url_for(".index_view", object_name=object_name))

    @expose("/<object_name>/bulk/", methods=("POST",))
    def bulk_action(self, object_name: str) -> Any:
        ids = [i for i in request.form.getlist("ids") if i.isdigit()]
        action = request.form.get("action")
        back = request.form.get("next") or url_for(".index_view", object_name=object_name)
        if not back.startswith("/") or back.startswith("//"):
            back = url_for(".index_view", object_name=object_name)
        if not ids:
            flash(_("Select at least one record."), "warning")
            return redirect(back)
        try:
            with ui_session(write=True) as session:
                service = RecordService(session)
                model = service.object(object_name)
                if action == "delete":
                    for record_id in ids:
                        service.delete(object_name, record_id)
                    message = ngettext("%(num)d record deleted.", "%(num)d records deleted.", len(ids))
                elif action == "update":
                    name = request.form.get("field", "")
                    if name not in {f["name"] for f in bulk_fields(session, service.policy, model)}:
                        raise ValidationError(_("Choose a field to change."), {"field": ["unknown field"]})
                    value = bulk_value(model.fields[name], request.form.get("value"))
                    updated, failed = apply_bulk(service, object_name, ids, name, value)
                    if failed:
                        flash(refusals_html(object_name, failed), "danger")
                    if not updated:
                        return redirect(back)
                    message = ngettext("%(num)d record updated.", "%(num)d records updated.", updated)
                else:
                    raise ValidationError(_("Unknown bulk action."), {"action": ["unknown"]})
        except CRMError as exc:
            flash(_("Nothing was changed: %(reason)s", reason=error_message(exc, error_context(object_name))),
                  "danger")
            return redirect(back)
        flash(message, "success")
        return redirect(back)

    @expose("/<object_name>/export.csv")
    def export_view(self, object_name: str) -> Any:
        with ui_session() as session:
            service = RecordService(session)
            try:
                model = service.object(object_name)
                service.policy.require(model.name, "export")
                arguments = list_arguments(request.args)
                arguments["per_page"] = [str(EXPORT_PAGE)]
                fields = readable_fields(service.policy, model)
                refs = References(session, load_model(session), service.policy)
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(["ID", *(field_label(model, fd.name) for fd in fields)])
                page, written = 1, 0
                while written < MAX_EXPORT_ROWS:
                    arguments["page"] = [str(page)]
                    query = service.parse_list(object_name, arguments, EXPORT_PAGE)
                    rows, total = service.list(object_name, query)
                    refs.load(model, rows)
                    for row in rows:
                        writer.writerow([row["id"], *(plain_value(fd, row.get(fd.name), refs) for fd in fields)])
                    written += len(rows)
                    if written >= total or not rows:
                        break
                    page += 1
            except CRMError as exc:
                return render_error(exc)
            session.audit("record.export", object=model.name, after={"rows": written})
        return Response(
            "\ufeff" + buffer.getvalue(), mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{object_name}.csv"'},
        )

    @expose("/<object_name>/lookup")
    def lookup_view(self, object_name: str) -> Any:
        """Records whose searchable fields contain ``q``, for lookup pickers."""
        with ui_session() as session:
            service = RecordService(session)
            try:
                model = service.object(object_name)
                arguments: dict[str, list[str]] = {"per_page": ["20"]}
                text = request.args.get("q", "").strip()
                if text.isdigit():
                    arguments["filter"] = [json.dumps({"condition": "OR", "rules": [
                        {"field": "id", "operator": "equal", "value": int(text)}]})]
                elif text:
                    arguments["q"] = [text]
                rows, _total = service.list(object_name, service.parse_list(object_name, arguments))
            except CRMError as exc:
                return json_error(exc)
            unreadable = service.policy.unreadable(model.name)
            title = title_field(model)
            results = [
                {"id": row["id"],
                 "text": str(row.get(title)) if title and title not in unreadable and row.get(title) is not None
                 else f"#{row['id']}"}
                for row in rows
            ]
            return jsonify({"results": results})
