"""Reports in packs: validated, planned, installed shared, upgraded without overwriting the tenant's
edits, exported and installed again."""

from __future__ import annotations

import shutil

import yaml

from templates_industry import export_tenant, validate

from .conftest import FIXTURES, install

V1 = FIXTURES / "upgrade_v1" / "loyalty"

REPORTS_V1 = [
    {"key": "visits_by_month", "name": "Visits by month", "label": {"en": "Visits by month", "zh": "每月到店"},
     "object": "visit", "group_by": [{"field": "visited_on", "bucket": "month"}], "aggregates": [{"fn": "count"}],
     "chart": "line"},
    {"key": "spend_by_customer", "name": "Spend by customer", "label": {"en": "Spend by customer", "zh": "顾客消费"},
     "object": "visit", "group_by": [{"field": "customer"}], "aggregates": [{"fn": "sum", "field": "amount"}]},
    {"key": "customers_by_city", "name": "Customers by city", "object": "customer",
     "group_by": [{"field": "city"}], "chart": "pie"},
]


def _pack_with_reports(root, version, reports):
    """The loyalty fixture (v1 objects) at ``version`` with a reports file."""
    folder = root / "loyalty"
    shutil.copytree(V1, folder)
    manifest = yaml.safe_load((folder / "pack.yaml").read_text("utf-8"))
    manifest["version"] = version
    manifest["data"].append("reports/loyalty.yaml")
    (folder / "pack.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    (folder / "reports").mkdir()
    (folder / "reports" / "loyalty.yaml").write_text(yaml.safe_dump({"reports": reports}, allow_unicode=True), "utf-8")
    return str(folder)


def _reports(handle):
    return {r["name"]: r for r in handle.api.get("/reports").get_json()["data"]}


def _changes(plan):
    return {(c.kind, c.key): c.action for c in plan.changes}


def test_education_installs_its_reports_and_those_of_crm_core_shared_and_runnable(tenant):
    install(tenant, "education", sample=True)
    reports = _reports(tenant)
    by_course = reports["Enrollments by course / 各课程报名人数"]
    assert by_course["shared"] is True
    assert by_course["label"] == {"en": "Enrollments by course", "zh": "各课程报名人数"}
    assert "Opportunities by stage and month / 按阶段和月份统计商机" in reports
    result = tenant.api.get(f"/reports/{by_course['id']}/run").get_json()
    assert result["columns"] == ["course", "count"]
    enrollments = tenant.api.get("/records/enrollment?per_page=500").get_json()["data"]
    assert sum(row[1] for row in result["rows"]) == len(enrollments) > 0


def test_a_dry_run_plans_the_reports_and_writes_none(tenant):
    plan = install(tenant, "finance", dry_run=True)
    changes = _changes(plan)
    assert changes[("report", "loan_amount_by_stage")] == "create"
    assert changes[("report", "opportunities_by_stage_month")] == "create"
    assert _reports(tenant) == {}


def test_a_report_that_does_not_fit_the_metadata_is_a_validation_problem(tmp_path):
    bad = [{"key": "bad", "name": "Bad", "object": "visit", "group_by": [{"field": "nope"}],
            "aggregates": [{"fn": "sum", "field": "customer"}]},
           {"key": "ghost", "name": "Ghost", "object": "ghost"},
           {"key": "shape", "name": "Shape", "object": "visit", "chart": "radar"}]
    _, problems = validate(_pack_with_reports(tmp_path, "1.0.0", bad))
    text = [str(p) for p in problems]
    assert any("reports[0].group_by[0]" in t and "unknown field 'nope'" in t for t in text)
    assert any("reports[0].aggregates[0]" in t and "sum needs a number field" in t for t in text)
    assert any("reports[1].object" in t and "unknown object 'ghost'" in t for t in text)
    assert any("reports[2].chart" in t for t in text)


def test_an_upgrade_updates_untouched_reports_and_keeps_the_tenants_edits_and_deletions(tenant, tmp_path):
    install(tenant, _pack_with_reports(tmp_path / "v1", "1.0.0", REPORTS_V1))
    before = _reports(tenant)
    edited = before["Visits by month"]
    mine = {"name": "Visits by month", "object": "visit", "label": {"en": "Our visits", "zh": "我们的到店"},
            "group_by": [{"field": "visited_on", "bucket": "week"}], "chart": "bar", "shared": True}
    answer = tenant.api.put(f"/reports/{edited['id']}", json=mine)
    assert answer.status_code == 200, answer.get_json()
    assert tenant.api.delete(f"/reports/{before['Customers by city']['id']}").status_code == 204

    v2 = [{**REPORTS_V1[0], "chart": "bar", "group_by": [{"field": "visited_on", "bucket": "quarter"}]},
          {**REPORTS_V1[1], "chart": "bar", "aggregates": [{"fn": "sum", "field": "amount"}, {"fn": "count"}]},
          {**REPORTS_V1[2], "chart": "bar"},
          {"key": "visits_total", "name": "All visits", "object": "visit"}]
    upgrade = _pack_with_reports(tmp_path / "v2", "1.1.0", v2)
    plan = install(tenant, upgrade, dry_run=True)
    changes = {(c.kind, c.key): (c.action, c.detail) for c in plan.changes}
    assert changes[("report", "visits_by_month")] == ("keep", "customized")
    assert changes[("report", "spend_by_customer")][0] == "update"
    assert changes[("report", "customers_by_city")] == ("keep", "deleted by the tenant")
    assert changes[("report", "visits_total")][0] == "create"

    install(tenant, upgrade)
    after = _reports(tenant)
    assert after["Visits by month"]["group_by"] == [{"field": "visited_on", "bucket": "week"}]
    assert after["Visits by month"]["label"] == {"en": "Our visits", "zh": "我们的到店"}
    assert after["Spend by customer"]["aggregates"] == [{"fn": "sum", "field": "amount"}, {"fn": "count"}]
    assert after["Spend by customer"]["id"] == before["Spend by customer"]["id"]
    assert "Customers by city" not in after and "All visits" in after
    assert install(tenant, upgrade).empty
    audit = tenant.api.get("/audit?action=report.update").get_json()["data"]
    assert {entry["record_id"] for entry in audit} >= {edited["id"], before["Spend by customer"]["id"]}


def test_reports_are_exported_and_installed_again(tenant_factory, tmp_path):
    source = tenant_factory()
    install(source, "retail")
    folder = tmp_path / "exported"
    with source.session(write=False) as session:
        written = export_tenant(session, folder, name="retail_config")
    assert "reports/reports.yaml" in written["files"] and written["reports"] == len(_reports(source)) > 0
    pack, problems = validate(str(folder))
    assert [str(p) for p in problems] == []
    exported = yaml.safe_load((folder / "reports" / "reports.yaml").read_text("utf-8"))["reports"]
    assert "orders_by_store_month" in {r["key"] for r in exported}

    target = tenant_factory()
    install(target, str(folder))

    def shape(handle):
        return {name: {k: v for k, v in r.items() if k not in ("id", "owner_id")} for name, r in _reports(handle).items()}

    assert shape(target) == shape(source)
