"""Definition documents (objects, fields, layouts, pipelines): shape checks and meaning checks.

A definition is a JSON document. Its shape is checked against the JSON Schema shipped in
``metadata/schemas``; its meaning (names, type options, references between definitions) by
:func:`check_definitions`, which reports every problem at once, each under the path it concerns.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRES_RESERVED
from sqlalchemy.sql.compiler import RESERVED_WORDS as SQL_RESERVED

from crm_platform.core.errors import UNCODED, ExpressionError, Problems, ValidationError, problem

from .field_types import FIELD_TYPES, deserialize_loose, fits_column

#: Columns every object table has; ``stage`` exists where the object has a pipeline.
SYSTEM_COLUMNS = ("id", "created_at", "updated_at", "created_by", "updated_by", "owner_id", "version", "stage")
#: Words a field may not be named: SQL keywords, Python keywords (formulas are Python expressions)
#: and names the API gives a meaning of its own.
RESERVED_NAMES = frozenset(
    {*SQL_RESERVED, *POSTGRES_RESERVED, *(k.lower() for k in keyword.kwlist), "none", "tags", "filter", "sort",
     "page", "per_page", "q", "format"}
)
#: Names an object may not take: the platform audits its own items under them
#: (``GET /audit?object=report&record=3`` is report 3), and an object so named would share that trail.
AUDITED_KINDS = frozenset({"user", "role", "rule", "report", "view", "duplicate_rule", "import", "pack"})
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COMMON_FIELD_KEYS = frozenset({"name", "type", "label", "required", "unique", "indexed", "default", "help"})


@cache
def _schema_document() -> dict[str, Any]:
    text = resources.files("metadata").joinpath("schemas/definitions.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(kind: str) -> Draft202012Validator:
    document = _schema_document()
    schema = {"$schema": document["$schema"], "$defs": document["$defs"], "$ref": f"#/$defs/{kind}"}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_shape(kind: str, document: Any, prefix: str = "") -> None:
    """Validate a document against the JSON Schema ``kind``; raise naming every problem by path."""
    errors: dict[str, list[str]] = {}
    coded: dict[str, list[dict[str, Any]]] = {}
    for error in sorted(_validator(kind).iter_errors(document), key=lambda e: list(e.absolute_path)):
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        key = path.lstrip(".") or kind
        errors.setdefault(key, []).append(_short(error.message))
        coded.setdefault(key, []).append(shape_problem(error))
    if errors:
        first_path, first = next(iter(errors.items()))
        known = any(p["code"] != UNCODED for items in coded.values() for p in items)
        raise ValidationError(f"invalid {kind.replace('_', ' ')}: {first_path}: {first[0]}", errors,
                              problems=coded if known else None)


def shape_problem(error: Any) -> dict[str, Any]:
    """The coded problem of a JSON Schema error, for the kinds a designer's user meets."""
    rule, value, instance = error.validator, error.validator_value, error.instance
    if rule == "pattern" and error.absolute_path and error.absolute_path[-1] == "name":
        return problem("invalid_name", name=instance)
    if rule == "pattern":
        return problem("pattern", pattern=value)
    if rule == "enum":
        return problem("choice", choices=list(value))
    if rule == "maxLength":
        return problem("max_length", max=value)
    if rule == "minimum":
        return problem("min", min=value)
    if rule == "maximum":
        return problem("max", max=value)
    if rule == "required" and isinstance(instance, dict):
        return problem("missing_property", name=next((p for p in value if p not in instance), ""))
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties") or {})
        return problem("unknown_property", name=next((p for p in instance if p not in known), ""))
    if rule == "type":
        return problem("wrong_type", expected=value if isinstance(value, str) else value[0])
    if rule == "minLength":
        return problem("empty" if value == 1 else "min_length", min=value)
    if rule == "minItems":
        return problem("empty_list" if value == 1 else "min_items", min=value)
    if rule == "maxItems":
        return problem("max_items", max=value)
    return problem(UNCODED)


#: Entries a platform's memo of valid documents keeps before it starts over (bounds its memory).
SHAPE_MEMO_SIZE = 1024


def check_shape_once(kind: str, document: Any, valid: MutableMapping[Any, bool] | None, prefix: str = "") -> None:
    """``check_shape``, skipped for a document already found valid (``valid``: a platform's memo keyed
    by kind and canonical JSON; a pack's objects and layouts are installed into many tenants, and the
    JSON Schema check of the same content always gives the same answer). Only successes are kept."""
    text = content_key(document) if valid is not None else None
    if text is None:  # no memo, or not plain JSON: check every time
        check_shape(kind, document, prefix)
        return
    key = (kind, text)
    if key in valid:
        return
    check_shape(kind, document, prefix)
    remember_valid(valid, key)


def content_key(document: Any) -> str | None:
    """A document's canonical JSON, the key of memos by content (None when it is not plain JSON)."""
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def remember_valid(valid: MutableMapping[Any, bool], key: Any) -> None:
    """Note a success in a platform's memo of valid content, starting over once it is full."""
    if len(valid) >= SHAPE_MEMO_SIZE:
        valid.clear()
    valid[key] = True


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."


def label_text(label: Any, language: str = "en") -> str:
    if isinstance(label, dict):
        return label.get(language) or label.get("en") or label.get("zh") or next(iter(label.values()), "")
    return label or ""


@dataclass(frozen=True)
class FieldDef:
    """One field of an object, as its definition document says."""

    name: str
    type: str
    label: Any = None
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    help: Any = None
    min: Any = None
    max: Any = None
    max_length: int | None = None
    pattern: str | None = None
    scale: int | None = None
    options: tuple[dict[str, Any], ...] = ()
    depends_on: dict[str, Any] | None = None
    target: str | None = None
    on_delete: str = "restrict"
    expression: str | None = None
    result_type: str | None = None
    format: str | None = None
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FieldDef:
        values = {k: v for k, v in document.items() if k in cls.__dataclass_fields__ and k != "document"}
        if "options" in values:
            values["options"] = tuple(values["options"])
        return cls(**values, document=dict(document))

    @property
    def field_type(self):  # -> FieldType
        return FIELD_TYPES[self.type]

    @property
    def computed(self) -> bool:
        return FIELD_TYPES[self.type].computed

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o["value"] for o in self.options)


@dataclass(frozen=True)
class ObjectDef:
    """An object: its fields, layouts and pipeline."""

    name: str
    document: dict[str, Any]
    fields: tuple[FieldDef, ...]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ObjectDef:
        document = dict(document)
        document.setdefault("fields", [])
        document.setdefault("layouts", {})
        document.setdefault("pipeline", None)
        return cls(
            name=document["name"],
            document=document,
            fields=tuple(FieldDef.from_document(f) for f in document["fields"]),
        )

    @property
    def table_name(self) -> str:
        return f"obj_{self.name}"

    @property
    def label(self) -> Any:
        return self.document["label"]

    @property
    def pipeline(self) -> dict[str, Any] | None:
        return self.document.get("pipeline") or None

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s["name"] for s in (self.pipeline or {}).get("stages", ()))

    @property
    def layouts(self) -> dict[str, Any]:
        return self.document.get("layouts") or {}

    def field(self, name: str) -> FieldDef | None:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        return None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def with_document(self, **changes: Any) -> ObjectDef:
        return ObjectDef.from_document({**self.document, **changes})


# -- meaning checks -----------------------------------------------------------------------------


def check_name(problems: Problems, path: str, name: str, what: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.add(path, f"{what} name {name!r} must match ^[a-z][a-z0-9_]{{0,62}}$", code="invalid_name", name=name)
    elif name in RESERVED_NAMES or (what == "object" and name in AUDITED_KINDS):
        problems.add(path, f"{what} name {name!r} is a reserved word; choose another name", code="reserved_name",
                     name=name)


def check_definitions(objects: Mapping[str, ObjectDef], changed: Iterable[str] | None = None,
                      valid_shapes: MutableMapping[Any, bool] | None = None,
                      valid: MutableMapping[Any, bool] | None = None,
                      keys: Mapping[str, str | None] | None = None) -> None:
    """Check the meaning of the tenant's definitions; ``changed`` limits the checks to some objects.
    ``valid_shapes``: a memo of layouts already found well-shaped (see :func:`check_shape_once`).
    ``valid``: a platform's memo of objects already found meaningful, by content and by which of
    their lookup targets exist (all an object's check reads besides itself): a pack's objects are
    checked when planned, again when created, and the same in every tenant. ``keys``: the objects'
    :func:`content_key`, when the caller has them."""
    problems = Problems("definition")
    names = list(changed) if changed is not None else list(objects)
    for name in names:
        obj = objects[name]
        key = _meaning_key(obj, objects, keys.get(name) if keys else None) if valid is not None else None
        if key is not None and key in valid:
            continue
        found = sum(map(len, problems.errors.values()))
        _check_object(problems, obj, objects, valid_shapes)
        if key is not None and sum(map(len, problems.errors.values())) == found:
            remember_valid(valid, key)
    problems.raise_if_any()


def _meaning_key(obj: ObjectDef, objects: Mapping[str, ObjectDef], text: str | None = None) -> tuple[Any, ...] | None:
    text = text or content_key(obj.document)
    if text is None:
        return None
    targets = {fd.target for fd in obj.fields if fd.type == "lookup" and fd.target}
    return ("object", text, tuple(sorted(t for t in targets if t in objects)))


def _check_object(problems: Problems, obj: ObjectDef, objects: Mapping[str, ObjectDef],
                  valid_shapes: MutableMapping[Any, bool] | None = None) -> None:
    check_name(problems, "name", obj.name, "object")
    seen: set[str] = set()
    for index, fd in enumerate(obj.fields):
        path = f"fields[{index}]"
        check_name(problems, f"{path}.name", fd.name, "field")
        if fd.name in SYSTEM_COLUMNS:
            problems.add(f"{path}.name", f"{fd.name!r} is a system column; choose another name", code="system_name",
                         name=fd.name)
        if fd.name in seen:
            problems.add(f"{path}.name", f"duplicate field name {fd.name!r}", code="duplicate_name", name=fd.name)
        seen.add(fd.name)
        _check_field(problems, path, fd, obj, objects)
    _check_formula_cycles(problems, obj)
    title = obj.document.get("title_field")
    if title and title not in seen:
        problems.add("title_field", f"unknown field {title!r}", code="unknown_field_named", name=title)
    if obj.pipeline is not None:
        _check_pipeline(problems, obj)
    for layout_name, layout in obj.layouts.items():
        _check_layout(problems, f"layouts.{layout_name}", layout_name, layout, obj, valid_shapes)


def _check_field(problems: Problems, path: str, fd: FieldDef, obj: ObjectDef, objects: Mapping[str, ObjectDef]) -> None:
    ftype = FIELD_TYPES[fd.type]
    for key in fd.document:
        if key not in COMMON_FIELD_KEYS and key not in ftype.options:
            problems.add(f"{path}.{key}", f"option {key!r} does not apply to a {fd.type} field",
                         code="option_not_applicable", key=key, type=fd.type)
    if (fd.unique or fd.indexed) and not ftype.indexable:
        problems.add(path, f"a {fd.type} field cannot be unique or indexed", code="not_indexable", type=fd.type)
    if ftype.computed and (fd.required or fd.default is not None):
        problems.add(path, f"a {fd.type} field is computed: it cannot be required or have a default",
                     code="computed_not_required", type=fd.type)
    if fd.type in {"picklist", "multi_picklist"}:
        values = fd.option_values
        if not values:
            problems.add(f"{path}.options", "a picklist needs at least one option", code="no_options")
        if len(set(values)) != len(values):
            problems.add(f"{path}.options", "option values must be unique", code="duplicate_options")
    if fd.type == "lookup":
        if not fd.target:
            problems.add(f"{path}.target", "a lookup needs a target object", code="no_target")
        elif fd.target not in objects and fd.target != obj.name:
            problems.add(f"{path}.target", f"unknown target object {fd.target!r}", code="unknown_target",
                         target=fd.target)
        if fd.target == obj.name and fd.on_delete == "cascade":
            problems.add(f"{path}.on_delete", "a lookup to its own object cannot cascade deletes",
                         code="self_lookup_cascade")
    if fd.type == "formula":
        _check_formula(problems, path, fd, obj)
    if fd.type == "autonumber" and not fd.format:
        problems.add(f"{path}.format", "an autonumber needs a format such as 'LEAD-{0000}'", code="no_format")
    if fd.pattern:
        try:
            re.compile(fd.pattern)
        except re.error as exc:
            problems.add(f"{path}.pattern", f"not a valid regular expression: {exc}", code="bad_pattern",
                         pattern=fd.pattern, error=str(exc))
    _check_bounds(problems, path, fd)
    if fd.depends_on:
        controlling = obj.field(fd.depends_on["field"])
        if controlling is None or controlling.type != "picklist":
            problems.add(f"{path}.depends_on.field", "must name a picklist field of the same object",
                         code="depends_on_not_picklist")
        else:
            for controlling_value, allowed in fd.depends_on["values"].items():
                if controlling_value not in controlling.option_values:
                    problems.add(f"{path}.depends_on.values",
                                 f"{controlling_value!r} is not an option of {controlling.name}",
                                 code="not_an_option", value=controlling_value, field=controlling.name)
                for value in allowed:
                    if value not in fd.option_values:
                        problems.add(f"{path}.depends_on.values", f"{value!r} is not an option of {fd.name}",
                                     code="not_an_option", value=value, field=fd.name)
    if fd.default is not None and not ftype.computed:
        try:
            deserialize_loose(FIELD_TYPES[fd.type].field(fd, True), fd.default)
        except ValueError as exc:
            problems.add(f"{path}.default", f"invalid default: {exc}", code="invalid_default", value=fd.default,
                         error=str(exc))


def _check_bounds(problems: Problems, path: str, fd: FieldDef) -> None:
    """``min``/``max`` must be numbers on numeric fields and ISO dates on date fields."""
    from datetime import date

    bounds = {key: getattr(fd, key) for key in ("min", "max") if getattr(fd, key) is not None}
    parsed: dict[str, Any] = {}
    for key, value in bounds.items():
        if fd.type == "date":
            try:
                parsed[key] = date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                parsed[key] = None
            if parsed[key] is None:
                problems.add(f"{path}.{key}", f"{key} of a date field must be a date like 2025-01-31, not {value!r}",
                             code="min_not_date" if key == "min" else "max_not_date", value=value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(f"{path}.{key}", f"{key} of a {fd.type} field must be a number, not {value!r}",
                         code="min_not_number" if key == "min" else "max_not_number", value=value)
        else:
            parsed[key] = value
    if parsed.get("min") is not None and parsed.get("max") is not None and parsed["min"] > parsed["max"]:
        problems.add(path, "min is greater than max", code="min_above_max")


def _check_formula(problems: Problems, path: str, fd: FieldDef, obj: ObjectDef) -> None:
    from .formulas import Formula, formula_problem

    if not fd.expression:
        problems.add(f"{path}.expression", "a formula needs an expression", code="no_expression")
        return
    if not fd.result_type:
        problems.add(f"{path}.result_type", "a formula needs a result_type", code="no_result_type")
        return
    names = [f.name for f in obj.fields if f.name != fd.name] + ["id", "created_at", "updated_at", "owner_id"]
    if obj.pipeline is not None:
        names.append("stage")
    try:
        formula = Formula(fd.expression, names, fd.result_type)
        # A trial run on an empty record catches what only evaluation reveals (10**10**10, 'a' * 10**9).
        result = formula.evaluate({name: None for name in names})
    except ExpressionError as exc:
        coded = formula_problem(exc)
        problems.add(f"{path}.expression", exc.message, coded["code"], **coded["params"])
        return
    if not fits_column(fd.result_type, fd, result):
        problems.add(f"{path}.expression", f"the result {result} is out of the range a {fd.result_type} can store",
                     code="formula_out_of_range", value=result)


def formula_references(fd: FieldDef) -> frozenset[str]:
    """Field names a formula's expression reads (function names excluded)."""
    if not fd.expression:
        return frozenset()
    try:
        tree = ast.parse(fd.expression, mode="eval")
    except SyntaxError:
        return frozenset()
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called)


def _check_formula_cycles(problems: Problems, obj: ObjectDef) -> None:
    try:
        formula_order(obj)
    except ValidationError as exc:
        problems.add("fields", exc.message, code="formula_cycle", cycle=exc.params.get("cycle"))


def formula_order(obj: ObjectDef) -> list[FieldDef]:
    """Formula fields in an order where each comes after the formulas it uses."""
    formulas = {fd.name: fd for fd in obj.fields if fd.type == "formula" and fd.expression}
    ordered: list[FieldDef] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join((*trail, name))
            raise ValidationError(f"formulas refer to each other in a cycle: {cycle}", reason="formula_cycle",
                                  params={"cycle": cycle})
        state[name] = "visiting"
        for ref in sorted(formula_references(formulas[name])):
            if ref in formulas:
                visit(ref, (*trail, name))
        state[name] = "done"
        ordered.append(formulas[name])

    for name in formulas:
        visit(name, ())
    return ordered


def _check_pipeline(problems: Problems, obj: ObjectDef) -> None:
    stages = obj.pipeline.get("stages", [])
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        if stage["name"] in seen:
            problems.add(f"pipeline.stages[{index}].name", f"duplicate stage {stage['name']!r}", code="duplicate_stage",
                         name=stage["name"])
        seen.add(stage["name"])
        for required in stage.get("required_fields", []):
            fd = obj.field(required)
            if fd is None:
                problems.add(f"pipeline.stages[{index}].required_fields", f"unknown field {required!r}",
                             code="unknown_field_named", name=required)
            elif fd.computed:
                problems.add(f"pipeline.stages[{index}].required_fields", f"{required!r} is computed",
                             code="computed_required", field=required)


def _check_layout(problems: Problems, path: str, name: str, layout: Any, obj: ObjectDef,
                  valid_shapes: MutableMapping[Any, bool] | None = None) -> None:
    kind = "form_layout" if name.startswith("form") else "list_layout"
    try:
        check_shape_once(kind, layout, valid_shapes, prefix=path)
    except ValidationError as exc:
        for key, messages in exc.field_problems().items():
            for message in messages:
                problems.add(key, message["message"], message["code"], **message["params"])
        return
    known = set(obj.field_names) | set(SYSTEM_COLUMNS)
    if kind == "form_layout":
        placed: set[str] = set()
        for index, section in enumerate(layout["sections"]):
            for fname in section["fields"]:
                if fname not in obj.field_names:
                    problems.add(f"{path}.sections[{index}].fields", f"unknown field {fname!r}",
                                 code="unknown_field_named", name=fname)
                if fname in placed:
                    problems.add(f"{path}.sections[{index}].fields", f"field {fname!r} is placed twice",
                                 code="placed_twice", field=fname)
                placed.add(fname)
    else:
        for fname in layout["columns"]:
            if fname not in known:
                problems.add(f"{path}.columns", f"unknown field {fname!r}", code="unknown_field_named", name=fname)
        for part in (layout.get("sort") or "").split(","):
            if part and part.lstrip("-") not in known:
                problems.add(f"{path}.sort", f"unknown field {part.lstrip('-')!r}", code="unknown_field_named",
                             name=part.lstrip("-"))


def default_layouts(obj: ObjectDef) -> dict[str, Any]:
    """The layouts an object has until an admin defines its own."""
    editable = [f.name for f in obj.fields]
    columns = [f.name for f in obj.fields if f.type not in {"textarea", "rich_text"}][:6] or ["id"]
    return {
        "form": {"sections": [{"label": {"en": "Details", "zh": "详细信息"}, "columns": 2, "fields": editable}]},
        "list": {"columns": columns, "sort": "-id"},
    }


def layout_of(obj: ObjectDef, name: str) -> dict[str, Any] | None:
    if name in obj.layouts:
        return obj.layouts[name]
    return default_layouts(obj).get(name)

