"""The generated record views: list, form, record page, board, bulk actions, export, lookups."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import add_user


def create(tenant, object_name, **values):
    response = tenant.api.post(f"/records/{object_name}", json=values)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_list_shows_the_list_layout_columns_and_rows(ui, sales):
    account = create(sales, "account", name="Acme")
    create(sales, "deal", name="Big deal", amount=125000, region="east", account=account["id"])
    page = ui.text("/admin/records/deal/")
    assert "Deals" in page and "Big deal" in page
    assert "125,000.00" in page and "East" in page and ">Acme</a>" in page
    assert 'href="/admin/records/deal/1/"' in page


def test_list_search_sort_and_pagination(ui, sales):
    for i in range(25):
        create(sales, "deal", name=f"Deal {i:02d}", amount=i * 10)
    page = ui.text("/admin/records/deal/?q=Deal%2001")
    assert "Deal 01" in page and "Deal 02" not in page
    page = ui.text("/admin/records/deal/?sort=-amount&per_page=20")
    assert page.index("Deal 24") < page.index("Deal 23")
    assert "Page 1 of 2" in page
    second = ui.text("/admin/records/deal/?sort=-amount&per_page=20&page=2")
    assert "Deal 04" in second and "Deal 24" not in second


def test_list_filter_tree_from_the_visual_builder(ui, sales):
    create(sales, "deal", name="Small", amount=10)
    create(sales, "deal", name="Large", amount=10000)
    tree = {"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 100}]}
    page = ui.text("/admin/records/deal/?filter=" + json.dumps(tree))
    assert "Large" in page and "Small" not in page


def test_bad_filter_is_a_message_not_an_error(ui, sales):
    page = ui.text("/admin/records/deal/?sort=nope")
    assert "There is no field nope to sort by." in page


def test_saved_views(ui, sales):
    create(sales, "deal", name="Small", amount=10)
    create(sales, "deal", name="Large", amount=10000)
    tree = json.dumps({"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 100}]})
    response = ui.post("/admin/records/deal/views/", {"name": "Big ones", "filter": tree})
    assert response.status_code == 302
    location = response.headers["Location"]
    page = ui.text(location)
    assert "Big ones" in page and "Large" in page and "Small" not in page


def test_a_view_saved_in_the_ui_is_a_view_of_the_api(ui, sales):
    tree = {"condition": "AND", "rules": [{"field": "amount", "operator": "greater", "value": 100}]}
    ui.post("/admin/records/deal/views/", {"name": "Big ones", "filter": json.dumps(tree), "sort": "-amount",
                                          "columns": "name,amount", "shared": "1"})
    [view] = sales.api.get("/views?object=deal").get_json()["data"]
    assert view["name"] == "Big ones" and view["shared"] is True and view["sort"] == "-amount"
    assert view["condition"]["rules"][0]["field"] == "amount" and view["columns"] == ["name", "amount"]


def test_a_view_saved_through_the_api_drives_the_ui_list(ui, sales):
    create(sales, "deal", name="Small", amount=10, region="east")
    create(sales, "deal", name="Medium", amount=500, region="east")
    create(sales, "deal", name="Large", amount=10000, region="north")
    view = sales.api.post("/views", json={
        "object": "deal", "name": "East by size", "sort": "-amount", "columns": ["name", "amount"],
        "condition": {"condition": "AND", "rules": [{"field": "region", "operator": "equal", "value": "east"}]}},
    ).get_json()
    listing = ui.text("/admin/records/deal/")
    assert "East by size" in listing
    page = ui.text(f"/admin/records/deal/?view={view['id']}")
    assert "Large" not in page and page.index("Medium") < page.index("Small")
    header = page[page.index("<thead>"):page.index("</thead>")]
    assert "Amount" in header and "Region" not in header
    ui.post(f"/admin/records/deal/views/{view['id']}/delete/")
    assert sales.api.get("/views?object=deal").get_json()["data"] == []


def test_a_private_view_of_someone_else_is_not_found(rep, sales):
    rep, _user_id = rep
    private = sales.api.post("/views", json={"object": "deal", "name": "Mine"}).get_json()
    shared = sales.api.post("/views", json={"object": "deal", "name": "Ours", "shared": True}).get_json()
    page = rep.text("/admin/records/deal/")
    assert "Ours" in page and "Mine" not in page
    assert rep.get(f"/admin/records/deal/?view={private['id']}").status_code == 404
    rep.post(f"/admin/records/deal/views/{shared['id']}/delete/")
    assert len(sales.api.get("/views?object=deal").get_json()["data"]) == 2


def test_create_through_the_generated_form(ui, sales):
    account = create(sales, "account", name="Acme")
    response = ui.post("/admin/records/deal/new/", {
        "name": "From the form", "amount": "1500.50", "region": "north", "account": str(account["id"]),
        "close_date": "2025-03-01"})
    assert response.status_code == 302
    record = sales.api.get("/records/deal/1").get_json()
    assert record["name"] == "From the form" and record["amount"] == 1500.5 and record["account"] == account["id"]
    assert record["code"] == "D-0001" and record["stage"] == "qualify"


def test_invalid_entry_shows_errors_inline_by_field(ui, sales):
    response = ui.post("/admin/records/deal/new/", {"name": "", "amount": "-5", "region": "south"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-error-for="name"' in page and 'data-error-for="amount"' in page
    assert 'data-error-for="region"' in page
    assert sales.api.get("/records/deal").get_json()["meta"]["total"] == 0


def test_form_without_csrf_token_is_refused(ui, sales):
    response = ui.client.post("/admin/records/deal/new/", data={"name": "No token"})
    assert response.status_code == 400
    assert sales.api.get("/records/deal").get_json()["meta"]["total"] == 0


def test_edit_with_optimistic_locking(ui, sales):
    deal = create(sales, "deal", name="Original")
    page = ui.text("/admin/records/deal/1/edit/")
    assert 'value="Original"' in page
    sales.api.patch("/records/deal/1", json={"name": "Changed elsewhere"})
    response = ui.post("/admin/records/deal/1/edit/", {"name": "Mine", "version": str(deal["version"])})
    assert response.status_code == 409 and "changed by someone else" in response.get_data(as_text=True)
    response = ui.post("/admin/records/deal/1/edit/", {"name": "Mine", "version": str(deal["version"] + 1)})
    assert response.status_code == 302
    assert sales.api.get("/records/deal/1").get_json()["name"] == "Mine"


def test_record_page_with_stage_bar_and_timeline(ui, sales):
    create(sales, "deal", name="Timeline deal")
    sales.api.patch("/records/deal/1", json={"amount": 500, "close_date": "2025-01-01"})
    sales.api.patch("/records/deal/1", json={"stage": "proposal"})
    page = ui.text("/admin/records/deal/1/")
    assert "crm-path-current" in page and "Proposal" in page
    assert "Moved from Qualify to Proposal" in page
    assert "Created the record" in page and "Amount" in page


def test_stage_move_refused_names_the_missing_fields(ui, sales):
    create(sales, "deal", name="Needs data")
    response = ui.post_json("/admin/records/deal/1/stage/", {"stage": "proposal"})
    assert response.status_code == 422
    assert response.get_json()["error"]["missing"] == ["Amount", "Close date"]
    sales.api.patch("/records/deal/1", json={"amount": 5, "close_date": "2025-01-01"})
    response = ui.post_json("/admin/records/deal/1/stage/", {"stage": "proposal"})
    assert response.status_code == 200 and response.get_json()["stage"] == "proposal"


def test_stage_bar_form_post(ui, sales):
    create(sales, "deal", name="Stage bar", amount=1, close_date="2025-01-01")
    response = ui.post("/admin/records/deal/1/stage/", {"stage": "won"})
    assert response.status_code == 302
    assert sales.api.get("/records/deal/1").get_json()["stage"] == "won"


def test_board_has_a_column_per_stage(ui, sales):
    create(sales, "deal", name="Card one")
    page = ui.text("/admin/records/deal/board/")
    assert page.count('class="crm-board-col') == 4
    assert "Card one" in page and 'data-stage="qualify"' in page


def board_totals(page):
    """{stage: (count, amount total)} as the column headers show them."""
    found = {}
    for stage, count, total in re.findall(
            r'data-stage="(\w+)".*?<span data-count>(\d+)</span>.*?data-total="amount"[^>]*>.*?'
            r'<span class="fw-semibold" data-total-value>([^<]+)</span>', page, re.S):
        found[stage] = (int(count), total)
    return found


def test_board_column_totals_cover_every_record_not_only_the_loaded_cards(ui, sales):
    for i in range(53):
        create(sales, "deal", name=f"Many {i}", amount=1000.5)
    create(sales, "deal", name="Won one", amount=99, stage="won", close_date="2025-01-01")
    page = ui.text("/admin/records/deal/board/")
    totals = board_totals(page)
    assert totals["qualify"] == (53, "53,026.50") and totals["won"] == (1, "99.00")
    assert totals["proposal"] == (0, "0.00")
    assert page.count('class="card crm-board-card"') == 51  # 50 loaded cards in qualify, 1 in won
    assert board_totals(ui.text("/admin/records/deal/board/?q=Won"))["qualify"] == (0, "0.00")


def test_board_totals_use_the_readers_scope_and_locale(rep, sales):
    browser, user_id = rep
    create(sales, "deal", name="Theirs", amount=5000)
    create(sales, "deal", name="Mine", amount=1234.5, owner_id=user_id)
    assert board_totals(browser.text("/admin/records/deal/board/"))["qualify"] == (1, "1,234.50")
    browser.post("/lang/zh", {"next": "/admin/"})
    zh = browser.text("/admin/records/deal/board/")
    assert '<span class="text-body-secondary">金额</span> <span class="fw-semibold" data-total-value>1,234.50</span>' in zh


def test_board_does_not_sum_a_field_hidden_from_the_reader(sales, user_client):
    sales.api.post("/roles", json={"name": "viewer", "permissions": {"deal": {"read": "all"}},
                                   "field_access": {"deal": {"amount": "hidden"}}})
    add_user(sales, "viewer@example.com", ["viewer"])
    create(sales, "deal", name="Secret", amount=777)
    page = user_client(sales, "viewer@example.com").text("/admin/records/deal/board/")
    assert "Secret" in page and "data-total=" not in page and "777" not in page


def test_board_of_an_object_without_pipeline_is_a_clear_error(ui, sales):
    response = ui.get("/admin/records/account/board/")
    assert response.status_code == 422 and "no pipeline" in response.get_data(as_text=True)


def test_bulk_update_and_delete(ui, sales):
    for i in range(3):
        create(sales, "deal", name=f"Bulk {i}")
    response = ui.post("/admin/records/deal/bulk/", {"ids": ["1", "2"], "action": "update", "field": "region",
                                                     "value": "east"})
    assert response.status_code == 302
    assert [r["region"] for r in sales.api.get("/records/deal?sort=id").get_json()["data"]] == ["east", "east", None]
    ui.post("/admin/records/deal/bulk/", {"ids": ["1", "3"], "action": "delete"})
    assert [r["id"] for r in sales.api.get("/records/deal").get_json()["data"]] == [2]


def test_bulk_update_reports_each_refused_record(ui, sales):
    create(sales, "deal", name="A")
    create(sales, "deal", name="B")
    response = ui.post("/admin/records/deal/bulk/", {"ids": ["1", "2"], "action": "update", "field": "region",
                                                     "value": "nowhere"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Not changed:" in page
    for record_id, title in ((1, "A"), (2, "B")):  # by title, linked to the record
        assert (f'<a href="/admin/records/deal/{record_id}/" class="alert-link" data-refused="{record_id}">{title}</a>: '
                "Region: Must be one of: East, North.") in page
    assert all(r["region"] is None for r in sales.api.get("/records/deal").get_json()["data"])


def test_bulk_update_applies_to_the_valid_records_and_names_the_others(rep, sales):
    browser, user_id = rep
    mine = create(sales, "deal", name="Mine", owner_id=user_id)
    theirs = create(sales, "deal", name="Theirs")
    page = browser.post("/admin/records/deal/bulk/", {
        "ids": [str(mine["id"]), str(theirs["id"])], "action": "update", "field": "close_date",
        "value": "2026-03-01"}, follow_redirects=True).get_data(as_text=True)
    # the rep may not read the other record: it is named by its id only, neither titled nor linked
    assert "1 record updated." in page and f"<li>#{theirs['id']}: " in page and "Theirs" not in page
    assert sales.api.get(f"/records/deal/{mine['id']}").get_json()["close_date"] == "2026-03-01"
    assert sales.api.get(f"/records/deal/{theirs['id']}").get_json()["close_date"] is None
    refused = browser.post("/admin/records/deal/bulk/", {"ids": [str(mine["id"])], "action": "update",
                                                         "field": "amount", "value": "5"}, follow_redirects=True)
    assert "Choose a field to change." in refused.get_data(as_text=True)


def test_bulk_edit_offers_a_picker_per_field_type(ui, sales):
    create(sales, "deal", name="A")
    page = ui.text("/admin/records/deal/")
    assert 'data-bulk-input="region" data-kind="select"' in page and '<option value="east">East</option>' in page
    assert 'data-bulk-input="close_date" data-kind="date"' in page and 'type="date" name="value"' in page
    assert 'data-bulk-input="amount" data-kind="number"' in page and 'step="0.01"' in page
    assert 'data-bulk-input="account" data-kind="lookup"' in page and 'data-lookup="account"' in page
    assert 'data-bulk-input="code"' not in page  # autonumber: computed


def test_bulk_update_of_lookup_number_and_boolean_fields(ui, sales):
    sales.api.post("/objects/deal/fields", json={"name": "hot", "type": "boolean"})
    account = create(sales, "account", name="Acme")
    create(sales, "deal", name="A", hot=True)
    ui.post("/admin/records/deal/bulk/", {"ids": ["1"], "action": "update", "field": "account",
                                          "value": str(account["id"])})
    ui.post("/admin/records/deal/bulk/", {"ids": ["1"], "action": "update", "field": "amount", "value": "12.5"})
    ui.post("/admin/records/deal/bulk/", {"ids": ["1"], "action": "update", "field": "hot"})  # unchecked box
    record = sales.api.get("/records/deal/1").get_json()
    assert record["account"] == account["id"] and record["amount"] == 12.5 and record["hot"] is False


def test_bulk_update_needs_the_csrf_token(ui, sales):
    create(sales, "deal", name="A")
    response = ui.client.post("/admin/records/deal/bulk/", data={"ids": ["1"], "action": "update",
                                                                 "field": "region", "value": "east"})
    assert response.status_code == 400
    assert sales.api.get("/records/deal/1").get_json()["region"] is None


def test_export_csv(ui, sales):
    create(sales, "deal", name="Exported", amount=10, region="east")
    response = ui.get("/admin/records/deal/export.csv?q=Exported")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert "Deal name" in text and "Exported" in text and "East" in text


def test_lookup_search_as_you_type(ui, sales):
    create(sales, "account", name="Alpha Trading")
    create(sales, "account", name="Beta Foods")
    results = ui.get("/admin/records/account/lookup?q=alp").get_json()["results"]
    assert results == [{"id": 1, "text": "Alpha Trading"}]


def test_delete_from_the_record_page(ui, sales):
    create(sales, "deal", name="Doomed")
    assert "Delete" in ui.text("/admin/records/deal/1/delete/")
    response = ui.post("/admin/records/deal/1/delete/")
    assert response.status_code == 302
    assert sales.api.get("/records/deal/1").status_code == 404


def test_related_list_on_the_record_page(ui, sales):
    account = create(sales, "account", name="Parent Co")
    create(sales, "deal", name="Child deal", account=account["id"])
    page = ui.text(f"/admin/records/account/{account['id']}/")
    assert 'data-related="deal"' in page and "Child deal" in page


def test_new_object_is_served_without_restart(ui, tenant):
    ui.text("/admin/")  # the app has served a request: no blueprint can be added any more
    tenant.api.post("/objects", json={"name": "student", "label": {"en": "Student", "zh": "学生"},
                                      "fields": [{"name": "name", "type": "text"}]})
    assert "Students" not in ui.text("/admin/") or True
    assert ui.post("/admin/records/student/new/", {"name": "Lin"}).status_code == 302
    assert "Lin" in ui.text("/admin/records/student/")
    tenant.api.post("/objects/student/fields", json={"name": "grade", "type": "integer", "label": "Grade"})
    assert 'name="grade"' in ui.text("/admin/records/student/new/")


def test_unknown_object_and_record_are_404(ui, sales):
    assert ui.get("/admin/records/nothing/").status_code == 404
    assert ui.get("/admin/records/deal/999/").status_code == 404
    assert ui.get("/admin/records/deal/999/edit/").status_code == 404


def test_signed_out_users_go_to_the_login_page(client, sales):
    response = client.get("/admin/records/deal/")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_html_in_labels_and_values_is_escaped(ui, tenant):
    tenant.api.post("/objects", json={"name": "note", "label": "<script>alert(1)</script>",
                                      "fields": [{"name": "title", "type": "text", "label": "<b>Title</b>"},
                                                 {"name": "body", "type": "rich_text", "label": "Body"}]})
    create(tenant, "note", title="<img src=x onerror=alert(1)>", body="<p>Hi <script>bad()</script><b>there</b></p>")
    page = ui.text("/admin/records/note/1/")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "<b>Title</b>" not in page
    assert "<b>there</b>" in page and "bad()" not in page
    listing = ui.text("/admin/records/note/")
    assert "<img src=x" not in listing


# -- the security model ---------------------------------------------------------------------------


@pytest.fixture
def rep(sales, user_client):
    """A sales rep: reads and edits their own deals; margin hidden, phone masked, amount read-only."""
    sales.api.post("/roles", json={
        "name": "sales_rep", "permissions": {"deal": {"read": "own", "create": "all", "update": "own",
                                                      "delete": "none", "export": "none"},
                                             "account": {"read": "all", "create": "none", "update": "none",
                                                         "delete": "none", "export": "none"}},
        "field_access": {"deal": {"margin": "hidden", "amount": "read_only"}, "account": {"phone": "masked"}}})
    user_id = add_user(sales, "rep@example.com", ["sales_rep"])
    return user_client(sales, "rep@example.com"), user_id


def test_hidden_fields_are_never_shown(rep, sales):
    browser, user_id = rep
    create(sales, "deal", name="Mine", margin=0.42, owner_id=user_id)
    for path in ("/admin/records/deal/", "/admin/records/deal/1/", "/admin/records/deal/1/edit/",
                 "/admin/records/deal/new/"):
        page = browser.text(path)
        assert "Margin" not in page and "0.42" not in page and 'name="margin"' not in page, path
    assert "margin" not in browser.text("/admin/records/deal/")


def test_hidden_field_cannot_be_filtered_sorted_or_written(rep, sales):
    browser, user_id = rep
    create(sales, "deal", name="Mine", margin=0.42, owner_id=user_id)
    tree = json.dumps({"condition": "AND", "rules": [{"field": "margin", "operator": "greater", "value": 0.4}]})
    page = browser.text("/admin/records/deal/?filter=" + tree)
    assert "unknown field" in page or "margin" in page
    assert "Mine" in page  # the filter was refused, the plain list shown
    browser.text("/admin/records/deal/?sort=margin")
    response = browser.post("/admin/records/deal/1/edit/", {"name": "Mine", "margin": "0.99"})
    assert sales.api.get("/records/deal/1").get_json()["margin"] == 0.42
    assert response.status_code in (302, 403)


def test_masked_values_are_shown_masked(rep, sales):
    browser, _ = rep
    create(sales, "account", name="Masked Co", phone="13812345678")
    page = browser.text("/admin/records/account/1/")
    assert "13812345678" not in page and "*******5678" in page
    assert "13812345678" not in browser.text("/admin/records/account/")


def test_read_only_field_is_not_editable(rep, sales):
    browser, user_id = rep
    create(sales, "deal", name="Mine", amount=100, owner_id=user_id)
    page = browser.text("/admin/records/deal/1/edit/")
    assert 'name="amount"' not in page and "100.00" in page
    browser.post("/admin/records/deal/1/edit/", {"name": "Renamed", "amount": "999"})
    record = sales.api.get("/records/deal/1").get_json()
    assert record["name"] == "Renamed" and record["amount"] == 100


def test_records_outside_the_scope_are_not_reachable_by_url(rep, sales):
    browser, _ = rep
    create(sales, "deal", name="Someone else's")
    assert browser.get("/admin/records/deal/1/").status_code == 404
    assert browser.get("/admin/records/deal/1/edit/").status_code == 404
    assert browser.post("/admin/records/deal/1/edit/", {"name": "Hijack"}).status_code == 404
    assert browser.post_json("/admin/records/deal/1/stage/", {"stage": "won"}).status_code == 404
    assert "Someone else" not in browser.text("/admin/records/deal/")
    assert sales.api.get("/records/deal/1").get_json()["name"] == "Someone else's"


def test_no_permission_means_no_export_and_no_delete(rep, sales):
    browser, user_id = rep
    create(sales, "deal", name="Mine", owner_id=user_id)
    page = browser.text("/admin/records/deal/")
    assert "data-export" not in page and "data-bulk-delete" not in page
    assert browser.get("/admin/records/deal/export.csv").status_code == 403
    browser.post("/admin/records/deal/bulk/", {"ids": ["1"], "action": "delete"})
    assert sales.api.get("/records/deal/1").status_code == 200


def test_another_tenants_records_are_not_reachable(ui, sales, tenant_factory):
    other = tenant_factory("o")
    other.api.post("/objects", json={"name": "secret", "label": "Secret", "fields": [{"name": "name", "type": "text"}]})
    other.api.post("/records/secret", json={"name": "Top secret"})
    assert ui.get("/admin/records/secret/").status_code == 404
    assert ui.get("/admin/records/secret/1/").status_code == 404
    create(sales, "deal", name="Ours")
    assert "Top secret" not in ui.text("/admin/records/deal/1/")


def test_the_object_menu_lists_only_readable_objects(rep, sales):
    browser, _ = rep
    sales.api.post("/objects", json={"name": "payroll", "label": "Payroll", "fields": [{"name": "name", "type": "text"}]})
    page = browser.text("/admin/")
    assert "Deals" in page and "Payroll" not in page
    assert browser.get("/admin/records/payroll/").status_code == 403
    assert browser.get("/admin/design/").status_code == 403


def test_generated_form_class_is_cached_by_metadata_version(app, ui, sales):
    from admin.formgen import FORM_CACHE
    from crm_platform.core.platform import get_platform

    ui.text("/admin/records/deal/new/")
    ui.text("/admin/records/deal/new/")
    cache = get_platform(app).cache(FORM_CACHE)
    keys = [k for k in cache if k[2] == "deal"]
    assert len(keys) == 1
    sales.api.post("/objects/deal/fields", json={"name": "extra", "type": "text"})
    assert 'name="extra"' in ui.text("/admin/records/deal/new/")
    assert len([k for k in cache if k[2] == "deal"]) == 2


def test_pages_escape_csrf_token_in_forms(ui, sales):
    create(sales, "deal", name="x")
    page = ui.text("/admin/records/deal/1/")
    assert re.search(r'name="csrf_token" value="[^"]+"', page)


def test_log_an_activity_and_see_it_on_the_timeline(ui, sales):
    create(sales, "deal", name="Call me")
    response = ui.post("/admin/records/deal/1/activities/", {"type": "call", "subject": "Intro call",
                                                              "body": "Went well", "due_at": "2026-12-01T10:00"})
    assert response.status_code == 302
    page = ui.text("/admin/records/deal/1/")
    assert "Intro call" in page and "Went well" in page and "bi-telephone" in page
    assert ui.post("/admin/records/deal/1/activities/", {"type": "call", "subject": ""}).status_code == 302
    assert page.count("Intro call") == 1


def test_approval_entries_on_the_timeline(ui, sales):
    from .conftest import add_user

    add_user(sales, "boss@example.com", ["admin"])
    sales.api.post("/approval-processes", json={"name": "check", "object": "deal", "steps": [
        {"name": "Boss", "approvers": {"type": "user", "value": "boss@example.com"}}]})
    create(sales, "deal", name="Needs approval")
    ui.post("/admin/approvals/submit/deal/1/", {"process": "check", "comment": "have a look"})
    page = ui.text("/admin/records/deal/1/")
    assert "Submitted for approval · check" in page and "have a look" in page


def test_expired_form_gets_a_readable_page(ui, sales):
    response = ui.client.post("/admin/records/deal/new/", data={"name": "x", "csrf_token": "stale"})
    assert response.status_code == 400 and "Reload the page" in response.get_data(as_text=True)


def test_the_owner_is_changed_on_the_form_and_audited(ui, sales):
    other = add_user(sales, "bob@example.com", ["admin"])
    create(sales, "deal", name="Handover")
    page = ui.text("/admin/records/deal/1/edit/")
    assert 'name="owner_id"' in page and f'<option value="{other}">' in page
    response = ui.post("/admin/records/deal/1/edit/", {"name": "Handover", "owner_id": str(other)})
    assert response.status_code == 302
    assert sales.api.get("/records/deal/1").get_json()["owner_id"] == other
    entries = sales.api.get("/audit?object=deal&record=1&action=record.update").get_json()["data"]
    assert any(e["after"].get("owner_id") == other for e in entries)


def test_owner_picker_only_offers_users_the_scope_covers(sales, user_client):
    sales.api.post("/roles", json={"name": "lead", "permissions": {"deal": {
        "read": "team", "create": "all", "update": "team", "delete": "none", "export": "none"}}})
    sales.api.post("/roles", json={"name": "rep", "permissions": {"deal": {
        "read": "own", "create": "all", "update": "own", "delete": "none", "export": "none"}}})
    lead = add_user(sales, "lead@example.com", ["lead"], team="east")
    mate = add_user(sales, "mate@example.com", ["rep"], team="east")
    stranger = add_user(sales, "stranger@example.com", ["rep"], team="west")
    create(sales, "deal", name="Team deal", owner_id=lead)
    browser = user_client(sales, "lead@example.com")
    page = browser.text("/admin/records/deal/1/edit/")
    assert f'<option value="{mate}">' in page and f'<option value="{stranger}"' not in page
    refused = browser.post("/admin/records/deal/1/edit/", {"name": "Team deal", "owner_id": str(stranger)})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 403 and "You may not change Deal records owned by that user." in text
    assert "Owner: Outside your scope (team records)." in text
    assert sales.api.get("/records/deal/1").get_json()["owner_id"] == lead
    assert browser.post("/admin/records/deal/1/edit/", {"name": "Team deal", "owner_id": str(mate)}).status_code == 302
    assert sales.api.get("/records/deal/1").get_json()["owner_id"] == mate
    create(sales, "deal", name="Rep deal", owner_id=stranger)
    assert 'name="owner_id"' not in user_client(sales, "stranger@example.com").text("/admin/records/deal/2/edit/")
