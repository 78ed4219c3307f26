"""The metadata layer's tables inside each tenant namespace."""

from __future__ import annotations

import sqlalchemy as sa

from .sql_types import UTCDateTime

tenant_metadata = sa.MetaData()

#: One row per object: its whole definition document (fields, layouts, pipeline).
object_definitions = sa.Table(
    "sys_objects",
    tenant_metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

#: Every stage a record entered, with when; the time spent in a stage is the gap to the next entry.
stage_history = sa.Table(
    "sys_stage_history",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("from_stage", sa.String(63)),
    sa.Column("to_stage", sa.String(63)),
    sa.Column("entered_at", UTCDateTime(), nullable=False),
    sa.Column("left_at", UTCDateTime()),
    sa.Column("user_id", sa.Integer),
    sa.Index("ix_sys_stage_history_record", "object", "record_id"),
)

#: The last number handed out per autonumber field.
autonumber_counters = sa.Table(
    "sys_autonumbers",
    tenant_metadata,
    sa.Column("object", sa.String(63), primary_key=True),
    sa.Column("field", sa.String(63), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

#: Tags on any record (the literature's VIP / potential-customer tiers).
record_tags = sa.Table(
    "sys_record_tags",
    tenant_metadata,
    sa.Column("object", sa.String(63), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("tag", sa.String(50), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.Integer),
    sa.Index("ix_sys_record_tags_tag", "object", "tag"),
)
