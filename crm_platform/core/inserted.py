"""The rows a unit of work inserted, so that a reference to one of them needs no query."""

from __future__ import annotations

from collections.abc import Collection, Iterable


class InsertedRows:
    """Ids of the rows this transaction inserted, by table. Inside the same transaction such a row
    exists until it is deleted, so a check that a referenced record or user exists can skip the
    query for it (an install's sample data refers almost only to rows it has just written).

    Only ever an answer of "it exists" is taken from here; whatever is not known is read from the
    database. Rolling back a savepoint must :meth:`cut` back to the :meth:`position` taken when it
    was opened (:meth:`TenantSession.forget_since` does), or rows it took back would still count.
    """

    def __init__(self) -> None:
        self._ids: dict[str, set[int]] = {}
        self._log: list[tuple[str, Collection[int]]] = []

    def add(self, table: str, ids: Collection[int]) -> None:
        self._ids.setdefault(table, set()).update(ids)
        self._log.append((table, ids))

    def discard(self, table: str, row_id: int) -> None:
        """A row deleted: from now on its existence is the database's to answer."""
        known = self._ids.get(table)
        if known is not None:
            known.discard(row_id)

    def forget_table(self, table: str) -> None:
        """A table dropped (it may come back under the same name, with other rows)."""
        self._ids.pop(table, None)

    def among(self, table: str, ids: Iterable[int]) -> set[int]:
        """Those of ``ids`` that are known to exist."""
        known = self._ids.get(table)
        return known.intersection(ids) if known else set()

    def position(self) -> int:
        return len(self._log)

    def cut(self, position: int) -> None:
        """Forget the rows added since ``position`` (their savepoint was rolled back)."""
        for table, ids in self._log[position:]:
            known = self._ids.get(table)
            if known is not None:
                known.difference_update(ids)
        del self._log[position:]
