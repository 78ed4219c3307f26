"""The ``crm`` command line, run as a user would."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from crm_platform.cli import main
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def run(cli):
    return cli


def unique(prefix: str) -> str:
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_every_command_has_help():
    for args in ([], ["demo"], ["init"], ["serve"], ["tenant", "create"], ["tenant", "list"], ["user", "create"],
                 ["token", "create"]):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_tenant_user_and_token_through_the_cli(run, client):
    slug = unique("cli")
    result = run("tenant", "create", slug, "--admin-email", "boss@example.com", "--admin-password", "s3cret-pass")
    assert result.exit_code == 0, result.output
    assert slug in run("tenant", "list").output
    assert run("user", "create", "--tenant", slug, "--email", "rep@example.com", "--password", "another-pass",
               "--role", "admin").exit_code == 0
    unknown = run("user", "create", "--tenant", slug, "--email", "x@example.com", "--password", "another-pass",
                  "--role", "no_such_role")
    assert unknown.exit_code != 0 and "unknown roles: no_such_role" in unknown.output
    result = run("token", "create", "--tenant", slug, "--email", "boss@example.com")
    assert result.exit_code == 0
    token = result.output.strip()
    assert re.fullmatch(r"crm_[A-Za-z0-9_-]{40,}", token)


def test_errors_are_one_line_and_non_zero(run):
    slug = unique("dup")
    assert run("tenant", "create", slug).exit_code == 0
    duplicate = run("tenant", "create", slug)
    assert duplicate.exit_code != 0
    assert duplicate.output.strip() == f"Error: tenant '{slug}' already exists"
    bad = run("tenant", "create", "Bad Slug!")
    assert bad.exit_code != 0 and "invalid tenant slug" in bad.output and "Traceback" not in bad.output
    missing = run("token", "create", "--tenant", "no-such-tenant", "--email", "x@example.com")
    assert missing.exit_code != 0 and "does not exist" in missing.output
    short = run("user", "create", "--tenant", slug, "--email", "a@example.com", "--password", "short")
    assert short.exit_code != 0 and "8 to 200 characters" in short.output


def test_token_from_the_cli_opens_the_api(run, app, tmp_path):
    slug = unique("api")
    run("tenant", "create", slug, "--admin-email", "boss@example.com", "--admin-password", "s3cret-pass")
    token = run("token", "create", "--tenant", slug, "--email", "boss@example.com").output.strip()
    from crm_platform.app import create_app

    config = {"INSTANCE_PATH": str(tmp_path / "instance")}
    if TEST_DATABASE_URL:
        config["CRM_DATABASE_URL"] = TEST_DATABASE_URL
    client = create_app(config).test_client()
    response = client.get("/api/v1/objects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json == {"data": []}
