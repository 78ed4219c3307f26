"""The workflow engine's tables inside each tenant namespace."""

from __future__ import annotations

import sqlalchemy as sa

from metadata.sql_types import UTCDateTime

tenant_metadata = sa.MetaData()

#: Rules: the current definition; every saved version is kept in ``sys_rule_versions``.
rules = sa.Table(
    "sys_rules",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("object", sa.String(63), nullable=False, index=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

rule_versions = sa.Table(
    "sys_rule_versions",
    tenant_metadata,
    sa.Column("rule_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.Integer),
)

#: One row per rule evaluated against a record: matched or not, each action's outcome, timing.
rule_runs = sa.Table(
    "sys_rule_runs",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule_id", sa.Integer, nullable=False),
    sa.Column("rule_version", sa.Integer, nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger),
    sa.Column("event_id", sa.String(32)),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("matched", sa.Boolean, nullable=False),
    #: skipped (not matched), queued, running, succeeded, failed, cancelled, stopped (loop guard)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("outcomes", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("event", sa.JSON),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("duration_ms", sa.Float),
    sa.Index("ix_sys_rule_runs_rule", "rule_id", "id"),
    sa.Index("ix_sys_rule_runs_record", "object", "record_id"),
    sa.Index("ix_sys_rule_runs_status", "status"),
    sa.UniqueConstraint("rule_id", "event_id", name="uq_sys_rule_runs_event"),
)

#: Evaluations that did not match, one row per event listing the rules that did not match
#: (``;3;7;``), so the log says "evaluated, not matched" without a row per rule per write.
rule_evaluations = sa.Table(
    "sys_rule_evaluations",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("missed", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_sys_rule_evaluations_record", "object", "record_id"),
)

#: Records a "run once per record" rule has already acted on.
rule_once = sa.Table(
    "sys_rule_once",
    tenant_metadata,
    sa.Column("rule_id", sa.Integer, primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)

#: Time-relative work waiting for its moment ("72 hours after the quote was sent").
scheduled_jobs = sa.Table(
    "sys_scheduled_jobs",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule_id", sa.Integer, nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False, index=True),
    #: pending, done, cancelled
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("event", sa.JSON),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Index("ix_sys_scheduled_jobs_record", "rule_id", "record_id", "status"),
)

#: When each scheduled (cron) rule last ran, so a scheduler that was down catches up once.
schedule_state = sa.Table(
    "sys_schedule_state",
    tenant_metadata,
    sa.Column("rule_id", sa.Integer, primary_key=True),
    sa.Column("last_run_at", UTCDateTime(), nullable=False),
)

#: Round-robin cursors of assignment actions: the last user given a record, per rule and pool.
assignment_state = sa.Table(
    "sys_assignment_state",
    tenant_metadata,
    sa.Column("rule_id", sa.Integer, primary_key=True),
    sa.Column("pool", sa.String(200), primary_key=True),
    sa.Column("last_user_id", sa.Integer, nullable=False),
)

#: In-app notifications.
notifications = sa.Table(
    "sys_notifications",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("object", sa.String(63)),
    sa.Column("record_id", sa.BigInteger),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("read_at", UTCDateTime()),
)

#: Work that leaves the database (e-mail, webhooks): written in the rule's transaction, delivered
#: after commit, retried with backoff, and kept with its last error when it finally fails.
outbox = sa.Table(
    "sys_outbox",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    #: pending, sent, failed
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("last_error", sa.Text),
    sa.Column("run_id", sa.Integer),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
)

#: Approval processes: the current definition; every saved version is kept in
#: ``sys_approval_process_versions`` (a request keeps the version it was submitted under).
approval_processes = sa.Table(
    "sys_approval_processes",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("object", sa.String(63), nullable=False, index=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

approval_process_versions = sa.Table(
    "sys_approval_process_versions",
    tenant_metadata,
    sa.Column("process_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.Integer),
)

#: One record submitted to one process version: pending, then approved, rejected or recalled.
approval_requests = sa.Table(
    "sys_approval_requests",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("process_id", sa.Integer, nullable=False),
    sa.Column("process_version", sa.Integer, nullable=False),
    sa.Column("process_name", sa.String(200), nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    #: pending, approved, rejected, recalled
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("step_index", sa.Integer),
    sa.Column("step_name", sa.String(100)),
    sa.Column("submitted_by", sa.Integer),
    sa.Column("comment", sa.Text),
    sa.Column("submitted_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime()),
    sa.Column("decided_by", sa.Integer),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_sys_approval_requests_record", "object", "record_id", "status"),
    sa.Index("ix_sys_approval_requests_status", "status"),
)

#: One approver's part in one step of a request.
approval_tasks = sa.Table(
    "sys_approval_tasks",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.Integer, nullable=False, index=True),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("step_name", sa.String(100), nullable=False),
    sa.Column("approver_id", sa.Integer, nullable=False),
    #: pending, approved, rejected, delegated, escalated, skipped
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime()),
    sa.Column("due_at", UTCDateTime(), index=True),
    #: for a delegated or escalated task: who received it
    sa.Column("delegated_to", sa.Integer),
    sa.Index("ix_sys_approval_tasks_approver", "approver_id", "status"),
)

#: Who did what to a request, when, under which process version (never updated or deleted).
approval_history = sa.Table(
    "sys_approval_history",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.Integer, nullable=False, index=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("user_id", sa.Integer),
    sa.Column("user_email", sa.String(254)),
    sa.Column("action", sa.String(30), nullable=False),
    sa.Column("step_index", sa.Integer),
    sa.Column("step_name", sa.String(100)),
    sa.Column("comment", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("details", sa.JSON),
)
