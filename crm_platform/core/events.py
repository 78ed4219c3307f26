"""After-commit events: foundations publish what happened, higher layers subscribe.

A unit of work queues its events; they are dispatched only once its transaction has committed, so a
subscriber never acts on a change that was rolled back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


Handler = Callable[[Event], None]


class EventBus:
    """Subscribers by event type; ``"*"`` receives everything."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def unsubscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].remove(handler)

    def has_subscribers(self) -> bool:
        return any(self._handlers.values())

    def dispatch(self, events: Iterable[Event]) -> None:
        for event in events:
            for handler in (*self._handlers.get(event.type, ()), *self._handlers.get("*", ())):
                handler(event)
