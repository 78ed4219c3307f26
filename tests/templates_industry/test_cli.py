"""The ``crm template`` commands, ``crm tenant create --template`` and ``crm demo``, run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from crm_platform.cli import main

from .conftest import FIXTURES


@pytest.fixture
def run(cli):
    return cli


def slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_every_template_command_has_help():
    for args in (["template"], ["template", "list"], ["template", "validate"], ["template", "install"],
                 ["template", "export"], ["tenant", "create"]):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "--template" in CliRunner().invoke(main, ["tenant", "create", "--help"]).output


def test_template_list(run):
    result = run("template", "list")
    assert result.exit_code == 0, result.output
    for name in ("crm_core", "education", "finance", "retail"):
        assert name in result.output
    assert "教育培训" in result.output and "crm_core<2,>=1.0" in result.output


def test_validate_reports_every_problem_with_file_and_location():
    ok = CliRunner().invoke(main, ["template", "validate", "education"])
    assert ok.exit_code == 0 and "pack education 1.2.0 is valid" in ok.output
    assert "2 reports, 1 dashboards" in ok.output.replace("\n", " ")
    bad = CliRunner().invoke(main, ["template", "validate", str(FIXTURES / "bad" / "many_errors")])
    assert bad.exit_code == 1
    lines = bad.stderr.strip().splitlines()
    assert "objects/lead.yaml: fields[2].type: 'str' is not one of ['text'" in bad.stderr
    assert "sample/lead.csv: line 3: company: required" in bad.stderr
    assert lines[-1].endswith("12 problems (listed above)") and len(lines) == 13
    assert "Traceback" not in bad.output


def test_tenant_create_with_a_template_then_install_export_and_list(run, tmp_path):
    name = slug("edu")
    created = run("tenant", "create", name, "--template", "education", "--with-sample-data",
                  "--admin-email", "boss@example.com", "--admin-password", "s3cret-pass")
    assert created.exit_code == 0, created.output
    assert f"Created tenant {name} with admin boss@example.com" in created.output
    assert "crm_core 1.2.0 (install), education 1.2.0 (install)" in created.output
    listed = run("template", "list", "--tenant", name)
    assert listed.exit_code == 0 and "installed" in listed.output
    # every pack's version (all at 1.2.0), and the two installed here
    assert listed.output.count("1.2.0") == 4 + 2

    dry = run("template", "install", "retail", "--tenant", name, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "store_inspection" in dry.output and "Dry run: nothing was changed." in dry.output
    assert "crm_core 1.2.0 (unchanged), retail 1.2.0 (install)" in dry.output
    applied = run("template", "install", "retail", "--tenant", name)
    assert applied.exit_code == 0 and f"Installed into {name}." in applied.output
    again = run("template", "install", "retail", "--tenant", name)
    assert again.exit_code == 0 and "Nothing to do" in again.output

    out = tmp_path / "export"
    exported = run("template", "export", "--tenant", name, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert (out / "pack.yaml").is_file() and (out / "objects" / "student.yaml").is_file()
    assert (out / "objects" / "store.yaml").is_file() and (out / "security" / "access.csv").is_file()
    assert "7 reports, 3 dashboards" in exported.output.replace("\n", " ")
    assert (out / "dashboards" / "dashboards.yaml").is_file()


def test_install_errors_are_clear_and_exit_non_zero(run):
    name = slug("err")
    assert run("tenant", "create", name).exit_code == 0
    bad = run("template", "install", str(FIXTURES / "bad" / "many_errors"), "--tenant", name)
    assert bad.exit_code == 1 and "12 problems (listed above)" in bad.output
    unknown = run("template", "install", "no_such_pack", "--tenant", name)
    assert unknown.exit_code == 1 and "no pack named 'no_such_pack'" in unknown.output
    missing = run("template", "install", "crm_core", "--tenant", "no-such-tenant")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_tenant_create_leaves_nothing_behind_when_a_template_fails(run):
    name = slug("fail")
    failed = run("tenant", "create", name, "--template", str(FIXTURES / "failing" / "gadgets"), "--with-sample-data")
    assert failed.exit_code == 1 and "sample/gadget.csv: line 4: code must be unique" in failed.output
    assert name not in run("tenant", "list").output


def test_demo_bootstraps_one_tenant_per_industry_pack(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "crm_platform.cli", "--instance", str(tmp_path / "demo"), "demo", "--no-serve"],
        capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "CRM_ARGON2_MEMORY_COST": "64", "CRM_ARGON2_TIME_COST": "1"},
    )
    assert result.returncode == 0, result.stderr
    tenants = re.findall(r"tenant:\s+(\S+)\s+\(pack (\w+)\)", result.stdout)
    assert tenants == [("demo-education", "education"), ("demo-finance", "finance"), ("demo-retail", "retail")]
    tokens = re.findall(r"API token: (crm_\S+)", result.stdout)
    password = re.findall(r"password:\s+(\S+)", result.stdout)
    assert len(tokens) == 3 and len(set(password)) == 1
    from crm_platform.app import create_app

    client = create_app({"INSTANCE_PATH": str(tmp_path / "demo"), "CRM_DATABASE_URL": ""}).test_client()
    for (tenant, pack), token, object_name in zip(tenants, tokens, ("student", "client", "member")):
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/api/v1/records/{object_name}", headers=headers).json["meta"]["total"] > 3
        assert client.get("/api/v1/records/account", headers=headers).json["meta"]["total"] == 10
        installed = client.get("/api/v1/templates", headers=headers).json["installed"]
        assert set(installed) == {"crm_core", pack}
    # A second run reuses the tenants and prints fresh tokens.
    again = subprocess.run(
        [sys.executable, "-m", "crm_platform.cli", "--instance", str(tmp_path / "demo"), "demo", "--no-serve"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "CRM_ARGON2_MEMORY_COST": "64", "CRM_ARGON2_TIME_COST": "1"},
    )
    assert again.returncode == 0 and "Created demo tenant" not in again.stdout


def test_tenant_create_with_two_templates_shares_their_dependency(run):
    name = slug("two")
    created = run("tenant", "create", name, "--template", "finance", "--template", "retail")
    assert created.exit_code == 0, created.output
    assert "crm_core 1.2.0 (install), finance 1.2.0 (install)" in created.output
    assert "crm_core 1.2.0 (unchanged), retail 1.2.0 (install)" in created.output
    listed = run("template", "list", "--tenant", name)
    assert listed.output.count("1.2.0") == 4 + 3
