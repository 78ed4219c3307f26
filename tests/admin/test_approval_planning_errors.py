"""Why a record cannot go into (or on through) an approval process, in the user's language (Chinese
here): a step with no approver and why each specification found nobody, a quorum larger than the
approvers, an entry condition not met, no step that applies."""

from __future__ import annotations

import pytest

from .conftest import add_user, page_of


@pytest.fixture
def zh(ui, sales):
    assert sales.api.post("/objects/deal/fields", json={
        "name": "reviewer", "type": "user", "label": {"en": "Reviewer", "zh": "复核人"}}).status_code == 201
    ui.post("/lang/zh", {"next": "/admin/"})
    return ui


def submit(zh, sales, process: dict, **values) -> str:
    """Create the process and a deal, submit the deal in the UI, and answer the record page."""
    assert sales.api.post("/approval-processes", json={"object": "deal", **process}).status_code == 201
    deal = sales.api.post("/records/deal", json={"name": "审批单", **values}).get_json()
    return page_of(zh.post(f"/admin/approvals/submit/deal/{deal['id']}/", {"process": process["name"]},
                           follow_redirects=True))


def test_a_step_without_approvers_says_why_in_chinese(zh, sales):
    page = submit(zh, sales, {"name": "big", "steps": [{"name": "boss", "approvers": [
        {"type": "manager"}, {"type": "field", "value": "reviewer"}]}]})
    assert "步骤 boss 没有审批人：记录负责人没有上级；复核人 为空。" in page
    assert "has no approver" not in page and "is empty" not in page


def test_a_quorum_above_the_approvers_is_chinese(zh, sales):
    page = submit(zh, sales, {"name": "board", "steps": [{"name": "board", "mode": "quorum", "quorum": 2,
                                                          "approvers": {"type": "role", "value": "admin"}}]})
    assert "步骤 board 需要 2 人批准，但只有 1 位审批人：admin@example.com。" in page and "approvals but" not in page


def test_an_entry_condition_not_met_and_no_step_applying_are_chinese(zh, sales):
    boss = {"type": "user", "value": sales.admin_id}
    page = submit(zh, sales, {"name": "big", "entry_condition": "amount > 100",
                              "steps": [{"name": "boss", "approvers": boss}]}, amount=5)
    assert "该商机不满足big的进入条件：amount > 100.00。" in page and "does not meet" not in page
    page = submit(zh, sales, {"name": "huge", "steps": [{"name": "boss", "condition": "amount > 1000",
                                                         "approvers": boss}]}, amount=5)
    assert "huge中没有适用于该商机的步骤。" in page and "no step" not in page


def test_a_next_step_without_approvers_is_chinese_in_the_inbox(zh, sales, user_client):
    add_user(sales, "boss@example.com", ["admin"])
    steps = [{"name": "boss", "approvers": {"type": "user", "value": "boss@example.com"}},
             {"name": "review", "approvers": {"type": "field", "value": "reviewer"}}]
    assert sales.api.post("/approval-processes", json={"object": "deal", "name": "two", "steps": steps}).status_code == 201
    deal = sales.api.post("/records/deal", json={"name": "两步单"}).get_json()
    # The first step's approvers are planned on submit; the second's when the first is approved.
    sales.api.patch(f"/records/deal/{deal['id']}", json={"reviewer": sales.admin_id})
    assert zh.post(f"/admin/approvals/submit/deal/{deal['id']}/", {"process": "two"}).status_code == 302
    with sales.session(write=True) as session:  # the reviewer is cleared while the request waits
        import sqlalchemy as sa

        from metadata import load_model
        table = load_model(session).object("deal").table
        session.conn.execute(sa.update(table).where(table.c.id == deal["id"]).values(reviewer=None))
    request_id = sales.api.get("/approvals").get_json()["data"][0]["id"]
    boss = user_client(sales, "boss@example.com")
    boss.post("/lang/zh", {"next": "/admin/"})
    page = page_of(boss.post(f"/admin/approvals/{request_id}/approve/", {"comment": ""}, follow_redirects=True))
    assert "步骤 review 没有审批人：复核人 为空。" in page and "has no approver" not in page


def test_the_api_keeps_its_message_and_adds_the_reason(sales):
    assert sales.api.post("/approval-processes", json={"object": "deal", "name": "big", "steps": [
        {"name": "boss", "approvers": {"type": "manager"}}]}).status_code == 201
    deal = sales.api.post("/records/deal", json={"name": "A"}).get_json()
    body = sales.api.post(f"/records/deal/{deal['id']}/submit", json={"process": "big"}).get_json()["error"]
    assert body["message"] == "step 'boss' has no approver: the record's owner has no manager"
    assert body["details"] == {"steps": ["step 'boss' has no approver: the record's owner has no manager"]}
    assert body["reason"] == "no_approver"
    assert body["params"] == {"step": "boss", "object": "deal",
                              "causes": [{"code": "owner_without_manager", "params": {}}]}
