"""Template gallery: the industry packs with their descriptions, a preview of what installing one
would change in this tenant (the installer's dry-run plan), and installing it."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from crm_platform.core.errors import CRMError

from .design_objects import require_customize
from .i18n import label
from .ui import flash_error, render_error, ui_session

ACTION_LABELS = {"create": lazy_gettext("create"), "update": lazy_gettext("update"), "keep": lazy_gettext("keep"),
                 "conflict": lazy_gettext("conflict"), "delete": lazy_gettext("delete")}


def _packs() -> list[Any]:
    """The available packs, read through the app's pack cache (shared with the installer)."""
    from crm_platform.core.platform import get_platform
    from templates_industry import pack_registry

    return pack_registry(get_platform()).available()


class TemplatesMixin:
    """Routes of the template gallery, mixed into the design view."""

    @expose("/templates/")
    def templates(self) -> Any:
        from templates_industry import installed_packs_of

        with ui_session() as session:
            try:
                require_customize(session)
                installed = installed_packs_of(session)
                packs = [{"name": p.name, "version": str(p.version), "label": label(p.label, p.name),
                          "description": label(p.description) if p.description else "",
                          "objects": len(p.objects), "rules": len(p.rules), "approvals": len(p.approvals),
                          "roles": len(p.roles), "installed": (installed.get(p.name) or {}).get("version"),
                          "depends": [str(d) for d in p.dependencies]} for p in _packs()]
            except CRMError as exc:
                return render_error(exc)
        return self.render("crm/design/templates.html", packs=packs, title=_("Template gallery"))

    @expose("/templates/<pack>/", methods=("GET", "POST"))
    def template_preview(self, pack: str) -> Any:
        from templates_industry import install, plan_install

        sample = bool(request.values.get("sample"))
        if request.method == "POST":
            try:
                with ui_session(write=True) as session:
                    require_customize(session)
                    install(session, pack, with_sample_data=sample)
            except CRMError as exc:
                flash_error(exc)
                return redirect(url_for(".template_preview", pack=pack, sample=1 if sample else None))
            flash(_("Template %(name)s installed.", name=pack), "success")
            return redirect(url_for(".templates"))
        with ui_session() as session:
            try:
                require_customize(session)
                plan = plan_install(session, pack, with_sample_data=sample).to_dict()
            except CRMError as exc:
                return render_error(exc)
        groups: dict[str, list[dict[str, Any]]] = {}
        for change in [*plan["changes"], *plan["conflicts"]]:
            groups.setdefault(change["kind"], []).append(change)
        for step in plan["packs"]:
            step["label_text"] = label(step.get("label"), step["name"])
        return self.render("crm/design/template_preview.html", plan=plan, groups=groups, pack=pack, sample=sample,
                           actions=ACTION_LABELS, title=_("Install %(name)s", name=pack))
