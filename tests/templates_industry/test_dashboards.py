"""Dashboards in packs: validated (widgets name report keys of the pack or its dependencies),
planned, installed shared, upgraded without overwriting the tenant's edits, exported and installed
again."""

from __future__ import annotations

import shutil

import yaml

from templates_industry import export_tenant, validate

from .conftest import FIXTURES, install
from .test_reports import REPORTS_V1

V1 = FIXTURES / "upgrade_v1" / "loyalty"

DASHBOARDS_V1 = [
    {"key": "visits", "name": "Visits", "label": {"en": "Visits", "zh": "到店"},
     "widgets": [{"report": "visits_by_month", "title": {"en": "By month", "zh": "按月"}, "width": 2},
                 {"report": "customers_by_city", "chart": "doughnut"}]},
    {"key": "spend", "name": "Spend", "widgets": [{"report": "spend_by_customer", "chart": "horizontal_bar"}]},
    {"key": "cities", "name": "Cities", "widgets": [{"report": "customers_by_city"}]},
]


def _pack(root, version, dashboards, reports=REPORTS_V1):
    """The loyalty fixture at ``version`` with a reports file and a dashboards file."""
    folder = root / "loyalty"
    shutil.copytree(V1, folder)
    manifest = yaml.safe_load((folder / "pack.yaml").read_text("utf-8"))
    manifest["version"] = version
    manifest["data"] += ["reports/loyalty.yaml", "dashboards/loyalty.yaml"]
    (folder / "pack.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), "utf-8")
    for kind, entries in (("reports", reports), ("dashboards", dashboards)):
        (folder / kind).mkdir()
        (folder / kind / "loyalty.yaml").write_text(yaml.safe_dump({kind: entries}, allow_unicode=True), "utf-8")
    return str(folder)


def _dashboards(handle):
    return {d["name"]: d for d in handle.api.get("/dashboards").get_json()["data"]}


def _report_names(handle):
    return {r["id"]: r["name"] for r in handle.api.get("/reports").get_json()["data"]}


def _shape(handle):
    """Every dashboard with its widgets' reports by name (ids differ between tenants)."""
    names = _report_names(handle)
    return {name: {**{k: v for k, v in d.items() if k not in ("id", "owner_id")},
                   "widgets": [{**w, "report": names.get(w["report"], w["report"]) if isinstance(w["report"], int)
                                else w["report"]} for w in d["widgets"]]}
            for name, d in _dashboards(handle).items()}


def test_each_pack_dashboard_installs_shared_and_every_widget_runs(tenant):
    install(tenant, "education", sample=True)
    dashboards = _dashboards(tenant)
    assert set(dashboards) == {"Sales overview / 销售总览", "Enrollment overview / 招生总览"}
    enrollment = dashboards["Enrollment overview / 招生总览"]
    assert enrollment["shared"] is True and enrollment["label"] == {"en": "Enrollment overview", "zh": "招生总览"}
    names = _report_names(tenant)
    # The last widget names crm_core's report: a dependency's key resolves to its id in this tenant.
    assert [names.get(w["report"], w["report"]) if isinstance(w["report"], int) else w["report"]
            for w in enrollment["widgets"]] == [
        {"builtin": "funnel", "object": "student"}, "Enrollments by course / 各课程报名人数",
        "Enrollments by month and status / 按月份和状态统计报名", "Leads by source / 线索来源分布"]
    run = tenant.api.get(f"/dashboards/{enrollment['id']}/run").get_json()
    assert [w.get("error") for w in run["widgets"]] == [None] * 4
    assert run["widgets"][1]["chart"]["type"] == "horizontal_bar" and run["widgets"][1]["rows"]
    csv = tenant.api.get(f"/dashboards/{enrollment['id']}/widgets/1/csv")
    assert csv.status_code == 200 and "course" in csv.get_data(as_text=True)


def test_a_dry_run_plans_the_dashboards_and_writes_none(tenant):
    plan = install(tenant, "retail", dry_run=True)
    changes = {(c.kind, c.key): (c.action, c.detail) for c in plan.changes}
    assert changes[("dashboard", "sales_overview")][0] == "create"
    assert changes[("dashboard", "store_sales_overview")] == ("create", "门店销售总览: 2 widgets")
    assert _dashboards(tenant) == {}
    install(tenant, "retail")
    assert install(tenant, "retail").empty


def test_widgets_that_do_not_fit_the_pack_are_validation_problems(tmp_path):
    bad = [{"key": "bad", "name": "Bad", "widgets": [
        {"report": "nope"}, {"report": {"builtin": "funnel", "object": "customer"}},
        {"report": {"builtin": "won_lost", "object": "ghost"}}]},
        {"key": "bad", "name": "Twice", "widgets": [{"report": "visits_by_month"}]},
        {"key": "shape", "name": "Shape", "widgets": [{"report": "visits_by_month", "width": 4}, {"report": 12}]}]
    _, problems = validate(_pack(tmp_path, "1.0.0", bad))
    text = [str(p) for p in problems]
    assert any(t.startswith("dashboards/loyalty.yaml: dashboards[0].widgets[0].report: unknown report key 'nope'")
               for t in text), text
    assert "dashboards/loyalty.yaml: dashboards[0].widgets[1].report.object: customer has no pipeline, " \
           "so it has no funnel report" in text
    assert "dashboards/loyalty.yaml: dashboards[0].widgets[2].report.object: unknown object 'ghost'" in text
    assert any("dashboards[1]: dashboard key 'bad' is already defined" in t for t in text), text
    assert any(t.startswith("dashboards/loyalty.yaml: dashboards[2].widgets[0].width:") for t in text), text
    assert any(t.startswith("dashboards/loyalty.yaml: dashboards[2].widgets[1].report:") for t in text), text


def test_an_upgrade_updates_untouched_dashboards_and_keeps_the_tenants_edits_and_deletions(tenant, tmp_path):
    install(tenant, _pack(tmp_path / "v1", "1.0.0", DASHBOARDS_V1))
    before = _dashboards(tenant)
    assert set(before) == {"Visits", "Spend", "Cities"}
    visits = before["Visits"]
    mine = {"name": "Visits", "label": {"en": "Our visits", "zh": "我们的到店"}, "shared": True,
            "widgets": [{"report": visits["widgets"][0]["report"], "chart": "line", "width": 3}]}
    answer = tenant.api.put(f"/dashboards/{visits['id']}", json=mine)
    assert answer.status_code == 200, answer.get_json()
    assert tenant.api.delete(f"/dashboards/{before['Cities']['id']}").status_code == 204

    v2 = [{**DASHBOARDS_V1[0], "widgets": [*DASHBOARDS_V1[0]["widgets"], {"report": "visits_total"}]},
          {**DASHBOARDS_V1[1], "widgets": [{"report": "spend_by_customer", "chart": "pie", "width": 2},
                                           {"report": "visits_total", "title": {"en": "All", "zh": "全部"}}]},
          {**DASHBOARDS_V1[2], "label": {"en": "Cities", "zh": "城市"}},
          {"key": "overview", "name": "Overview", "widgets": [{"report": "visits_total"}, {"report": "visits_by_month"}]}]
    reports_v2 = [*REPORTS_V1, {"key": "visits_total", "name": "All visits", "object": "visit"}]
    upgrade = _pack(tmp_path / "v2", "1.1.0", v2, reports_v2)
    plan = install(tenant, upgrade, dry_run=True)
    changes = {(c.kind, c.key): (c.action, c.detail) for c in plan.changes}
    assert changes[("dashboard", "visits")] == ("keep", "customized")
    assert changes[("dashboard", "spend")] == ("update", "Spend: 2 widgets")
    assert changes[("dashboard", "cities")] == ("keep", "deleted by the tenant")
    assert changes[("dashboard", "overview")] == ("create", "Overview: 2 widgets")
    assert plan.to_dict()["summary"]["dashboard"] == {"keep": 2, "update": 1, "create": 1}

    install(tenant, upgrade)
    after = _shape(tenant)
    assert after["Visits"]["label"] == {"en": "Our visits", "zh": "我们的到店"}
    assert after["Visits"]["widgets"] == [{"report": "Visits by month", "title": None, "chart": "line", "width": 3}]
    assert after["Spend"]["widgets"] == [
        {"report": "Spend by customer", "title": None, "chart": "pie", "width": 2},
        {"report": "All visits", "title": {"en": "All", "zh": "全部"}, "chart": None, "width": 1}]
    assert _dashboards(tenant)["Spend"]["id"] == before["Spend"]["id"]
    assert "Cities" not in after
    assert [w["report"] for w in after["Overview"]["widgets"]] == ["All visits", "Visits by month"]
    assert install(tenant, upgrade).empty
    audit = tenant.api.get("/audit?action=dashboard.update").get_json()["data"]
    assert {entry["record_id"] for entry in audit} == {visits["id"], before["Spend"]["id"]}


def test_a_widget_whose_report_the_tenant_deleted_is_left_out_and_said_so(tenant, tmp_path):
    install(tenant, _pack(tmp_path / "v1", "1.0.0", DASHBOARDS_V1[1:2]))
    reports = {name: rid for rid, name in _report_names(tenant).items()}
    assert tenant.api.delete(f"/reports/{reports['Customers by city']}").status_code == 204
    upgrade = _pack(tmp_path / "v2", "1.1.0", [*DASHBOARDS_V1[1:2], DASHBOARDS_V1[0], DASHBOARDS_V1[2]])
    plan = install(tenant, upgrade)
    changes = {c.key: c for c in plan.changes if c.kind == "dashboard"}
    assert changes["visits"].action == "create"
    assert "left out: widget 2: report customers_by_city is not in the tenant" in changes["visits"].detail
    assert (changes["cities"].action, changes["cities"].detail) == ("keep", "none of its reports are in the tenant")
    assert "Cities" not in _dashboards(tenant)
    assert [w["report"] for w in _shape(tenant)["Visits"]["widgets"]] == ["Visits by month"]
    assert install(tenant, upgrade).empty


def test_dashboards_are_exported_and_installed_again(tenant_factory, tmp_path):
    source = tenant_factory()
    install(source, "finance")
    private = source.api.post("/reports", json={"name": "Mine", "object": "client"}).get_json()
    mixed = {"name": "Mixed", "shared": True, "widgets": [{"report": private["id"]},
                                                          {"report": {"builtin": "funnel", "object": "opportunity"}}]}
    assert source.api.post("/dashboards", json=mixed).status_code == 201
    assert source.api.post("/dashboards", json={"name": "Private", "widgets": []}).status_code == 201
    folder = tmp_path / "exported"
    with source.session(write=False) as session:
        written = export_tenant(session, folder, name="finance_config")
    assert "dashboards/dashboards.yaml" in written["files"] and written["dashboards"] == 3
    assert written["widgets_left_out"] == [f"Mixed: widget 1 (report {private['id']} is not exported)"]
    exported = yaml.safe_load((folder / "dashboards" / "dashboards.yaml").read_text("utf-8"))["dashboards"]
    by_key = {d["key"]: d for d in exported}
    assert by_key["lending_overview"]["widgets"][0] == {
        "report": "loan_amount_by_stage", "title": {"en": "Loan amount by stage", "zh": "各阶段贷款金额"},
        "chart": "funnel"}
    assert by_key["mixed"]["widgets"] == [{"report": {"builtin": "funnel", "object": "opportunity"}}]
    _, problems = validate(str(folder))
    assert [str(p) for p in problems] == []

    target = tenant_factory()
    install(target, str(folder))
    expected = _shape(source)
    del expected["Private"]
    expected["Mixed"]["widgets"] = expected["Mixed"]["widgets"][1:]
    assert _shape(target) == expected
    assert install(target, str(folder)).empty


def _previous_release(root, name):
    """A built-in pack as it was at 1.1.0: the same files without its dashboards."""
    from templates_industry.registry import builtin_packs_path

    folder = root / name
    shutil.copytree(builtin_packs_path() / name, folder)
    shutil.rmtree(folder / "dashboards")
    manifest = (folder / "pack.yaml").read_text("utf-8").replace("version: 1.2.0", "version: 1.1.0", 1)
    manifest = "\n".join(line for line in manifest.splitlines() if "dashboards/" not in line) + "\n"
    (folder / "pack.yaml").write_text(manifest, "utf-8")
    return folder


def test_tenants_on_1_1_0_get_the_dashboards_as_an_upgrade(tenant, tmp_path):
    from templates_industry import PackRegistry

    old = PackRegistry()
    old.add_folder(_previous_release(tmp_path, "crm_core"))
    install(tenant, str(_previous_release(tmp_path, "retail")), registry=old)
    assert _dashboards(tenant) == {}
    plan = install(tenant, "retail", dry_run=True)
    assert [(s.name, s.installed, s.version, s.action) for s in plan.packs] == [
        ("crm_core", "1.1.0", "1.2.0", "upgrade"), ("retail", "1.1.0", "1.2.0", "upgrade")]
    assert {(c.pack, c.kind, c.key, c.action) for c in plan.changes} == {
        ("crm_core", "dashboard", "sales_overview", "create"), ("retail", "dashboard", "store_sales_overview", "create")}
    install(tenant, "retail")
    assert set(_dashboards(tenant)) == {"Sales overview / 销售总览", "Store sales overview / 门店销售总览"}
    assert install(tenant, "retail").empty
