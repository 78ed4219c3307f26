"""The one generic records view: every runtime object's list, form, record page and board.

Flask refuses new blueprints after the first request, so objects created at run time cannot get a
view each; this view is registered once and names the object in its URLs
(``/admin/records/<object>/...``), building what it shows from the metadata on each request.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, url_for
from flask_admin import expose

from .records_board import BoardMixin
from .records_list import ListMixin
from .records_pages import PagesMixin
from .ui import UIView


class RecordsView(ListMixin, PagesMixin, BoardMixin, UIView):
    """Lists, forms, record pages and kanban boards of every object."""

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("admin.index"))
