"""WTForms forms built from metadata: one class per (tenant, metadata version, language, access).

The classes are made with ``type()`` and cached by the metadata version read from the database, so
several worker processes agree and a designer's change shows on the next request with no restart.
The form collects and renders; the record service validates (one set of rules for the API and the
UI), and its per-field errors are put back on the form's fields.
"""

from __future__ import annotations

import json
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import DateInput, DateTimeLocalInput, EmailInput, NumberInput, TelInput, TextInput, URLInput

from crm_platform.core.errors import CRMError
from crm_platform.core.permissions import AccessPolicy
from metadata import FieldDef, ObjectModel

from .i18n import current_language, label
from .messages import Context, field_messages
from .meta import option_label

FORM_CACHE = "admin_forms"
FORM_CACHE_SIZE = 512
NUMBER_STEP = {"integer": "1", "currency": "0.01", "percent": "any", "decimal": "any"}


class RecordForm(FlaskForm):
    """Base of every generated record form (CSRF from flask-wtf's ``CSRFProtect``)."""


def _wtforms_field(fd: FieldDef) -> Field:
    text = label(fd.label, fd.name)
    description = label(fd.help) if fd.help else ""
    kwargs: dict[str, Any] = {"label": text, "description": description, "render_kw": {}}
    if fd.required:
        kwargs["render_kw"]["aria-required"] = "true"
    ftype = fd.type
    if ftype in NUMBER_STEP:
        kwargs["render_kw"]["inputmode"] = "numeric" if ftype == "integer" else "decimal"
        return StringField(widget=NumberInput(step=NUMBER_STEP[ftype]), **kwargs)
    if ftype == "textarea":
        kwargs["render_kw"]["rows"] = 4
        return TextAreaField(**kwargs)
    if ftype == "rich_text":
        kwargs["render_kw"].update(rows=6, **{"data-rich-text": "1"})
        return TextAreaField(**kwargs)
    if ftype == "boolean":
        return BooleanField(**kwargs)
    if ftype == "date":
        return StringField(widget=DateInput(), **kwargs)
    if ftype == "datetime":
        return StringField(widget=DateTimeLocalInput(), **kwargs)
    if ftype == "email":
        return StringField(widget=EmailInput(), **kwargs)
    if ftype == "phone":
        return StringField(widget=TelInput(), **kwargs)
    if ftype == "url":
        return StringField(widget=URLInput(), **kwargs)
    if ftype == "picklist":
        choices = [SelectChoice("", "—"), *(SelectChoice(o["value"], option_label(fd, o["value"])) for o in fd.options)]
        if fd.depends_on:
            kwargs["render_kw"]["data-depends-on"] = fd.depends_on["field"]
            kwargs["render_kw"]["data-allowed"] = json.dumps(fd.depends_on.get("values") or {})
        return SelectField(choices=choices, validate_choice=False, **kwargs)
    if ftype == "multi_picklist":
        choices = [SelectChoice(o["value"], option_label(fd, o["value"])) for o in fd.options]
        kwargs["render_kw"]["data-tom-select"] = "multi"
        return SelectMultipleField(choices=choices, validate_choice=False, **kwargs)
    if ftype == "lookup":
        kwargs["render_kw"].update(**{"data-lookup": fd.target})
        return SelectField(choices=[], validate_choice=False, **kwargs)
    if ftype == "user":
        kwargs["render_kw"]["data-tom-select"] = "single"
        return SelectField(choices=[], validate_choice=False, **kwargs)
    return StringField(widget=TextInput(), **kwargs)


def editable_fields(policy: AccessPolicy, model: ObjectModel) -> list[FieldDef]:
    """Fields the user may write: not computed, not hidden, masked or read-only for them."""
    unwritable = policy.unwritable(model.name)
    return [fd for fd in model.writable if fd.name not in unwritable]


def form_class(tenant: str, version: int, policy: AccessPolicy, model: ObjectModel, platform: Any) -> type[RecordForm]:
    fields = editable_fields(policy, model)
    key = (tenant, version, model.name, current_language(), tuple(fd.name for fd in fields))
    cache = platform.cache(FORM_CACHE)
    cls = cache.get(key)
    if cls is None:
        attributes = {fd.name: _wtforms_field(fd) for fd in fields}
        cls = type(f"{model.name.title()}Form", (RecordForm,), attributes)
        if len(cache) >= FORM_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = cls
    return cls


def record_to_form_data(model: ObjectModel, record: dict[str, Any], fields: list[FieldDef]) -> dict[str, Any]:
    """A stored record as the form's initial values (``datetime-local`` has no seconds or zone)."""
    data: dict[str, Any] = {}
    for fd in fields:
        value = record.get(fd.name)
        if value is None:
            data[fd.name] = [] if fd.type == "multi_picklist" else ("" if fd.type != "boolean" else False)
        elif fd.type == "datetime" and isinstance(value, str):
            data[fd.name] = value.replace("Z", "")[:16]
        elif fd.type in ("lookup", "user"):
            data[fd.name] = str(value)
        elif isinstance(value, float) and value.is_integer() and fd.type != "decimal":
            data[fd.name] = f"{value:.2f}" if fd.type == "currency" else str(value)
        else:
            data[fd.name] = value
    return data


def form_to_record(form: RecordForm, fields: list[FieldDef]) -> dict[str, Any]:
    """The submitted values as the record service takes them (empty text is no value)."""
    values: dict[str, Any] = {}
    for fd in fields:
        raw = form[fd.name].data
        if fd.type == "boolean":
            values[fd.name] = bool(raw)
        elif fd.type == "multi_picklist":
            values[fd.name] = [v for v in (raw or []) if v] or None
        elif isinstance(raw, str):
            raw = raw.strip()
            if raw == "":
                values[fd.name] = None
            elif fd.type in ("lookup", "user") and raw.isdigit():
                values[fd.name] = int(raw)
            else:
                values[fd.name] = raw
        else:
            values[fd.name] = raw
    return values


def put_errors(form: RecordForm, exc: CRMError, context: Context) -> list[str]:
    """Attach the service's field errors, in the user's language, to their fields; answer those
    no field of the form shows (named by their field's label)."""
    return add_errors(form, field_messages(exc, context), context)


def add_errors(form: RecordForm, messages: dict[str, list[str]], context: Context) -> list[str]:
    unplaced = []
    for key, texts in messages.items():
        name = str(key).split(".")[0].split("[")[0]
        if name in form._fields and name != "csrf_token":
            field = form._fields[name]
            field.errors = [*list(field.errors or []), *texts]
        else:
            unplaced.extend(f"{context.field(name)}: {text}" for text in texts)
    return unplaced
