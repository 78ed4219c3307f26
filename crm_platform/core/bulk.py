"""Driver-level inserts for bulk writes: COPY on PostgreSQL, an executemany of plain tuples on SQLite.

SQLAlchemy's executemany builds a parameter dict per row and runs each column's bind processor on
each value; for a bulk load that costs more than the database's own work. Here the statement is
compiled once, each column's bind processor is looked up once, and a value repeated down a column
(the batch's timestamps, booleans, dates) is processed once per batch. The rows go through the
unit of work's own connection, so they belong to its transaction and savepoints.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)
#: Column types whose values repeat down a bulk load: their processed form is remembered per batch.
_REPEATING = (bool, date, datetime)


class BulkInsert:
    """Inserts rows given as lists of values in the order of ``columns`` into ``table``.

    ``preserialized`` names columns whose values are already in the driver's form (JSON text):
    their type's bind processor is skipped. A unique index that fires raises
    :class:`sqlalchemy.exc.IntegrityError`, as a Core insert would.
    """

    def __init__(self, conn: Connection, table: sa.Table, columns: Sequence[str],
                 preserialized: Iterable[str] = ()) -> None:
        dialect = conn.dialect
        self.dialect = dialect.name
        self.table = table
        self.columns = tuple(columns)
        skipped = set(preserialized)
        self._processing: list[tuple[int, Callable[[Any], Any], bool]] = []
        for position, name in enumerate(self.columns):
            column_type = table.c[name].type
            process = None if name in skipped else column_type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._processing.append((position, process, issubclass(python_type_of(column_type) or object, _REPEATING)))
        if self.dialect == "postgresql":
            from psycopg import sql

            schema = conn.get_execution_options().get("schema_translate_map", {}).get(table.schema, table.schema)
            target = sql.Identifier(schema, table.name) if schema else sql.Identifier(table.name)
            self._copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                target, sql.SQL(", ").join(map(sql.Identifier, self.columns)))
        elif self.dialect == "sqlite":
            # Written out rather than compiled (a tenth of a millisecond against most of one for
            # a new table): the values go in exactly the order of ``columns``.
            quote = dialect.identifier_preparer
            self._sql = (f"INSERT INTO {quote.format_table(table)} ({', '.join(map(quote.quote, self.columns))}) "
                         f"VALUES ({', '.join('?' * len(self.columns))})")
        else:
            self._statement = table.insert()

    def insert(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` through ``conn``. A list row is processed in place; rows of any other
        sequence type are copied into lists first, and only when some column needs processing."""
        if not rows:
            return
        if self._processing:
            if not all(type(row) is list for row in rows):
                rows = [row if type(row) is list else list(row) for row in rows]
            self._process(rows)
        if self.dialect not in ("postgresql", "sqlite"):
            conn.execute(self._statement, [dict(zip(self.columns, row)) for row in rows])
            return
        if log.isEnabledFor(logging.DEBUG):  # SQLAlchemy's own statement log does not see these
            log.debug("bulk insert into %s (%s): %d rows", self.table.name, ", ".join(self.columns), len(rows))
        driver = conn.connection.driver_connection
        dbapi = conn.dialect.loaded_dbapi
        try:
            if self.dialect == "postgresql":
                with driver.cursor() as cursor, cursor.copy(self._copy) as copy:
                    write = copy.write_row
                    for row in rows:
                        write(row)
            else:
                cursor = driver.cursor()
                try:
                    cursor.executemany(self._sql, rows)
                finally:
                    cursor.close()
        except dbapi.Error as exc:  # as SQLAlchemy would raise it (IntegrityError for a unique index)
            statement = self._copy.as_string(driver) if self.dialect == "postgresql" else self._sql
            raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc

    def _process(self, rows: Sequence[list[Any]]) -> None:
        for position, process, repeating in self._processing:
            if repeating:
                memo: dict[Any, Any] = {}
                for row in rows:
                    value = row[position]
                    if value is not None:
                        done = memo.get(value, memo)
                        if done is memo:
                            done = memo[value] = process(value)
                        row[position] = done
            else:
                for row in rows:
                    value = row[position]
                    if value is not None:
                        row[position] = process(value)


def python_type_of(column_type: sa.types.TypeEngine[Any]) -> type | None:
    """The Python type of a column's values (a TypeDecorator's is its implementation's); None
    when the type does not say."""
    try:
        return getattr(column_type, "impl_instance", column_type).python_type
    except NotImplementedError:
        return None


def bulk_insert(conn: Connection, cache: dict[str, Any], table: sa.Table, columns: Sequence[str],
                preserialized: Iterable[str] = ()) -> BulkInsert:
    """The :class:`BulkInsert` for these columns, built once per unit of work (``cache``)."""
    inserters = cache.setdefault("bulk_insert", {})
    key = (table, tuple(columns))
    inserter = inserters.get(key)
    if inserter is None:
        inserter = inserters[key] = BulkInsert(conn, table, columns, preserialized)
    return inserter


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the length of a bulk load.

    Loading a large file allocates millions of short-lived containers, and each burst of them
    sets off collections that walk every object the process holds (the app's compiled models and
    statements among them): about a fifth of a 100,000-row import's time. Reference counting
    still frees everything but cycles, and the collector runs again when the load ends. Only the
    caller that found the collector running turns it back on, so loads that overlap in other
    threads, or a host that keeps it off, end as they found it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


__all__ = ["BulkInsert", "bulk_insert", "collector_paused", "python_type_of"]
