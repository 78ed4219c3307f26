"""The approver's inbox: pending requests with a record summary; approve, reject, delegate; history."""

from __future__ import annotations

import pytest

from .conftest import add_user

PROCESS = {"name": "discount", "object": "deal", "active": True,
           "entry_condition": {"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 100}]},
           "steps": [{"name": "Manager", "approvers": {"type": "user", "value": "boss@example.com"}, "mode": "any"}],
           "on_approve": [{"type": "set_field", "field": "notes", "value": "approved"}],
           "on_reject": [{"type": "set_field", "field": "notes", "value": "rejected"}]}


@pytest.fixture
def flow(sales, ui, user_client):
    boss_id = add_user(sales, "boss@example.com", ["admin"])
    add_user(sales, "deputy@example.com", ["admin"])
    response = sales.api.post("/approval-processes", json=PROCESS)
    assert response.status_code == 201, response.get_json()
    deal = sales.api.post("/records/deal", json={"name": "Discounted", "amount": 5000, "region": "east"}).get_json()
    page = ui.text(f"/admin/records/deal/{deal['id']}/")
    assert "data-submit-approval" in page
    response = ui.post(f"/admin/approvals/submit/deal/{deal['id']}/", {"process": "discount", "comment": "please"})
    assert response.status_code == 302
    return {"deal": deal, "boss": user_client(sales, "boss@example.com"), "boss_id": boss_id}


def test_inbox_shows_pending_requests_with_the_record_summary(flow):
    page = flow["boss"].text("/admin/approvals/")
    assert "Discounted" in page and "5,000.00" in page and "please" in page
    assert "data-approve" in page and "data-reject" in page and "data-delegate" in page
    assert 'data-pending>1<' in page


def test_approve_with_a_comment(flow, sales):
    boss = flow["boss"]
    request_id = sales.api.get("/approvals").get_json()["data"][0]["id"]
    response = boss.post(f"/admin/approvals/{request_id}/approve/", {"comment": "fine by me"})
    assert response.status_code == 302
    assert sales.api.get(f"/records/deal/{flow['deal']['id']}").get_json()["notes"] == "approved"
    assert "Discounted" not in boss.text("/admin/approvals/")
    history = boss.text("/admin/approvals/?tab=history")
    assert "Discounted" in history and "Approved" in history
    detail = boss.text(f"/admin/approvals/{request_id}/")
    assert "fine by me" in detail and "data-approval-history" in detail
    record_page = boss.text(f"/admin/records/deal/{flow['deal']['id']}/")
    assert "Approval" in record_page


def test_reject(flow, sales):
    request_id = sales.api.get("/approvals").get_json()["data"][0]["id"]
    flow["boss"].post(f"/admin/approvals/{request_id}/reject/", {"comment": "too much"})
    assert sales.api.get(f"/records/deal/{flow['deal']['id']}").get_json()["notes"] == "rejected"


def test_delegate(flow, sales, user_client):
    request_id = sales.api.get("/approvals").get_json()["data"][0]["id"]
    deputy_id = next(u["id"] for u in sales.api.get("/users").get_json()["data"] if u["email"] == "deputy@example.com")
    response = flow["boss"].post(f"/admin/approvals/{request_id}/delegate/", {"to": str(deputy_id), "comment": "away"})
    assert response.status_code == 302
    deputy = user_client(sales, "deputy@example.com")
    assert "Discounted" in deputy.text("/admin/approvals/")
    assert "Discounted" not in flow["boss"].text("/admin/approvals/")


def test_someone_else_cannot_decide(flow, sales, ui):
    request_id = sales.api.get("/approvals").get_json()["data"][0]["id"]
    ui.post(f"/admin/approvals/{request_id}/approve/", {"comment": "not mine"})
    assert sales.api.get(f"/approvals/{request_id}").get_json()["status"] == "pending"


def test_submitter_sees_and_can_recall(flow, sales, ui):
    page = ui.text("/admin/approvals/?tab=submitted")
    assert "Discounted" in page
    request_id = sales.api.get("/approvals").get_json()["data"][0]["id"]
    assert "data-recall" in ui.text(f"/admin/approvals/{request_id}/")
    ui.post(f"/admin/approvals/{request_id}/recall/")
    assert sales.api.get(f"/approvals/{request_id}").get_json()["status"] == "recalled"


def test_empty_inbox(ui, sales):
    assert "Nothing waits for you" in ui.text("/admin/approvals/")
