"""After-commit events: foundations publish what happened, higher layers subscribe.

A unit of work queues its events; they are dispatched only once its transaction has committed, so a
subscriber never acts on a change that was rolled back.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

RECORD_CREATED = "record.created"
RECORD_UPDATED = "record.updated"
RECORD_DELETED = "record.deleted"
STAGE_CHANGED = "record.stage_changed"
METADATA_CHANGED = "metadata.changed"


@dataclass(frozen=True)
class Event:
    """Something that happened in one tenant, described in plain data (it may cross processes)."""

    type: str
    tenant: str
    object: str | None = None
    record_id: int | None = None
    record: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    actor_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: How many automated steps led here: 0 for a user's change, n+1 for a change a rule made
    #: while handling an event of depth n (the workflow engine stops runaway chains by it).
    depth: int = 0
    #: 128 random bits as 32 hex digits (uuid4's format costs five times as much per event).
    id: str = field(default_factory=lambda: os.urandom(16).hex())
    occurred_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: The record's stored Python values (Decimal, date...) when the event is handled in the
    #: process that made it; never serialized. Saves subscribers converting ``record`` back.
    values: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    previous_values: dict[str, Any] | None = field(default=None, compare=False, repr=False)


class EventBatch:
    """The events of one bulk write (many records, one type and object), described compactly: each
    becomes an :class:`Event` only when something reads it, and then the same one every time."""

    def __init__(self, event_type: str, tenant: str, object: str, actor_id: int | None, depth: int,
                 values: Sequence[dict[str, Any]], describe: Callable[[dict[str, Any]], dict[str, Any]],
                 records: Sequence[dict[str, Any]] | None = None) -> None:
        self.type, self.tenant, self.object, self.actor_id, self.depth = event_type, tenant, object, actor_id, depth
        #: The records' stored values (with their ids) and, when already made, their JSON form.
        self.values, self.records, self.describe = values, records, describe
        self.occurred_at = datetime.now(timezone.utc)
        self._events: list[Event] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def events(self) -> list[Event]:
        if self._events is None:
            records = self.records if self.records is not None else [self.describe(v) for v in self.values]
            self._events = [
                Event(type=self.type, tenant=self.tenant, object=self.object, record_id=values["id"], record=record,
                      actor_id=self.actor_id, depth=self.depth, occurred_at=self.occurred_at, values=values)
                for values, record in zip(self.values, records)
            ]
        return self._events


class EventQueue:
    """A unit of work's events in the order they happened; iterating yields :class:`Event` objects.

    :meth:`select` skips whole batches nobody asks for, so a bulk write that no subscriber or rule
    listens to never builds its per-record events.
    """

    def __init__(self) -> None:
        self._entries: list[Event | EventBatch] = []

    def append(self, event: Event) -> None:
        self._entries.append(event)

    def add_batch(self, batch: EventBatch) -> None:
        if len(batch):
            self._entries.append(batch)

    def __len__(self) -> int:
        return sum(len(e) if isinstance(e, EventBatch) else 1 for e in self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __iter__(self) -> Iterator[Event]:
        return self.select()

    def select(self, types: Collection[str] | None = None, objects: Collection[str] | None = None,
               since: int = 0) -> Iterator[Event]:
        """The events of these types (and objects), in order; None means any. ``since``: only
        those queued after that :meth:`position`."""
        for entry in self._entries[since:] if since else self._entries:
            if (types is not None and entry.type not in types) or (objects is not None and entry.object not in objects):
                continue
            if isinstance(entry, EventBatch):
                yield from entry.events()
            else:
                yield entry

    def position(self) -> int:
        """A point in the queue to come back to with :meth:`truncate`."""
        return len(self._entries)

    def truncate(self, position: int) -> None:
        del self._entries[position:]

    def clear(self) -> None:
        self._entries.clear()


Handler = Callable[[Event], None]
BatchHandler = Callable[[Sequence[Event]], None]


class EventBus:
    """Subscribers by event type; ``"*"`` receives everything."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._batch_handlers: list[BatchHandler] = []

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def unsubscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].remove(handler)

    def subscribe_batch(self, handler: BatchHandler) -> None:
        """Receive all the events of one committed unit of work at once (cheaper for bulk work)."""
        self._batch_handlers.append(handler)

    def has_subscribers(self) -> bool:
        return any(self._handlers.values()) or bool(self._batch_handlers)

    def dispatch(self, events: Sequence[Event] | EventQueue) -> None:
        if not events:
            return
        if self._batch_handlers:
            listed = list(events)
            for batch_handler in self._batch_handlers:
                batch_handler(listed)
        wanted = {event_type for event_type, handlers in self._handlers.items() if handlers}
        if not wanted:
            return
        if isinstance(events, EventQueue):  # batches of events nobody listens to stay unbuilt
            events = events.select(None if "*" in wanted else wanted)
        for event in events:
            for handler in (*self._handlers.get(event.type, ()), *self._handlers.get("*", ())):
                handler(event)
