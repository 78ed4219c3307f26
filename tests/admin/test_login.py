"""Session login for the web UI: CSRF, lockout, audit, cookies."""

from __future__ import annotations

import re

import sqlalchemy as sa

from crm_platform.core.tables import audit_log


def csrf_token(client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def login(client, tenant: str, email: str, password: str, token: str | None = None, **kwargs):
    data = {"tenant": tenant, "email": email, "password": password,
            "csrf_token": token if token is not None else csrf_token(client)}
    return client.post("/login", data=data, **kwargs)


def test_login_and_logout(client, tenant):
    response = login(client, tenant.slug, "admin@example.com", "correct horse battery")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    home = client.get("/admin/")
    assert home.status_code == 200 and tenant.slug in home.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = re.search(r'name="csrf_token" value="([^"]+)"', home.get_data(as_text=True)).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_wrong_password_and_unknown_tenant_say_the_same(client, tenant):
    wrong = login(client, tenant.slug, "admin@example.com", "not the password")
    assert wrong.status_code == 401 and "wrong e-mail or password" in wrong.get_data(as_text=True)
    unknown = login(client, "no-such-tenant", "admin@example.com", "correct horse battery")
    assert unknown.status_code == 401 and "wrong tenant, e-mail or password" in unknown.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_form_without_csrf_token_is_refused(client, tenant):
    response = login(client, tenant.slug, "admin@example.com", "correct horse battery", token="")
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_repeated_failures_lock_the_account(client, tenant):
    for _ in range(5):
        assert login(client, tenant.slug, "admin@example.com", "wrong-password").status_code == 401
    locked = login(client, tenant.slug, "admin@example.com", "correct horse battery")
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    with tenant.platform.db.tenant_connection(tenant.slug) as conn:
        actions = conn.execute(sa.select(audit_log.c.action, audit_log.c.after).where(
            audit_log.c.action.like("auth.%")).order_by(audit_log.c.id)).all()
    assert [a for a, _ in actions] == ["auth.login_failed"] * 6
    assert actions[4][1]["locked"] is True and actions[5][1]["reason"] == "locked"


def test_successful_login_is_audited(client, tenant):
    login(client, tenant.slug, "admin@example.com", "correct horse battery")
    with tenant.platform.db.tenant_connection(tenant.slug) as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "auth.login")).mappings().one()
    assert entry["record_id"] == tenant.admin_id


def test_next_parameter_cannot_redirect_off_site(client, tenant):
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/x", data={
        "tenant": tenant.slug, "email": "admin@example.com", "password": "correct horse battery", "csrf_token": token})
    assert response.headers["Location"].endswith("/admin/")


def test_session_of_one_tenant_shows_only_that_tenant(client, tenant_factory):
    a, b = tenant_factory("a"), tenant_factory("b")
    b.api.post("/objects", json={"name": "b_only", "label": "B only"})
    login(client, a.slug, "admin@example.com", "correct horse battery")
    page = client.get("/admin/").get_data(as_text=True)
    assert a.slug in page and "b_only" not in page
