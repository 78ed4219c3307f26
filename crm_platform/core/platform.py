"""The platform's per-app state, kept in ``app.extensions["crm"]`` (never in module globals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .database import Database
from .events import EventBus
from .security import PasswordHashing
from .tables import control_metadata, tenant_metadata

if TYPE_CHECKING:
    from flask import Flask


#: The advisory lock key under which PostgreSQL control tables are created (any fixed number).
CONTROL_TABLES_LOCK = 0x43524D00


class Platform:
    """Engines, the event bus, caches and the hooks the layers register with the foundation."""

    def __init__(self, settings: dict[str, Any], instance_path: str) -> None:
        self.settings = settings
        self.db = Database(settings["CRM_DATABASE_URL"], instance_path)
        self.events = EventBus()
        self.passwords = PasswordHashing(
            time_cost=settings["CRM_ARGON2_TIME_COST"],
            memory_cost=settings["CRM_ARGON2_MEMORY_COST"],
            parallelism=settings["CRM_ARGON2_PARALLELISM"],
        )
        #: Each layer's tables inside a tenant namespace, created when a tenant is provisioned.
        self.tenant_table_sets: list[sa.MetaData] = [tenant_metadata]
        #: Per-layer extension points (for example reference checkers for metadata changes).
        self.hooks: dict[str, list[Callable[..., Any]]] = {}
        #: Caches keyed by (tenant, metadata version); safe because a version never changes meaning.
        self.caches: dict[str, dict[Any, Any]] = {}
        #: Single services the layers provide to each other (e.g. the workflow runner).
        self.services: dict[str, Any] = {}

    def register_tenant_tables(self, metadata: sa.MetaData) -> None:
        if metadata not in self.tenant_table_sets:
            self.tenant_table_sets.append(metadata)

    def add_hook(self, name: str, func: Callable[..., Any]) -> None:
        self.hooks.setdefault(name, []).append(func)

    def cache(self, name: str) -> dict[Any, Any]:
        return self.caches.setdefault(name, {})

    def create_control_tables(self) -> None:
        """Create the platform's own tables where missing. Processes starting together on a new
        database (several web workers, a worker beside them) would race to create the
        same tables, so the check and the creation run under one lock: an advisory lock there, the
        write lock (``BEGIN IMMEDIATE``) on SQLite."""
        with self.db.control(write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CONTROL_TABLES_LOCK)))
            control_metadata.create_all(conn)

    def init_app(self, app: Flask) -> None:
        app.extensions["crm"] = self


def get_platform(app: Flask | None = None) -> Platform:
    """The platform of the given app, or of the current one."""
    if app is None:
        from flask import current_app

        app = current_app
    return app.extensions["crm"]
