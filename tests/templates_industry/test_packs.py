"""Every pack: a dry run changes nothing, an install builds what the plan said (dependencies first,
sample data on request), and installing the same version again plans nothing and changes nothing."""

from __future__ import annotations

import pytest

from templates_industry import PackRegistry, installed_packs_of

from .conftest import PACKS, install, records, snapshot


@pytest.mark.parametrize("name", PACKS)
def test_dry_run_plans_everything_and_changes_nothing(tenant, name):
    before = snapshot(tenant)
    plan = install(tenant, name, sample=True, dry_run=True)
    assert snapshot(tenant) == before
    assert plan.conflicts == [] and not plan.empty
    assert [step.name for step in plan.packs] == (["crm_core"] if name == "crm_core" else ["crm_core", name])
    assert all(step.action == "install" for step in plan.packs)
    pack = PackRegistry().find(name)
    planned = {(c.pack, c.kind, c.key, c.action) for c in plan.changes}
    for object_name, item in pack.objects.items():
        assert (name, "object", object_name, "create") in planned
        for fd in item.document["fields"]:
            assert (name, "field", f"{object_name}.{fd['name']}", "create") in planned
        for stage in (item.document.get("pipeline") or {}).get("stages", []):
            assert (name, "stage", f"{object_name}.{stage['name']}", "create") in planned
    for target, item in pack.extensions.items():
        for fd in item.document["fields"]:
            assert (name, "field", f"{target}.{fd['name']}", "create") in planned
    for key in pack.rules:
        assert (name, "rule", key, "create") in planned
    for role in pack.roles:
        assert (name, "role", role, "create") in planned
    for key in pack.approvals:
        assert (name, "approval", key, "create") in planned
    document = plan.to_dict()
    assert document["empty"] is False and document["summary"]["object"]["create"] >= len(pack.objects)


@pytest.mark.parametrize("name", PACKS)
def test_install_with_sample_data_then_reinstall_is_a_no_op(tenant, name):
    plan = install(tenant, name, sample=True)
    assert plan.conflicts == []
    registry = PackRegistry()
    chain = registry.resolve(registry.find(name))
    with tenant.session(write=False) as session:
        installed = installed_packs_of(session)
    assert {p.name: p.version_text for p in chain} == {n: v["version"] for n, v in installed.items()}
    assert all(v["sample_data"] for v in installed.values())
    for pack in chain:
        for object_name in pack.objects:
            assert records(tenant, object_name) is not None
        for sample in pack.samples:
            if sample.kind == "records":
                found = records(tenant, sample.object)
                assert len(found) >= len(sample.rows), sample.file
    before = snapshot(tenant)
    again = install(tenant, name, sample=True)
    assert again.empty and again.changes == [] and again.conflicts == []
    assert all(step.action == "unchanged" for step in again.packs)
    assert snapshot(tenant) == before


@pytest.mark.parametrize("name", PACKS)
def test_install_without_sample_data_creates_no_records_or_users(tenant, name):
    install(tenant, name)
    shot = snapshot(tenant)
    assert shot["users"] == ["admin@example.com"]
    assert set(shot["rows"].values()) == {0}
    assert shot["definitions"] and shot["rules"] and shot["roles"]
    # Sample data can come later, on its own.
    plan = install(tenant, name, sample=True)
    assert {c.kind for c in plan.changes} == {"user", "records"}
    assert all(c.action == "create" for c in plan.changes)


def test_an_install_audits_every_object_it_creates_and_leaves_the_collector_as_it_was(tenant):
    import gc

    import sqlalchemy as sa

    from crm_platform.core.tables import audit_log

    install(tenant, "education")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    pack_objects = set(PackRegistry().find("crm_core").objects) | set(PackRegistry().find("education").objects)
    with tenant.session(write=False) as session:
        created = [r.object for r in session.conn.execute(
            sa.select(audit_log.c.object).where(audit_log.c.action == "metadata.object.create"))]
        definitions = {o["name"] for o in tenant.api.get("/objects").get_json()["data"]}
    assert sorted(created) == sorted(pack_objects) and pack_objects <= definitions
