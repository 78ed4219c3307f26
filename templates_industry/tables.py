"""The installer's tables inside each tenant namespace: which packs are installed, and what each
pack installed (stable keys with checksums), so upgrades can tell the pack's work from the tenant's."""

from __future__ import annotations

import sqlalchemy as sa

from metadata.sql_types import UTCDateTime

tenant_metadata = sa.MetaData()

#: One row per installed pack: its version and when it was installed or last upgraded.
installed_packs = sa.Table(
    "sys_installed_packs",
    tenant_metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("label", sa.JSON),
    sa.Column("dependencies", sa.JSON, nullable=False),
    #: Whether the pack's sample data was ever loaded into this tenant.
    sa.Column("sample_data", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("installed_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

#: What a pack installed, one row per stable key (``kind`` + ``key``, e.g. ``field`` + ``lead.region``).
#: ``source_checksum`` is the checksum of the pack's document the last time the pack was installed;
#: ``installed_checksum`` the checksum of the tenant's document right after the pack wrote it (NULL:
#: the item existed before, the tenant's own). A tenant document whose checksum no longer matches
#: ``installed_checksum`` was customized by the tenant, and an upgrade keeps it.
pack_items = sa.Table(
    "sys_pack_items",
    tenant_metadata,
    sa.Column("pack", sa.String(63), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    #: The id of what was installed where it has one (a rule's id, a record's id, a user's id).
    sa.Column("ref", sa.String(100)),
    sa.Column("source_checksum", sa.String(64)),
    sa.Column("installed_checksum", sa.String(64)),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_sys_pack_items_kind_key", "kind", "key"),
)
