"""Which packs a tenant has installed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_platform.core.session import TenantSession

from .tables import installed_packs


def installed_packs_of(session: TenantSession) -> dict[str, dict[str, Any]]:
    """Installed packs by name: version, label, dependencies, whether sample data was loaded, when."""
    rows = session.conn.execute(sa.select(installed_packs).order_by(installed_packs.c.name)).mappings().all()
    return {
        row["name"]: {
            "version": row["version"],
            "label": row["label"],
            "dependencies": list(row["dependencies"] or []),
            "sample_data": bool(row["sample_data"]),
            "installed_at": _iso(row["installed_at"]),
            "updated_at": _iso(row["updated_at"]),
        }
        for row in rows
    }


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
