"""Engines and namespaces: the control plane and one isolated namespace per tenant.

The control plane (the tenant registry and API token index) lives in the main database. Each tenant's
metadata and records live in its own namespace: a PostgreSQL schema reached through
``schema_translate_map`` on the shared engine, or on SQLite a database file with its own engine
(ATTACH is limited to 10 files, fails inside transactions and is not atomic under WAL).
"""

from __future__ import annotations

import json
import pickle
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from .errors import ValidationError

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,39}$")

#: Execution option asking SQLite for ``BEGIN IMMEDIATE`` (take the write lock up front, so two
#: writers queue on ``busy_timeout`` instead of failing on a lock upgrade).
WRITE_OPTION = "crm_write"


def json_default(value: Any) -> Any:
    """Serialize the Python values our columns hold (used for JSON columns and the audit log)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: Stateless, so shared: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(default=json_default, ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def copy_document(document: Any) -> Any:
    """A deep copy of a stored document (definitions, roles, rules: dicts, lists and plain
    values), about three times quicker than ``copy.deepcopy``, which pays for generality these
    documents do not need; an install copies hundreds of them."""
    return pickle.loads(pickle.dumps(document, pickle.HIGHEST_PROTOCOL))


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise ValidationError(
            f"invalid tenant slug {slug!r}: use 2-40 lowercase letters, digits and '-', starting with a letter",
            {"slug": ["must match ^[a-z][a-z0-9-]{1,39}$"]},
        )
    return slug


class Database:
    """Owns the engines; hands out connections bound to the control plane or to one tenant."""

    def __init__(self, url: str, instance_path: str | Path, echo: bool = False) -> None:
        self.url = make_url(url)
        self.instance_path = Path(instance_path)
        self.echo = echo
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._tenant_engines: dict[str, Engine] = {}
        self._lock = threading.Lock()
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.control_engine = self._create_engine(self.url)
        #: Compiled statements of every SQLite tenant engine (see :meth:`_sharing_statements`).
        self._statements = sa.util.LRUCache(2000)

    # -- engines ---------------------------------------------------------------------------

    def _create_engine(self, url: sa.URL) -> Engine:
        kwargs: dict[str, Any] = {"echo": self.echo, "json_serializer": dumps}
        if url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            engine = sa.create_engine(url, **kwargs)
            _make_sqlite_transactional(engine)
            return engine
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        return sa.create_engine(url, **kwargs)

    def _sharing_statements(self, engine: Engine) -> Engine:
        """The tenant file's engine, executing through the control engine's dialect and compiled
        statement cache: SQLAlchemy keys compiled SQL by dialect object and keeps it per engine,
        so with one engine per file every new tenant compiled every statement again (an install
        compiled ~140). Tenant engines are created with the same options as the control engine,
        so its dialect fits them; the file's own pool (and its connect events) stays."""
        shared = self.control_engine.dialect
        if shared.server_version_info is None:  # not initialized until its first connection
            with self.control_engine.connect():
                pass
        sharing = Engine(engine.pool, shared, engine.url, echo=self.echo)
        sharing.update_execution_options(compiled_cache=self._statements)
        _begin_sqlite_transactions(sharing)
        return sharing

    def tenant_schema(self, slug: str) -> str | None:
        """The real schema name of a tenant (None on SQLite, where the file is the namespace)."""
        return None if self.is_sqlite else "tenant_" + slug.replace("-", "_")

    def tenant_file(self, slug: str) -> Path:
        return self.instance_path / "tenants" / f"{slug}.db"

    def tenant_engine(self, slug: str) -> Engine:
        if not self.is_sqlite:
            return self.control_engine
        engine = self._tenant_engines.get(slug)
        if engine is None:
            with self._lock:
                engine = self._tenant_engines.get(slug)
                if engine is None:
                    path = self.tenant_file(slug)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    engine = self._sharing_statements(self._create_engine(self.url.set(database=str(path))))
                    self._tenant_engines[slug] = engine
        return engine

    # -- connections -----------------------------------------------------------------------

    @contextmanager
    def control(self, write: bool = False) -> Iterator[Connection]:
        """A transaction on the control plane."""
        with self.control_engine.connect() as conn:
            if write:
                conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def tenant_connection(self, slug: str, write: bool = False) -> Connection:
        """An open connection whose unqualified tables resolve inside the tenant's namespace."""
        conn = self.tenant_engine(slug).connect()
        options: dict[str, Any] = {}
        schema = self.tenant_schema(slug)
        if schema is not None:
            options["schema_translate_map"] = {None: schema}
        if write:
            options[WRITE_OPTION] = True
        return conn.execution_options(**options) if options else conn

    # -- namespaces ------------------------------------------------------------------------

    def create_namespace(self, slug: str) -> None:
        schema = self.tenant_schema(slug)
        if schema is None:
            self.tenant_engine(slug)  # the file appears on first connect
            with self.tenant_engine(slug).connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            return
        with self.control_engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))

    def drop_namespace(self, slug: str) -> None:
        schema = self.tenant_schema(slug)
        if schema is None:
            engine = self._tenant_engines.pop(slug, None)
            if engine is not None:
                engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.tenant_file(slug)) + suffix).unlink(missing_ok=True)
            return
        with self.control_engine.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))

    def dispose(self) -> None:
        for engine in self._tenant_engines.values():
            engine.dispose()
        self._tenant_engines.clear()
        self.control_engine.dispose()


def _make_sqlite_transactional(engine: Engine) -> None:
    """Let SQLite roll back DDL: drive transactions ourselves instead of the driver's implicit ones."""
    _configure_sqlite_connections(engine)
    _begin_sqlite_transactions(engine)


def _configure_sqlite_connections(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _begin_sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
