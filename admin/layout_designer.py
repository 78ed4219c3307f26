"""Layout designer (fields dragged into sections and columns), list columns, pipeline designer."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request
from flask_admin import expose
from flask_babel import gettext as _

from crm_platform.core.errors import BadRequest, CRMError
from metadata import Designer, layout_of, load_model

from .design_objects import _problems, require_customize
from .i18n import label
from .meta import field_label, object_label
from .ui import render_error, ui_session

LIST_SYSTEM_COLUMNS = ("id", "owner_id", "created_at", "updated_at", "stage")


def _posted_json(name: str) -> Any:
    try:
        return json.loads(request.form.get(name) or "")
    except ValueError:
        raise BadRequest(_("The designer sent no readable definition; reload the page and try again.")) from None


class LayoutsMixin:
    """Routes of the layout, list-column and pipeline designers."""

    def _design_page(self, name: str, tab: str, template: str, save: Any, context: Any) -> Any:
        problems: dict[str, list[str]] = {}
        if request.method == "POST":
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    save(Designer(session))
            except CRMError as exc:
                problems = _problems(exc, name)
            else:
                flash(_("Saved."), "success")
                return redirect(request.path)
        with ui_session() as session:
            try:
                require_customize(session)
                obj = load_model(session).object(name)
            except CRMError as exc:
                return render_error(exc)
            return self.render(template, obj=obj, name=name, tab=tab, problems=problems,
                               title=object_label(obj), **context(obj)), (422 if problems else 200)

    @expose("/objects/<object_name>/layout/", methods=("GET", "POST"))
    def layout(self, object_name: str) -> Any:
        name = object_name
        def context(obj: Any) -> dict[str, Any]:
            return {"layout": layout_of(obj.definition, "form"),
                    "fields": [{"name": fd.name, "label": label(fd.label, fd.name)} for fd in obj.definition.fields]}

        return self._design_page(name, "layout", "crm/design/layout.html",
                                 lambda d: d.put_layout(name, "form", _posted_json("layout_json")), context)

    @expose("/objects/<object_name>/list-layout/", methods=("GET", "POST"))
    def list_layout(self, object_name: str) -> Any:
        name = object_name
        def context(obj: Any) -> dict[str, Any]:
            names = [fd.name for fd in obj.definition.fields if fd.type != "rich_text"]
            names += [n for n in LIST_SYSTEM_COLUMNS if n in obj.table.c]
            layout = layout_of(obj.definition, "list")
            sort = layout.get("sort") or ""
            return {"layout": layout, "fields": [{"name": n, "label": field_label(obj, n)} for n in names],
                    "sort_field": sort.split(",")[0].lstrip("-"), "sort_desc": sort.startswith("-")}

        return self._design_page(name, "list", "crm/design/list_layout.html",
                                 lambda d: d.put_layout(name, "list", _posted_json("layout_json")), context)

    @expose("/objects/<object_name>/pipeline/", methods=("GET", "POST"))
    def pipeline(self, object_name: str) -> Any:
        name = object_name
        def context(obj: Any) -> dict[str, Any]:
            return {"pipeline": obj.definition.pipeline or {"stages": []},
                    "fields": [{"name": fd.name, "label": label(fd.label, fd.name)}
                               for fd in obj.definition.fields if not fd.computed]}

        return self._design_page(name, "pipeline", "crm/design/pipeline.html",
                                 lambda d: d.put_pipeline(name, _posted_json("pipeline_json")), context)
