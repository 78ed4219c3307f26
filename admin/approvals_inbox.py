"""The approver's inbox: pending requests with the record's summary; approve or reject with a
comment, delegate, recall one's own; what was submitted and decided before (history)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from crm_platform.core.errors import CRMError, ValidationError
from crm_platform.core.tables import users
from metadata import load_model

from .display import References, datetime_text, render_value
from .meta import list_columns, object_label
from .records_pages import record_title
from .ui import UIView, error_context, flash_error, policy_of, render_error, ui_session

TABS = {"inbox": lazy_gettext("Waiting for me"), "submitted": lazy_gettext("Submitted by me"),
        "history": lazy_gettext("History")}
STATUS_LABELS = {"pending": lazy_gettext("Pending"), "approved": lazy_gettext("Approved"),
                 "rejected": lazy_gettext("Rejected"), "recalled": lazy_gettext("Recalled")}
HISTORY_LABELS = {"submitted": lazy_gettext("submitted"), "approved": lazy_gettext("approved"),
                  "rejected": lazy_gettext("rejected"), "delegated": lazy_gettext("delegated"),
                  "recalled": lazy_gettext("recalled"), "escalated": lazy_gettext("escalated"),
                  "step_started": lazy_gettext("step started"), "step_skipped": lazy_gettext("step skipped"),
                  "completed": lazy_gettext("completed")}
SUMMARY_FIELDS = 4


def _summaries(session: Any, answers: list[dict[str, Any]]) -> None:
    """Add the record's title and a few of its fields (as the reader may see them) to each request."""
    tenant_model = load_model(session)
    policy = policy_of(session)
    refs = References(session, tenant_model, policy)
    for answer in answers:
        model = tenant_model.objects.get(answer["object"])
        record = answer.get("record")
        answer["object_label"] = object_label(model) if model else answer["object"]
        if model is None or record is None:
            answer["title"] = f"{answer['object']} #{answer['record_id']}"
            answer["summary"] = []
            continue
        refs.load(model, [record])
        masked = {n for n, a in policy.restricted(model.name).items() if a == "masked"}
        answer["title"] = record_title(model, record)
        answer["summary"] = [(c.label, render_value(c.field, c.name, record.get(c.name), refs, model, c.name in masked))
                             for c in list_columns(policy, model)[1:SUMMARY_FIELDS + 1]]
        answer["submitted_text"] = datetime_text(answer.get("submitted_at") or "")


class ApprovalsView(UIView):
    @expose("/")
    def index(self) -> Any:
        from workflow_engine.approval_inbox import list_requests

        tab = request.args.get("tab", "inbox")
        tab = tab if tab in TABS else "inbox"
        with ui_session() as session:
            try:
                if tab == "inbox":
                    rows, total = list_requests(session, status="pending", mine=True)
                elif tab == "submitted":
                    rows, total = list_requests(session, submitted=True)
                else:
                    rows, total = list_requests(session, mine=True)
            except CRMError as exc:
                return render_error(exc)
            _summaries(session, rows)
            people = session.conn.execute(
                sa.select(users.c.id, users.c.name, users.c.email).where(users.c.active.is_(True),
                                                                         users.c.id != session.actor.user_id)
                .order_by(users.c.name)).all()
            return self.render("crm/approvals/inbox.html", title=_("Approvals"), requests=rows, total=total, tab=tab,
                               tabs=TABS, statuses=STATUS_LABELS, people=people, me=session.actor.user_id)

    @expose("/<int:request_id>/")
    def detail(self, request_id: int) -> Any:
        from workflow_engine.approval_inbox import get_request

        with ui_session() as session:
            try:
                answer = get_request(session, request_id)
            except CRMError as exc:
                return render_error(exc)
            _summaries(session, [answer])
            for entry in answer.get("history", []):
                entry["at_text"] = datetime_text(entry.get("at") or "")
                entry["action_label"] = HISTORY_LABELS.get(entry["action"], entry["action"])
            people = session.conn.execute(
                sa.select(users.c.id, users.c.name, users.c.email).where(users.c.active.is_(True),
                                                                         users.c.id != session.actor.user_id)
                .order_by(users.c.name)).all()
            mine = any(t["status"] == "pending" and (t["approver"] or {}).get("id") == session.actor.user_id
                       for t in answer["tasks"])
            return self.render("crm/approvals/detail.html", title=answer["title"], req=answer, statuses=STATUS_LABELS,
                               people=people, can_decide=mine and answer["status"] == "pending",
                               can_recall=answer["status"] == "pending"
                               and (answer["submitted_by"] or {}).get("id") == session.actor.user_id)

    @expose("/<int:request_id>/<action>/", methods=("POST",))
    def act(self, request_id: int, action: str) -> Any:
        from workflow_engine import approvals

        comment = (request.form.get("comment") or "").strip() or None
        back = request.form.get("next") or url_for(".index")
        if not back.startswith("/") or back.startswith("//"):
            back = url_for(".index")
        try:
            with ui_session(write=True) as session:
                if action in ("approve", "reject"):
                    approvals.decide(session, request_id, action, comment)
                elif action == "delegate":
                    target = request.form.get("to", "")
                    if not target.isdigit():
                        raise ValidationError(_("Choose someone to delegate to."), {"to": ["required"]})
                    approvals.delegate(session, request_id, int(target), comment)
                elif action == "recall":
                    approvals.recall(session, request_id, comment)
                else:
                    raise ValidationError(_("Unknown action."), {"action": ["unknown"]})
        except CRMError as exc:
            flash_error(exc)
            return redirect(back)
        messages = {"approve": _("Approved."), "reject": _("Rejected."), "delegate": _("Delegated."),
                    "recall": _("Recalled.")}
        flash(messages[action], "success")
        return redirect(back)

    @expose("/submit/<object_name>/<int:record_id>/", methods=("POST",))
    def submit(self, object_name: str, record_id: int) -> Any:
        from metadata import RecordService
        from workflow_engine import approvals

        try:
            with ui_session(write=True) as session:
                RecordService(session).get(object_name, record_id)
                approvals.submit(session, object_name, record_id, request.form.get("process"),
                                 (request.form.get("comment") or "").strip() or None)
        except CRMError as exc:
            flash_error(exc, error_context(object_name))
        else:
            flash(_("Submitted for approval."), "success")
        return redirect(url_for("records.show", object_name=object_name, record_id=record_id))
