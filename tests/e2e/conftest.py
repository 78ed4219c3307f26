"""Browser tests: the app served on 127.0.0.1 (a random free port) in a thread, driven by
Playwright for Python through Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from crm_platform.app import create_app
from crm_platform.core.platform import get_platform
from crm_platform.core.session import Actor, tenant_session
from crm_platform.core.tenancy import create_tenant, delete_tenant
from crm_platform.core.users import create_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def live_server() -> Iterator[dict[str, Any]]:
    instance = tempfile.mkdtemp(prefix="crm-e2e-")
    config: dict[str, Any] = {"INSTANCE_PATH": instance, "CRM_ARGON2_TIME_COST": 1, "CRM_ARGON2_MEMORY_COST": 64}
    if os.environ.get("CRM_TEST_DATABASE_URL"):
        config["CRM_DATABASE_URL"] = os.environ["CRM_TEST_DATABASE_URL"]
    app = create_app(config)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app}
    server.shutdown()
    get_platform(app).db.dispose()
    shutil.rmtree(instance, ignore_errors=True)


@pytest.fixture
def e2e_tenant(live_server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    platform = get_platform(live_server["app"])
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    create_tenant(platform, slug)
    with tenant_session(platform, slug, Actor.system()) as session:
        admin = create_user(session, "admin@example.com", PASSWORD, name="Ada Admin", roles=["admin"])
    yield {"slug": slug, "platform": platform, "admin_id": admin["id"], "url": live_server["url"]}
    delete_tenant(platform, slug)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def login(page: Any, tenant: dict[str, Any], email: str = "admin@example.com") -> None:
    page.goto(tenant["url"] + "/login")
    page.fill("input[name=tenant]", tenant["slug"])
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def shot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under tests/e2e/screenshots/ (git-ignored) for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    return path


def on_phone(browser: Any, page: Any) -> Any:
    """A phone-sized context sharing the desktop page's cookies (same signed-in user)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="en-US", storage_state=page.context.storage_state())
    phone = context.new_page()
    phone.set_default_timeout(15000)
    return phone


def drag(page: Any, source: Any, target: Any) -> None:
    """Drag with the mouse, in small steps (SortableJS runs in its pointer-event fallback mode)."""
    start = source.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 10, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + min(end["height"] / 2, 40), steps=25)
    page.wait_for_timeout(150)
    page.mouse.up()
    page.wait_for_timeout(300)


def bulk_set_amount(page: Any, indexes: list[int], amount: str) -> Any:
    """Tick the given rows of the list, set Amount in the bulk bar; returns the refusal alert."""
    boxes = page.locator('input[name="ids"]')
    for index in indexes:
        boxes.nth(index).check()
    page.select_option("[data-bulk-field]", "amount")
    page.fill('[data-bulk-input="amount"] input[type=number]', amount)
    page.click("[data-bulk-update]")
    alert = page.locator(".alert-danger")
    alert.wait_for()
    return alert


def add_filter_rule(page: Any, field: str, operator: str, value: str) -> Any:
    """Open the list's visual filter and make its only rule `field operator value`; returns that rule."""
    page.click("[data-filters-toggle]")
    page.click("#crm-querybuilder [data-add=rule]")
    rule = page.locator("#crm-querybuilder .rule-container").last
    rule.locator(".rule-filter-container select").select_option(field)
    rule.locator(".rule-operator-container select").select_option(operator)
    rule.locator(".rule-value-container input").fill(value)
    page.locator("#crm-querybuilder .rule-container").first.locator("[data-delete=rule]").click()
    return rule


def switch_language(page: Any, code: str) -> None:
    page.click("[data-lang-menu]")
    page.click(f"button[data-lang={code}]")
    page.wait_for_load_state("networkidle")


def seed(tenant: dict[str, Any], documents: list[dict[str, Any]]) -> None:
    """Objects made through the designer service, as an admin would have in the UI."""
    import copy

    from metadata import Designer

    with tenant_session(tenant["platform"], tenant["slug"],
                        Actor(tenant["admin_id"], "admin@example.com", ("admin",))) as session:
        designer = Designer(session)
        for document in documents:
            designer.create_object(copy.deepcopy(document))


def add_user(tenant: dict[str, Any], email: str, roles: list[str], name: str = "") -> int:
    with tenant_session(tenant["platform"], tenant["slug"], Actor.system()) as session:
        return create_user(session, email, PASSWORD, name=name, roles=roles)["id"]


def records(tenant: dict[str, Any], object_name: str) -> list[dict[str, Any]]:
    from metadata import RecordService

    with tenant_session(tenant["platform"], tenant["slug"], Actor.system(), write=False) as session:
        service = RecordService(session)
        rows, _ = service.list(object_name, service.parse_list(object_name, {"per_page": ["500"], "sort": ["id"]}))
        return rows
