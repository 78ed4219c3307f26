"""Celery tasks of the workflow engine, and the runner that sends work to them.

The tasks are ``shared_task``s: this module never imports a Celery app. The entry point
``crm_platform.celery_app.celery_init_app`` builds the app, which runs every task inside the
Flask app context, so a task reaches the platform through ``current_app``.

Delivery guarantees: tasks are acknowledged late (after they finish) and rejected back to the
queue when their worker dies, so a killed worker loses nothing; the work they do is idempotent
(a run only starts from ``queued`` and ends in the same transaction as its actions; an outbox entry
is only sent while ``pending``), so a redelivered task does nothing twice.

Retries: a task never retries itself (no ``self.retry`` countdowns, which a Redis broker would
redeliver after its visibility timeout). A failed attempt is written back with its
``next_attempt_at`` (exponential backoff) and the scheduler tick, every minute, submits it again
when that moment has come; the same path recovers work whose message was lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import shared_task

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

RUN_TASK = "workflow.run_rule_run"
OUTBOX_TASK = "workflow.deliver_outbox"
TICK_TASK = "workflow.tick"
IMPORT_TASK = "imports.run"


def _platform() -> Any:
    from crm_platform.core.platform import get_platform

    return get_platform()


@shared_task(name=RUN_TASK, ignore_result=True)
def run_rule_run(tenant: str, run_id: int) -> str:
    """Carry out one queued rule run (a no-op unless it is still ``queued``)."""
    from .executor import execute_run

    return execute_run(_platform(), tenant, run_id)


@shared_task(name=OUTBOX_TASK, ignore_result=True)
def deliver_outbox(tenant: str, outbox_id: int) -> str:
    """Send one e-mail or webhook of the outbox (a no-op unless it is still ``pending``)."""
    from .outbox import deliver

    return deliver(_platform(), tenant, outbox_id)


@shared_task(name=TICK_TASK, ignore_result=True)
def tick() -> dict[str, Any]:
    """One scheduler pass (sent by ``crm beat`` every minute)."""
    from .scheduler import tick as scheduler_tick

    return scheduler_tick(_platform())


@shared_task(name=IMPORT_TASK, ignore_result=True)
def run_import(tenant: str, import_id: int) -> str:
    """Carry out one queued import (a no-op once it is done or failed; a skip import resumes)."""
    from metadata.import_jobs import execute_import

    return execute_import(_platform(), tenant, import_id)


class CeleryRunner:
    """Sends queued runs and outbox entries to Celery workers (installed when a broker is set).

    A message that cannot be published (broker down) is logged, not raised: the change it follows
    has already committed, its run stays ``queued`` and the tick submits it again later.
    """

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def submit_runs(self, tenant: str, run_ids: list[int]) -> None:
        self._send(RUN_TASK, tenant, run_ids)

    def submit_outbox(self, tenant: str, outbox_ids: list[int]) -> None:
        self._send(OUTBOX_TASK, tenant, outbox_ids)

    def submit_import(self, tenant: str, import_id: int) -> None:
        """A message that cannot be sent is logged and leaves the import ``queued``; the
        scheduler tick sends it again."""
        self._send(IMPORT_TASK, tenant, [import_id])

    def _send(self, name: str, tenant: str, ids: list[int]) -> None:
        if not ids:
            return
        task = self.celery.tasks[name]
        try:
            with self.celery.producer_or_acquire() as producer:
                for item in ids:
                    task.apply_async(args=(tenant, int(item)), producer=producer)
        except Exception:  # the tick re-submits what could not be sent
            log.warning("could not send %s for %s %s; the scheduler tick will submit them again",
                        name, tenant, list(ids), exc_info=True)
