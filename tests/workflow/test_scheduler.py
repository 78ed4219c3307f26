"""The scheduler tick, end to end: time-relative rules, scheduled (cron) rules, retries, hooks.

Time moves by passing ``now`` to the tick; nothing sleeps.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crm_platform.app import create_app
from crm_platform.cli import main
from crm_platform.core.platform import get_platform
from crm_platform.core.session import utcnow
from crm_platform.core.tables import users
from tests.conftest import TEST_DATABASE_URL
from tests.workflow.receivers import app_config, smtp_server  # noqa: F401 - the smtp fixture
from workflow_engine.scheduler import TICK_HOOK, last_fire_time, tick
from workflow_engine.tables import (
    notifications,
    rule_runs,
    rules,
    schedule_state,
    scheduled_jobs,
)


@pytest.fixture
def app(tmp_path, smtp):  # the suite's app, with its SMTP server on loopback
    app = create_app(app_config(tmp_path, CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=smtp.port))
    yield app
    get_platform(app).db.dispose()


def define(api, *objects):
    for document in objects:
        response = api.post("/objects", json=document)
        assert response.status_code == 201, response.json


def add_rule(api, **document):
    response = api.post("/rules", json=document)
    assert response.status_code == 201, response.json
    return response.json


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def runs_of(tenant, rule_id):
    with tenant.session(write=False) as session:
        return session.conn.execute(sa.select(rule_runs).where(rule_runs.c.rule_id == rule_id).order_by(rule_runs.c.id)).all()


def jobs_of(tenant, rule_id):
    with tenant.session(write=False) as session:
        return session.conn.execute(sa.select(scheduled_jobs).where(scheduled_jobs.c.rule_id == rule_id)
                                    .order_by(scheduled_jobs.c.record_id)).all()


def run_tick(tenant, now):
    counts = tick(tenant.platform, now=now, tenants=[tenant.slug])
    assert counts["errors"] == [], counts["errors"]
    return counts


# -- (i) quotes without a reply ---------------------------------------------------------------

OPPORTUNITY = {"name": "opportunity", "label": "Opportunity", "fields": [
    {"name": "name", "type": "text", "required": True},
    {"name": "needs_second_contact", "type": "boolean"},
]}
QUOTE = {"name": "quote", "label": "Quote", "fields": [
    {"name": "name", "type": "text", "required": True},
    {"name": "sent_at", "type": "datetime"},
    {"name": "replied_at", "type": "datetime"},
    {"name": "opportunity", "type": "lookup", "target": "opportunity", "on_delete": "set_null"},
]}
TASK = {"name": "task", "label": "Task", "fields": [
    {"name": "subject", "type": "text", "required": True},
    {"name": "quote", "type": "lookup", "target": "quote", "on_delete": "cascade"},
]}


def test_quote_without_reply_gets_a_follow_up_task_72_hours_later(api, tenant):
    define(api, OPPORTUNITY, QUOTE, TASK)
    rule = add_rule(api, name="quote follow-up", object="quote",
                    trigger={"type": "time_relative", "field": "sent_at", "offset": {"amount": 72, "unit": "hours"},
                             "direction": "after"},
                    condition={"condition": "AND", "rules": [{"field": "replied_at", "operator": "is_null"}]},
                    actions=[{"type": "create_record", "object": "task",
                              "values": {"subject": {"formula": "CONCAT('Second contact: ', name)"},
                                         "quote": {"formula": "id"}}},
                             {"type": "update_related", "lookup": "opportunity",
                              "values": {"needs_second_contact": True}}])
    sent = utcnow().replace(microsecond=0)
    silent_opp = api.post("/records/opportunity", json={"name": "Silent Co"}).json
    replied_opp = api.post("/records/opportunity", json={"name": "Chatty Co"}).json
    silent = api.post("/records/quote", json={"name": "Q-1", "sent_at": iso(sent), "opportunity": silent_opp["id"]}).json
    replied = api.post("/records/quote", json={"name": "Q-2", "sent_at": iso(sent), "opportunity": replied_opp["id"]}).json
    jobs = jobs_of(tenant, rule["id"])
    assert [(j.record_id, j.status, j.due_at) for j in jobs] == [
        (silent["id"], "pending", sent + timedelta(hours=72)), (replied["id"], "pending", sent + timedelta(hours=72))]
    api.patch(f"/records/quote/{replied['id']}", json={"replied_at": iso(sent + timedelta(hours=5))})

    early = run_tick(tenant, sent + timedelta(hours=71))
    assert (early["jobs_run"], early["jobs_cancelled"]) == (0, 0)
    assert api.get("/records/task").json["meta"]["total"] == 0

    counts = run_tick(tenant, sent + timedelta(hours=73))
    assert (counts["jobs_run"], counts["jobs_cancelled"]) == (1, 1)
    tasks = api.get("/records/task").json["data"]
    assert [(t["subject"], t["quote"]) for t in tasks] == [("Second contact: Q-1", silent["id"])]
    assert api.get(f"/records/opportunity/{silent_opp['id']}").json["needs_second_contact"] is True
    assert api.get(f"/records/opportunity/{replied_opp['id']}").json["needs_second_contact"] is None
    assert {j.record_id: j.status for j in jobs_of(tenant, rule["id"])} == {silent["id"]: "done", replied["id"]: "cancelled"}
    runs = {r.record_id: r for r in runs_of(tenant, rule["id"])}
    assert (runs[silent["id"]].event_type, runs[silent["id"]].status, runs[silent["id"]].matched) == (
        "time_relative", "succeeded", True)
    assert (runs[replied["id"]].status, runs[replied["id"]].matched) == ("skipped", False)
    assert "no longer matches" in runs[replied["id"]].outcomes[0]["reason"]

    again = run_tick(tenant, sent + timedelta(hours=80))
    assert (again["jobs_run"], again["jobs_cancelled"]) == (0, 0)
    assert api.get("/records/task").json["meta"]["total"] == 1


def test_due_job_of_a_deactivated_rule_is_cancelled(api, tenant):
    define(api, OPPORTUNITY, QUOTE, TASK)
    rule = add_rule(api, name="follow-up", object="quote",
                    trigger={"type": "time_relative", "field": "sent_at", "offset": {"amount": 1, "unit": "days"}},
                    actions=[{"type": "create_record", "object": "task", "values": {"subject": "Call"}}])
    sent = utcnow()
    api.post("/records/quote", json={"name": "Q", "sent_at": iso(sent)})
    api.patch(f"/rules/{rule['id']}", json={"active": False})
    counts = run_tick(tenant, sent + timedelta(days=2))
    assert (counts["jobs_run"], counts["jobs_cancelled"]) == (0, 1)
    [run] = runs_of(tenant, rule["id"])
    assert run.status == "cancelled" and "deactivated" in run.outcomes[0]["reason"]
    assert api.get("/records/task").json["meta"]["total"] == 0


# -- (ii) customer care e-mail ----------------------------------------------------------------

CUSTOMER = {"name": "customer", "label": "Customer", "fields": [
    {"name": "name", "type": "text", "required": True},
    {"name": "email", "type": "email"},
    {"name": "last_contacted_at", "type": "datetime"},
]}


def test_customer_without_contact_for_30_days_gets_a_care_email(api, tenant, smtp):
    define(api, CUSTOMER)
    add_rule(api, name="care", object="customer",
             trigger={"type": "time_relative", "field": "last_contacted_at", "offset": {"amount": 30, "unit": "days"}},
             condition={"condition": "AND", "rules": [{"field": "email", "operator": "is_not_null"}]},
             actions=[{"type": "send_email", "to": "email", "subject": "We miss you, {{ record.name }}",
                       "body": "Dear {{ record.name }}, it has been a while."}])
    base = utcnow()
    api.post("/records/customer", json={"name": "Wang", "email": "wang@example.com", "last_contacted_at": iso(base)})
    busy = api.post("/records/customer", json={"name": "Zhao", "email": "zhao@example.com",
                                               "last_contacted_at": iso(base)}).json
    # Zhao was called again 20 days later: the 30 days count from then.
    api.patch(f"/records/customer/{busy['id']}", json={"last_contacted_at": iso(base + timedelta(days=20))})

    assert run_tick(tenant, base + timedelta(days=29))["jobs_run"] == 0
    assert smtp.messages == []
    assert run_tick(tenant, base + timedelta(days=31))["jobs_run"] == 1
    assert [(m["to"], m["subject"]) for m in smtp.messages] == [(["wang@example.com"], "We miss you, Wang")]
    assert run_tick(tenant, base + timedelta(days=51))["jobs_run"] == 1
    assert [m["to"] for m in smtp.messages] == [["wang@example.com"], ["zhao@example.com"]]


# -- (iii) SLA escalation ---------------------------------------------------------------------

TICKET = {"name": "ticket", "label": "Ticket", "fields": [
    {"name": "subject", "type": "text", "required": True},
    {"name": "status", "type": "picklist", "options": [{"value": "open"}, {"value": "closed"}]},
    {"name": "sla_due_at", "type": "datetime"},
]}


def test_ticket_past_its_sla_escalates_to_the_team_lead(api, tenant):
    define(api, TICKET)
    for email, team in [("lead@example.com", "support"), ("agent@example.com", "support")]:
        assert api.post("/users", json={"email": email, "team": team, "password": "password-1"}).status_code == 201
    people = {u["email"]: u["id"] for u in api.get("/users").json["data"]}
    rule = add_rule(api, name="sla breach", object="ticket",
                    trigger={"type": "time_relative", "field": "sla_due_at", "offset": {"amount": 0, "unit": "minutes"},
                             "direction": "after"},
                    condition={"condition": "AND", "rules": [{"field": "status", "operator": "not_equal", "value": "closed"}]},
                    actions=[{"type": "assign_owner", "strategy": "user", "user": "lead@example.com"},
                             {"type": "notify", "to": "owner", "title": "SLA breached: {{ record.subject }}"}])
    base = utcnow()
    due = iso(base + timedelta(hours=4))
    late = api.post("/records/ticket", json={"subject": "Printer on fire", "status": "open", "sla_due_at": due,
                                             "owner_id": people["agent@example.com"]}).json
    closed = api.post("/records/ticket", json={"subject": "Solved", "status": "closed", "sla_due_at": due,
                                               "owner_id": people["agent@example.com"]}).json
    later = api.post("/records/ticket", json={"subject": "Tomorrow", "status": "open",
                                              "sla_due_at": iso(base + timedelta(days=1))}).json

    counts = run_tick(tenant, base + timedelta(hours=5))
    assert (counts["jobs_run"], counts["jobs_cancelled"]) == (1, 1)
    assert api.get(f"/records/ticket/{late['id']}").json["owner_id"] == people["lead@example.com"]
    assert api.get(f"/records/ticket/{closed['id']}").json["owner_id"] == people["agent@example.com"]
    with tenant.session(write=False) as session:
        notes = session.conn.execute(sa.select(notifications.c.user_id, notifications.c.title, notifications.c.record_id)).all()
    assert [tuple(n) for n in notes] == [(people["lead@example.com"], "SLA breached: Printer on fire", late["id"])]
    assert {j.record_id: j.status for j in jobs_of(tenant, rule["id"])} == {
        late["id"]: "done", closed["id"]: "cancelled", later["id"]: "pending"}


# -- (iv) scheduled (cron) rules --------------------------------------------------------------

ACCOUNT = {"name": "account", "label": "Account", "fields": [
    {"name": "name", "type": "text", "required": True},
    {"name": "tier", "type": "picklist", "options": [{"value": "gold"}, {"value": "silver"}]},
    {"name": "reviews", "type": "integer", "default": 0},
]}


def test_cron_rule_catches_up_once_after_downtime_without_duplicates(api, tenant):
    define(api, ACCOUNT)
    rule = add_rule(api, name="daily gold review", object="account", trigger={"type": "scheduled", "cron": "0 9 * * *"},
                    condition="tier == 'gold'",
                    actions=[{"type": "set_field", "field": "reviews", "formula": "reviews + 1"}])
    gold = [api.post("/records/account", json={"name": f"G{i}", "tier": "gold"}).json["id"] for i in range(2)]
    silver = api.post("/records/account", json={"name": "S", "tier": "silver"}).json["id"]

    def reviews():
        return {r["id"]: r["reviews"] for r in api.get("/records/account").json["data"]}

    # The scheduler was down for three days: one catch-up run per record, not three.
    now = (utcnow() + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    counts = run_tick(tenant, now)
    assert (counts["schedules_fired"], counts["scheduled_runs"]) == (1, 2)
    assert reviews() == {gold[0]: 1, gold[1]: 1, silver: 0}
    runs = runs_of(tenant, rule["id"])
    assert sorted(r.record_id for r in runs) == gold
    assert {(r.event_type, r.status) for r in runs} == {("scheduled", "succeeded")}
    assert runs[0].event_id == f"cron-{now:%Y%m%d}090000-{runs[0].record_id}"

    # The same moment again (a second beat, a manual tick): nothing new.
    counts = run_tick(tenant, now)
    assert (counts["schedules_fired"], counts["scheduled_runs"]) == (0, 0)
    assert len(runs_of(tenant, rule["id"])) == 2

    # Next day, two ticks racing: still one run per record for that slot.
    next_day = now + timedelta(days=1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(tick(tenant.platform, now=next_day, tenants=[tenant.slug])))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r["schedules_fired"] for r in results) == 1
    assert sum(r["scheduled_runs"] for r in results) == 2
    assert len(runs_of(tenant, rule["id"])) == 4
    with tenant.session(write=False) as session:
        last = session.conn.execute(sa.select(schedule_state.c.last_run_at).where(
            schedule_state.c.rule_id == rule["id"])).scalar_one()
    assert last == next_day.replace(hour=9)
    run_tick(tenant, next_day + timedelta(minutes=30))  # picks up anything a racing submission left queued
    assert reviews() == {gold[0]: 2, gold[1]: 2, silver: 0}


def test_new_cron_rule_starts_from_its_creation():
    created = datetime(2024, 5, 6, 9, 30, tzinfo=timezone.utc)
    assert last_fire_time("0 9 * * *", created) == datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)
    assert last_fire_time("0 9 * * *", datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)) == datetime(
        2024, 5, 6, 9, 0, tzinfo=timezone.utc)
    assert last_fire_time("*/15 * * * *", datetime(2024, 5, 6, 9, 44, 59, tzinfo=timezone.utc)) == datetime(
        2024, 5, 6, 9, 30, tzinfo=timezone.utc)


def test_cron_rule_created_after_todays_slot_waits_for_the_next_one(api, tenant):
    define(api, ACCOUNT)
    rule = add_rule(api, name="review", object="account", trigger={"type": "scheduled", "cron": "* * * * *"},
                    actions=[{"type": "set_field", "field": "reviews", "value": 7}])
    api.post("/records/account", json={"name": "A"})
    created = datetime.fromisoformat(rule["created_at"].replace("Z", "+00:00"))
    assert run_tick(tenant, created)["schedules_fired"] == 0  # the slot at or before creation is not run
    assert run_tick(tenant, created + timedelta(minutes=1))["schedules_fired"] == 1


# -- retries and hooks ------------------------------------------------------------------------


def test_failed_run_is_retried_by_the_tick_with_backoff(api, tenant):
    define(api, TICKET)
    rule = add_rule(api, name="to lead", object="ticket", trigger={"type": "on_create"},
                    actions=[{"type": "assign_owner", "strategy": "user", "user": "lead@example.com"}])
    ticket = api.post("/records/ticket", json={"subject": "Help"}).json
    [run] = runs_of(tenant, rule["id"])
    assert (run.status, run.attempts) == ("queued", 1) and "nobody to assign to" in run.error
    assert run_tick(tenant, utcnow())["runs_resubmitted"] == 0  # not due before its backoff
    # the missing user appears; the retry succeeds
    assert api.post("/users", json={"email": "lead@example.com", "password": "password-1"}).status_code == 201
    assert run_tick(tenant, run.next_attempt_at)["runs_resubmitted"] == 1
    [run] = runs_of(tenant, rule["id"])
    assert (run.status, run.attempts) == ("succeeded", 2)
    with tenant.session(write=False) as session:
        lead = session.conn.execute(sa.select(users.c.id).where(users.c.email == "lead@example.com")).scalar_one()
    assert api.get(f"/records/ticket/{ticket['id']}").json["owner_id"] == lead


def test_runs_queued_together_keep_their_own_outcomes(api, tenant):
    """Both rules match the same creation and run after it; the one that fails halfway leaves
    nothing of its own behind (no field change, no audit entry) and waits for its retry, while
    the other's change stays."""
    from crm_platform.core.tables import audit_log

    define(api, TICKET)
    failing = add_rule(api, name="close then fail", object="ticket", trigger={"type": "on_create"},
                       actions=[{"type": "set_field", "field": "status", "value": "closed"},
                                {"type": "assign_owner", "strategy": "user", "user": "nobody@example.com"}])
    working = add_rule(api, name="set the due date", object="ticket", trigger={"type": "on_create"},
                       actions=[{"type": "set_field", "field": "sla_due_at", "value": "2030-01-01T09:00:00Z"}])
    ticket = api.post("/records/ticket", json={"subject": "Help"}).json
    [failed] = runs_of(tenant, failing["id"])
    [done] = runs_of(tenant, working["id"])
    assert (failed.status, failed.attempts) == ("queued", 1) and "nobody to assign to" in failed.error
    assert (done.status, done.attempts, done.error) == ("succeeded", 1, None)
    record = api.get(f"/records/ticket/{ticket['id']}").json
    assert record["status"] is None and record["sla_due_at"].startswith("2030-01-01T09:00:00")
    with tenant.session(write=False) as session:
        actors = session.conn.execute(sa.select(audit_log.c.user_email).where(
            audit_log.c.action == "record.update", audit_log.c.record_id == ticket["id"])).scalars().all()
    assert actors == ["rule:set the due date"]


def test_failing_run_ends_failed_after_its_attempts(api, tenant):
    from workflow_engine.executor import MAX_ATTEMPTS

    define(api, TICKET)
    rule = add_rule(api, name="to nobody", object="ticket", trigger={"type": "on_create"},
                    actions=[{"type": "assign_owner", "strategy": "user", "user": "nobody@example.com"}])
    api.post("/records/ticket", json={"subject": "Help"})
    for _ in range(MAX_ATTEMPTS + 2):
        [run] = runs_of(tenant, rule["id"])
        if run.status != "queued":
            break
        run_tick(tenant, run.next_attempt_at)
    assert (run.status, run.attempts) == ("failed", MAX_ATTEMPTS)
    assert run.finished_at is not None and "nobody to assign to" in run.error


def test_tick_calls_the_registered_hooks_per_tenant(tenant, platform):
    calls = []

    def escalate(session, now):
        calls.append((session.tenant, now))

    def broken(session, now):
        raise RuntimeError("boom")

    others = len(platform.hooks.get(TICK_HOOK, []))  # the layers' own (approval escalations)
    platform.add_hook(TICK_HOOK, broken)
    platform.add_hook(TICK_HOOK, escalate)
    moment = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    counts = tick(platform, now=moment, tenants=[tenant.slug])
    assert calls == [(tenant.slug, moment)]
    assert counts["hooks_called"] == others + 1
    assert len(counts["errors"]) == 1 and "broken" in counts["errors"][0] and "boom" in counts["errors"][0]


def test_crm_workflow_tick_command(app, api, tenant):
    define(api, ACCOUNT)
    add_rule(api, name="every minute", object="account", trigger={"type": "scheduled", "cron": "* * * * *"},
             actions=[{"type": "set_field", "field": "reviews", "value": 1}])
    account = api.post("/records/account", json={"name": "A"}).json
    args = ["--instance", app.instance_path]
    if TEST_DATABASE_URL:
        args += ["--database-url", TEST_DATABASE_URL]
    # The CLI ticks at the real time: make the rule older than the current minute's slot.
    with tenant.session() as session:
        session.conn.execute(rules.update().values(created_at=utcnow() - timedelta(minutes=2)))
    env = {"CRM_ARGON2_MEMORY_COST": "64", "CRM_ARGON2_TIME_COST": "1"}
    result = CliRunner().invoke(main, [*args, "workflow", "tick", "--tenant", tenant.slug], env=env)
    assert result.exit_code == 0, result.output
    assert "schedules fired" in result.output and "scheduled runs" in result.output
    assert api.get(f"/records/account/{account['id']}").json["reviews"] == 1
    missing = CliRunner().invoke(main, [*args, "workflow", "tick", "--tenant", "no-such-tenant"], env=env)
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_background_commands_have_help():
    for args in (["workflow", "tick"], ["worker"], ["beat"]):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_worker_without_a_broker_says_so(tmp_path):
    args = ["--instance", str(tmp_path / "instance")]
    if TEST_DATABASE_URL:
        args += ["--database-url", TEST_DATABASE_URL]
    result = CliRunner().invoke(main, [*args, "worker"], env={"CRM_BROKER_URL": ""})
    assert result.exit_code == 1 and "CRM_BROKER_URL" in result.output
