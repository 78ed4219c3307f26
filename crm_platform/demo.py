"""The demo instance: a tenant with a small sales CRM and sample data, ready to explore."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from rich.console import Console

from crm_platform.core.errors import NotFound
from crm_platform.core.session import Actor, tenant_session
from crm_platform.core.tenancy import create_tenant, create_token, get_tenant
from crm_platform.core.users import create_user, get_user_by_email

DEMO_TENANT = "demo"
DEMO_ADMIN = "admin@demo.local"

ACCOUNT = {
    "name": "account",
    "label": {"en": "Account", "zh": "客户"},
    "label_plural": {"en": "Accounts", "zh": "客户"},
    "title_field": "name",
    "fields": [
        {"name": "name", "type": "text", "label": {"en": "Name", "zh": "名称"}, "required": True, "unique": True},
        {"name": "industry", "type": "picklist", "label": {"en": "Industry", "zh": "行业"}, "options": [
            {"value": "education", "label": {"en": "Education", "zh": "教育"}},
            {"value": "finance", "label": {"en": "Finance", "zh": "金融"}},
            {"value": "retail", "label": {"en": "Retail", "zh": "零售"}},
        ]},
        {"name": "region", "type": "picklist", "label": {"en": "Region", "zh": "区域"}, "options": [
            {"value": "east", "label": {"en": "East", "zh": "华东"}},
            {"value": "north", "label": {"en": "North", "zh": "华北"}},
            {"value": "south", "label": {"en": "South", "zh": "华南"}},
        ]},
        {"name": "phone", "type": "phone", "label": {"en": "Phone", "zh": "电话"}},
        {"name": "website", "type": "url", "label": {"en": "Website", "zh": "网站"}},
    ],
}

DEAL = {
    "name": "deal",
    "label": {"en": "Deal", "zh": "商机"},
    "label_plural": {"en": "Deals", "zh": "商机"},
    "title_field": "name",
    "fields": [
        {"name": "number", "type": "autonumber", "format": "DEAL-{0000}", "label": {"en": "Number", "zh": "编号"}},
        {"name": "name", "type": "text", "label": {"en": "Name", "zh": "名称"}, "required": True},
        {"name": "account", "type": "lookup", "target": "account", "on_delete": "cascade",
         "label": {"en": "Account", "zh": "客户"}},
        {"name": "amount", "type": "currency", "label": {"en": "Amount", "zh": "金额"}, "min": 0},
        {"name": "probability", "type": "percent", "label": {"en": "Probability", "zh": "赢率"}, "default": 10},
        {"name": "expected_revenue", "type": "formula", "expression": "amount * probability / 100",
         "result_type": "currency", "label": {"en": "Expected revenue", "zh": "预期收入"}},
        {"name": "close_date", "type": "date", "label": {"en": "Close date", "zh": "预计成交日期"}},
    ],
    "pipeline": {"stages": [
        {"name": "initial_contact", "label": {"en": "Initial contact", "zh": "初步接触"}, "probability": 10, "category": "open"},
        {"name": "needs_confirmed", "label": {"en": "Needs confirmed", "zh": "需求确认"}, "probability": 30, "category": "open"},
        {"name": "proposal", "label": {"en": "Proposal", "zh": "方案报价"}, "probability": 60, "category": "open",
         "required_fields": ["amount"]},
        {"name": "negotiation", "label": {"en": "Negotiation", "zh": "谈判中"}, "probability": 80, "category": "open",
         "required_fields": ["amount", "close_date"]},
        {"name": "won", "label": {"en": "Won", "zh": "成交"}, "probability": 100, "category": "won"},
        {"name": "lost", "label": {"en": "Lost", "zh": "丢单"}, "probability": 0, "category": "lost"},
    ]},
}

ACCOUNTS = [
    ("华东教育集团", "education", "east", "021-5555-0101"),
    ("北方银行", "finance", "north", "010-5555-0202"),
    ("南方零售连锁", "retail", "south", "020-5555-0303"),
    ("Acme Learning", "education", "east", "+86 21 5555 0404"),
]


def prepare_demo(platform: Any, console: Console | None = None) -> list[dict[str, str]]:
    """Create (or reuse) the demo tenant and return its logins with a fresh API token each."""
    from metadata import Designer, RecordService

    password_file = platform.db.instance_path / "demo_password"
    try:
        get_tenant(platform, DEMO_TENANT)
    except NotFound:
        password = secrets.token_urlsafe(9)
        create_tenant(platform, DEMO_TENANT, "Demo Co. 演示公司")
        system = Actor.system()
        with tenant_session(platform, DEMO_TENANT, system) as session:
            create_user(session, DEMO_ADMIN, password, name="Demo Admin", roles=["admin"])
            designer = Designer(session)
            designer.create_object(ACCOUNT)
            designer.create_object(DEAL)
        with tenant_session(platform, DEMO_TENANT, system) as session:
            admin = get_user_by_email(session, DEMO_ADMIN)
            records = RecordService(session)
            for index, (name, industry, region, phone) in enumerate(ACCOUNTS):
                account = records.create("account", {"name": name, "industry": industry, "region": region,
                                                     "phone": phone, "owner_id": admin.id})
                records.create("deal", {"name": f"{name} 2027 contract", "account": account["id"],
                                        "amount": 120000 + 35000 * index, "probability": 30,
                                        "close_date": (date.today() + timedelta(days=30 * (index + 1))).isoformat()})
        password_file.write_text(password)
        password_file.chmod(0o600)
        if console:
            console.print(f"Created demo tenant [bold]{DEMO_TENANT}[/]")
    password = password_file.read_text().strip() if password_file.exists() else "(set when the demo was created)"
    with tenant_session(platform, DEMO_TENANT, Actor.system(), write=False) as session:
        admin = get_user_by_email(session, DEMO_ADMIN)
    token = create_token(platform, DEMO_TENANT, admin.id, name="demo")
    return [{"tenant": DEMO_TENANT, "email": DEMO_ADMIN, "password": password, "token": token}]
