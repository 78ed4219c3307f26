"""The application factory: the one place where the platform is composed."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    ensure_ascii = False  # Chinese labels stay readable
    sort_keys = False


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build an app: settings from defaults, the environment and ``test_config``, then the layers."""
    import admin
    import metadata
    import templates_industry
    import workflow_engine
    from crm_platform import api
    from crm_platform.core.platform import Platform
    from crm_platform.core.roles import follow_metadata_change
    from crm_platform.core.settings import load_settings

    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("CRM_INSTANCE_PATH")
    app = Flask("crm_platform", instance_path=os.path.abspath(instance_path or "instance"))
    app.json = JSONProvider(app)
    settings = load_settings(app.instance_path, test_config)
    app.config.update(settings)
    app.config["SECRET_KEY"] = settings["CRM_SECRET_KEY"]
    app.config["MAX_CONTENT_LENGTH"] = 60 * 1024 * 1024

    platform = Platform(settings, app.instance_path)
    platform.init_app(app)
    metadata.init_platform(platform)
    # Roles name objects and fields: keep them in step with renames and deletions.
    platform.add_hook(metadata.REFERENCE_HOOK, follow_metadata_change)
    workflow_engine.init_platform(platform)
    templates_industry.init_platform(platform)
    if settings.get("CRM_BROKER_URL"):  # a broker: work goes to Celery workers, not in-process
        from crm_platform.celery_app import celery_init_app

        celery_init_app(app)
    platform.create_control_tables()
    api.init_app(app)
    admin.init_app(app)
    return app
