"""``/admin/`` and the navigation every page shows: the objects the user may read."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g, url_for
from flask_admin import expose
from flask_login import current_user

from crm_platform.core.errors import CRMError
from metadata import load_model

from .i18n import current_language
from .meta import object_label

NAV_CACHE = "admin_navigation"
from .ui import HomeView, policy_of, ui_session


def navigation() -> dict[str, Any]:
    """Objects the user may read, whether they may customize, their pending approvals (per request)."""
    cached = getattr(g, "_crm_nav", None)
    if cached is not None:
        return cached
    nav: dict[str, Any] = {"objects": [], "customize": False, "pending": 0}
    if current_user.is_authenticated:
        try:
            open_session = g.get("_crm_session")
            if open_session is not None:
                _fill(nav, open_session)
            else:
                with ui_session() as session:
                    _fill(nav, session)
        except CRMError:
            pass
    g._crm_nav = nav
    return nav


def _fill(nav: dict[str, Any], session: Any) -> None:
    policy = policy_of(session)
    model = load_model(session)
    readable = tuple(name for name in model.objects if policy.scope(name, "read") != "none")
    key = (session.tenant, model.version, current_language(), readable)
    cache = session.platform.cache(NAV_CACHE)
    objects = cache.get(key)
    if objects is None:
        objects = [{"name": name, "label": object_label(model.objects[name], plural=True),
                    "board": model.objects[name].has_pipeline,
                    "url": url_for("records.index_view", object_name=name)} for name in readable]
        if len(cache) > 512:
            cache.clear()
        cache[key] = objects
    nav["objects"] = objects
    nav["customize"] = policy.customize
    nav["manage_users"] = policy.manage_users
    nav["pending"] = pending_approvals(session)


def pending_approvals(session: Any) -> int:
    """How many approval requests wait for the user (0 until the approvals layer exists)."""
    from workflow_engine.approval_inbox import pending_count

    try:
        return int(pending_count(session))
    except CRMError:
        return 0


class Home(HomeView):
    @expose("/")
    def index(self) -> Any:
        with ui_session() as session:
            policy = policy_of(session)
            model = load_model(session)
            cards = []
            for name, obj in model.objects.items():
                if policy.scope(name, "read") == "none":
                    continue
                count = session.conn.execute(
                    sa.select(sa.func.count()).select_from(obj.table)
                    .where(*[c for c in [policy.criterion(session, obj.table, policy.scope(name, "read"))] if c is not None])
                ).scalar_one()
                cards.append({"name": name, "label": object_label(obj, plural=True), "count": count,
                              "board": obj.has_pipeline, "description": obj.definition.document.get("description")})
        return self.render("crm/home.html", cards=cards)
