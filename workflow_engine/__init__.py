"""The workflow engine: condition/action rules on record events, schedules, approvals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .approval_definitions import create_process, delete_process, get_process, list_processes, update_process
from .approvals import WORKFLOW_TICK_HOOK, decide, delegate, escalate_due, get_request, list_requests, recall, submit
from .engine import MAX_DEPTH, RUNNER_SERVICE
from .executor import execute_run, test_rule
from .rules import create_rule, delete_rule, get_rule, insert_rule, list_rules, update_rule
from .tables import tenant_metadata

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

__all__ = [
    "MAX_DEPTH",
    "RUNNER_SERVICE",
    "WORKFLOW_TICK_HOOK",
    "create_process",
    "create_rule",
    "decide",
    "delegate",
    "delete_process",
    "delete_rule",
    "escalate_due",
    "execute_run",
    "get_process",
    "get_request",
    "get_rule",
    "init_platform",
    "insert_rule",
    "list_processes",
    "list_requests",
    "list_rules",
    "recall",
    "submit",
    "test_rule",
    "update_process",
    "update_rule",
]


def init_platform(platform: Platform) -> None:
    """Register the engine's tables and hooks; the embedded runner unless one is already set."""
    from crm_platform.core.session import BEFORE_COMMIT_HOOK
    from metadata import REFERENCE_HOOK
    from metadata.import_jobs import resubmit_queued
    from metadata.records import RECORD_GUARD_HOOK
    from metadata.timeline import TIMELINE_HOOK

    from . import approval_definitions, approval_inbox, approvals
    from .actions import SUBMIT_APPROVAL_HOOK
    from .definitions import APPROVAL_EXISTS_HOOK
    from .engine import before_commit
    from .rules import follow_metadata_change
    from .runner import InProcessRunner

    platform.register_tenant_tables(tenant_metadata)
    platform.add_hook(BEFORE_COMMIT_HOOK, before_commit)
    platform.add_hook(REFERENCE_HOOK, follow_metadata_change)
    platform.services.setdefault(RUNNER_SERVICE, InProcessRunner(platform))
    # Approvals: lock records under review, let rules name and submit to processes, escalate on tick.
    platform.add_hook(RECORD_GUARD_HOOK, approvals.record_guard)
    platform.add_hook(APPROVAL_EXISTS_HOOK, approvals.approval_exists)
    platform.add_hook(SUBMIT_APPROVAL_HOOK, approvals.submit_from_rule)
    platform.add_hook(WORKFLOW_TICK_HOOK, approvals.escalate_due)
    # Large imports whose task message was lost are sent again by the same tick.
    platform.add_hook(WORKFLOW_TICK_HOOK, resubmit_queued)
    platform.add_hook(REFERENCE_HOOK, approval_definitions.follow_metadata_change)
    platform.add_hook(TIMELINE_HOOK, approval_inbox.timeline_entries)
