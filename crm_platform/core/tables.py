"""Tables the foundation owns: the control plane, and the core's share of every tenant namespace."""

from __future__ import annotations

import sqlalchemy as sa

#: The control plane: which tenants exist, and the index that maps an API token to its tenant.
control_metadata = sa.MetaData()

tenants = sa.Table(
    "crm_tenants",
    control_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_tokens = sa.Table(
    "crm_api_tokens",
    control_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_slug", sa.String(40), nullable=False, index=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

#: The core's tables inside each tenant namespace (unqualified; the namespace is the schema or file).
tenant_metadata = sa.MetaData()

users = sa.Table(
    "sys_users",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("team", sa.String(100)),
    sa.Column("manager_id", sa.Integer),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

audit_log = sa.Table(
    "sys_audit",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("user_id", sa.Integer, index=True),
    sa.Column("user_email", sa.String(254)),
    sa.Column("action", sa.String(60), nullable=False, index=True),
    # Searched by object through ix_sys_audit_object_record (its leading column): a second index
    # on object alone would only cost every write one more insertion.
    sa.Column("object", sa.String(63)),
    sa.Column("record_id", sa.BigInteger),
    # An absent side is SQL NULL (older rows may hold JSON 'null'; both read back as None).
    sa.Column("before", sa.JSON(none_as_null=True)),
    sa.Column("after", sa.JSON(none_as_null=True)),
    sa.Index("ix_sys_audit_object_record", "object", "record_id"),
)

#: Roles other than the built-in admin: each a permission matrix document (see ``core.roles``).
roles = sa.Table(
    "sys_roles",
    tenant_metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

meta_state = sa.Table(
    "sys_meta_state",
    tenant_metadata,
    sa.Column("key", sa.String(60), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
