"""The workflow engine: condition/action rules on record events, schedules, approvals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import MAX_DEPTH, RUNNER_SERVICE
from .executor import execute_run, test_rule
from .rules import create_rule, delete_rule, get_rule, list_rules, update_rule
from .tables import tenant_metadata

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

__all__ = [
    "MAX_DEPTH",
    "RUNNER_SERVICE",
    "create_rule",
    "delete_rule",
    "execute_run",
    "get_rule",
    "init_platform",
    "list_rules",
    "test_rule",
    "update_rule",
]


def init_platform(platform: Platform) -> None:
    """Register the engine's tables and hooks; the embedded runner unless one is already set."""
    from crm_platform.core.session import BEFORE_COMMIT_HOOK
    from metadata import REFERENCE_HOOK

    from .engine import before_commit
    from .rules import follow_metadata_change
    from .runner import InProcessRunner

    platform.register_tenant_tables(tenant_metadata)
    platform.add_hook(BEFORE_COMMIT_HOOK, before_commit)
    platform.add_hook(REFERENCE_HOOK, follow_metadata_change)
    platform.services.setdefault(RUNNER_SERVICE, InProcessRunner(platform))
