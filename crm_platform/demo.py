"""The demo instance: one tenant per industry pack (each on the core CRM), with sample data, ready to explore."""

from __future__ import annotations

import secrets
from typing import Any

from rich.console import Console

from crm_platform.core.errors import NotFound
from crm_platform.core.session import Actor, tenant_session
from crm_platform.core.tenancy import create_tenant, create_token, delete_tenant, get_tenant
from crm_platform.core.users import create_user, get_user_by_email

DEMO_ADMIN = "admin@demo.local"
#: (tenant slug, industry pack, display name): each pack installs crm_core first, as its dependency.
DEMO_TENANTS = (
    ("demo-education", "education", "Demo Education 星辰教育"),
    ("demo-finance", "finance", "Demo Finance 恒信财富"),
    ("demo-retail", "retail", "Demo Retail 优品生活"),
)


def _password(platform: Any) -> str:
    """One admin password for the demo tenants, kept in the instance folder."""
    password_file = platform.db.instance_path / "demo_password"
    if password_file.exists():
        return password_file.read_text().strip()
    password = secrets.token_urlsafe(9)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password)
    password_file.chmod(0o600)
    return password


def prepare_demo(platform: Any, console: Console | None = None) -> list[dict[str, str]]:
    """Create (or reuse) the demo tenants and return their logins with a fresh API token each."""
    from templates_industry import install

    password = _password(platform)
    logins = []
    for slug, pack, name in DEMO_TENANTS:
        try:
            get_tenant(platform, slug)
        except NotFound:
            create_tenant(platform, slug, name)
            try:
                with tenant_session(platform, slug, Actor.system()) as session:
                    create_user(session, DEMO_ADMIN, password, name="Demo Admin 管理员", roles=["admin"])
                    plan = install(session, pack, with_sample_data=True)
            except BaseException:
                delete_tenant(platform, slug)
                raise
            if console:
                packs = ", ".join(f"{step.name} {step.version}" for step in plan.packs)
                console.print(f"Created demo tenant [bold]{slug}[/] from {packs}, with sample data")
        with tenant_session(platform, slug, Actor.system(), write=False) as session:
            admin = get_user_by_email(session, DEMO_ADMIN)
        token = create_token(platform, slug, admin.id, name="demo")
        logins.append({"tenant": slug, "pack": pack, "email": DEMO_ADMIN, "password": password, "token": token})
    return logins
