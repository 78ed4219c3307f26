"""``/admin/design/``: the business admin's designers, one module per area, mixed into one view."""

from __future__ import annotations

from typing import Any

from flask_admin import expose

from .approval_designer import ApprovalDesignerMixin
from .design_objects import ObjectsMixin
from .field_designer import FieldsMixin
from .layout_designer import LayoutsMixin
from .rule_builder import RulesMixin
from .security_designer import SecurityMixin
from .template_gallery import TemplatesMixin
from .ui import UIView


class DesignView(ObjectsMixin, FieldsMixin, LayoutsMixin, RulesMixin, ApprovalDesignerMixin, SecurityMixin,
                 TemplatesMixin, UIView):
    """Objects, fields, layouts, pipelines, rules, approval processes, roles, users, templates."""

    @expose("/")
    def index(self) -> Any:
        return self.objects_index()
