"""REST: GET /api/v1/templates and POST /api/v1/templates/<pack>/install (dry run or apply)."""

from __future__ import annotations

from .conftest import snapshot


def test_list_shows_packs_and_what_the_tenant_has(api):
    answer = api.get("/templates")
    assert answer.status_code == 200
    packs = {p["name"]: p for p in answer.json["data"]}
    assert set(packs) >= {"crm_core", "education", "finance", "retail"}
    assert packs["education"]["dependencies"] == ["crm_core<2,>=1.0"]
    assert packs["education"]["label"] == {"en": "Education and training", "zh": "教育培训"}
    assert packs["crm_core"]["installed_version"] is None and answer.json["installed"] == {}


def test_dry_run_returns_the_plan_and_changes_nothing(api, tenant):
    before = snapshot(tenant)
    answer = api.post("/templates/education/install", json={"dry_run": True, "with_sample_data": True})
    assert answer.status_code == 200, answer.json
    plan = answer.json
    assert plan["dry_run"] is True and plan["applied"] is False and plan["empty"] is False
    assert [p["name"] for p in plan["packs"]] == ["crm_core", "education"]
    assert {"pack": "education", "kind": "object", "key": "student", "action": "create"}.items() <= \
        next(c for c in plan["changes"] if c["key"] == "student").items()
    assert plan["summary"]["rule"]["create"] >= 10
    assert snapshot(tenant) == before


def test_install_applies_then_reinstall_is_empty(api):
    answer = api.post("/templates/finance/install", json={"with_sample_data": True})
    assert answer.status_code == 200, answer.json
    assert answer.json["applied"] is True and answer.json["conflicts"] == []
    clients = api.get("/records/client?sort=client_number").json
    assert clients["meta"]["total"] == 7
    listed = {p["name"]: p for p in api.get("/templates").json["data"]}
    assert listed["finance"]["installed_version"] == "1.2.0" and listed["finance"]["sample_data_loaded"] is True
    assert listed["crm_core"]["installed_version"] == "1.2.0"
    again = api.post("/templates/finance/install", json={"with_sample_data": True})
    assert again.status_code == 200 and again.json["empty"] is True and again.json["applied"] is False
    assert again.json["changes"] == []


def test_install_without_a_body_installs_without_sample_data(api):
    answer = api.post("/templates/crm_core/install")
    assert answer.status_code == 200, answer.json
    assert api.get("/records/account").json["meta"]["total"] == 0


def test_install_needs_the_customize_permission(api, tenant, client):
    from crm_platform.core.roles import put_role
    from crm_platform.core.tenancy import create_token
    from crm_platform.core.users import create_user
    from tests.conftest import ApiClient

    with tenant.session() as session:
        put_role(session, {"name": "viewer", "permissions": {"*": {"read": "all"}}})
        user = create_user(session, "viewer@example.com", "long enough pw", roles=["viewer"])
    viewer = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    answer = viewer.post("/templates/crm_core/install", json={"dry_run": True})
    assert answer.status_code == 403 and "customize" in answer.json["error"]["message"]
    assert viewer.get("/templates").status_code == 200


def test_bad_requests_are_clear_4xx(api):
    assert api.post("/templates/no_such_pack/install", json={}).status_code == 404
    assert api.post("/templates/..%2Fetc/install", json={}).status_code == 404
    bad = api.post("/templates/crm_core/install", json={"dry_run": "yes", "force": True})
    assert bad.status_code == 422
    assert bad.json["error"]["details"] == {"dry_run": ["must be true or false"], "force": ["unknown option"]}
    assert api.post("/templates/crm_core/install", data="nope", headers={"Content-Type": "application/json"}).status_code == 400


def test_a_conflict_is_reported_by_the_dry_run_and_refused_by_the_install(api, tenant):
    assert api.post("/objects", json={"name": "lead", "label": "Lead", "fields": [
        {"name": "company", "type": "text"}, {"name": "region", "type": "integer"}]}).status_code == 201
    plan = api.post("/templates/crm_core/install", json={"dry_run": True}).json
    assert [(c["kind"], c["key"]) for c in plan["conflicts"]] == [("field", "lead.region")]
    before = snapshot(tenant)
    refused = api.post("/templates/crm_core/install", json={})
    assert refused.status_code == 409
    assert refused.json["error"]["details"] == {
        "crm_core: field lead.region": ["the tenant's field is a integer, the pack's a picklist"]}
    assert snapshot(tenant) == before
