"""Fixtures for the UI's view tests: a signed-in browser-like client and a small sales model."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from crm_platform.core.session import Actor, tenant_session
from crm_platform.core.users import create_user

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')

DEAL_MODEL = [
    {"name": "account", "label": {"en": "Account", "zh": "客户"}, "label_plural": {"en": "Accounts", "zh": "客户"},
     "title_field": "name",
     "fields": [{"name": "name", "type": "text", "required": True, "label": {"en": "Name", "zh": "名称"}},
                {"name": "phone", "type": "phone", "label": {"en": "Phone", "zh": "电话"}}]},
    {"name": "deal", "label": {"en": "Deal", "zh": "商机"}, "label_plural": {"en": "Deals", "zh": "商机"},
     "title_field": "name",
     "fields": [
         {"name": "name", "type": "text", "required": True, "label": {"en": "Deal name", "zh": "商机名称"}},
         {"name": "amount", "type": "currency", "min": 0, "label": {"en": "Amount", "zh": "金额"}},
         {"name": "region", "type": "picklist", "label": {"en": "Region", "zh": "区域"},
          "options": [{"value": "east", "label": {"en": "East", "zh": "华东"}},
                      {"value": "north", "label": {"en": "North", "zh": "华北"}}]},
         {"name": "account", "type": "lookup", "target": "account", "label": {"en": "Account", "zh": "客户"}},
         {"name": "close_date", "type": "date", "label": {"en": "Close date", "zh": "预计成交日期"}},
         {"name": "margin", "type": "decimal", "label": {"en": "Margin", "zh": "利润率"}},
         {"name": "notes", "type": "textarea", "label": {"en": "Notes", "zh": "备注"}},
         {"name": "code", "type": "autonumber", "format": "D-{0000}", "label": {"en": "Code", "zh": "编号"}},
     ],
     "pipeline": {"stages": [
         {"name": "qualify", "label": {"en": "Qualify", "zh": "资格确认"}, "probability": 10, "category": "open"},
         {"name": "proposal", "label": {"en": "Proposal", "zh": "方案"}, "probability": 50, "category": "open",
          "required_fields": ["amount", "close_date"]},
         {"name": "won", "label": {"en": "Won", "zh": "赢单"}, "probability": 100, "category": "won"},
         {"name": "lost", "label": {"en": "Lost", "zh": "输单"}, "probability": 0, "category": "lost"}]}},
]


class UIClient:
    """A test client that signs in through /login and sends the CSRF token with every form."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token: str | None = None

    def login(self, tenant: str, email: str, password: str = PASSWORD) -> Any:
        page = self.client.get("/login").get_data(as_text=True)
        token = TOKEN.search(page).group(1)
        response = self.client.post("/login", data={"tenant": tenant, "email": email, "password": password,
                                                    "csrf_token": token})
        home = self.client.get("/admin/").get_data(as_text=True)
        match = TOKEN.search(home)
        self.token = match.group(1) if match else None
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def text(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:2000])
        return response.get_data(as_text=True)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, **kwargs)

    def post_json(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers={"X-CSRFToken": self.token, "Accept": "application/json"})


@pytest.fixture
def sales(tenant: Any) -> Any:
    for document in DEAL_MODEL:
        response = tenant.api.post("/objects", json=document)
        assert response.status_code == 201, response.get_json()
    return tenant


@pytest.fixture
def ui(client: Any, tenant: Any) -> UIClient:
    browser = UIClient(client)
    browser.login(tenant.slug, "admin@example.com")
    return browser


def add_user(tenant: Any, email: str, roles: list[str], team: str | None = None) -> int:
    with tenant_session(tenant.platform, tenant.slug, Actor.system()) as session:
        return create_user(session, email, PASSWORD, roles=roles, team=team)["id"]


@pytest.fixture
def user_client(app: Any) -> Any:
    """A second, independent browser (its own cookies)."""

    def make(tenant: Any, email: str) -> UIClient:
        browser = UIClient(app.test_client())
        browser.login(tenant.slug, email)
        return browser

    return make


@pytest.fixture
def zh(ui: UIClient, sales: Any) -> UIClient:
    """The signed-in client with the UI switched to Simplified Chinese."""
    ui.post("/lang/zh", {"next": "/admin/"})
    return ui


def page_of(response: Any) -> str:
    """A page's text with HTML entities decoded (quotes in messages arrive escaped)."""
    return html.unescape(response.get_data(as_text=True))
