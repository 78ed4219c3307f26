"""The embedded runner: queued runs and outbox entries are carried out in-process after commit."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

#: Most runs carried out in one unit of work (it holds the locks of their records until it commits).
BATCH = 50


class InProcessRunner:
    """No broker needed: work runs right after the change commits, in the same process.

    Runs are carried out one after another in the order they were queued; a run's own changes
    queue further runs, which this loop then drains (up to the engine's depth limit). Runs of one
    tenant queued together (a change that matched several rules, an install's sample records) go
    in one unit of work, :data:`BATCH` at most (see ``execute_runs``).
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        # Per thread: a threaded server's requests each drain their own work.
        self._local = threading.local()

    @property
    def _pending(self) -> list[tuple[str, str, int]]:
        if not hasattr(self._local, "pending"):
            self._local.pending, self._local.draining = [], False
        return self._local.pending

    def submit_runs(self, tenant: str, run_ids: list[int]) -> None:
        self._pending.extend(("run", tenant, run_id) for run_id in run_ids)
        self._drain()

    def submit_outbox(self, tenant: str, outbox_ids: list[int]) -> None:
        self._pending.extend(("outbox", tenant, outbox_id) for outbox_id in outbox_ids)
        self._drain()

    def _drain(self) -> None:
        pending = self._pending
        if self._local.draining:  # a run queued more work: the outer loop picks it up
            return
        from .executor import execute_runs
        from .outbox import deliver

        self._local.draining = True
        try:
            while pending:
                kind, tenant, item = pending.pop(0)
                if kind == "run":
                    batch = [item]
                    while pending and pending[0][:2] == ("run", tenant) and len(batch) < BATCH:
                        batch.append(pending.pop(0)[2])
                    execute_runs(self.platform, tenant, batch)
                else:
                    deliver(self.platform, tenant, item)
        finally:
            self._local.draining = False
