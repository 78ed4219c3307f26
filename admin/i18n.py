"""Languages of the UI: English and Simplified Chinese, chosen by the user and kept in the session.

UI labels go through flask-babel (catalogues in ``admin/translations``); object, field and option
labels come from the metadata's bilingual ``{"en", "zh"}`` documents, read in the same language.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flask import Blueprint, redirect, request, session

from metadata import label_text

if TYPE_CHECKING:
    from flask import Flask

LANGUAGES = {"en": "English", "zh": "简体中文"}
#: The ``lang`` attribute of pages and the locale jQuery QueryBuilder and mermaid are given.
HTML_LANG = {"en": "en", "zh": "zh-CN"}

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES), default="en") if request else "en"


def current_language() -> str:
    from flask import g, has_request_context
    from flask_babel import get_locale

    if has_request_context():
        cached = g.get("_crm_language")
        if cached is not None:
            return cached
    locale = get_locale()
    language = locale.language if locale is not None and locale.language in LANGUAGES else "en"
    if has_request_context():
        g._crm_language = language
    return language


def _translations() -> Any:
    from flask import g
    from flask_babel import get_translations

    cached = g.get("_crm_translations")
    if cached is None:
        cached = g._crm_translations = get_translations()
    return cached


def fast_gettext(text: str, **variables: Any) -> str:
    """``gettext`` for hot paths: the catalogue looked up once per request."""
    translated = _translations().ugettext(text)
    return translated % variables if variables else translated


def label(value: Any, fallback: str = "") -> str:
    """A metadata label (a string or ``{"en", "zh"}``) in the user's language."""
    return label_text(value, current_language()) or fallback


@bp.post("/lang/<code>")
def switch(code: str) -> Any:
    """Remember the language; POST (with the CSRF token) because it changes the session."""
    if code in LANGUAGES:
        session["lang"] = code
        from flask import g

        g.pop("_crm_language", None)
        g.pop("_crm_translations", None)
    target = request.form.get("next") or request.referrer or "/admin/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/admin/"
    return redirect(target)


def init_app(app: Flask) -> None:
    from flask_babel import Babel

    folder = os.path.join(os.path.dirname(__file__), "translations")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", folder)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
    # Templates call gettext a hundred times a page: look the catalogue up once per request.
    app.jinja_env.install_gettext_callables(
        lambda text: _translations().ugettext(text),
        lambda singular, plural, n: _translations().ungettext(singular, plural, n),
        newstyle=True,
    )
    app.register_blueprint(bp)

    @app.context_processor
    def languages() -> dict[str, Any]:
        lang = current_language()
        return {"LANGUAGES": LANGUAGES, "ui_lang": lang, "html_lang": HTML_LANG[lang], "L": label,
                "script_texts": script_texts}


def script_texts() -> Any:
    """The labels the page scripts use (toasts, pickers), as JSON, once per language."""
    from flask import current_app
    from flask.json import dumps
    from flask_babel import gettext as _
    from markupsafe import Markup

    lang = current_language()
    cache = current_app.extensions.setdefault("crm_script_texts", {})
    found = cache.get(lang)
    if found is None:
        texts = {"noResults": _("No results"), "typeToSearch": _("Type to search"), "error": _("Error"),
                 "saved": _("Saved"), "moveRefused": _("The move was refused"), "fillIn": _("Fill in:"),
                 "confirmDelete": _("Delete the selected records?"), "remove": _("Remove"), "loading": _("Loading…"),
                 "selected": _("selected")}
        found = cache[lang] = Markup(dumps(texts).replace("<", "\\u003c").replace(">", "\\u003e")
                                            .replace("&", "\\u0026").replace("'", "\\u0027"))
    return found
