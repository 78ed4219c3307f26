"""The layering of DESIGN.md section 2 holds: a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = ("crm_platform.app", "crm_platform.api", "crm_platform.cli", "crm_platform.celery_app",
                "crm_platform.demo")
#: Each layer, with what it must not import (everything above it).
LAYERS = {
    "crm_platform/core": ("metadata", "workflow_engine", "templates_industry", "admin", *ENTRY_POINTS),
    "metadata": ("workflow_engine", "templates_industry", "admin", *ENTRY_POINTS),
    "workflow_engine": ("templates_industry", "admin", *ENTRY_POINTS),
    "templates_industry": ("admin", *ENTRY_POINTS),
    "admin": ENTRY_POINTS,
}


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", list(LAYERS))
def test_layer_imports_nothing_above_it(layer):
    offending = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in imported_names(path):
            if any(name == banned or name.startswith(banned + ".") for banned in LAYERS[layer]):
                offending.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offending == []
