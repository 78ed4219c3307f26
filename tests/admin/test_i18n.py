"""English and Simplified Chinese: every UI label translated, metadata labels in the user's language."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import admin

ROOT = Path(admin.__file__).parent
PO = ROOT / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
MO = ROOT / "translations" / "zh" / "LC_MESSAGES" / "messages.mo"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}


def extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {"extensions": "jinja2.ext.do"}}):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def test_every_ui_label_has_a_chinese_translation():
    translations = {m.id[0] if isinstance(m.id, tuple) else m.id: m.string for m in catalog() if m.id}
    missing = sorted(m for m in extracted() if not translations.get(m) or translations[m] in ("", ("",)))
    assert not missing, f"untranslated UI labels (run the README's pybabel commands): {missing}"


def test_shipped_mo_is_compiled_from_the_po():
    def pairs(mo):
        return {str(m.id): str(m.string) for m in read_mo(mo) if m.id}

    with MO.open("rb") as handle:
        shipped = pairs(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalog())
    compiled.seek(0)
    assert pairs(compiled) == shipped


def test_switching_to_chinese(ui, sales):
    page = ui.text("/admin/")
    assert 'lang="en"' in page and "Deals" in page
    response = ui.post("/lang/zh", {"next": "/admin/records/deal/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/records/deal/")
    page = ui.text("/admin/records/deal/")
    assert 'lang="zh-CN"' in page and "商机" in page and "新建" in page and "筛选" in page
    sales.api.post("/records/deal", json={"name": "大单", "region": "east", "amount": 1})
    record = ui.text("/admin/records/deal/1/")
    assert "华东" in record and "商机名称" in record and "资格确认" in record and "时间线" in record
    form = ui.text("/admin/records/deal/new/")
    assert "保存" in form and "金额" in form


def test_validation_errors_in_chinese(ui, sales):
    ui.post("/lang/zh", {"next": "/admin/"})
    response = ui.post("/admin/records/deal/new/", {"name": "", "amount": "-1"})
    page = response.get_data(as_text=True)
    assert "必填。" in page and "不能小于 0" in page


def test_language_switch_needs_the_csrf_token(ui):
    assert ui.client.post("/lang/zh").status_code == 400


def test_browser_language_is_the_default(client, tenant):
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "登录" in page and 'lang="zh-CN"' in page
    page = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "Sign in" in page
