"""A record's timeline: its changes from the audit log (stage moves included), approvals and
activities where those layers are installed, newest first. Hidden fields never appear; masked
ones appear masked."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from crm_platform.core.permissions import AccessPolicy, mask_value
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import audit_log
from metadata import ObjectModel

from .display import References, datetime_text, plain_value
from .meta import field_label, stage_label

MAX_ENTRIES = 200
APPROVAL_TEXTS = {
    "submit": lambda: _("Submitted for approval"), "approve": lambda: _("Approved a step"),
    "reject": lambda: _("Rejected"), "recall": lambda: _("Recalled the approval request"),
    "delegate": lambda: _("Delegated the approval"), "escalate": lambda: _("Escalated the approval"),
    "approved": lambda: _("Approval completed: approved"), "rejected": lambda: _("Approval completed: rejected"),
}
ACTIVITY_ICONS = {"call": "telephone", "email": "envelope", "meeting": "people", "note": "sticky", "task": "check2-square"}


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)


def _show(model: ObjectModel, policy: AccessPolicy, refs: References, name: str, value: Any) -> str:
    access = policy.access(model.name, name)
    if access == "masked":
        return str(mask_value(value, **policy.mask_of(model.name, name))) if value is not None else "—"
    if name == "stage":
        return stage_label(model, value) or "—"
    if name == "owner_id":
        return refs.user_name(value) or "—"
    text = plain_value(model.fields.get(name), value, refs)
    return text if text != "" else "—"


def record_timeline(session: TenantSession, model: ObjectModel, record_id: int, policy: AccessPolicy,
                    refs: References) -> list[dict[str, Any]]:
    rows = session.conn.execute(
        sa.select(audit_log).where(audit_log.c.object == model.name, audit_log.c.record_id == record_id)
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(MAX_ENTRIES)
    ).all()
    hidden = {n for n, a in policy.restricted(model.name).items() if a == "hidden"}
    entries = []
    for row in rows:
        who = row.user_email if row.user_email != "system" else _("Automation")
        if row.user_id is not None:
            who = refs.user_name(row.user_id)
        entry: dict[str, Any] = {"at": datetime_text(_iso(row.at)), "who": who, "changes": []}
        if row.action == "record.create":
            entry.update(kind="create", icon="plus-circle", text=_("Created the record"))
        elif row.action == "record.update":
            before, after = row.before or {}, row.after or {}
            names = [n for n in after if n not in hidden and n not in ("updated_at", "updated_by", "version")]
            if "stage" in names:
                entries.append({
                    **entry, "kind": "stage", "icon": "signpost-split",
                    "text": _("Moved from %(old)s to %(new)s",
                              old=_show(model, policy, refs, "stage", before.get("stage")),
                              new=_show(model, policy, refs, "stage", after.get("stage"))),
                })
                names.remove("stage")
                if not names:
                    continue
            entry.update(kind="update", icon="pencil", text=_("Changed"))
            entry["changes"] = [
                {"field": field_label(model, n), "old": _show(model, policy, refs, n, before.get(n)),
                 "new": _show(model, policy, refs, n, after.get(n))}
                for n in names
            ]
            if not entry["changes"]:
                continue
        elif row.action.startswith("approval."):
            detail = row.after or {}
            verb = row.action.split(".", 1)[1]
            text = APPROVAL_TEXTS.get(verb)
            entry.update(kind="approval", icon="patch-check", text=text() if text else verb)
            if detail.get("process"):
                entry["text"] += f" · {detail['process']}"
            if detail.get("comment"):
                entry["comment"] = str(detail["comment"])
        elif row.action.startswith("activity."):
            detail = row.after or {}
            kind = str(detail.get("type") or "note")
            entry.update(kind="activity", icon=ACTIVITY_ICONS.get(kind, "chat-left-text"),
                         text=str(detail.get("subject") or row.action.split(".", 1)[1]))
            if detail.get("body"):
                entry["comment"] = str(detail["body"])[:500]
            if detail.get("due_at"):
                entry["text"] += " · " + _("due %(when)s", when=datetime_text(detail["due_at"]))
        else:
            entry.update(kind="other", icon="dot", text=row.action)
        entries.append(entry)
    return entries
