"""After-commit events: foundations publish what happened, higher layers subscribe.

A unit of work queues its events; they are dispatched only once its transaction has committed, so a
subscriber never acts on a change that was rolled back.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Sequence
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

    def dispatch(self, events: Sequence[Event]) -> None:
        if not events:
            return
        for batch_handler in self._batch_handlers:
            batch_handler(events)
        for event in events:
            for handler in (*self._handlers.get(event.type, ()), *self._handlers.get("*", ())):
                handler(event)
