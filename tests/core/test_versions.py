"""Version counters: every bump is seen by the transaction that made it and, once it commits, by
everyone; bumps of concurrent transactions never share a number."""

from __future__ import annotations

import threading
import time
from typing import Any

KEY = "metadata_version"


def committed(tenant: Any) -> int:
    with tenant.session(write=False) as session:
        return session.version(KEY)


def test_bumps_count_up_in_the_transaction_and_are_stored_at_commit(tenant):
    start = committed(tenant)
    with tenant.session() as session:
        assert [session.bump(KEY) for _ in range(3)] == [start + 1, start + 2, start + 3]
        assert session.version(KEY) == start + 3
    assert committed(tenant) == start + 3
    with tenant.session() as session:  # a unit of work that first reads, then bumps
        assert session.version(KEY) == start + 3
        session.bump(KEY)
        assert session.bump(KEY) == start + 5
    assert committed(tenant) == start + 5


def test_a_rolled_back_transaction_leaves_the_counter_as_it_was(tenant):
    start = committed(tenant)
    try:
        with tenant.session() as session:
            session.bump(KEY)
            session.bump(KEY)
            raise RuntimeError("changed my mind")
    except RuntimeError:
        pass
    assert committed(tenant) == start


def test_a_bump_in_a_rolled_back_savepoint_is_taken_back_with_it(tenant):
    start = committed(tenant)
    with tenant.session() as session:
        savepoint = session.conn.begin_nested()
        assert session.bump(KEY) == start + 1
        savepoint.rollback()
        assert session.bump(KEY) == start + 1  # the row went back; this bump moves it again
        assert session.bump(KEY) == start + 2
    assert committed(tenant) == start + 2


def test_a_concurrent_transaction_bumps_after_this_one_commits(tenant):
    """The first bump locks the counter (its row on PostgreSQL, the database on SQLite) until the
    transaction ends, so bumps counted on in memory are never taken by anyone else."""
    start = committed(tenant)
    seen: dict[str, int] = {}

    def other_writer() -> None:
        with tenant.session() as session:
            seen["other"] = session.bump(KEY)

    with tenant.session() as session:
        session.bump(KEY)
        writer = threading.Thread(target=other_writer)
        writer.start()
        time.sleep(0.3)  # the other writer waits for this transaction
        assert "other" not in seen
        assert session.bump(KEY) == start + 2
    writer.join(timeout=30)
    assert seen["other"] == start + 3
    assert committed(tenant) == start + 3
