"""Pipelines: ordered stages, fields required to enter a stage, stage history."""

from __future__ import annotations

from datetime import datetime

OPPORTUNITY = {
    "name": "opportunity",
    "label": {"en": "Opportunity", "zh": "商机"},
    "fields": [
        {"name": "title", "type": "text", "required": True},
        {"name": "amount", "type": "currency"},
        {"name": "close_date", "type": "date"},
    ],
}
STAGES = {"stages": [
    {"name": "initial_contact", "label": {"en": "Initial contact", "zh": "初步接触"}, "probability": 10, "category": "open"},
    {"name": "proposal", "label": {"en": "Proposal", "zh": "方案报价"}, "probability": 60, "category": "open",
     "required_fields": ["amount"]},
    {"name": "negotiation", "label": {"en": "Negotiation", "zh": "谈判中"}, "probability": 80, "category": "open",
     "required_fields": ["amount", "close_date"]},
    {"name": "won", "label": {"en": "Won", "zh": "成交"}, "probability": 100, "category": "won"},
    {"name": "lost", "label": {"en": "Lost", "zh": "丢单"}, "probability": 0, "category": "lost"},
]}


def setup_pipeline(api):
    assert api.post("/objects", json=OPPORTUNITY).status_code == 201
    response = api.put("/objects/opportunity/pipeline", json=STAGES)
    assert response.status_code == 200, response.json
    return response.json


def test_pipeline_round_trip_and_new_records_start_in_the_first_stage(api):
    setup_pipeline(api)
    assert api.get("/objects/opportunity/pipeline").json == STAGES
    record = api.post("/records/opportunity", json={"title": "Big one"}).json
    assert record["stage"] == "initial_contact"


def test_existing_records_enter_the_first_stage_when_a_pipeline_is_added(api):
    api.post("/objects", json=OPPORTUNITY)
    record = api.post("/records/opportunity", json={"title": "Before"}).json
    assert "stage" not in record
    api.put("/objects/opportunity/pipeline", json=STAGES)
    assert api.get(f"/records/opportunity/{record['id']}").json["stage"] == "initial_contact"


def test_moving_without_required_fields_is_refused_naming_them(api):
    setup_pipeline(api)
    record = api.post("/records/opportunity", json={"title": "Deal"}).json
    response = api.patch(f"/records/opportunity/{record['id']}", json={"stage": "negotiation"})
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert "amount, close_date" in details["stage"][0]
    assert set(details) == {"stage", "amount", "close_date"}
    assert api.get(f"/records/opportunity/{record['id']}").json["stage"] == "initial_contact"
    moved = api.patch(f"/records/opportunity/{record['id']}",
                      json={"stage": "negotiation", "amount": 5000, "close_date": "2027-01-31"})
    assert moved.status_code == 200 and moved.json["stage"] == "negotiation"


def test_unknown_stage_is_refused(api):
    setup_pipeline(api)
    record = api.post("/records/opportunity", json={"title": "Deal"}).json
    response = api.patch(f"/records/opportunity/{record['id']}", json={"stage": "paid"})
    assert response.status_code == 422 and "paid" in response.json["error"]["details"]["stage"][0]


def test_stage_history_keeps_every_move_with_its_time(api):
    setup_pipeline(api)
    record = api.post("/records/opportunity", json={"title": "Deal", "amount": 100}).json
    api.patch(f"/records/opportunity/{record['id']}", json={"stage": "proposal"})
    api.patch(f"/records/opportunity/{record['id']}", json={"stage": "won"})
    history = api.get(f"/records/opportunity/{record['id']}/stage-history").json["data"]
    assert [(h["from_stage"], h["stage"]) for h in history] == [
        (None, "initial_contact"), ("initial_contact", "proposal"), ("proposal", "won")]
    assert history[0]["left_at"] == history[1]["entered_at"]
    assert history[-1]["left_at"] is None
    for entry in history:
        assert entry["seconds_in_stage"] >= 0
        datetime.fromisoformat(entry["entered_at"].replace("Z", "+00:00"))


def test_filter_by_stage(api):
    setup_pipeline(api)
    first = api.post("/records/opportunity", json={"title": "A", "amount": 1}).json
    api.post("/records/opportunity", json={"title": "B"})
    api.patch(f"/records/opportunity/{first['id']}", json={"stage": "proposal"})
    listed = api.get("/records/opportunity?stage=proposal").json
    assert [r["title"] for r in listed["data"]] == ["A"]


def test_removing_a_stage_that_holds_records_is_refused(api):
    setup_pipeline(api)
    api.post("/records/opportunity", json={"title": "A"})
    fewer = {"stages": [s for s in STAGES["stages"] if s["name"] != "initial_contact"]}
    response = api.put("/objects/opportunity/pipeline", json=fewer)
    assert response.status_code == 409
    assert "initial_contact" in response.json["error"]["message"]
    assert api.get("/objects/opportunity/pipeline").json == STAGES


def test_pipeline_with_unknown_required_field_is_refused(api):
    api.post("/objects", json=OPPORTUNITY)
    response = api.put("/objects/opportunity/pipeline", json={"stages": [{"name": "a", "required_fields": ["nope"]}]})
    assert response.status_code == 422 and "nope" in response.json["error"]["message"]
