"""Dashboards in packs (``dashboards/*.yaml``): checked, planned, installed, upgraded and exported.

A pack's dashboard names its widgets' reports by stable report key (this pack's or a dependency's),
never by database id, so the same file installs into any tenant. Installed, a widget points at the
id of the report that key installed. To tell a tenant's edits apart from the pack's, the tenant's
dashboard is read back into the pack's form (ids to keys) and compared by checksum like every other
stable part. A widget whose report the tenant deleted (or whose object lost its pipeline) is left
out, and the plan says so: an upgrade never fails because a tenant removed a report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from metadata.definitions import label_text

from .pack import Item, Pack, Problem

if TYPE_CHECKING:
    from crm_platform.core.session import TenantSession
    from metadata.model import TenantModel

    from .planner import Planner
    from .state import DashboardRow, TenantState

KIND = "dashboard"


def _widget(widget: dict[str, Any]) -> dict[str, Any]:
    """A widget with the dashboard service's defaults filled in (what it stores)."""
    return {"report": widget["report"], "title": widget.get("title"), "chart": widget.get("chart"),
            "width": widget.get("width", 1)}


def pack_document(item: Item) -> dict[str, Any]:
    """A pack's dashboard as the tenant would hold it, reports still named by key; shared."""
    entry = item.document
    return {"name": entry["name"], "label": entry.get("label"), "shared": True,
            "widgets": [_widget(w) for w in entry.get("widgets") or []]}


def tenant_document(row: DashboardRow, report_keys: dict[int, str]) -> dict[str, Any]:
    """A tenant's dashboard in the pack's form: report ids as the keys packs installed them under
    (a report no pack installed keeps its id, so it never equals a pack's key)."""
    definition = row.definition
    widgets = []
    for widget in definition.get("widgets") or []:
        reference = widget.get("report")
        if isinstance(reference, int) and reference in report_keys:
            reference = report_keys[reference]
        widgets.append(_widget({**widget, "report": reference}))
    return {"name": definition.get("name", row.name), "label": definition.get("label"), "shared": row.shared,
            "widgets": widgets}


def report_pack(key: str, pack: Pack, packs: list[Pack]) -> Pack | None:
    """The pack whose report ``key`` a widget of ``pack`` means: its own, else the nearest dependency
    (``packs`` in install order) that defines it."""
    if key in pack.reports:
        return pack
    for candidate in reversed(packs):
        if candidate is not pack and key in candidate.reports:
            return candidate
    return None


# -- validation ------------------------------------------------------------------------------------


def check_dashboards(pack: Pack, dependencies: list[Pack], model: TenantModel, problems: list[Problem]) -> None:
    """Every widget's report: a report key of this pack or a dependency, or a built-in report of an
    object with a pipeline."""
    for item in pack.dashboards.values():
        for index, widget in enumerate(item.document.get("widgets") or []):
            where = f"{item.where}.widgets[{index}].report"
            reference = widget["report"]
            if isinstance(reference, str):
                if report_pack(reference, pack, dependencies) is None:
                    known = sorted({k for p in [*dependencies, pack] for k in p.reports})
                    problems.append(Problem(item.file, where, f"unknown report key {reference!r}: not a report of "
                                                              f"this pack or of its dependencies"
                                            + (f" (known: {', '.join(known[:8])}{' ...' if len(known) > 8 else ''})"
                                               if known else "")))
                continue
            object_name = reference["object"]
            if object_name in pack.phantom_objects:
                continue
            if object_name not in model.objects:
                problems.append(Problem(item.file, f"{where}.object", f"unknown object {object_name!r}"))
            elif not model.objects[object_name].has_pipeline:
                problems.append(Problem(item.file, f"{where}.object",
                                        f"{object_name} has no pipeline, so it has no {reference['builtin']} report"))


# -- planning --------------------------------------------------------------------------------------


class _Pending:
    """A report created earlier in the same plan: its id is known only once applied."""


PENDING = _Pending()


def _report_id(planner: Planner, pack_name: str, key: str) -> int | _Pending | None:
    plan, state = planner.plan, planner.state
    for op in plan.ops:
        if op.kind == "create_report" and op.pack == pack_name and op.args["key"] == key:
            return PENDING
    ref = None
    for item in reversed(plan.items):
        if (item.pack, item.kind, item.key) == (pack_name, "report", key) and not item.forget:
            ref = item.ref
            break
    else:
        rec = state.items.get((pack_name, "report", key))
        ref = rec.ref if rec is not None else None
    return int(ref) if ref and int(ref) in state.reports else None


def _resolve(planner: Planner, pack: Pack, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The dashboard the tenant should get: in the pack's form (for comparing), as the installer
    writes it (report ids, or ``{"pack", "key"}`` for a report created in this plan), and the
    widgets left out with the reason."""
    packs = [step.pack for step in planner.plan.packs if step.pack is not None]
    kept, written, skipped = [], [], []
    for index, widget in enumerate(document["widgets"]):
        reference = widget["report"]
        if isinstance(reference, str):
            owner = report_pack(reference, pack, packs)
            found = _report_id(planner, owner.name, reference) if owner is not None else None
            if found is None:
                skipped.append(f"widget {index + 1}: report {reference} is not in the tenant")
                continue
            target: Any = {"pack": owner.name, "key": reference} if found is PENDING else found
        else:
            obj = planner.model.objects.get(reference["object"])
            if obj is None or not obj.has_pipeline:
                skipped.append(f"widget {index + 1}: {reference['object']} has no pipeline")
                continue
            target = reference
        kept.append(widget)
        written.append({**widget, "report": target})
    return {**document, "widgets": kept}, {**document, "widgets": written}, skipped


def plan_dashboards(planner: Planner, pack: Pack) -> None:
    """Shared dashboards by stable key: created, updated while the tenant has not edited them, kept
    (customized, deleted, or the tenant's own of the same name) once it has."""
    from .planner import Op

    state = planner.state
    report_keys = {**state.report_keys(), **{int(i.ref): i.key for i in planner.plan.items
                                             if i.kind == "report" and i.ref and not i.forget}}
    for key, item in pack.dashboards.items():
        source = pack_document(item)
        rec = state.items.get((pack.name, KIND, key))
        row = None
        if rec is not None and rec.ref:
            row = state.dashboards.get(int(rec.ref))
        elif rec is None:
            row = state.shared_dashboard(source["name"])
        current = tenant_document(row, report_keys) if row is not None else None
        desired, written, skipped = _resolve(planner, pack, source)
        if not desired["widgets"]:
            # Nothing left to show is not worth a dashboard; untracked, so a later version may try again.
            if not planner._settled(pack, KIND, key, source, current):
                planner._change(pack, KIND, key, "keep", "none of its reports are in the tenant")
            continue
        action, reason = planner._decide(pack, KIND, key, source, desired, current,
                                         ref=str(row.id) if row is not None else None)
        if action == "none":
            continue
        if action == "keep":
            planner._change(pack, KIND, key, "keep", reason)
            continue
        detail = f"{label_text(source['label'], 'zh') or source['name']}: {len(written['widgets'])} widgets"
        if skipped:
            detail += " (left out: " + "; ".join(skipped) + ")"
        planner._change(pack, KIND, key, action, detail)
        if action == "create":
            planner.plan.ops.append(Op(pack.name, "create_dashboard", {"key": key, "document": written}))
        else:
            planner.plan.ops.append(Op(pack.name, "update_dashboard", {"key": key, "id": row.id, "document": written}))


# -- installing ------------------------------------------------------------------------------------


def _stored(document: dict[str, Any], refs: dict[tuple[str, str, str], str]) -> dict[str, Any]:
    """The document with reports created in this install replaced by their new ids."""
    widgets = []
    for widget in document["widgets"]:
        reference = widget["report"]
        if isinstance(reference, dict) and "key" in reference:
            reference = int(refs[(reference["pack"], "report", reference["key"])])
        widgets.append({k: v for k, v in {**widget, "report": reference}.items() if v is not None})
    return {k: v for k, v in {**document, "widgets": widgets}.items() if v is not None}


def create_pack_dashboard(session: TenantSession, document: dict[str, Any],
                          refs: dict[tuple[str, str, str], str]) -> int:
    """Create a pack's dashboard through the dashboard service (checked, audited); its id."""
    from metadata.dashboards import create_dashboard

    return create_dashboard(session, _stored(document, refs))["id"]


def update_pack_dashboard(session: TenantSession, dashboard_id: int, document: dict[str, Any],
                          refs: dict[tuple[str, str, str], str]) -> None:
    from metadata.dashboards import update_dashboard

    update_dashboard(session, dashboard_id, _stored(document, refs))


# -- export ----------------------------------------------------------------------------------------


def export_dashboards(state: TenantState, report_keys: dict[int, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The tenant's shared dashboards as pack entries (reports by their exported keys), and the
    widgets left out because their report is not exported (private, or deleted)."""
    keys_by_id = {int(row.ref): key for (_, kind, key), row in state.items.items() if kind == KIND and row.ref}
    used: set[str] = set()
    exported, left_out = [], []
    for row in sorted(state.dashboards.values(), key=lambda d: (d.name, d.id)):
        if not row.shared:
            continue
        widgets = []
        for index, widget in enumerate(row.definition.get("widgets") or []):
            reference = widget.get("report")
            if isinstance(reference, int):
                if reference not in report_keys:
                    left_out.append(f"{row.name}: widget {index + 1} (report {reference} is not exported)")
                    continue
                reference = report_keys[reference]
            entry = {"report": reference, **{k: widget[k] for k in ("title", "chart") if widget.get(k) is not None}}
            if widget.get("width", 1) != 1:
                entry["width"] = widget["width"]
            widgets.append(entry)
        if not widgets:
            left_out.append(f"{row.name}: no widget left")
            continue
        key = keys_by_id.get(row.id) or _slug(row.name)
        base, number = key, 2
        while key in used:
            key, number = f"{base[:95]}_{number}", number + 1
        used.add(key)
        entry = {"key": key, "name": row.definition.get("name", row.name)}
        if row.definition.get("label") is not None:
            entry["label"] = row.definition["label"]
        exported.append({**entry, "widgets": widgets})
    return exported, left_out


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "dashboard_" + slug
    return slug[:90]


__all__ = ["check_dashboards", "export_dashboards", "pack_document", "plan_dashboards", "tenant_document"]
