"""Upgrades: what is new is added, what the tenant customized is kept, tenant data is never dropped;
conflicts with the tenant's own definitions are reported and block the install."""

from __future__ import annotations

import pytest

from crm_platform.core.errors import Conflict
from templates_industry import installed_packs_of

from .conftest import FIXTURES, INDUSTRY_PACKS, install, key_id, records, snapshot

V1 = str(FIXTURES / "upgrade_v1" / "loyalty")
V2 = str(FIXTURES / "upgrade_v2" / "loyalty")


def _changes(plan):
    return {(c.kind, c.key): (c.action, c.detail) for c in plan.changes}


@pytest.fixture
def customized(tenant):
    """v1 installed with sample data, then customized by the tenant as a business admin would."""
    from metadata import Designer, RecordService

    install(tenant, V1, sample=True)
    with tenant.session() as session:
        designer = Designer(session)
        designer.update_field("customer", "city", {"label": {"en": "Town", "zh": "所在城镇"}})
        designer.put_layout("customer", "form", {"sections": [{"label": "Mine", "columns": 1, "fields": ["name", "city"]}]})
        designer.add_field("customer", {"name": "vip_note", "type": "textarea"})
        RecordService(session).create("customer", {"name": "租户自己的顾客", "city": "杭州", "vip_note": "tenant data"})
    return tenant


def test_upgrade_plan_adds_new_keeps_customized_and_updates_the_rest(customized):
    plan = install(customized, V2, sample=True, dry_run=True)
    assert [(s.name, s.installed, s.version, s.action) for s in plan.packs] == [("loyalty", "1.0.0", "2.0.0", "upgrade")]
    changes = _changes(plan)
    assert changes[("field", "customer.email")][0] == "create"
    assert changes[("field", "customer.tier")][0] == "update"
    assert changes[("field", "customer.city")] == ("keep", "customized")
    assert changes[("layout", "customer.list")][0] == "update"
    assert changes[("layout", "customer.form")] == ("keep", "customized")
    assert changes[("object", "coupon")][0] == "create"
    assert changes[("access", "clerk.coupon")][0] == "create"
    assert changes[("rule", "gold_on_big_visit")][0] == "update"
    assert changes[("rule", "welcome_coupon")][0] == "create"
    assert changes[("rule", "old_rule")] == ("keep", "no longer in the pack; left as it is")
    assert changes[("records", "customer")] == ("create", "1 sample records from sample/customer.csv")
    assert ("field", "customer.vip_note") not in changes and ("field", "customer.name") not in changes
    assert plan.conflicts == []


def test_upgrade_applies_without_losing_data_or_customizations(customized):
    from metadata import load_model

    before = {c["name"]: c for c in records(customized, "customer")}
    install(customized, V2, sample=True)
    with customized.session(write=False) as session:
        model = load_model(session)
        customer = model.definitions["customer"]
        assert installed_packs_of(session)["loyalty"]["version"] == "2.0.0"
    assert customer.field("city").document["label"] == {"en": "Town", "zh": "所在城镇"}
    assert customer.layouts["form"]["sections"][0]["label"] == "Mine"
    assert customer.layouts["list"]["columns"] == ["name", "email", "city", "tier"]
    assert customer.field("tier").option_values == ("regular", "gold", "platinum")
    assert customer.field("email").type == "email" and customer.field("vip_note") is not None
    assert "coupon" in model.definitions
    after = {c["name"]: c for c in records(customized, "customer")}
    for name, row in before.items():
        assert {k: after[name][k] for k in row if k not in ("updated_at", "version")} == \
               {k: v for k, v in row.items() if k not in ("updated_at", "version")}
    assert "赵女士" in after and after["租户自己的顾客"]["vip_note"] == "tenant data"
    # The new rule works; the rule the new version no longer ships was left in place.
    created = records(customized, "coupon", customer=after["赵女士"]["id"])
    assert [c["code"] for c in created] == [f"WELCOME-{after['赵女士']['id']}"]
    from workflow_engine import list_rules

    with customized.session(write=False) as session:
        names = {r["name"]: r for r in list_rules(session)}
    assert "A rule version 2 no longer ships" in names
    assert float(names["Big spenders become gold"]["condition"]["rules"][0]["value"]) == 800


def test_reinstalling_the_upgrade_changes_nothing_and_a_downgrade_is_refused(customized):
    install(customized, V2, sample=True)
    before = snapshot(customized)
    again = install(customized, V2, sample=True)
    assert again.empty and again.changes == []
    assert snapshot(customized) == before
    downgrade = install(customized, V1, dry_run=True)
    assert [(c.kind, c.key) for c in downgrade.conflicts] == [("pack", "loyalty")]
    assert "2.0.0 is installed; 1.0.0 would be a downgrade" in downgrade.conflicts[0].detail
    with pytest.raises(Conflict, match="downgrade"):
        install(customized, V1)
    assert snapshot(customized) == before


def test_a_later_upgrade_still_respects_an_earlier_customization(customized, tmp_path):
    import shutil

    install(customized, V2)
    v3 = tmp_path / "loyalty"
    shutil.copytree(V2, v3)
    manifest = (v3 / "pack.yaml").read_text().replace("version: 2.0.0", "version: 3.0.0")
    (v3 / "pack.yaml").write_text(manifest)
    obj = (v3 / "objects" / "customer.yaml").read_text()
    (v3 / "objects" / "customer.yaml").write_text(obj.replace("City of residence", "Home city"))
    plan = install(customized, str(v3), dry_run=True)
    assert _changes(plan) == {("field", "customer.city"): ("keep", "customized")}


def test_a_tenant_field_of_another_type_is_a_conflict_that_blocks_the_install(tenant):
    from metadata import Designer

    with tenant.session() as session:
        Designer(session).create_object({"name": "customer", "label": "My customers", "fields": [
            {"name": "name", "type": "text"}, {"name": "tier", "type": "text"}, {"name": "score", "type": "integer"}]})
    before = snapshot(tenant)
    plan = install(tenant, V1, dry_run=True)
    assert [(c.kind, c.key, c.detail) for c in plan.conflicts] == [
        ("field", "customer.tier", "the tenant's field is a text, the pack's a picklist")]
    changes = _changes(plan)
    assert changes[("field", "customer.name")] == ("keep", "the tenant's own")
    assert changes[("field", "customer.phone")][0] == "create"
    with pytest.raises(Conflict, match="customer.tier: the tenant's field is a text, the pack's a picklist"):
        install(tenant, V1)
    assert snapshot(tenant) == before


def test_sample_records_deleted_by_the_tenant_are_not_recreated(tenant):
    from metadata import RecordService

    install(tenant, V1, sample=True)
    with tenant.session() as session:
        RecordService(session).delete("customer", key_id(tenant, "customer", "c3"))
    plan = install(tenant, V2, sample=True)
    names = {c["name"] for c in records(tenant, "customer")}
    assert "Ms Smith" not in names and "赵女士" in names
    assert _changes(plan)[("records", "customer")] == ("create", "1 sample records from sample/customer.csv")


def test_a_rule_the_tenant_deleted_stays_deleted_when_the_pack_changes_it(tenant):
    from workflow_engine import delete_rule, list_rules

    install(tenant, V1)
    with tenant.session() as session:
        rule = next(r for r in list_rules(session) if r["name"] == "Big spenders become gold")
        delete_rule(session, rule["id"])
    plan = install(tenant, V2)
    assert _changes(plan)[("rule", "gold_on_big_visit")] == ("keep", "deleted by the tenant")
    with tenant.session(write=False) as session:
        assert "Big spenders become gold" not in {r["name"] for r in list_rules(session)}
    assert install(tenant, V2).empty


def test_a_tenant_rule_of_the_same_name_is_kept_and_followed_across_upgrades(tenant):
    from metadata import Designer
    from workflow_engine import create_rule, list_rules

    with tenant.session() as session:
        Designer(session).create_object({"name": "customer", "label": "Customer", "fields": [
            {"name": "name", "type": "text"}, {"name": "tier", "type": "picklist",
                                               "options": [{"value": "regular"}, {"value": "gold"}]}]})
        Designer(session).create_object({"name": "visit", "label": "Visit", "fields": [
            {"name": "customer", "type": "lookup", "target": "customer", "on_delete": "cascade", "required": True},
            {"name": "amount", "type": "currency"}]})
        create_rule(session, {"name": "Big spenders become gold", "object": "visit", "trigger": {"type": "on_create"},
                              "condition": "amount > 5000",
                              "actions": [{"type": "update_related", "lookup": "customer", "values": {"tier": "gold"}}]})
    first = install(tenant, V1)
    assert _changes(first)[("rule", "gold_on_big_visit")] == ("keep", "the tenant's own")
    upgrade = install(tenant, V2)
    assert _changes(upgrade)[("rule", "gold_on_big_visit")] == ("keep", "customized")
    with tenant.session(write=False) as session:
        mine = [r for r in list_rules(session) if r["name"] == "Big spenders become gold"]
    assert len(mine) == 1 and float(mine[0]["condition"]["rules"][0]["value"]) == 5000


def _edited(packs, root, step):
    """Every shipped pack copied under ``root`` at its next patch version, with each part it can
    change the way a new version would: labels, rule and process descriptions, access rows."""
    import csv
    import io
    import shutil

    import yaml

    def relabel(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "label" and isinstance(value, dict):
                    node[key] = {**value, "en": f"{value.get('en', '')} v{step}"}
                elif key == "label" and isinstance(value, str):
                    node[key] = f"{value} v{step}"
                else:
                    relabel(value)
        elif isinstance(node, list):
            for value in node:
                relabel(value)

    rotate = {"none": "own", "own": "team", "team": "all", "all": "none", "hidden": "read_only", "read_only": "hidden"}
    for pack in packs:
        folder = root / pack.name
        shutil.copytree(pack.root, folder)
        for path in folder.rglob("*.yaml"):
            document = yaml.safe_load(path.read_text("utf-8"))
            if path.name == "pack.yaml":
                major, minor, patch = document["version"].split(".")
                document["version"] = f"{major}.{minor}.{int(patch) + step}"
            else:
                relabel(document)
                for entry in [*document.get("rules", []), *document.get("processes", [])]:
                    entry["description"] = f"{entry.get('description', '')} v{step}"
            path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
        for path in (folder / "security").glob("*.csv"):
            rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
            for row in rows:
                for _ in range(step):
                    if "export" in row:
                        row["export"] = rotate[row["export"]]
                    elif row["access"] == "masked":
                        row["keep_last"] = str(int(row["keep_last"] or 0) + 1)
                    else:
                        row["access"] = rotate[row["access"]]
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            path.write_text(out.getvalue(), "utf-8")
    return root


@pytest.mark.parametrize("name", INDUSTRY_PACKS)
def test_upgrades_of_what_the_tenant_left_alone_update_every_part_and_report_nothing_customized(tenant, tmp_path, name):
    from templates_industry import PackRegistry

    shipped = PackRegistry()
    packs = shipped.resolve(shipped.find(name))
    install(tenant, name, sample=True)
    changed_kinds = {"object", "field", "layout", "pipeline", "role", "access", "field_access", "rule", "report",
                     "dashboard"}
    for step in (1, 2):  # the second upgrade compares with what the first one recorded
        registry = PackRegistry([_edited(packs, tmp_path / f"v{step}", step)])
        plan = install(tenant, name, registry=registry, dry_run=True)
        assert plan.conflicts == []
        assert [(c.kind, c.key, c.detail) for c in plan.changes if c.action != "update"] == []
        assert changed_kinds <= {c.kind for c in plan.changes}
        install(tenant, name, registry=registry)
        assert install(tenant, name, registry=registry).empty


def test_a_pack_rule_that_fits_one_tenant_is_checked_again_against_another_tenants_metadata(tenant_factory, platform):
    from metadata import Designer
    from templates_industry import pack_registry

    first, second = tenant_factory(), tenant_factory()
    assert install(first, V1, registry=pack_registry(platform)).conflicts == []
    with second.session() as session:
        Designer(session).create_object({"name": "customer", "label": "Customer", "fields": [
            {"name": "name", "type": "text"},
            {"name": "tier", "type": "picklist", "options": [{"value": "regular"}, {"value": "silver"}]}]})
    plan = install(second, V1, registry=pack_registry(platform), dry_run=True)
    assert [(c.kind, c.key) for c in plan.conflicts] == [("rule", "gold_on_big_visit")], plan.conflicts
    assert "Must be one of: regular, silver" in plan.conflicts[0].detail
