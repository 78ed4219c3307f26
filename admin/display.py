"""Showing stored values: numbers, dates, options, links to related records, sanitized rich text.

Everything returned is either plain text (Jinja escapes it) or :class:`Markup` built here from
escaped parts; rich text is cleaned again with nh3 before it is marked safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import nh3
import sqlalchemy as sa
from flask import url_for
from markupsafe import Markup, escape

from crm_platform.core.permissions import AccessPolicy
from crm_platform.core.session import TenantSession
from crm_platform.core.tables import users
from metadata import FieldDef, ObjectModel, TenantModel

from .i18n import fast_gettext
from .meta import option_label, stage_label, title_field

EMPTY = Markup('<span class="text-body-tertiary">—</span>')
BADGE = '<span class="badge rounded-pill text-bg-light border">'


class References:
    """Names of users and titles of related records, fetched once per page for all its rows."""

    def __init__(self, session: TenantSession, tenant_model: TenantModel, policy: AccessPolicy) -> None:
        self.session = session
        self.tenant_model = tenant_model
        self.policy = policy
        self._users: dict[int, str] | None = None
        self._titles: dict[tuple[str, int], str] = {}
        self._prefixes: dict[str, str] = {}
        self._options: dict[str, dict[str, str]] = {}

    def option(self, fd: FieldDef, value: Any) -> str:
        """An option's label in the user's language (labels worked out once per field and page)."""
        labels = self._options.get(fd.name)
        if labels is None:
            labels = self._options[fd.name] = {o["value"]: option_label(fd, o["value"]) for o in fd.options}
        return labels.get(value, str(value))

    def record_url(self, object_name: str, record_id: int) -> str:
        """``/admin/records/<object>/<id>/``, building the route once per object and page."""
        prefix = self._prefixes.get(object_name)
        if prefix is None:
            prefix = self._prefixes[object_name] = record_url_prefix(object_name)
        return f"{prefix}{int(record_id)}/"

    def users(self) -> dict[int, str]:
        if self._users is None:
            rows = self.session.conn.execute(sa.select(users.c.id, users.c.name, users.c.email)).all()
            self._users = {r.id: r.name or r.email for r in rows}
        return self._users

    def user_name(self, user_id: Any) -> str:
        if user_id is None:
            return ""
        return self.users().get(user_id, f"#{user_id}")

    def load(self, model: ObjectModel, records: Iterable[dict[str, Any]]) -> None:
        """Fetch the titles of every record the lookups of ``records`` point at (one query per target)."""
        wanted: dict[str, set[int]] = {}
        records = list(records)
        for fd in model.lookups:
            if fd.type != "lookup":
                continue
            for record in records:
                value = record.get(fd.name)
                if isinstance(value, int):
                    wanted.setdefault(fd.target, set()).add(value)
        for target, ids in wanted.items():
            missing = [i for i in ids if (target, i) not in self._titles]
            if missing:
                self._titles.update(self.titles(target, missing))

    def titles(self, target: str, ids: list[int]) -> dict[tuple[str, int], str]:
        other = self.tenant_model.objects.get(target)
        if other is None:
            return {}
        title = title_field(other)
        readable = self.policy.scope(target, "read") != "none" and (
            title is None or self.policy.access(target, title) not in ("hidden", "masked"))
        if not readable or title is None:
            return {(target, i): f"#{i}" for i in ids}
        table = other.table
        rows = self.session.conn.execute(sa.select(table.c.id, table.c[title]).where(table.c.id.in_(ids))).all()
        found = {(target, r[0]): (str(r[1]) if r[1] is not None else f"#{r[0]}") for r in rows}
        return {(target, i): found.get((target, i), f"#{i}") for i in ids}

    def title(self, target: str, record_id: int) -> str:
        if (target, record_id) not in self._titles:
            self._titles.update(self.titles(target, [record_id]))
        return self._titles[(target, record_id)]


def table_rows(rows: list[dict[str, Any]], checkboxes: bool, select_label: str) -> Markup:
    """The list's ``<tbody>`` rows, built here: 50 rows x 10 cells through Jinja cost more than the query."""
    parts: list[str] = []
    check = f'<td class="crm-check"><input class="form-check-input" type="checkbox" name="ids" value="{{}}" aria-label="{escape(select_label)}"></td>'
    openings: list[str] = []
    for row in rows:
        if not openings:
            openings = [f'<td data-label="{escape(label)}"{css}>' for label, css, _value in row["cells"]]
        parts.append(f'<tr data-record-id="{row["id"]}">')
        if checkboxes:
            parts.append(check.format(row["id"]))
        cells = row["cells"]
        parts.append(f'{openings[0]}<a class="fw-semibold" href="{row["href"]}">{escape(cells[0][2])}</a></td>')
        for opening, cell in zip(openings[1:], cells[1:]):
            parts.append(f"{opening}{escape(cell[2])}</td>")
        parts.append("</tr>")
    return Markup("".join(parts))


def record_url_prefix(object_name: str) -> str:
    return url_for("records.show", object_name=object_name, record_id=0)[:-2]


def number(value: Any, places: int | None = None) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if places is None:
        text = f"{amount:,f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return f"{amount:,.{places}f}"


def datetime_text(value: str) -> str:
    """``2024-05-01T09:30:00Z`` -> ``2024-05-01 09:30 UTC``."""
    if not isinstance(value, str) or "T" not in value:
        return str(value)
    day, _sep, rest = value.partition("T")
    return f"{day} {rest[:5]} UTC"


def render_value(fd: FieldDef | None, name: str, value: Any, refs: References | None, model: ObjectModel,
                 masked: bool = False, link: bool = True) -> Any:
    """A value for a list cell or a record page."""
    if value is None or value == "" or value == []:
        return EMPTY
    if masked:
        return Markup(f'<span class="font-monospace" title="{escape(fast_gettext("Masked"))}">{escape(value)}</span>')
    if fd is None:
        return _system_value(name, value, refs, model)
    ftype = fd.result_type if fd.type == "formula" else fd.type
    if ftype == "boolean":
        if value:
            return Markup(f'<i class="bi bi-check-circle-fill text-success" aria-label="{escape(fast_gettext("Yes"))}"></i>')
        return Markup(f'<i class="bi bi-circle text-body-tertiary" aria-label="{escape(fast_gettext("No"))}"></i>')
    if ftype == "currency":
        return number(value, 2)
    if ftype == "percent":
        return number(value) + "%"
    if ftype in ("decimal", "integer"):
        return number(value, fd.scale if ftype == "decimal" and fd.scale is not None else None)
    if ftype == "datetime":
        return datetime_text(value)
    if ftype in ("picklist", "multi_picklist"):
        text = refs.option if refs is not None else option_label
        values = value if ftype == "multi_picklist" else (value,)
        return Markup(" ".join(BADGE + str(escape(text(fd, v))) + "</span>" for v in values))
    if ftype == "lookup" and refs is not None:
        title = refs.title(fd.target, value)
        if link and refs.policy.scope(fd.target, "read") != "none":
            return Markup(f'<a href="{refs.record_url(fd.target, value)}">{escape(title)}</a>')
        return title
    if ftype == "user" and refs is not None:
        return refs.user_name(value)
    if ftype == "url" and link:
        href = value if str(value).startswith(("http://", "https://")) else "#"
        return Markup(f'<a href="{escape(href)}" target="_blank" rel="noopener noreferrer">{escape(value)}</a>')
    if ftype == "email" and link:
        return Markup(f'<a href="mailto:{escape(value)}">{escape(value)}</a>')
    if ftype == "phone" and link:
        return Markup(f'<a href="tel:{escape(value)}">{escape(value)}</a>')
    if ftype == "rich_text":
        return Markup(nh3.clean(str(value)))
    if ftype == "textarea":
        return Markup("<br>").join(escape(line) for line in str(value).splitlines())
    return str(value)


def cell_renderer(fd: FieldDef | None, name: str, refs: References, model: ObjectModel,
                  masked: bool) -> Callable[[Any], Any]:
    """``render_value`` specialised for one list column: the type is looked at once, not per cell."""
    ftype = None if fd is None else (fd.result_type if fd.type == "formula" else fd.type)
    if masked or fd is None or ftype not in ("currency", "integer", "picklist", "text", "email", "date", "lookup"):
        return lambda value: render_value(fd, name, value, refs, model, masked)
    if ftype == "currency":
        return lambda value: EMPTY if value is None else f"{value:,.2f}"
    if ftype == "integer":
        return lambda value: EMPTY if value is None else f"{value:,}"
    if ftype in ("text", "date"):
        return lambda value: EMPTY if value is None or value == "" else value
    if ftype == "email":
        return lambda value: EMPTY if not value else Markup(f'<a href="mailto:{escape(value)}">{escape(value)}</a>')
    if ftype == "picklist":
        return lambda value: EMPTY if value is None or value == "" else Markup(
            BADGE + str(escape(refs.option(fd, value))) + "</span>")
    readable = refs.policy.scope(fd.target, "read") != "none"

    def lookup(value: Any) -> Any:
        if value is None:
            return EMPTY
        title = refs.title(fd.target, value)
        return Markup(f'<a href="{refs.record_url(fd.target, value)}">{escape(title)}</a>') if readable else title

    return lookup


def _system_value(name: str, value: Any, refs: References | None, model: ObjectModel) -> Any:
    if name in ("created_at", "updated_at"):
        return datetime_text(value)
    if name in ("owner_id", "created_by", "updated_by") and refs is not None:
        return refs.user_name(value)
    if name == "stage":
        return Markup('<span class="badge text-bg-primary-subtle text-primary-emphasis">{}</span>').format(
            stage_label(model, value))
    return str(value)


def plain_value(fd: FieldDef | None, value: Any, refs: References | None) -> str:
    """A value as text for a CSV export (labels for options, titles for lookups)."""
    if value is None:
        return ""
    if fd is None:
        return str(value)
    if fd.type == "picklist":
        return option_label(fd, value)
    if fd.type == "multi_picklist":
        return "; ".join(option_label(fd, v) for v in value)
    if fd.type == "lookup" and refs is not None:
        return refs.title(fd.target, value)
    if fd.type == "user" and refs is not None:
        return refs.user_name(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
