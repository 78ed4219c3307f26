"""Configuration: defaults, then the environment (``CRM_*``), then the caller's overrides."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

#: Environment variables read at start-up, with their defaults.
ENVIRONMENT_KEYS: dict[str, Any] = {
    "CRM_DATABASE_URL": None,  # None: SQLite files under the instance folder
    "CRM_BROKER_URL": None,  # None: tasks run in-process after commit
    "CRM_SECRET_KEY": None,
    "CRM_MAX_PER_PAGE": 500,
    "CRM_ARGON2_TIME_COST": 2,
    "CRM_ARGON2_MEMORY_COST": 19456,  # KiB; OWASP's minimum for argon2id
    "CRM_ARGON2_PARALLELISM": 1,
    "CRM_SESSION_COOKIE_SECURE": False,
    "CRM_LOGIN_MAX_FAILURES": 5,
    "CRM_SMTP_HOST": "127.0.0.1",
    "CRM_SMTP_PORT": 25,
    "CRM_SMTP_USER": None,
    "CRM_SMTP_PASSWORD": None,
    "CRM_SMTP_STARTTLS": False,
    "CRM_MAIL_FROM": "crm@localhost",
    "CRM_MAX_ATTACHMENT_MB": 20,
    "CRM_LOGIN_LOCK_MINUTES": 15,
    "CRM_IMPORT_ASYNC_ROWS": 2000,  # files with this many rows or more are imported in the background
}


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load_settings(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the settings mapping for one application instance."""
    settings: dict[str, Any] = dict(ENVIRONMENT_KEYS)
    for key, default in ENVIRONMENT_KEYS.items():
        raw = os.environ.get(key)
        if raw is not None and raw != "":
            settings[key] = _coerce(default, raw) if default is not None else raw
    if overrides:
        settings.update(overrides)
    if not settings["CRM_DATABASE_URL"]:
        settings["CRM_DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'crm.db'}"
    if not settings["CRM_SECRET_KEY"]:
        settings["CRM_SECRET_KEY"] = _instance_secret(Path(instance_path))
    return settings


def _instance_secret(instance_path: Path) -> str:
    """A secret kept in the instance folder, so sessions survive restarts without configuration."""
    instance_path.mkdir(parents=True, exist_ok=True)
    secret_file = instance_path / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    return secret_file.read_text().strip()
