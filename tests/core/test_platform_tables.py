"""The platform's own tables on a new database, created by several processes starting at once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm_platform.core.platform import Platform
from crm_platform.core.tables import control_metadata
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def fresh_database_url(tmp_path: Path):
    """A database no process has touched yet: a new file, or a new PostgreSQL database."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = sa.make_url(TEST_DATABASE_URL)
    name = f"crm_fresh_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_workers_starting_together_on_a_new_database_all_start(fresh_database_url: str, tmp_path: Path) -> None:
    starters = 6
    barrier = threading.Barrier(starters)
    failures: list[BaseException] = []
    settings = {"CRM_DATABASE_URL": fresh_database_url, "CRM_ARGON2_TIME_COST": 1, "CRM_ARGON2_MEMORY_COST": 64,
                "CRM_ARGON2_PARALLELISM": 1}
    platforms = [Platform(settings, str(tmp_path / "instance")) for _ in range(starters)]

    def start(platform: Platform) -> None:
        barrier.wait()
        try:
            platform.create_control_tables()
        except BaseException as exc:  # noqa: BLE001 - the test reports what a worker would have died of
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(platform,)) for platform in platforms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        with platforms[0].db.control_engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
        assert {table.name for table in control_metadata.sorted_tables} <= present
    finally:
        for platform in platforms:
            platform.db.dispose()
