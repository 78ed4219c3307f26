"""Template pack endpoints: the packs available and installed, and installing one (or its dry run)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request

from crm_platform.core.errors import NotFound, ValidationError
from crm_platform.core.platform import get_platform
from templates_industry import Installer, installed_packs_of, pack_registry, plan_install

from .context import json_body, require, unit_of_work

INSTALL_OPTIONS = {"dry_run": bool, "with_sample_data": bool}
PACK_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


def _options() -> dict[str, Any]:
    if not request.get_data(cache=True):
        return {}
    document = json_body()
    errors = {key: ["unknown option"] for key in document if key not in INSTALL_OPTIONS}
    errors.update({key: ["must be true or false"] for key, kind in INSTALL_OPTIONS.items()
                   if key in document and not isinstance(document[key], kind)})
    if errors:
        raise ValidationError("invalid install options: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    return document


def register(api: Blueprint) -> None:
    @api.get("/templates")
    def templates_index():
        registry = pack_registry(get_platform())
        with unit_of_work() as session:
            installed = installed_packs_of(session)
        data = []
        for pack in registry.available():
            entry = pack.summary()
            mine = installed.get(pack.name)
            entry["installed_version"] = mine["version"] if mine else None
            entry["sample_data_loaded"] = bool(mine and mine["sample_data"])
            data.append(entry)
        return jsonify({"data": data, "installed": installed})

    @api.post("/templates/<pack>/install")
    def templates_install(pack: str):
        options = _options()
        if not PACK_NAME.match(pack):
            raise NotFound(f"no pack named {pack!r}")
        registry = pack_registry(get_platform())
        found = registry.find(pack)
        dry_run = options.get("dry_run", False)
        with unit_of_work() as session:
            require(session, "customize")
            plan = plan_install(session, found, registry, options.get("with_sample_data", False))
            if not dry_run:
                Installer(session, plan).apply()
            answer = {**plan.to_dict(), "dry_run": dry_run, "applied": not dry_run and not plan.empty}
        return jsonify(answer), 200
