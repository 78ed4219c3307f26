"""The dashboards pages: list, editor (CSRF, bad input), rendering with placeholders, CSV links."""

from __future__ import annotations

import pytest

from tests.admin.conftest import add_user


@pytest.fixture
def report(sales):
    for name, amount, region in (("A", 100, "east"), ("=cmd|' /C calc'!A0", 50, "north")):
        sales.api.post("/records/deal", json={"name": name, "amount": amount, "region": region})
    return sales.api.post("/reports", json={"name": "By region", "object": "deal", "shared": True, "chart": "bar",
                                            "group_by": [{"field": "region"}],
                                            "aggregates": [{"fn": "sum", "field": "amount"}]}).json


def editor_form(report_id, **extra):
    return {"name": "Sales", "label_en": "Sales", "label_zh": "销售", "shared": "on",
            "widget_report": [f"report:{report_id}", "funnel:deal"], "widget_title": ["Amount by region", ""],
            "widget_chart": ["pie", ""], "widget_width": ["2", "1"], **extra}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_create_a_dashboard_in_the_editor_and_open_it(ui, report, language):
    ui.post(f"/lang/{language}", {"next": "/admin/"})
    editor = ui.text("/admin/dashboards/new/")
    assert "By region" in editor and 'value="funnel:deal"' in editor
    response = ui.post("/admin/dashboards/new/", editor_form(report["id"]))
    assert response.status_code == 302
    page = ui.text(response.headers["Location"])
    assert "Amount by region" in page and "crm-w2" in page and page.count("data-chart-data") == 2
    assert "/widgets/0/csv" in page and "/widgets/1/csv" in page
    listing = ui.text("/admin/dashboards/")
    assert ("销售" if language == "zh" else "Sales") in listing
    assert ("仪表板" if language == "zh" else "Dashboards") in ui.text("/admin/")


def test_widget_csv_from_the_ui_is_neutralized(ui, report, sales):
    board = sales.api.post("/dashboards", json={"name": "x", "widgets": [{"report": report["id"]}]}).json
    report2 = sales.api.post("/reports", json={"name": "Names", "object": "deal", "group_by": [{"field": "name"}]}).json
    sales.api.put(f"/dashboards/{board['id']}", json={"name": "x", "widgets": [{"report": report2["id"]}]})
    response = ui.get(f"/admin/dashboards/{board['id']}/widgets/0/csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert "'=cmd|' /C calc'!A0" in response.get_data().decode("utf-8-sig")


def test_the_editor_reorders_and_removes_widgets(ui, report, sales):
    board = sales.api.post("/dashboards", json={"name": "x", "widgets": [
        {"report": report["id"]}, {"report": {"builtin": "funnel", "object": "deal"}}]}).json
    edit = ui.text(f"/admin/dashboards/{board['id']}/edit/")
    assert edit.count("data-widget-row>") == 3  # two rows and the template of a new one
    response = ui.post(f"/admin/dashboards/{board['id']}/edit/", {
        "name": "x", "widget_report": ["won_lost:deal", "funnel:deal"], "widget_title": ["", "F"],
        "widget_chart": ["line", ""], "widget_width": ["3", "1"]})
    assert response.status_code == 302
    widgets = sales.api.get(f"/dashboards/{board['id']}").json["widgets"]
    assert [w["report"] for w in widgets] == [{"builtin": "won_lost", "object": "deal"}, {"builtin": "funnel", "object": "deal"}]
    assert widgets[0]["chart"] == "line" and widgets[0]["width"] == 3 and widgets[1]["title"] == "F"


def test_editing_keeps_a_bilingual_title_left_as_shown(ui, report, sales):
    title = {"en": "Amount", "zh": "金额"}
    board = sales.api.post("/dashboards", json={"name": "x", "widgets": [{"report": report["id"], "title": title},
                                                                         {"report": report["id"], "title": title}]}).json
    page = ui.text(f"/admin/dashboards/{board['id']}/edit/")
    assert page.count('name="widget_title_original"') == 3
    original = '{"en": "Amount", "zh": "金额"}'
    response = ui.post(f"/admin/dashboards/{board['id']}/edit/", {
        "name": "x", "widget_report": [f"report:{report['id']}"] * 2, "widget_title": ["Amount", "Total"],
        "widget_title_original": [original, original], "widget_chart": ["", ""], "widget_width": ["1", "1"]})
    assert response.status_code == 302
    assert [w["title"] for w in sales.api.get(f"/dashboards/{board['id']}").json["widgets"]] == [title, "Total"]


def test_bad_input_is_shown_and_nothing_saved(ui, report, sales):
    response = ui.post("/admin/dashboards/new/", editor_form(report["id"], name="", widget_width=["9", "1"]))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Not saved" in page and "widgets[0].width" in page and "name" in page
    assert sales.api.get("/dashboards").json["data"] == []


def test_posting_without_csrf_token_changes_nothing(ui, report, sales):
    response = ui.client.post("/admin/dashboards/new/", data=editor_form(report["id"]))
    assert response.status_code == 400
    assert sales.api.get("/dashboards").json["data"] == []


def test_a_reader_sees_placeholders_and_cannot_edit(ui, report, sales, user_client):
    sales.api.put("/roles/viewer", json={"permissions": {"account": {"read": "all"}}})
    add_user(sales, "viewer@example.com", ["viewer"])
    board = sales.api.post("/dashboards", json={"name": "Shared", "shared": True, "widgets": [
        {"report": report["id"]}, {"report": {"builtin": "funnel", "object": "deal"}}]}).json
    viewer = user_client(sales, "viewer@example.com")
    page = viewer.text(f"/admin/dashboards/{board['id']}/")
    assert page.count('data-widget-error="forbidden"') == 2 and "data-chart-data" not in page
    assert "east" not in page and "/widgets/0/csv" not in page and "data-edit-dashboard" not in page
    assert viewer.get(f"/admin/dashboards/{board['id']}/widgets/0/csv").status_code == 403
    assert viewer.get(f"/admin/dashboards/{board['id']}/edit/").status_code == 403
    assert viewer.post(f"/admin/dashboards/{board['id']}/delete/").status_code == 302
    assert sales.api.get(f"/dashboards/{board['id']}").status_code == 200


def test_private_and_unknown_dashboards_are_404(ui, report, sales, user_client):
    board = sales.api.post("/dashboards", json={"name": "Mine", "widgets": []}).json
    add_user(sales, "other@example.com", ["admin"])
    sales.api.put("/roles/viewer", json={"permissions": {}})
    add_user(sales, "nobody@example.com", ["viewer"])
    nobody = user_client(sales, "nobody@example.com")
    assert "Mine" not in nobody.text("/admin/dashboards/")
    assert nobody.get(f"/admin/dashboards/{board['id']}/").status_code == 404
    assert ui.get("/admin/dashboards/999/").status_code == 404


def test_bad_input_is_said_in_chinese(ui, report, sales):
    ui.post("/lang/zh", {"next": "/admin/"})
    response = ui.post("/admin/dashboards/new/", editor_form(report["id"], name="", widget_width=["9", "1"]))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "不能为空" in page and "不能大于 3" in page
    assert "is too long" not in page and "should be non-empty" not in page and "is greater than" not in page
