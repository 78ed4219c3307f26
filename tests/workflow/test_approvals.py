"""Approval processes: steps, modes, locks, recall, delegation, escalation, inbox, versions, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_platform.core.session import utcnow
from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient
from tests.workflow.receivers import WebhookReceiver
from workflow_engine import WORKFLOW_TICK_HOOK, escalate_due

QUOTE = {
    "name": "quote",
    "label": {"en": "Quote", "zh": "报价"},
    "title_field": "title",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "amount", "type": "currency"},
        {"name": "discount", "type": "percent"},
        {"name": "approved_discount", "type": "percent"},
        {"name": "status", "type": "picklist",
         "options": [{"value": "draft"}, {"value": "approved"}, {"value": "rejected"}]},
        {"name": "reviewer", "type": "user"},
    ],
}
ROLES = {
    "sales_rep": {"permissions": {"quote": {"read": "own", "create": "all", "update": "own", "delete": "own"}}},
    "sales_manager": {"permissions": {"quote": {"read": "team", "update": "team"}}},
    "director": {"permissions": {"quote": {"read": "all"}}},
    "risk": {"permissions": {}},
}
#: (who, roles, manager)
PEOPLE = [
    ("bigboss", ["sales_manager"], None),
    ("manager", ["sales_manager"], "bigboss"),
    ("rep", ["sales_rep"], "manager"),
    ("loner", ["sales_rep"], None),
    ("d1", ["director"], None),
    ("d2", ["director"], None),
    ("r1", ["risk"], None),
    ("r2", ["risk"], None),
    ("r3", ["risk"], None),
]
DISCOUNT_PROCESS = {
    "name": "big discount",
    "object": "quote",
    "entry_condition": "discount > 20",
    "steps": [
        {"name": "manager", "approvers": {"type": "manager"}, "mode": "any"},
        {"name": "director", "approvers": {"type": "role", "value": "director"}, "mode": "any"},
    ],
    "on_approve": [{"type": "set_field", "field": "approved_discount", "formula": "discount"},
                   {"type": "set_field", "field": "status", "value": "approved"}],
    "on_reject": [{"type": "set_field", "field": "status", "value": "rejected"}],
}


class Sales:
    """A tenant with quotes, a rep reporting to a manager (who reports to a big boss), directors, a risk committee."""

    def __init__(self, tenant, client):
        self.tenant = tenant
        self.admin = tenant.api
        assert self.admin.post("/objects", json=QUOTE).status_code == 201
        for name, document in ROLES.items():
            assert self.admin.put(f"/roles/{name}", json={"name": name, **document}).status_code == 201
        self.ids: dict[str, int] = {}
        self.api: dict[str, ApiClient] = {}
        for who, roles, manager in PEOPLE:
            body = {"email": f"{who}@x.com", "password": "password-123", "roles": roles}
            if manager:
                body["manager"] = f"{manager}@x.com"
            response = self.admin.post("/users", json=body)
            assert response.status_code == 201, response.json
            self.ids[who] = response.json["id"]
            self.api[who] = ApiClient(client, create_token(tenant.platform, tenant.slug, response.json["id"]))

    def process(self, **changes) -> dict:
        response = self.admin.post("/approval-processes", json={**DISCOUNT_PROCESS, **changes})
        assert response.status_code == 201, response.json
        return response.json

    def quote(self, owner: str = "rep", **values) -> dict:
        response = self.api[owner].post("/records/quote", json={"title": "Q", "discount": 10, **values})
        assert response.status_code == 201, response.json
        return response.json

    def submit(self, quote: dict, who: str = "rep", process: str = "big discount", **extra) -> dict:
        response = self.api[who].post(f"/records/quote/{quote['id']}/submit", json={"process": process, **extra})
        assert response.status_code == 201, response.json
        return response.json

    def inbox(self, who: str) -> list[dict]:
        response = self.api[who].get("/approvals?status=pending&mine=1")
        assert response.status_code == 200, response.json
        return response.json["data"]

    def act(self, who: str, request_id: int, action: str, **body):
        return self.api[who].post(f"/approvals/{request_id}/{action}", json=body or None)

    def request(self, request_id: int) -> dict:
        return self.admin.get(f"/approvals/{request_id}").json


@pytest.fixture
def sales(tenant, client) -> Sales:
    return Sales(tenant, client)


def actions(request: dict) -> list[str]:
    return [entry["action"] for entry in request["history"]]


# -- the scenario ------------------------------------------------------------------------------


def discount_rule(sales: Sales) -> None:
    response = sales.admin.post("/rules", json={
        "name": "discounts over 20% need approval", "object": "quote",
        "trigger": {"type": "on_field_change", "fields": ["discount"]}, "condition": "discount > 20",
        "actions": [{"type": "submit_approval", "process": "big discount", "comment": "discount over 20%"}]})
    assert response.status_code == 201, response.json


def test_big_discount_needs_manager_then_director_and_approval_applies_it(sales):
    sales.process()
    discount_rule(sales)
    quote = sales.quote(discount=10)
    assert sales.admin.get("/approvals").json["meta"]["total"] == 0
    assert sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"discount": 25}).status_code == 200

    mine = sales.api["rep"].get("/approvals?submitted=1").json["data"]
    assert len(mine) == 1 and mine[0]["status"] == "pending" and mine[0]["step"]["name"] == "manager"
    assert mine[0]["submitted_by"]["email"] == "rep@x.com" and mine[0]["comment"] == "discount over 20%"
    request_id = mine[0]["id"]

    # locked meanwhile, for the owner and for the admin alike
    for api in (sales.api["rep"], sales.admin):
        refused = api.patch(f"/records/quote/{quote['id']}", json={"title": "changed"})
        assert refused.status_code == 409 and "big discount" in refused.json["error"]["message"]
        assert "locked" in refused.json["error"]["message"]
    assert sales.api["rep"].delete(f"/records/quote/{quote['id']}").status_code == 409

    inbox = sales.inbox("manager")
    assert [r["id"] for r in inbox] == [request_id]
    assert inbox[0]["record"]["discount"] == 25 and inbox[0]["object"] == "quote"
    assert sales.inbox("d1") == [] and sales.inbox("rep") == []
    assert any("Approval needed" in n["title"] for n in sales.api["manager"].get("/notifications").json["data"])

    answer = sales.act("manager", request_id, "approve", comment="fine by me")
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "pending" and answer.json["step"]["name"] == "director"
    assert sales.inbox("manager") == []
    assert [r["id"] for r in sales.inbox("d1")] == [request_id] == [r["id"] for r in sales.inbox("d2")]

    done = sales.act("d2", request_id, "approve", comment="ok")
    assert done.status_code == 200 and done.json["status"] == "approved"
    stored = sales.admin.get(f"/records/quote/{quote['id']}").json
    assert (stored["approved_discount"], stored["status"]) == (25, "approved")
    assert sales.inbox("d1") == []
    # unlocked once decided
    assert sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"title": "after"}).status_code == 200

    history = sales.request(request_id)
    assert actions(history) == ["submitted", "step_started", "approved", "step_approved", "step_started", "approved",
                                "step_approved", "request_approved"]
    approvals = [(h["user"]["email"], h["step"]["name"], h["comment"]) for h in history["history"] if h["action"] == "approved"]
    assert approvals == [("manager@x.com", "manager", "fine by me"), ("d2@x.com", "director", "ok")]
    assert {h["version"] for h in history["history"]} == {1}
    assert [t["status"] for t in history["tasks"]] == ["approved", "skipped", "approved"]
    notes = [n["title"] for n in sales.api["rep"].get("/notifications").json["data"]]
    assert any("approved" in title and "Quote Q" in title for title in notes)
    audit = sales.admin.get("/audit?action=approval.*").json["data"]
    assert {"approval.submit", "approval.approve", "approval.approved"} <= {a["action"] for a in audit}


def test_rejection_sets_status_and_notifies_the_submitter(sales):
    sales.process()
    discount_rule(sales)
    quote = sales.quote()
    sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"discount": 30})
    request_id = sales.inbox("manager")[0]["id"]
    answer = sales.act("manager", request_id, "reject", comment="too generous")
    assert answer.status_code == 200 and answer.json["status"] == "rejected"
    stored = sales.admin.get(f"/records/quote/{quote['id']}").json
    assert (stored["status"], stored["approved_discount"]) == ("rejected", None)
    assert sales.inbox("d1") == []  # the director never had a say
    notes = sales.api["rep"].get("/notifications").json["data"]
    assert any("rejected" in n["title"] and n["body"].endswith("too generous") for n in notes)
    history = sales.request(request_id)
    assert actions(history)[-2:] == ["rejected", "request_rejected"]
    assert history["history"][-2]["comment"] == "too generous"
    assert sales.act("d1", request_id, "approve").status_code == 409  # decided: nothing more to do


# -- modes and steps ---------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "needed"), [("any", 1), ("all", 3), ("quorum", 2)])
def test_modes(sales, mode, needed):
    step = {"name": "risk committee", "approvers": {"type": "role", "value": "risk"}, "mode": mode}
    if mode == "quorum":
        step["quorum"] = 2
    sales.process(steps=[step])
    request = sales.submit(sales.quote(discount=25))
    assert len(request["tasks"]) == 3
    for number, who in enumerate(["r1", "r2", "r3"][:needed], start=1):
        answer = sales.act(who, request["id"], "approve")
        assert answer.status_code == 200, answer.json
        assert answer.json["status"] == ("approved" if number == needed else "pending")
    final = sales.request(request["id"])
    assert sorted(t["status"] for t in final["tasks"]) == sorted(["approved"] * needed + ["skipped"] * (3 - needed))
    assert all(sales.inbox(who) == [] for who in ("r1", "r2", "r3"))


def test_one_rejection_rejects_the_whole_request_in_any_mode(sales):
    sales.process(steps=[{"name": "risk", "approvers": {"type": "role", "value": "risk"}, "mode": "quorum", "quorum": 2}])
    request = sales.submit(sales.quote(discount=25))
    sales.act("r1", request["id"], "approve")
    answer = sales.act("r2", request["id"], "reject")
    assert answer.json["status"] == "rejected"
    assert sales.admin.get(f"/records/quote/{request['record_id']}").json["status"] == "rejected"


def test_rules_submitting_several_records_at_once_start_each_request_at_its_first_step(sales):
    from metadata import RecordService
    from tests.workflow.test_batches import reads, statements

    sales.process(steps=[
        {"name": "director", "approvers": {"type": "role", "value": "director"}, "condition": "amount > 1000000"},
        {"name": "manager", "approvers": {"type": "manager"}},
    ])
    discount_rule(sales)
    big, small = sales.quote(amount=2000000), sales.quote(amount=500)
    with statements() as seen:
        with sales.tenant.session() as session:  # one unit of work: the two runs go in one batch
            for quote in (big, small):
                RecordService(session).update("quote", quote["id"], {"discount": 25})
    requests = {r["record_id"]: r for r in sales.admin.get("/approvals?status=pending").json["data"]}
    assert requests[big["id"]]["step"]["name"] == "director"
    assert requests[small["id"]]["step"]["name"] == "manager"
    assert actions(sales.request(requests[small["id"]]["id"])) == ["submitted", "step_skipped", "step_started"]
    assert [r["record_id"] for r in sales.inbox("d1")] == [big["id"]]
    assert [r["record_id"] for r in sales.inbox("manager")] == [small["id"]]
    # The process and its definition are read once for both submissions.
    assert len([s for s in reads(seen, "sys_approval_processes") if "sys_approval_processes.name =" in s]) == 1
    assert len(reads(seen, "sys_approval_process_versions")) == 1


def test_step_condition_adds_the_risk_committee_for_big_amounts(sales):
    sales.process(steps=[
        {"name": "manager", "approvers": {"type": "manager"}},
        {"name": "risk", "approvers": [{"type": "user", "value": "r1@x.com"}, {"type": "user", "value": "r2@x.com"}],
         "mode": "all", "condition": "amount > 1000000"},
    ])
    small = sales.submit(sales.quote(discount=25, amount=500000))
    assert sales.act("manager", small["id"], "approve").json["status"] == "approved"
    assert "step_skipped" in actions(sales.request(small["id"]))

    big = sales.submit(sales.quote(discount=25, amount=2000000))
    after_manager = sales.act("manager", big["id"], "approve").json
    assert after_manager["status"] == "pending" and after_manager["step"]["name"] == "risk"
    assert sales.act("r1", big["id"], "approve").json["status"] == "pending"
    assert sales.act("r2", big["id"], "approve").json["status"] == "approved"


def test_field_approver_is_the_user_in_the_field(sales):
    sales.process(steps=[{"name": "review", "approvers": {"type": "field", "value": "reviewer"}}])
    request = sales.submit(sales.quote(discount=25, reviewer=sales.ids["d1"]))
    assert [t["approver"]["email"] for t in request["tasks"]] == ["d1@x.com"]
    empty = sales.api["rep"].post(f"/records/quote/{sales.quote(discount=25)['id']}/submit", json={"process": "big discount"})
    assert empty.status_code == 422 and "reviewer" in empty.json["error"]["message"]


# -- recall, delegate, escalate ----------------------------------------------------------------


def test_recall_by_the_submitter_unlocks_the_record(sales):
    sales.process()
    quote = sales.quote(discount=25)
    request = sales.submit(quote, comment="please")
    assert sales.act("manager", request["id"], "recall").status_code == 403  # an approver is not the submitter
    assert sales.act("loner", request["id"], "recall").status_code == 403
    answer = sales.act("rep", request["id"], "recall", comment="wrong quote")
    assert answer.status_code == 200 and answer.json["status"] == "recalled"
    assert [t["status"] for t in answer.json["tasks"]] == ["skipped"]
    assert sales.inbox("manager") == []
    assert sales.act("rep", request["id"], "recall").status_code == 409
    assert sales.act("manager", request["id"], "approve").status_code == 409
    assert sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"title": "edited"}).status_code == 200
    assert actions(sales.request(request["id"]))[-1] == "recalled"
    # an admin may recall anyone's request
    again = sales.submit(quote)
    assert sales.admin.post(f"/approvals/{again['id']}/recall").json["status"] == "recalled"


def test_delegate_hands_the_task_over_and_history_shows_it(sales):
    sales.process(steps=[{"name": "manager", "approvers": {"type": "manager"}}])
    request = sales.submit(sales.quote(discount=25))
    assert sales.act("d1", request["id"], "delegate", to="d2@x.com").status_code == 403  # not an approver
    assert sales.act("manager", request["id"], "delegate", to="manager@x.com").status_code == 422
    assert sales.act("manager", request["id"], "delegate", to="nobody@x.com").status_code == 422
    assert sales.act("manager", request["id"], "delegate").status_code == 422
    answer = sales.act("manager", request["id"], "delegate", to="bigboss@x.com", comment="on holiday")
    assert answer.status_code == 200, answer.json
    assert [(t["approver"]["email"], t["status"]) for t in answer.json["tasks"]] == [
        ("manager@x.com", "delegated"), ("bigboss@x.com", "pending")]
    assert sales.inbox("manager") == [] and len(sales.inbox("bigboss")) == 1
    assert sales.act("manager", request["id"], "approve").status_code == 409  # handed over
    assert sales.act("bigboss", request["id"], "approve").json["status"] == "approved"
    entry = next(h for h in sales.request(request["id"])["history"] if h["action"] == "delegated")
    assert entry["details"] == {"from": "manager@x.com", "to": "bigboss@x.com"} and entry["comment"] == "on holiday"
    assert entry["user"]["email"] == "manager@x.com"


def test_nobody_counts_twice_towards_a_quorum(sales):
    sales.process(steps=[{"name": "risk", "approvers": {"type": "role", "value": "risk"}, "mode": "quorum", "quorum": 2}])
    request = sales.submit(sales.quote(discount=25))
    sales.act("r1", request["id"], "approve")
    refused = sales.act("r2", request["id"], "delegate", to="r1@x.com")
    assert refused.status_code == 409 and "already an approver" in refused.json["error"]["message"]
    assert sales.act("r2", request["id"], "delegate", to="d1@x.com").status_code == 200
    assert sales.act("d1", request["id"], "approve").json["status"] == "approved"


def test_escalation_to_the_approvers_manager_when_not_decided_in_time(sales, tenant):
    sales.process(steps=[{"name": "manager", "approvers": {"type": "user", "value": "manager@x.com"},
                          "escalation": {"after": {"amount": 48, "unit": "hours"}, "to": "manager"}}])
    request = sales.submit(sales.quote(discount=25))
    assert request["tasks"][0]["due_at"] is not None
    with tenant.session() as session:
        assert escalate_due(session, utcnow() + timedelta(hours=47)) == []
    with tenant.session() as session:  # the scheduler's tick calls the registered hook per tenant
        for tick in tenant.platform.hooks[WORKFLOW_TICK_HOOK]:
            tick(session, utcnow() + timedelta(hours=49))
    assert sales.inbox("manager") == [] and [r["id"] for r in sales.inbox("bigboss")] == [request["id"]]
    state = sales.request(request["id"])
    assert [(t["approver"]["email"], t["status"]) for t in state["tasks"]] == [
        ("manager@x.com", "escalated"), ("bigboss@x.com", "pending")]
    entry = next(h for h in state["history"] if h["action"] == "escalated")
    assert entry["details"] == {"from": "manager@x.com", "to": "bigboss@x.com"}
    with tenant.session() as session:  # once only: the escalated task has no deadline
        assert escalate_due(session, utcnow() + timedelta(days=30)) == []
    assert sales.act("bigboss", request["id"], "approve").json["status"] == "approved"


def test_escalation_to_a_named_user_and_when_there_is_nobody(sales, tenant):
    process = sales.process(steps=[{"name": "directors", "approvers": {"type": "role", "value": "director"}, "mode": "all",
                                    "escalation": {"after": {"amount": 30, "unit": "minutes"}, "to": "r1@x.com"}}])
    request = sales.submit(sales.quote(discount=25))
    sales.act("d1", request["id"], "approve")
    with tenant.session() as session:
        escalated = escalate_due(session, utcnow() + timedelta(hours=1))
    assert len(escalated) == 1
    assert [r["id"] for r in sales.inbox("r1")] == [request["id"]] and sales.inbox("d2") == []
    assert sales.act("r1", request["id"], "approve").json["status"] == "approved"

    sales.admin.patch(f"/approval-processes/{process['id']}", json={"steps": [
        {"name": "d1 only", "approvers": {"type": "user", "value": "d1@x.com"},
         "escalation": {"after": {"amount": 1, "unit": "hours"}, "to": "manager"}}]})
    lonely = sales.submit(sales.quote(discount=25))
    with tenant.session() as session:
        assert escalate_due(session, utcnow() + timedelta(hours=2)) == []
    history = sales.request(lonely["id"])["history"]
    assert history[-1]["action"] == "escalation_failed" and "no manager" in history[-1]["details"]["reason"]
    assert [r["id"] for r in sales.inbox("d1")] == [lonely["id"]]


# -- locks, inbox, visibility ------------------------------------------------------------------


def test_locked_record_answers_409_naming_the_pending_approval(sales):
    sales.process()
    quote = sales.quote(discount=25)
    request = sales.submit(quote)
    for response in (sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"discount": 5}),
                     sales.api["rep"].delete(f"/records/quote/{quote['id']}"),
                     sales.admin.delete(f"/records/quote/{quote['id']}")):
        assert response.status_code == 409
        error = response.json["error"]
        assert "awaiting approval in 'big discount'" in error["message"] and f"request {request['id']}" in error["message"]
        assert error["details"] == {"approval": [f"request {request['id']} is pending"]}
    assert sales.admin.get(f"/records/quote/{quote['id']}").json["discount"] == 25
    # other records are not affected
    other = sales.quote(discount=25)
    assert sales.api["rep"].patch(f"/records/quote/{other['id']}", json={"title": "free"}).status_code == 200


def test_inbox_shows_each_user_their_own_pending_work(sales):
    sales.process(steps=[{"name": "risk", "approvers": [{"type": "user", "value": "r1@x.com"},
                                                        {"type": "role", "value": "director"}], "mode": "all"}])
    first = sales.submit(sales.quote(discount=25, title="first"))
    second = sales.submit(sales.quote(discount=30, title="second"))
    assert [r["id"] for r in sales.inbox("d1")] == [second["id"], first["id"]]
    director_view = sales.inbox("d1")[0]
    assert director_view["record"]["title"] == "second"
    assert [t["approver"]["email"] for t in director_view["tasks"]] == ["r1@x.com", "d1@x.com", "d2@x.com"]
    # the risk role may not read quotes: the inbox still lists the work, without the record
    risk_view = sales.inbox("r1")
    assert [r["id"] for r in risk_view] == [second["id"], first["id"]] and risk_view[0]["record"] is None
    assert sales.inbox("r2") == [] and sales.inbox("manager") == []
    sales.act("d1", first["id"], "approve")
    assert [r["id"] for r in sales.inbox("d1")] == [second["id"]]
    assert [r["id"] for r in sales.inbox("d2")] == [second["id"], first["id"]]
    assert sales.api["d1"].get("/approvals?mine=1&status=pending").json["meta"]["total"] == 1
    with sales.tenant.session() as session:
        from crm_platform.core.session import Actor
        from workflow_engine.approvals import pending_count

        session.actor = Actor(sales.ids["d2"], "d2@x.com", ("director",))
        assert pending_count(session) == 2
    assert sales.api["d1"].get("/approvals?mine=1").json["meta"]["total"] == 2  # all they took part in
    # who may see a request
    assert sales.api["r1"].get(f"/approvals/{first['id']}").status_code == 200  # an approver
    assert sales.api["loner"].get(f"/approvals/{first['id']}").status_code == 404
    assert sales.api["loner"].get("/approvals").json["data"] == []
    assert sales.admin.get("/approvals?status=pending").json["meta"]["total"] == 2
    assert sales.admin.get("/approvals?status=sleeping").status_code == 422


# -- bad input ---------------------------------------------------------------------------------


def test_bad_processes_are_refused_naming_the_problem(sales):
    manager_step = {"name": "manager", "approvers": {"type": "manager"}}
    cases = [
        ({"object": "nope"}, "nope"),
        ({"steps": [{"name": "x", "approvers": {"type": "role", "value": "astronaut"}}]}, "astronaut"),
        ({"steps": [{"name": "x", "approvers": {"type": "user", "value": "ghost@x.com"}}]}, "ghost@x.com"),
        ({"steps": [{"name": "x", "approvers": {"type": "user", "value": 99999}}]}, "99999"),
        ({"steps": [{"name": "x", "approvers": {"type": "field", "value": "nope"}}]}, "nope"),
        ({"steps": [{"name": "x", "approvers": {"type": "field", "value": "title"}}]}, "type user"),
        ({"steps": [{"name": "x", "approvers": {"type": "role"}}]}, "value"),
        ({"steps": [{"name": "x", "approvers": {"type": "boss"}}]}, "boss"),
        ({"steps": [{"name": "x", "approvers": {"type": "manager"}, "mode": "quorum"}]}, "quorum"),
        ({"steps": [{"name": "x", "approvers": {"type": "manager"}, "mode": "any", "quorum": 2}]}, "quorum"),
        ({"steps": [{"name": "x", "approvers": [{"type": "user", "value": "d1@x.com"}], "mode": "quorum", "quorum": 2}]}, "quorum"),
        ({"steps": [manager_step, manager_step]}, "two steps"),
        ({"steps": []}, "steps"),
        ({"entry_condition": "discount >> 20"}, "entry_condition"),
        ({"entry_condition": {"condition": "AND", "rules": [{"field": "nope", "operator": "equal", "value": 1}]}}, "nope"),
        ({"steps": [{**manager_step, "condition": "amount > 'lots'"}]}, "steps[0].condition"),
        ({"steps": [{**manager_step, "escalation": {"after": {"amount": 2, "unit": "hours"}, "to": "ghost@x.com"}}]}, "ghost"),
        ({"on_approve": [{"type": "set_field", "field": "nope", "value": 1}]}, "on_approve[0]"),
        ({"on_reject": [{"type": "set_field", "field": "status", "value": "lost"}]}, "on_reject[0]"),
        ({"on_reject": [{"type": "teleport"}]}, "on_reject[0]"),
        ({"color": "red"}, "color"),
    ]
    for change, word in cases:
        response = sales.admin.post("/approval-processes", json={**DISCOUNT_PROCESS, **change})
        assert response.status_code == 422, (change, response.json)
        assert word in str(response.json["error"]), (change, response.json)
    assert sales.admin.get("/approval-processes").json["data"] == []
    sales.process()
    assert sales.admin.post("/approval-processes", json=DISCOUNT_PROCESS).status_code == 409  # same name
    assert sales.api["rep"].post("/approval-processes", json={**DISCOUNT_PROCESS, "name": "x"}).status_code == 403
    assert sales.api["rep"].patch("/approval-processes/1", json={"active": False}).status_code == 403
    assert sales.api["rep"].delete("/approval-processes/1").status_code == 403
    unknown_rule = sales.admin.post("/rules", json={"name": "r", "object": "quote", "trigger": {"type": "on_create"},
                                                    "actions": [{"type": "submit_approval", "process": "nope"}]})
    assert unknown_rule.status_code == 422 and "nope" in unknown_rule.json["error"]["message"]


def test_bad_submissions_and_decisions(sales):
    sales.process()
    small = sales.quote(discount=5)
    refused = sales.api["rep"].post(f"/records/quote/{small['id']}/submit", json={"process": "big discount"})
    assert refused.status_code == 422 and "discount > 20" in refused.json["error"]["message"]
    assert sales.api["rep"].post(f"/records/quote/{small['id']}/submit", json={"process": "nope"}).status_code == 422
    assert sales.api["rep"].post(f"/records/quote/{small['id']}/submit", json={}).status_code == 422
    assert sales.api["rep"].post(f"/records/quote/{small['id']}/submit", json={"process": "big discount", "x": 1}).status_code == 422
    assert sales.api["rep"].post("/records/quote/99999/submit", json={"process": "big discount"}).status_code == 404
    # the submitter must be able to read the record
    quote = sales.quote(discount=25)
    assert sales.api["loner"].post(f"/records/quote/{quote['id']}/submit", json={"process": "big discount"}).status_code == 404
    # the owner has no manager: nobody could approve the first step
    lonely = sales.quote(owner="loner", discount=25)
    nobody = sales.api["loner"].post(f"/records/quote/{lonely['id']}/submit", json={"process": "big discount"})
    assert nobody.status_code == 422 and "no manager" in nobody.json["error"]["message"]

    request = sales.submit(quote)
    twice = sales.api["rep"].post(f"/records/quote/{quote['id']}/submit", json={"process": "big discount"})
    assert twice.status_code == 409 and str(request["id"]) in twice.json["error"]["message"]
    assert sales.act("d1", request["id"], "approve").status_code == 403  # a director, but not in this step yet
    assert sales.act("rep", request["id"], "approve").status_code == 403  # someone else's task
    assert sales.act("manager", request["id"], "approve", comment=["not", "text"]).status_code == 422
    assert sales.act("manager", request["id"], "approve", verdict="yes").status_code == 422
    assert sales.act("manager", request["id"], "approve").status_code == 200
    again = sales.act("manager", request["id"], "approve")
    assert again.status_code == 409 and "already approved" in again.json["error"]["message"]
    assert sales.act("manager", 99999, "approve").status_code == 404
    assert sales.admin.post(f"/approvals/{request['id']}/bless").status_code in (404, 405)


def test_quorum_larger_than_the_approvers_is_refused_at_submit(sales):
    sales.process(steps=[{"name": "directors", "approvers": {"type": "role", "value": "director"},
                          "mode": "quorum", "quorum": 3}])
    quote = sales.quote(discount=25)
    response = sales.api["rep"].post(f"/records/quote/{quote['id']}/submit", json={"process": "big discount"})
    assert response.status_code == 422 and "needs 3 approvals but has only 2" in response.json["error"]["message"]
    assert sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"title": "not locked"}).status_code == 200


# -- versions and metadata ---------------------------------------------------------------------


def test_requests_keep_the_version_they_started_with(sales):
    process = sales.process(steps=[{"name": "manager", "approvers": {"type": "manager"}}])
    early = sales.submit(sales.quote(discount=25))
    changed = sales.admin.patch(f"/approval-processes/{process['id']}", json={"steps": [
        {"name": "manager", "approvers": {"type": "manager"}},
        {"name": "director", "approvers": {"type": "role", "value": "director"}}]})
    assert changed.status_code == 200 and changed.json["version"] == 2
    late = sales.submit(sales.quote(discount=25))
    assert (early["process"]["version"], late["process"]["version"]) == (1, 2)
    assert sales.act("manager", early["id"], "approve").json["status"] == "approved"  # version 1: one step
    assert sales.act("manager", late["id"], "approve").json["status"] == "pending"  # version 2: the director too
    assert {h["version"] for h in sales.request(early["id"])["history"]} == {1}
    assert sales.request(early["id"])["history"][-1]["action"] == "request_approved"
    assert {h["version"] for h in sales.request(late["id"])["history"]} == {2}
    versions = sales.admin.get(f"/approval-processes/{process['id']}/versions").json["data"]
    assert [v["version"] for v in versions] == [2, 1] and len(versions[1]["definition"]["steps"]) == 1


def test_deactivated_and_deleted_processes_take_no_new_requests(sales):
    process = sales.process(steps=[{"name": "manager", "approvers": {"type": "manager"}}])
    pending = sales.submit(sales.quote(discount=25))
    sales.admin.patch(f"/approval-processes/{process['id']}", json={"active": False})
    inactive = sales.api["rep"].post(f"/records/quote/{sales.quote(discount=25)['id']}/submit", json={"process": "big discount"})
    assert inactive.status_code == 422 and "inactive" in inactive.json["error"]["message"]
    assert sales.admin.delete(f"/approval-processes/{process['id']}").status_code == 204
    assert sales.admin.get(f"/approval-processes/{process['id']}").status_code == 404
    assert sales.act("manager", pending["id"], "approve").json["status"] == "approved"  # in flight: finishes


def test_metadata_changes_respect_processes(sales):
    sales.process()
    quote = sales.quote(discount=25)
    request = sales.submit(quote)
    refused = sales.admin.delete("/objects/quote/fields/approved_discount")
    assert refused.status_code == 409 and "big discount" in refused.json["error"]["message"]
    assert sales.admin.delete("/objects/quote").status_code == 409
    assert sales.admin.patch("/objects/quote/fields/discount", json={"name": "rebate"}).status_code == 200
    process = sales.admin.get("/approval-processes").json["data"][0]
    assert process["entry_condition"]["rules"][0]["field"] == "rebate"
    assert process["on_approve"][0]["formula"] == "rebate"
    # the request in flight runs its (renamed) version to the end
    sales.act("manager", request["id"], "approve")
    assert sales.act("d1", request["id"], "approve").json["status"] == "approved"
    assert sales.admin.get(f"/records/quote/{quote['id']}").json["approved_discount"] == 25


def test_processes_named_by_rules_cannot_be_deleted_or_renamed(sales):
    process = sales.process()
    discount_rule(sales)
    for response in (sales.admin.delete(f"/approval-processes/{process['id']}"),
                     sales.admin.patch(f"/approval-processes/{process['id']}", json={"name": "other"})):
        assert response.status_code == 409
        assert "discounts over 20% need approval" in response.json["error"]["message"]
    assert sales.admin.get(f"/approval-processes/{process['id']}").json["name"] == "big discount"


def test_outcome_actions_leaving_the_database_are_delivered_after_commit(sales):
    receiver = WebhookReceiver().start()
    try:
        sales.process(steps=[{"name": "manager", "approvers": {"type": "manager"}}],
                      on_approve=[{"type": "webhook", "url": receiver.url + "/approved"},
                                  {"type": "notify", "to": "owner", "title": "{{ record.title }} approved by the process"}])
        request = sales.submit(sales.quote(discount=25, title="Big deal"))
        assert sales.act("manager", request["id"], "approve").json["status"] == "approved"
        [receipt] = receiver.received
        body = receipt.json()
        assert receipt.path == "/approved" and body["rule"]["name"] == "approval:big discount"
        assert body["record"]["title"] == "Big deal"
        notes = [n["title"] for n in sales.api["rep"].get("/notifications").json["data"]]
        assert "Big deal approved by the process" in notes
        outcome = sales.request(request["id"])["history"][-1]["details"]["on_approve"]
        assert [o["type"] for o in outcome] == ["webhook", "notify"]
    finally:
        receiver.stop()


def test_a_rule_may_still_change_the_record_it_submitted(sales):
    sales.process()
    response = sales.admin.post("/rules", json={
        "name": "submit and mark", "object": "quote", "trigger": {"type": "on_field_change", "fields": ["discount"]},
        "condition": "discount > 20",
        "actions": [{"type": "submit_approval", "process": "big discount"},
                    {"type": "set_field", "field": "status", "value": "draft"}]})
    assert response.status_code == 201, response.json
    quote = sales.quote(discount=25)
    assert sales.admin.get(f"/records/quote/{quote['id']}").json["status"] == "draft"
    runs = sales.admin.get(f"/rules/{response.json['id']}/runs").json["data"]
    assert [r["status"] for r in runs if r["kind"] == "run"] == ["succeeded"]
    # people are still locked out
    assert sales.api["rep"].patch(f"/records/quote/{quote['id']}", json={"title": "x"}).status_code == 409


def test_the_record_timeline_shows_the_approval(sales):
    sales.process()
    quote = sales.quote(discount=25)
    request = sales.submit(quote)
    entries = sales.admin.get(f"/records/quote/{quote['id']}/timeline").json["data"]
    approvals = [e for e in entries if e["kind"] == "approval"]
    assert approvals and approvals[-1]["request_id"] == request["id"] and approvals[-1]["process"] == "big discount"
