"""All or nothing: an install that fails anywhere (DDL done, rules half created, sample data half
loaded) leaves the tenant exactly as it was, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from crm_platform.core.errors import Conflict, ValidationError
from templates_industry import Installer

from .conftest import FIXTURES, install, snapshot


def test_an_invalid_sample_row_found_midway_rolls_everything_back(tenant):
    before = snapshot(tenant)
    with pytest.raises(Conflict) as caught:
        install(tenant, str(FIXTURES / "failing" / "gadgets"), sample=True)
    assert caught.value.message.startswith("sample/gadget.csv: line 4: code must be unique")
    after = snapshot(tenant)
    assert after == before
    assert "obj_gadget" not in after["tables"] and after["definitions"] == {} and after["rules"] == []
    # Without its sample data the same pack installs fine.
    install(tenant, str(FIXTURES / "failing" / "gadgets"))
    assert "obj_gadget" in snapshot(tenant)["tables"]


def _fail_on(monkeypatch, method: str, after_calls: int, when=lambda op: True) -> list[str]:
    """Make ``Installer._<method>`` raise on its ``after_calls``-th matching call."""
    original = getattr(Installer, method)
    calls: list[str] = []

    def failing(self, op):
        if when(op):
            calls.append(op.pack)
            if len(calls) == after_calls:
                raise ValidationError("injected failure")
        return original(self, op)

    monkeypatch.setattr(Installer, method, failing)
    return calls


def test_a_failure_after_the_ddl_of_two_packs_rolls_back_both(tenant, monkeypatch):
    before = snapshot(tenant)
    calls = _fail_on(monkeypatch, "_create_rule", 10)
    with pytest.raises(ValidationError, match="injected failure"):
        install(tenant, "education", sample=True)
    assert calls[-1] == "education"  # crm_core's rules and every table of both packs were already done
    assert snapshot(tenant) == before


def test_a_failure_in_the_last_sample_file_restores_the_previous_install(tenant, monkeypatch):
    install(tenant, "crm_core", sample=True)
    before = snapshot(tenant)
    assert before["rows"]["obj_account"] > 0
    calls = _fail_on(monkeypatch, "_create_records", 1, when=lambda op: op.args["object"] == "enrollment")
    with pytest.raises(ValidationError, match="injected failure"):
        install(tenant, "education", sample=True)
    assert calls == ["education"]
    after = snapshot(tenant)
    assert after == before
    assert not any(table in after["tables"] for table in ("obj_student", "obj_course", "obj_enrollment"))


def test_a_failing_role_step_leaves_no_table_behind(tenant, monkeypatch):
    before = snapshot(tenant)
    _fail_on(monkeypatch, "_put_role", 3)
    with pytest.raises(ValidationError):
        install(tenant, "retail")
    assert snapshot(tenant) == before


def test_a_failure_after_the_first_dashboard_rolls_back_the_dashboards_and_everything_else(tenant, monkeypatch):
    before = snapshot(tenant)
    calls = _fail_on(monkeypatch, "_create_dashboard", 2)
    with pytest.raises(ValidationError, match="injected failure"):
        install(tenant, "finance")
    assert calls == ["crm_core", "finance"]  # crm_core's sales dashboard was written already
    assert snapshot(tenant) == before and before["dashboards"] == []
