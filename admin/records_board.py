"""The kanban board of an object's pipeline: one column per stage, cards moved by dragging."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask_admin import expose

from crm_platform.core.errors import CRMError, ValidationError
from metadata import RecordService, load_model

from .display import References, render_value
from .meta import list_columns, object_label
from .records_pages import record_title, stage_path
from .ui import render_error, ui_session

CARDS_PER_STAGE = 50
CARD_FIELDS = 3


class BoardMixin:
    """The ``/<object>/board/`` route, mixed into the one records view."""

    @expose("/<object_name>/board/")
    def board(self, object_name: str) -> Any:
        with ui_session() as session:
            service = RecordService(session)
            try:
                model = service.object(object_name)
                service.policy.require(model.name, "read")
                if not model.has_pipeline:
                    raise ValidationError(f"{object_name} has no pipeline", {"stage": ["no pipeline"]})
            except CRMError as exc:
                return render_error(exc)
            policy = service.policy
            refs = References(session, load_model(session), policy)
            masked = {n for n, a in policy.restricted(model.name).items() if a == "masked"}
            shown = [c for c in list_columns(policy, model) if c.name not in ("stage", "id")][1:CARD_FIELDS + 1]
            search = request.args.get("q", "").strip()
            columns = []
            for stage in stage_path(model, None):
                arguments = {"filter": [json.dumps({"condition": "AND", "rules": [
                    {"field": "stage", "operator": "equal", "value": stage["name"]}]})],
                    "per_page": [str(CARDS_PER_STAGE)]}
                if search:
                    arguments["q"] = [search]
                rows, total = service.list(object_name, service.parse_list(object_name, arguments))
                refs.load(model, rows)
                cards = [{
                    "id": row["id"], "version": row.get("version"), "title": record_title(model, row),
                    "fields": [(c.label, render_value(c.field, c.name, row.get(c.name), refs, model,
                                                      c.name in masked)) for c in shown],
                    "owner": refs.user_name(row.get("owner_id")),
                } for row in rows]
                columns.append({**stage, "cards": cards, "total": total})
            return self.render(
                "crm/records/board.html", model=model, object_name=object_name, columns=columns, q=search,
                title=object_label(model, plural=True),
                can_update=policy.scope(model.name, "update") != "none",
                can_create=policy.scope(model.name, "create") != "none",
            )
