"""The Celery entry point: ``celery_init_app(app)`` configures Celery for one Flask app.

With ``CRM_BROKER_URL`` set (``redis://...`` or ``amqp://...``) the app factory calls it: work that
leaves a transaction (rule runs, e-mail and webhooks, large imports) goes to Celery workers (``crm worker``) and
``crm beat`` sends the scheduler tick every minute. Without a broker nothing here is used and the
work runs in-process after commit.

Settings read from the app config, then the environment:

- ``CRM_BROKER_URL``: the broker.
- ``CRM_CELERY_QUEUE``: the queue the app sends to and the workers consume (default ``crm``).
- ``CRM_BROKER_TRANSPORT_OPTIONS``: JSON merged into Celery's ``broker_transport_options``; on
  Redis, ``visibility_timeout`` (default 3600 s) is how long an unacknowledged task of a dead worker
  waits before another worker gets it. It must exceed the longest task.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery
    from flask import Flask

#: How often beat sends the scheduler tick.
TICK_SECONDS = 60.0


def _setting(app: Flask, key: str, default: Any = None) -> Any:
    value = app.config.get(key)
    if value in (None, ""):
        value = os.environ.get(key)
    return default if value in (None, "") else value


def celery_config(app: Flask) -> dict[str, Any]:
    """Celery settings for this app: late acknowledgement, one task at a time per process."""
    from workflow_engine.tasks import TICK_TASK

    options = _setting(app, "CRM_BROKER_TRANSPORT_OPTIONS", {})
    if isinstance(options, str):
        options = json.loads(options)
    broker = _setting(app, "CRM_BROKER_URL")
    transport: dict[str, Any] = {}
    if str(broker).startswith(("redis://", "rediss://")):
        transport["visibility_timeout"] = 3600
    transport.update(options)
    return {
        "broker_url": broker,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": _setting(app, "CRM_CELERY_QUEUE", "crm"),
        # A task is acknowledged when it has finished, and handed back if its worker dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport,
        # Publishing happens right after a commit: give up quickly; the tick re-submits.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": {
            "workflow-tick": {"task": TICK_TASK, "schedule": TICK_SECONDS,
                              # a tick that waited a whole period is superseded by the next one
                              "options": {"expires": TICK_SECONDS}},
        },
    }


def celery_init_app(app: Flask) -> Celery:
    """Build the Celery app of ``app`` (kept in ``app.extensions["celery"]``) and route the workflow
    engine's work to it."""
    from celery import Celery, Task

    import workflow_engine.tasks  # noqa: F401 - registers the shared tasks
    from crm_platform.core.platform import get_platform
    from workflow_engine import RUNNER_SERVICE
    from workflow_engine.tasks import CeleryRunner

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(celery_config(app))
    celery.set_default()
    app.extensions["celery"] = celery
    from metadata.import_jobs import IMPORT_RUNNER_SERVICE

    runner = CeleryRunner(celery)
    get_platform(app).services[RUNNER_SERVICE] = runner
    get_platform(app).services[IMPORT_RUNNER_SERVICE] = runner
    return celery
