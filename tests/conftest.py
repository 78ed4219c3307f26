"""Fixtures: an app on SQLite (or on PostgreSQL with CRM_TEST_DATABASE_URL), fresh tenants per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_platform.app import create_app
from crm_platform.core.platform import Platform, get_platform
from crm_platform.core.session import Actor, TenantSession, tenant_session
from crm_platform.core.tenancy import create_token, create_tenant, delete_tenant
from crm_platform.core.users import create_user

TEST_DATABASE_URL = os.environ.get("CRM_TEST_DATABASE_URL")


@pytest.fixture
def app(tmp_path: Any) -> Iterator[Flask]:
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        # Cheap hashing in tests; production keeps argon2id's recommended cost.
        "CRM_ARGON2_TIME_COST": 1,
        "CRM_ARGON2_MEMORY_COST": 64,
    }
    if TEST_DATABASE_URL:
        config["CRM_DATABASE_URL"] = TEST_DATABASE_URL
    app = create_app(config)
    yield app
    get_platform(app).db.dispose()


@pytest.fixture
def platform(app: Flask) -> Platform:
    return get_platform(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class ApiClient:
    """A test client that sends a tenant's bearer token with every request."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.patch("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.put("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)


@dataclass
class TenantHandle:
    slug: str
    admin_id: int
    token: str
    api: ApiClient
    platform: Platform

    def session(self, write: bool = True) -> Any:
        return tenant_session(self.platform, self.slug, Actor(self.admin_id, "admin@example.com", ("admin",)), write=write)


def make_tenant(platform: Platform, client: FlaskClient, prefix: str = "t") -> TenantHandle:
    slug = f"{prefix}-{uuid.uuid4().hex[:10]}"
    create_tenant(platform, slug)
    with tenant_session(platform, slug, Actor.system()) as session:
        admin = create_user(session, "admin@example.com", "correct horse battery", roles=["admin"])
    token = create_token(platform, slug, admin["id"])
    return TenantHandle(slug, admin["id"], token, ApiClient(client, token), platform)


@pytest.fixture
def tenant_factory(platform: Platform, client: FlaskClient) -> Iterator[Any]:
    made: list[TenantHandle] = []

    def factory(prefix: str = "t") -> TenantHandle:
        handle = make_tenant(platform, client, prefix)
        made.append(handle)
        return handle

    yield factory
    for handle in made:
        delete_tenant(platform, handle.slug)


@pytest.fixture
def tenant(tenant_factory: Any) -> TenantHandle:
    return tenant_factory()


@pytest.fixture
def api(tenant: TenantHandle) -> ApiClient:
    return tenant.api


@pytest.fixture
def session(tenant: TenantHandle) -> Iterator[TenantSession]:
    with tenant.session() as unit:
        yield unit


@pytest.fixture
def cli(tmp_path: Any) -> Iterator[Any]:
    """Run ``crm`` commands against a fresh instance folder (and the test database); tenants the
    commands create are removed afterwards."""
    from click.testing import CliRunner

    from crm_platform.cli import main
    from crm_platform.core.errors import NotFound

    runner = CliRunner()
    base = ["--instance", str(tmp_path / "instance")]
    if TEST_DATABASE_URL:
        base += ["--database-url", TEST_DATABASE_URL]
    created: list[str] = []

    def invoke(*args: str) -> Any:
        if args[:2] == ("tenant", "create"):
            created.append(args[2])
        return runner.invoke(main, [*base, *args], env={"CRM_ARGON2_MEMORY_COST": "64", "CRM_ARGON2_TIME_COST": "1"})

    yield invoke
    config = {"INSTANCE_PATH": str(tmp_path / "instance")}
    if TEST_DATABASE_URL:
        config["CRM_DATABASE_URL"] = TEST_DATABASE_URL
    platform = get_platform(create_app(config))
    for slug in created:
        try:
            delete_tenant(platform, slug)
        except NotFound:
            pass
    platform.db.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """Under CI (CRM_FORBID_SKIPS=1) a skipped test fails: every service must be there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CRM_FORBID_SKIPS") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under CI, which forbids skips: {reason}"
