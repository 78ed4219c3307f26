"""Roles, scopes and field-level security, enforced on every API path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient

DEAL = {
    "name": "deal",
    "label": "Deal",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "amount", "type": "currency"},
        {"name": "margin", "type": "percent"},
        {"name": "cost", "type": "currency"},
        {"name": "phone", "type": "phone"},
        {"name": "notes", "type": "text"},
    ],
}
ACCOUNT = {"name": "account", "label": "Account", "fields": [{"name": "title", "type": "text"}]}
SCOPES = ["none", "own", "team", "all"]


class Org:
    """A tenant with a rep, a team mate, a rep's report, and an outsider on another team."""

    def __init__(self, tenant, client):
        self.tenant = tenant
        self.admin = tenant.api
        self.client = client
        assert self.admin.post("/objects", json=DEAL).status_code == 201
        assert self.admin.post("/objects", json=ACCOUNT).status_code == 201
        self.ids: dict[str, int] = {}
        for email, team, manager in [("rep@x.com", "east", None), ("mate@x.com", "east", None),
                                     ("outsider@x.com", "west", None), ("junior@x.com", "south", "rep@x.com")]:
            body = {"email": email, "password": "password-123", "team": team, "roles": []}
            if manager:
                body["manager"] = manager
            response = self.admin.post("/users", json=body)
            assert response.status_code == 201, response.json
            self.ids[email.split("@")[0]] = response.json["id"]

    def role(self, name: str, document: dict) -> None:
        response = self.admin.put(f"/roles/{name}", json={"name": name, **document})
        assert response.status_code in (200, 201), response.json

    def login_as(self, who: str, *roles: str) -> ApiClient:
        assert self.admin.patch(f"/users/{self.ids[who]}", json={"roles": list(roles)}).status_code == 200
        return ApiClient(self.client, create_token(self.tenant.platform, self.tenant.slug, self.ids[who]))

    def deal(self, owner: str, **values) -> dict:
        response = self.admin.post("/records/deal", json={"title": f"{owner}'s", "owner_id": self.ids[owner], **values})
        assert response.status_code == 201, response.json
        return response.json


@pytest.fixture
def org(tenant, client) -> Org:
    return Org(tenant, client)


COVERED = {"none": set(), "own": {"rep"}, "team": {"rep", "mate", "junior"}, "all": {"rep", "mate", "junior", "outsider"}}


@pytest.mark.parametrize("scope", SCOPES)
def test_read_scope(org, scope):
    org.role("r", {"permissions": {"deal": {"read": scope}}})
    deals = {owner: org.deal(owner) for owner in ("rep", "mate", "outsider", "junior")}
    rep = org.login_as("rep", "r")
    listing = rep.get("/records/deal")
    if scope == "none":
        assert listing.status_code == 403
    else:
        assert {r["title"] for r in listing.json["data"]} == {f"{o}'s" for o in COVERED[scope]}
        assert listing.json["meta"]["total"] == len(COVERED[scope])
    for owner, deal in deals.items():
        expected = 200 if owner in COVERED[scope] else (403 if scope == "none" else 404)
        assert rep.get(f"/records/deal/{deal['id']}").status_code == expected, owner
    # an object the role does not mention is out of reach
    assert rep.get("/records/account").status_code == 403


@pytest.mark.parametrize("action", ["update", "delete"])
@pytest.mark.parametrize("scope", SCOPES)
def test_update_and_delete_scopes(org, action, scope):
    org.role("r", {"permissions": {"deal": {"read": "all", action: scope}}})
    deals = {owner: org.deal(owner) for owner in ("rep", "mate", "outsider", "junior")}
    rep = org.login_as("rep", "r")
    for owner, deal in deals.items():
        path = f"/records/deal/{deal['id']}"
        response = rep.patch(path, json={"title": "changed"}) if action == "update" else rep.delete(path)
        allowed = owner in COVERED[scope]
        assert response.status_code == ((200 if action == "update" else 204) if allowed else 403), (owner, response.json)
        still = org.admin.get(path)
        if action == "update":
            assert (still.json["title"] == "changed") is allowed
        else:
            assert (still.status_code == 404) is allowed


@pytest.mark.parametrize("scope", SCOPES)
def test_create_scope_decides_whose_records_one_may_create(org, scope):
    org.role("r", {"permissions": {"deal": {"read": "all", "create": scope}}})
    rep = org.login_as("rep", "r")
    for owner in ("rep", "mate", "outsider"):
        response = rep.post("/records/deal", json={"title": "new", "owner_id": org.ids[owner]})
        assert response.status_code == (201 if owner in COVERED[scope] else 403), (owner, response.json)
    mine = rep.post("/records/deal", json={"title": "mine"})
    assert mine.status_code == (403 if scope == "none" else 201)
    if scope != "none":
        assert mine.json["owner_id"] == org.ids["rep"]


def test_roles_add_up(org):
    org.role("reader", {"permissions": {"deal": {"read": "own"}}})
    org.role("team_reader", {"permissions": {"deal": {"read": "team"}, "account": {"read": "all"}}})
    for owner in ("rep", "mate", "outsider"):
        org.deal(owner)
    rep = org.login_as("rep", "reader", "team_reader")
    assert rep.get("/records/deal").json["meta"]["total"] == 2
    assert rep.get("/records/account").status_code == 200


def test_changing_owner_outside_scope_is_refused(org):
    org.role("r", {"permissions": {"deal": {"read": "all", "update": "own"}}})
    deal = org.deal("rep")
    rep = org.login_as("rep", "r")
    response = rep.patch(f"/records/deal/{deal['id']}", json={"owner_id": org.ids["outsider"]})
    assert response.status_code == 403 and "owner_id" in response.json["error"]["details"]
    assert org.admin.get(f"/records/deal/{deal['id']}").json["owner_id"] == org.ids["rep"]


# -- field-level security ----------------------------------------------------------------------


@pytest.fixture
def restricted(org):
    org.role("rep_role", {
        "permissions": {"deal": {"read": "all", "create": "all", "update": "all", "export": "all"}},
        "field_access": {"deal": {"margin": "hidden", "cost": "read_only", "phone": "masked"}},
    })
    org.deal("rep", amount=1000, margin=35, cost=650, phone="13812341234", notes="call back")
    return org.login_as("rep", "rep_role")


def test_hidden_read_only_and_masked_fields_in_answers(restricted):
    record = restricted.get("/records/deal").json["data"][0]
    assert "margin" not in record
    assert record["cost"] == 650
    assert record["phone"] == "*******1234"
    assert restricted.get(f"/records/deal/{record['id']}").json == record


def test_hidden_fields_cannot_be_inferred_by_filter_sort_or_search(restricted):
    for query in ("margin=35", "margin__gt=10", "sort=-margin", "phone__startswith=138", "sort=phone"):
        response = restricted.get(f"/records/deal?{query}")
        assert response.status_code == 422, query
    tree = {"condition": "AND", "rules": [{"field": "margin", "operator": "greater", "value": 1}]}
    assert restricted.get("/records/deal", query_string={"filter": json.dumps(tree)}).status_code == 422
    # text search skips masked and hidden values
    assert restricted.get("/records/deal?q=1381234").json["meta"]["total"] == 0
    assert restricted.get("/records/deal?q=call").json["meta"]["total"] == 1


def test_restricted_fields_cannot_be_written(restricted, org):
    deal_id = restricted.get("/records/deal").json["data"][0]["id"]
    for field, value in (("margin", 90), ("cost", 1), ("phone", "110")):
        response = restricted.patch(f"/records/deal/{deal_id}", json={field: value})
        assert response.status_code == 403 and field in response.json["error"]["details"], field
        created = restricted.post("/records/deal", json={"title": "x", field: value})
        assert created.status_code == 403
    stored = org.admin.get(f"/records/deal/{deal_id}").json
    assert (stored["margin"], stored["cost"], stored["phone"]) == (35, 650, "13812341234")


def test_metadata_and_openapi_show_only_what_the_reader_may_use(restricted):
    definition = restricted.get("/objects/deal").json
    assert "margin" not in [f["name"] for f in definition["fields"]]
    assert [o["name"] for o in restricted.get("/objects").json["data"]] == ["deal"]
    assert restricted.get("/objects/account").status_code == 404
    document = restricted.get("/openapi.json").json
    schema = document["components"]["schemas"]["Deal"]["properties"]
    assert "margin" not in schema and schema["cost"]["readOnly"] and schema["phone"]["readOnly"]
    assert "cost" not in document["components"]["schemas"]["DealInput"]["properties"]
    assert "Account" not in document["components"]["schemas"]


def test_configurable_mask(org):
    org.role("r", {"permissions": {"deal": {"read": "all"}}, "field_access": {"deal": {"phone": "masked"}},
                   "masks": {"deal": {"phone": {"keep_first": 3, "keep_last": 2, "char": "#"}}}})
    org.deal("rep", phone="13812341234")
    rep = org.login_as("rep", "r")
    assert rep.get("/records/deal").json["data"][0]["phone"] == "138######34"


def test_least_restrictive_access_wins_across_roles(org):
    org.role("a", {"permissions": {"deal": {"read": "all"}}, "field_access": {"deal": {"margin": "hidden"}}})
    org.role("b", {"permissions": {"deal": {"read": "all"}}, "field_access": {"deal": {"margin": "masked"}}})
    org.role("c", {"permissions": {}, "field_access": {}})  # grants nothing on deal: does not unhide
    org.deal("rep", margin=35)
    assert "margin" not in org.login_as("rep", "a", "c").get("/records/deal").json["data"][0]
    shown = org.login_as("rep", "a", "b").get("/records/deal").json["data"][0]["margin"]
    assert set(shown) == {"*"}  # masked, not hidden: the more open of the two roles wins


# -- customize, users and roles ---------------------------------------------------------------


def test_only_customizers_change_definitions(org):
    org.role("r", {"permissions": {"deal": {"read": "all"}}})
    rep = org.login_as("rep", "r")
    assert rep.post("/objects", json={"name": "x", "label": "X"}).status_code == 403
    assert rep.post("/objects/deal/fields", json={"name": "y", "type": "text"}).status_code == 403
    assert rep.delete("/objects/deal").status_code == 403
    assert rep.put("/roles/r", json={"permissions": {"deal": {"read": "all", "delete": "all"}}}).status_code == 403
    org.role("designer", {"customize": True})
    designer = org.login_as("mate", "designer")
    assert designer.post("/objects/deal/fields", json={"name": "y", "type": "text"}).status_code == 201


def test_users_cannot_escalate_their_own_privileges(org):
    org.role("r", {"permissions": {"deal": {"read": "own"}}})
    rep = org.login_as("rep", "r")
    me = org.ids["rep"]
    assert rep.patch(f"/users/{me}", json={"roles": ["admin"]}).status_code == 403
    assert rep.patch(f"/users/{me}", json={"team": "west"}).status_code == 403
    assert rep.patch(f"/users/{org.ids['mate']}", json={"name": "x"}).status_code == 403
    assert rep.post("/users", json={"email": "new@x.com", "roles": ["admin"]}).status_code == 403
    assert rep.patch(f"/users/{me}", json={"name": "Rep Renamed"}).status_code == 200
    assert org.admin.get(f"/users/{me}").json["roles"] == ["r"]


def test_system_columns_cannot_be_written(org):
    deal = org.deal("rep")
    for column, value in (("id", 99), ("created_at", "2020-01-01T00:00:00Z"), ("updated_by", 7), ("created_by", 1)):
        response = org.admin.patch(f"/records/deal/{deal['id']}", json={column: value})
        assert response.status_code == 403 and column in response.json["error"]["details"], column


def test_role_documents_are_validated(org):
    for document in ({"permissions": {"deal": {"read": "everything"}}},
                     {"permissions": {"nope": {"read": "all"}}},
                     {"field_access": {"deal": {"nope": "hidden"}}},
                     {"field_access": {"deal": {"margin": "invisible"}}},
                     {"unknown_key": True}):
        response = org.admin.put("/roles/bad", json=document)
        assert response.status_code == 422, document
    assert org.admin.put("/roles/admin", json={"customize": False}).status_code == 403
    assert org.admin.get("/roles/bad").status_code == 404


def test_role_follows_renamed_and_deleted_fields(org):
    org.role("r", {"permissions": {"deal": {"read": "all"}}, "field_access": {"deal": {"margin": "hidden", "cost": "masked"}}})
    assert org.admin.patch("/objects/deal/fields/margin", json={"name": "gross_margin"}).status_code == 200
    assert org.admin.delete("/objects/deal/fields/cost").status_code == 204
    assert org.admin.get("/roles/r").json["field_access"] == {"deal": {"gross_margin": "hidden"}}


def test_deleting_a_role_in_use_is_refused(org):
    org.role("r", {"permissions": {}})
    org.login_as("rep", "r")
    response = org.admin.delete("/roles/r")
    assert response.status_code == 409 and "rep@x.com" in response.json["error"]["message"]


def test_last_admin_cannot_be_removed(org, tenant):
    response = org.admin.patch(f"/users/{tenant.admin_id}", json={"roles": []})
    assert response.status_code == 409


# -- ownership transfer ----------------------------------------------------------------------------


def test_transfer_hands_every_record_over_and_is_audited(org):
    ids = [org.deal("rep")["id"] for _ in range(3)]
    org.deal("mate")
    response = org.admin.post(f"/users/{org.ids['rep']}/transfer", json={"to": "mate@x.com"})
    assert response.status_code == 200, response.json
    assert response.json["records"] == {"deal": 3}
    assert all(org.admin.get(f"/records/deal/{i}").json["owner_id"] == org.ids["mate"] for i in ids)
    audit = org.admin.get(f"/audit?action=user.transfer").json["data"]
    assert audit[0]["after"]["records"] == {"deal": 3}
    history = org.admin.get(f"/audit?object=deal&record={ids[0]}&action=record.update").json["data"]
    assert history[0]["before"] == {"owner_id": org.ids["rep"]} and history[0]["after"] == {"owner_id": org.ids["mate"]}


def test_transfer_needs_manage_users_and_a_valid_target(org):
    org.role("r", {"permissions": {"deal": {"read": "all"}}})
    rep = org.login_as("rep", "r")
    assert rep.post(f"/users/{org.ids['rep']}/transfer", json={"to": "mate@x.com"}).status_code == 403
    assert org.admin.post(f"/users/{org.ids['rep']}/transfer", json={"to": "ghost@x.com"}).status_code == 422
    assert org.admin.post(f"/users/{org.ids['rep']}/transfer", json={"to": org.ids["rep"]}).status_code == 422


# -- tokens ------------------------------------------------------------------------------------


def test_expired_revoked_and_read_only_tokens(org, client, tenant):
    platform = tenant.platform
    expired = create_token(platform, tenant.slug, tenant.admin_id, expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    response = ApiClient(client, expired).get("/objects")
    assert response.status_code == 401 and "expired" in response.json["error"]["message"]
    read_only = ApiClient(client, create_token(platform, tenant.slug, tenant.admin_id, read_only=True))
    assert read_only.get("/records/deal").status_code == 200
    refused = read_only.post("/records/deal", json={"title": "x"})
    assert refused.status_code == 403 and "read-only" in refused.json["error"]["message"]
    created = org.admin.post("/tokens", json={"name": "laptop", "expires_in_days": 30})
    assert created.status_code == 201
    laptop = ApiClient(client, created.json["token"])
    assert laptop.get("/objects").status_code == 200
    listed = org.admin.get("/tokens").json["data"]
    token_id = next(t["id"] for t in listed if t["name"] == "laptop")
    assert all("token" not in t and "hash" not in json.dumps(t) for t in listed)
    assert org.admin.delete(f"/tokens/{token_id}").status_code == 204
    revoked = laptop.get("/objects")
    assert revoked.status_code == 401 and "revoked" in revoked.json["error"]["message"]


def test_inactive_users_tokens_stop_working(org):
    rep = org.login_as("rep")
    assert rep.get("/users").status_code == 200
    org.admin.patch(f"/users/{org.ids['rep']}", json={"active": False})
    assert rep.get("/users").status_code == 401


def test_tokens_are_stored_hashed(org, tenant):
    import sqlalchemy as sa

    from crm_platform.core.tables import api_tokens

    with tenant.platform.db.control() as conn:
        stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalars().all()
    assert tenant.token not in stored and all(len(h) == 64 for h in stored)


# -- audit ---------------------------------------------------------------------------------------


def test_audit_needs_permission_and_hides_hidden_values(org):
    org.role("auditor", {"audit": True, "permissions": {"deal": {"read": "all"}},
                         "field_access": {"deal": {"margin": "hidden", "phone": "masked"}}})
    deal = org.deal("rep", margin=35, phone="13812341234")
    org.admin.patch(f"/records/deal/{deal['id']}", json={"margin": 40, "title": "renamed"})
    auditor = org.login_as("mate", "auditor")
    plain = org.login_as("outsider")
    assert plain.get("/audit").status_code == 403
    entries = auditor.get(f"/audit?object=deal&record={deal['id']}").json["data"]
    assert [e["action"] for e in entries] == ["record.update", "record.create"]
    text = json.dumps(entries)
    assert "margin" not in text and "13812341234" not in text and "*******1234" in text
    assert entries[0]["after"] == {"title": "renamed"}


def test_audit_filters(org):
    deal = org.deal("rep")
    org.admin.patch(f"/records/deal/{deal['id']}", json={"title": "x"})
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    assert org.admin.get("/audit", query_string={"since": since, "action": "record.*"}).json["meta"]["total"] == 2
    assert org.admin.get("/audit?until=2000-01-01").json["meta"]["total"] == 0
    assert org.admin.get(f"/audit?user={org.tenant.admin_id}&action=record.update").json["meta"]["total"] == 1
    assert org.admin.get("/audit?since=yesterday").status_code == 422
    assert org.admin.get("/audit?colour=red").status_code == 422


def test_every_mutating_endpoint_leaves_an_audit_entry(org):
    admin = org.admin
    steps = [
        ("metadata.object.create", lambda: admin.post("/objects", json={"name": "t", "label": "T"})),
        ("metadata.field.create", lambda: admin.post("/objects/t/fields", json={"name": "a", "type": "text"})),
        ("metadata.field.update", lambda: admin.patch("/objects/t/fields/a", json={"label": "A"})),
        ("metadata.layout.update", lambda: admin.put("/objects/t/layouts/list", json={"columns": ["a"]})),
        ("metadata.pipeline.update", lambda: admin.put("/objects/t/pipeline", json={"stages": [{"name": "s"}]})),
        ("metadata.object.update", lambda: admin.patch("/objects/t", json={"label": "T2"})),
        ("record.create", lambda: admin.post("/records/t", json={"a": "1"})),
        ("record.update", lambda: admin.patch("/records/t/1", json={"a": "2"})),
        ("record.delete", lambda: admin.delete("/records/t/1")),
        ("metadata.field.delete", lambda: admin.delete("/objects/t/fields/a")),
        ("metadata.object.delete", lambda: admin.delete("/objects/t")),
        ("role.create", lambda: admin.put("/roles/z", json={"permissions": {}})),
        ("role.update", lambda: admin.put("/roles/z", json={"permissions": {"deal": {"read": "all"}}})),
        ("user.create", lambda: admin.post("/users", json={"email": "z@x.com", "password": "password-1"})),
        ("user.update", lambda: admin.patch(f"/users/{org.ids['rep']}", json={"roles": ["z"]})),
        ("user.transfer", lambda: admin.post(f"/users/{org.ids['rep']}/transfer", json={"to": "mate@x.com"})),
        ("token.create", lambda: admin.post("/tokens", json={"name": "n"})),
        ("token.revoke", lambda: admin.delete(f"/tokens/{admin.get('/tokens').json['data'][-1]['id']}")),
        ("role.delete", lambda: (admin.patch(f"/users/{org.ids['rep']}", json={"roles": []}), admin.delete("/roles/z"))[1]),
    ]
    for action, step in steps:
        response = step()
        assert response.status_code < 300, (action, response.json)
        latest = admin.get(f"/audit?action={action}").json
        assert latest["meta"]["total"] >= 1, action
