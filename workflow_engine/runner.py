"""The embedded runner: queued runs and outbox entries are carried out in-process after commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform


class InProcessRunner:
    """No broker needed: work runs right after the change commits, in the same process.

    Runs are carried out one after another in the order they were queued; a run's own changes
    queue further runs, which this loop then drains (up to the engine's depth limit).
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._pending: list[tuple[str, str, int]] = []
        self._draining = False

    def submit_runs(self, tenant: str, run_ids: list[int]) -> None:
        self._pending.extend(("run", tenant, run_id) for run_id in run_ids)
        self._drain()

    def submit_outbox(self, tenant: str, outbox_ids: list[int]) -> None:
        self._pending.extend(("outbox", tenant, outbox_id) for outbox_id in outbox_ids)
        self._drain()

    def _drain(self) -> None:
        if self._draining:  # a run queued more work: the outer loop picks it up
            return
        from .executor import execute_run
        from .outbox import deliver

        self._draining = True
        try:
            while self._pending:
                kind, tenant, item = self._pending.pop(0)
                if kind == "run":
                    execute_run(self.platform, tenant, item)
                else:
                    deliver(self.platform, tenant, item)
        finally:
            self._draining = False
