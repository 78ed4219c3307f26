"""What reading and checking packs costs, paid once: packs as read, their check results and the
compiled metadata the checks need, keyed by content. One ``PackCache`` belongs to the platform
(made by ``init_platform``), so the app factory owns it and two apps in one process never share it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

    from .pack import Pack, Problem

#: The platform service under which the app's pack cache is registered.
PACK_CACHE_SERVICE = "templates_industry.pack_cache"


class _Bounded:
    """A small dict that forgets its oldest entry when full; safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        return self._entries.get(key)

    def __contains__(self, key: Any) -> bool:
        return key in self._entries

    def put(self, key: Any, value: Any) -> Any:
        with self._lock:
            while len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = value
        return value

    def values(self) -> list[Any]:
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


class PackCache:
    """Packs read (by folder, valid while the folder's files stay the same), manifests, check results (by the
    folders and signatures of a pack and its dependencies) and compiled models (by content checksum).
    Everything handed out is shared: callers treat it as read-only."""

    def __init__(self, packs: int = 64, checks: int = 16, models: int = 16) -> None:
        self.packs: _Bounded = _Bounded(packs)
        #: Manifests as read, by folder and the manifest's size and modification time (to list packs).
        self.manifests: _Bounded = _Bounded(packs)
        self.checks: _Bounded = _Bounded(checks)
        self.models: _Bounded = _Bounded(models)

    def pack(self, root: Path, signature: tuple[Any, ...]) -> Pack | None:
        cached = self.packs.get(root)
        return cached if cached is not None and cached.signature == signature else None

    def checked(self, key: tuple[Any, ...]) -> list[Problem] | None:
        found = self.checks.get(key)
        return list(found) if found is not None else None


def platform_cache(platform: Platform) -> PackCache:
    """The platform's pack cache (made on first use for a platform set up without ``init_platform``)."""
    cache = platform.services.get(PACK_CACHE_SERVICE)
    if cache is None:
        cache = platform.services.setdefault(PACK_CACHE_SERVICE, PackCache())
    return cache
