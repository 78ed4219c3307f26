"""Exporting a tenant's configuration as a pack: objects (fields, layouts, pipeline), roles with their
permission tables, approval processes, rules, shared reports and shared dashboards. Installing the export into an empty tenant
reproduces the same metadata. Records and users are data, not configuration: they are not exported."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from crm_platform.core.errors import Conflict, ValidationError
from crm_platform.core.roles import ACTIONS
from crm_platform.core.session import TenantSession

from .compose import role_header
from .dashboards import export_dashboards
from .pack import MANIFEST, dump_yaml
from .state import TenantState

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
VERSION_PATTERN = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def export_tenant(session: TenantSession, directory: str | Path, name: str | None = None,
                  version: str = "1.0.0") -> dict[str, Any]:
    """Write the tenant's configuration as a pack into ``directory``; answers what was written."""
    name = name or re.sub(r"[^a-z0-9_]", "_", session.tenant.lower()) + "_config"
    if not NAME_PATTERN.match(name):
        raise ValidationError(f"invalid pack name {name!r}: use ^[a-z][a-z0-9_]{{1,62}}$", {"name": ["invalid"]})
    if not VERSION_PATTERN.match(version):
        raise ValidationError(f"invalid version {version!r}: use MAJOR.MINOR.PATCH", {"version": ["invalid"]})
    root = Path(directory)
    if root.exists() and any(root.iterdir()) and not (root / MANIFEST).is_file():
        raise Conflict(f"{root} is not empty and holds no pack; choose an empty or new folder")
    state = TenantState.load(session)
    files: dict[str, str] = {}
    data: list[str] = []
    for object_name in sorted(state.definitions):
        path = f"objects/{object_name}.yaml"
        files[path] = dump_yaml(_object_document(state.definitions[object_name]))
        data.append(path)
    if state.roles:
        files["roles/roles.yaml"] = dump_yaml({"roles": [
            {"name": role_name, **role_header(document)} for role_name, document in sorted(state.roles.items())]})
        data.append("roles/roles.yaml")
        access, field_access = _security_tables(state.roles)
        if access:
            files["security/access.csv"] = access
            data.append("security/access.csv")
        if field_access:
            files["security/field_access.csv"] = field_access
            data.append("security/field_access.csv")
    if state.approvals:
        files["approvals/approvals.yaml"] = dump_yaml({"processes": [doc for _, (_, doc) in sorted(state.approvals.items())]})
        data.append("approvals/approvals.yaml")
    rules = _rules(state)
    if rules:
        files["rules/rules.yaml"] = dump_yaml({"rules": rules})
        data.append("rules/rules.yaml")
    report_keys: dict[int, str] = {}
    reports = _reports(state, report_keys)
    if reports:
        files["reports/reports.yaml"] = dump_yaml({"reports": reports})
        data.append("reports/reports.yaml")
    dashboards, widgets_left_out = export_dashboards(state, report_keys)
    if dashboards:
        files["dashboards/dashboards.yaml"] = dump_yaml({"dashboards": dashboards})
        data.append("dashboards/dashboards.yaml")
    manifest = {
        "name": name,
        "version": version,
        "label": {"en": f"Configuration of {session.tenant}", "zh": f"{session.tenant} 的配置"},
        "description": {"en": f"Exported from tenant {session.tenant}.", "zh": f"导出自租户 {session.tenant}。"},
        "dependencies": [],
        "data": data,
    }
    files[MANIFEST] = dump_yaml(manifest)
    root.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return {"pack": name, "version": version, "path": str(root), "files": sorted(files),
            "objects": len(state.definitions), "roles": len(state.roles), "rules": len(rules),
            "approval_processes": len(state.approvals), "reports": len(reports),
            "dashboards": len(dashboards), "widgets_left_out": widgets_left_out}


def _object_document(document: dict[str, Any]) -> dict[str, Any]:
    exported = {k: v for k, v in document.items() if not (k == "layouts" and not v) and not (k == "pipeline" and v is None)}
    order = ["name", "label", "label_plural", "description", "title_field", "fields", "pipeline", "layouts"]
    return {k: exported[k] for k in [*order, *(k for k in exported if k not in order)] if k in exported}


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _security_tables(roles: dict[str, dict[str, Any]]) -> tuple[str, str]:
    access_rows: list[list[Any]] = []
    field_rows: list[list[Any]] = []
    for role_name, document in sorted(roles.items()):
        for object_name, entry in (document.get("permissions") or {}).items():
            access_rows.append([role_name, object_name, *(entry.get(action, "none") for action in ACTIONS)])
        masks = document.get("masks") or {}
        for object_name, fields in (document.get("field_access") or {}).items():
            for field_name, access in fields.items():
                mask = (masks.get(object_name) or {}).get(field_name) or {}
                field_rows.append([role_name, object_name, field_name, access,
                                   mask.get("keep_last", ""), mask.get("keep_first", "")])
    access = _csv(["role", "object", *ACTIONS], access_rows) if access_rows else ""
    field_access = _csv(["role", "object", "field", "access", "keep_last", "keep_first"], field_rows) if field_rows else ""
    return access, field_access


def _rules(state: TenantState) -> list[dict[str, Any]]:
    keys_by_id = {int(row.ref): key for (pack, kind, key), row in state.items.items() if kind == "rule" and row.ref}
    used: set[str] = set()
    exported = []
    for rule in sorted(state.rules.values(), key=lambda r: (r.object, r.definition.get("order", 0), r.id)):
        key = keys_by_id.get(rule.id) or _slug(f"{rule.object}_{rule.name}")
        base, number = key, 2
        while key in used:
            key, number = f"{base[:95]}_{number}", number + 1
        used.add(key)
        exported.append({"key": key, **rule.definition})
    return exported


def _reports(state: TenantState, exported_keys: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """The tenant's shared reports (private ones are their owners' own, not configuration);
    ``exported_keys`` gets each exported report's id -> key."""
    keys_by_id = {int(row.ref): key for (pack, kind, key), row in state.items.items() if kind == "report" and row.ref}
    used: set[str] = set()
    exported = []
    for report in sorted(state.reports.values(), key=lambda r: (r.object, r.name, r.id)):
        if not report.shared:
            continue
        key = keys_by_id.get(report.id) or _slug(f"{report.object}_{report.name}", "report_")
        base, number = key, 2
        while key in used:
            key, number = f"{base[:95]}_{number}", number + 1
        used.add(key)
        if exported_keys is not None:
            exported_keys[report.id] = key
        exported.append({"key": key, **{k: v for k, v in report.definition.items() if v is not None}})
    return exported


def _slug(text: str, prefix: str = "rule_") -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = prefix + slug
    return slug[:90]
