"""Each pack's rules at work on its own sample data, as a user would trigger them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from crm_platform.core.session import Actor, tenant_session

from .conftest import install, key_id, records


def _patch(handle, object_name, record_id, values):
    from metadata import RecordService

    with handle.session() as session:
        return RecordService(session).update(object_name, record_id, values)


def _create(handle, object_name, values):
    from metadata import RecordService

    with handle.session() as session:
        return RecordService(session).create(object_name, values)


def _get(handle, object_name, record_id):
    from metadata import RecordService

    with handle.session(write=False) as session:
        return RecordService(session).get(object_name, record_id)


def _user_id(handle, email):
    from crm_platform.core.users import get_user_by_email

    with handle.session(write=False) as session:
        return get_user_by_email(session, email).id


def _requests(handle, object_name, record_id):
    from workflow_engine.tables import approval_requests, approval_tasks

    with handle.session(write=False) as session:
        requests = session.conn.execute(sa.select(approval_requests).where(
            approval_requests.c.object == object_name, approval_requests.c.record_id == record_id)).mappings().all()
        tasks = session.conn.execute(sa.select(approval_tasks).where(
            approval_tasks.c.request_id.in_([r["id"] for r in requests]))).mappings().all()
    return [dict(r) for r in requests], [dict(t) for t in tasks]


def _jobs(handle, object_name, record_id):
    from workflow_engine.tables import scheduled_jobs

    with handle.session(write=False) as session:
        return session.conn.execute(sa.select(scheduled_jobs).where(
            scheduled_jobs.c.object == object_name, scheduled_jobs.c.record_id == record_id,
            scheduled_jobs.c.status == "pending")).mappings().all()


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- crm_core -----------------------------------------------------------------------------------


@pytest.fixture
def core(tenant):
    install(tenant, "crm_core", sample=True)
    return tenant


def test_core_leads_are_assigned_round_robin_by_region(core):
    east = [_user_id(core, "wang.fang@example.com"), _user_id(core, "li.na@example.com")]
    north = [_user_id(core, "zhang.wei@example.com"), _user_id(core, "liu.yang@example.com")]
    sample = {lead["company"]: lead["owner_id"] for lead in records(core, "lead")}
    # The sample leads went round the teams as they were loaded: east got both of its reps in turn.
    assert sample["江南外国语学校"] in east and sample["金陵职业培训学院"] in east
    assert sample["江南外国语学校"] != sample["金陵职业培训学院"]
    first = _create(core, "lead", {"name": "马丽", "company": "渤海证券", "region": "north"})
    second = _create(core, "lead", {"name": "高远", "company": "津门银行", "region": "north"})
    owners = [_get(core, "lead", first["id"])["owner_id"], _get(core, "lead", second["id"])["owner_id"]]
    assert sorted(owners) == sorted(north)


def test_core_opportunity_pipeline_requires_fields_and_moves_probability(core):
    from crm_platform.core.errors import ValidationError

    account = key_id(core, "account", "acc_xibu_mfg")
    created = _create(core, "opportunity", {"name": "西部精工二期", "account": account})
    assert (created["stage"], created["probability"]) == ("initial_contact", 10)
    with pytest.raises(ValidationError, match="stage 'proposal' requires: contact, amount"):
        _patch(core, "opportunity", created["id"], {"stage": "proposal"})
    _patch(core, "opportunity", created["id"], {"stage": "proposal", "amount": 90000,
                                                "contact": key_id(core, "contact", "ct_tang_bo")})
    assert _get(core, "opportunity", created["id"])["probability"] == 60
    _patch(core, "opportunity", created["id"], {"stage": "lost", "loss_reason": "timing"})
    assert _get(core, "opportunity", created["id"])["probability"] == 0


def test_core_quote_over_20_percent_discount_goes_to_approval(core):
    sample = key_id(core, "quote", "qt_huadong_ent")  # 25% off in the sample data
    assert _get(core, "quote", sample)["status"] == "pending_approval"
    requests, tasks = _requests(core, "quote", sample)
    assert [r["status"] for r in requests] == ["pending"] and requests[0]["process_name"] == "discount_approval"
    assert {t["approver_id"] for t in tasks} == {_user_id(core, "zhao.lei@example.com")}  # wang.fang's manager
    small = _create(core, "quote", {"name": "小折扣", "list_price": 1000, "discount_percent": 10})
    assert _requests(core, "quote", small["id"]) == ([], [])


def test_core_ticket_gets_an_sla_and_an_escalation_is_scheduled(core):
    ticket = _create(core, "ticket", {"subject": "无法导出报表", "priority": "high"})
    stored = _get(core, "ticket", ticket["id"])
    due = datetime.fromisoformat(stored["sla_due_at"].replace("Z", "+00:00"))
    assert timedelta(days=1, hours=23) < due - datetime.now(timezone.utc) <= timedelta(days=2)
    jobs = _jobs(core, "ticket", ticket["id"])
    assert len(jobs) == 1 and abs((_aware(jobs[0]["due_at"]) - due).total_seconds()) < 1


def test_core_escalation_runs_when_the_sla_passes(core):
    from workflow_engine.scheduler import tick

    overdue = key_id(core, "ticket", "tk_login_fail")  # its SLA passed two hours ago in the sample data
    tick(core.platform, tenants=[core.slug])
    stored = _get(core, "ticket", overdue)
    assert stored["escalated"] is True and stored["priority"] == "urgent"


# -- education ----------------------------------------------------------------------------------


@pytest.fixture
def school(tenant):
    install(tenant, "education", sample=True)
    return tenant


def test_education_booking_a_trial_creates_a_reminder_task(school):
    student = key_id(school, "student", "st_li_xiaoxiao")  # an inquiry in the sample data
    trial_at = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    _patch(school, "student", student, {"stage": "trial_booked", "trial_course": key_id(school, "course", "crs_english_k1"),
                                        "trial_at": trial_at.isoformat()})
    tasks = [t for t in records(school, "task") if t["related_object"] == "student" and t["related_record"] == student]
    assert len(tasks) == 1
    assert tasks[0]["subject"] == "试听提醒 Trial lesson reminder: 李潇潇"
    assert tasks[0]["due_date"] == trial_at.date().isoformat() and tasks[0]["priority"] == "high"
    assert tasks[0]["assigned_to"] == _user_id(school, "lin.xiaoyu@example.com")


def test_education_renewal_task_is_scheduled_30_days_before_a_package_ends(school):
    package = key_id(school, "course_package", "pkg_liu_k1_2")
    end = date.fromisoformat(_get(school, "course_package", package)["end_date"])
    jobs = _jobs(school, "course_package", [r for r in [package]][0])
    renewal = [j for j in jobs if _aware(j["due_at"]).date() == end - timedelta(days=30)]
    assert len(renewal) == 1
    # A new end date moves the reminder.
    _patch(school, "course_package", package, {"end_date": (end + timedelta(days=10)).isoformat()})
    jobs = _jobs(school, "course_package", package)
    assert [_aware(j["due_at"]).date() for j in jobs if _aware(j["due_at"]).date() != end - timedelta(days=30)] == [
        end + timedelta(days=10) - timedelta(days=30)]


def test_education_renewal_task_is_created_when_due(school):
    from workflow_engine.scheduler import tick

    package = key_id(school, "course_package", "pkg_chen_python")  # ends in 20 days: its reminder is due
    tick(school.platform, tenants=[school.slug])
    tasks = [t for t in records(school, "task") if t["related_object"] == "course_package" and t["related_record"] == package]
    assert [t["subject"] for t in tasks] == ["续费跟进 Renewal: 陈一鸣 Python 48 课时包"]


def test_education_refund_goes_to_the_campus_manager_then_finance(school):
    package = key_id(school, "course_package", "pkg_xu_python")  # refund of 6,800 requested in the sample data
    requests, tasks = _requests(school, "course_package", package)
    assert [r["status"] for r in requests] == ["pending"]
    managers = {_user_id(school, "zhou.min@example.com"), _user_id(school, "qian.hao@example.com")}
    assert {t["approver_id"] for t in tasks if t["step_index"] == 0} == managers


# -- finance ------------------------------------------------------------------------------------


@pytest.fixture
def bank(tenant):
    install(tenant, "finance", sample=True)
    return tenant


def test_finance_loan_approval_steps_depend_on_the_amount(bank):
    from workflow_engine import decide

    big = key_id(bank, "loan_application", "ln_hengtai_working")  # 3,500,000
    small = key_id(bank, "loan_application", "ln_chen_shop")  # 600,000
    for loan in (big, small):
        _patch(bank, "loan_application", loan, {"stage": "approval"})
        assert _get(bank, "loan_application", loan)["approval_status"] == "pending"

    def approve_all(loan):
        """Approve one open task at a time until the request is decided; answers the steps seen."""
        steps: list[str] = []
        for _ in range(10):
            requests, tasks = _requests(bank, "loan_application", loan)
            if requests[0]["status"] != "pending":
                return steps, requests[0]["status"]
            if not steps or steps[-1] != requests[0]["step_name"]:
                steps.append(requests[0]["step_name"])
            task = next(t for t in tasks if t["status"] == "pending" and t["step_index"] == requests[0]["step_index"])
            with tenant_session(bank.platform, bank.slug, Actor(task["approver_id"], "x@example.com", ())) as session:
                decide(session, requests[0]["id"], "approve", "同意")
        raise AssertionError("did not finish")

    assert approve_all(big) == (["branch_manager", "risk_officer", "risk_committee"], "approved")
    assert approve_all(small) == (["branch_manager", "risk_officer"], "approved")
    assert _get(bank, "loan_application", big)["approval_status"] == "approved"


def test_finance_advisors_see_masked_identity_risk_officers_see_it_whole(bank):
    from metadata import RecordService

    client = key_id(bank, "client", "cl_zhang_jianguo")
    advisor = Actor(_user_id(bank, "fang.qing@example.com"), "fang.qing@example.com", ("financial_advisor",))
    officer = Actor(_user_id(bank, "cao.bin@example.com"), "cao.bin@example.com", ("risk_officer",))
    with tenant_session(bank.platform, bank.slug, advisor, write=False) as session:
        seen = RecordService(session).get("client", client)
    assert seen["id_number"] == "*" * 14 + "4417" and seen["phone"].startswith("138") and "*" in seen["phone"]
    with tenant_session(bank.platform, bank.slug, officer, write=False) as session:
        seen = RecordService(session).get("client", client)
    assert seen["id_number"] == "310104197203154417" and seen["phone"] == "138 0013 5678"


def test_finance_kyc_expiry_reminder_is_scheduled(bank):
    client = key_id(bank, "client", "cl_li_wenjing")
    expires = date.fromisoformat(_get(bank, "client", client)["kyc_expires_on"])
    due = sorted(_aware(j["due_at"]).date() for j in _jobs(bank, "client", client))
    assert due == [expires - timedelta(days=30), expires]


# -- retail ---------------------------------------------------------------------------------------


@pytest.fixture
def shop(tenant):
    install(tenant, "retail", sample=True)
    return tenant


def test_retail_paid_order_adds_loyalty_points_to_its_member(shop):
    member = key_id(shop, "member", "mb_he_dong")
    order = key_id(shop, "sales_order", "so_he_1")  # 159 - 10, awaiting payment in the sample data
    assert _get(shop, "member", member)["points"] == 0
    _patch(shop, "sales_order", order, {"status": "paid"})
    stored = _get(shop, "member", member)
    assert (stored["points"], stored["order_count"], stored["total_spent"]) == (149, 1, 149.0)
    assert stored["last_purchase_on"] == date.today().isoformat()
    assert stored["rfm_segment"] == "一般客户 Regular"
    # The sample data's paid orders counted too: 黄晓丽 had 6,820 points and paid 398 more.
    assert _get(shop, "member", key_id(shop, "member", "mb_huang_xiaoli"))["points"] == 7218


def test_retail_member_tier_follows_points(shop):
    member = _create(shop, "member", {"name": "测试会员", "phone": "131 0000 9999"})
    _create(shop, "sales_order", {"member": member["id"], "amount": 5200, "status": "paid"})
    stored = _get(shop, "member", member["id"])
    assert (stored["points"], stored["tier"]) == (5200, "gold")


def test_retail_inspection_shortage_opens_a_restock_ticket(shop):
    store = key_id(shop, "store", "st_zhujiang")
    inspection = _create(shop, "store_inspection", {"name": "珠江新城店 临时巡检", "store": store,
                                                    "inspected_on": date.today().isoformat(), "score": 81,
                                                    "stock_status": "out_of_stock", "missing_items": "有机纯牛奶"})
    tickets = [t for t in records(shop, "ticket") if t["inspection"] == inspection["id"]]
    assert len(tickets) == 1
    assert (tickets[0]["store"], tickets[0]["ticket_type"], tickets[0]["priority"]) == (store, "restock", "high")
    assert tickets[0]["description"] == "有机纯牛奶"
    assert _get(shop, "store", store)["last_inspection_score"] == 81


def test_retail_return_goes_to_approval_and_refunds_on_approval(shop):
    from workflow_engine import decide

    order = key_id(shop, "sales_order", "so_zheng_1")  # return of 2,599 requested in the sample data
    requests, tasks = _requests(shop, "sales_order", order)
    assert [r["status"] for r in requests] == ["pending"]
    for step in ("store_manager", "regional_manager"):
        requests, tasks = _requests(shop, "sales_order", order)
        assert requests[0]["step_name"] == step
        task = next(t for t in tasks if t["status"] == "pending")
        with tenant_session(shop.platform, shop.slug, Actor(task["approver_id"], "x@example.com", ())) as session:
            decide(session, requests[0]["id"], "approve", "同意退货")
    assert _get(shop, "sales_order", order)["status"] == "returned"
