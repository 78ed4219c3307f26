"""The kanban board of an object's pipeline: one column per stage, cards moved by dragging."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask_admin import expose
from flask_babel import format_decimal
from flask_babel import gettext as _

from crm_platform.core.errors import CRMError, ValidationError
from metadata import RecordService, load_model

from .display import References, render_value
from .meta import field_label, list_columns, object_label
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
                    raise ValidationError(_("This object has no pipeline."), {"stage": ["no pipeline"]})
            except CRMError as exc:
                return render_error(exc)
            policy = service.policy
            refs = References(session, load_model(session), policy)
            masked = {n for n, a in policy.restricted(model.name).items() if a == "masked"}
            shown = [c for c in list_columns(policy, model) if c.name not in ("stage", "id")][1:CARD_FIELDS + 1]
            search = request.args.get("q", "").strip()
            unreadable = policy.unreadable(model.name)
            money = [fd for fd in model.definition.fields if fd.type == "currency" and fd.name not in unreadable
                     and policy.access(model.name, fd.name) != "hidden"]
            totals = service.totals(object_name, service.parse_list(object_name, {"q": [search]} if search else {}),
                                    "stage", [fd.name for fd in money])
            columns = []
            for stage in stage_path(model, None):
                arguments = {"filter": [json.dumps({"condition": "AND", "rules": [
                    {"field": "stage", "operator": "equal", "value": stage["name"]}]})],
                    "per_page": [str(CARDS_PER_STAGE)]}
                if search:
                    arguments["q"] = [search]
                rows, _total = service.list(object_name, service.parse_list(object_name, arguments))
                refs.load(model, rows)
                cards = [{
                    "id": row["id"], "version": row.get("version"), "title": record_title(model, row),
                    "fields": [(c.label, render_value(c.field, c.name, row.get(c.name), refs, model,
                                                      c.name in masked)) for c in shown],
                    "owner": refs.user_name(row.get("owner_id")),
                    "sums": {fd.name: row.get(fd.name) or 0 for fd in money},
                } for row in rows]
                stage_totals = totals.get(stage["name"]) or {"count": 0, "sums": {}}
                sums = []
                for fd in money:
                    amount = stage_totals["sums"].get(fd.name) or 0
                    sums.append((fd.name, field_label(model, fd.name), format_decimal(amount, format="#,##0.00"),
                                 str(amount)))
                columns.append({**stage, "cards": cards, "total": stage_totals["count"], "sums": sums})
            return self.render(
                "crm/records/board.html", model=model, object_name=object_name, columns=columns, q=search,
                title=object_label(model, plural=True),
                can_update=policy.scope(model.name, "update") != "none",
                can_create=policy.scope(model.name, "create") != "none",
            )
