"""The compiled form of a tenant's metadata: tables, record schemas, filter fields, formulas.

Compiling is done once per (tenant, metadata version) and cached on the platform; a version is
never reused with another meaning, so several worker processes stay coherent by reading the version
from the database on each unit of work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from marshmallow import RAISE, Schema
from marshmallow import fields as mm

from crm_platform.core.bulk import python_type_of
from crm_platform.core.errors import CRMError, NotFound
from crm_platform.core.session import TenantSession

from .conditions import TAGS_FIELD, FieldRef
from .definitions import ObjectDef, formula_order, label_text
from .fast_load import fast_converter, id_converter
from .field_types import (
    FIELD_TYPES, String, UTCAwareDateTime, deserialize_loose, id_field, kind_of, magnitude_limit, value_type_of,
)
from .formulas import Formula
from .record_json import RecordJSON
from .sql_types import UTCDateTime
from .store import VERSION_KEY, load_definitions, metadata_version
from .tags import clean_tags, tagged_any

SYSTEM_FIELD_KINDS = {
    "id": "number",
    "created_at": "datetime",
    "updated_at": "datetime",
    "created_by": "reference",
    "updated_by": "reference",
    "owner_id": "reference",
    "version": "number",
    "stage": "choice",
}
#: System columns a client may write (permissions decide who).
WRITABLE_SYSTEM_FIELDS = ("owner_id", "stage")
MAX_IDENTIFIER = 63


def index_name(table: str, column: str, unique: bool) -> str:
    """A deterministic index name that fits PostgreSQL's 63-character limit."""
    name = f"{'uq' if unique else 'ix'}_{table}_{column}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def id_type() -> sa.types.TypeEngine[int]:
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def system_columns(with_stage: bool) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer),
        sa.Column("updated_by", sa.Integer),
        sa.Column("owner_id", sa.Integer),
        sa.Column("version", sa.Integer, nullable=False),
    ]
    if with_stage:
        columns.append(stage_column())
    return columns


def stage_column() -> sa.Column[Any]:
    return sa.Column("stage", sa.String(63))


def field_column(fd: Any) -> sa.Column[Any]:
    return sa.Column(fd.name, FIELD_TYPES[fd.type].sql_type(fd))


def build_table(obj: ObjectDef, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        obj.table_name,
        metadata,
        *system_columns(obj.pipeline is not None),
        *(field_column(fd) for fd in obj.fields),
    )


def _python_type(column: sa.Column[Any]) -> Any:
    return python_type_of(column.type)


def _converter(column: sa.Column[Any]) -> Any:
    python_type = _python_type(column)
    if python_type in (str, int, bool):
        return None
    return _TYPED_JSON.get(python_type, _to_json)


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


# The usual stored type of a column first, by exact type; anything else as _to_json has it.
_TYPED_JSON = {
    Decimal: lambda value: float(value) if type(value) is Decimal else _to_json(value),
    datetime: lambda value: value.isoformat().replace("+00:00", "Z") if type(value) is datetime else _to_json(value),
    date: lambda value: value.isoformat() if type(value) is date else _to_json(value),
}


class ObjectModel:
    """Everything needed to store, validate, filter and describe one object's records."""

    def __init__(self, obj: ObjectDef, metadata: sa.MetaData) -> None:
        self.definition = obj
        self.name = obj.name
        self.table = build_table(obj, metadata)
        self.fields = {fd.name: fd for fd in obj.fields}
        self.has_pipeline = obj.pipeline is not None
        self.stages = {s["name"]: s for s in (obj.pipeline or {}).get("stages", ())}
        self.writable = tuple(fd for fd in obj.fields if not fd.computed)
        self.required = tuple(fd.name for fd in self.writable if fd.required)
        self.defaults = {fd.name: fd.default for fd in self.writable if fd.default is not None}
        self.unique = tuple(fd.name for fd in obj.fields if fd.unique)
        self.lookups = tuple(fd for fd in obj.fields if fd.type in {"lookup", "user"})
        self.autonumbers = tuple(fd for fd in obj.fields if fd.type == "autonumber")
        self.dependent_picklists = tuple(fd for fd in obj.fields if fd.depends_on)
        self.searchable = tuple(self.table.c[fd.name] for fd in obj.fields if FIELD_TYPES[fd.type].searchable)
        self.record_schema = self._record_schema()
        self.record_fields = dict(self.record_schema.fields)
        #: Quick converters for the common valid case (see :mod:`metadata.fast_load`).
        self.fast_converters = {fd.name: fast_converter(fd) for fd in self.writable if fast_converter(fd)}
        self.fast_converters["owner_id"] = id_converter
        #: Keys a record write may always carry (before the reader's own restrictions).
        self.writable_keys = frozenset(fd.name for fd in self.writable) | {"owner_id"}
        self.field_refs = self._field_refs()
        self.formulas = self._formulas()
        #: (name, formula, magnitude limit of its column or None), for checking results quickly.
        self.formula_limits = tuple((name, formula, magnitude_limit(formula.result_type, self.fields[name]))
                                    for name, formula in self.formulas)
        #: (field, type, target object) of every reference a new value must point at an existing row.
        self.reference_checks = (*((fd.name, fd.type, fd.target) for fd in self.lookups), ("owner_id", "user", None))
        self.columns = tuple(self.table.c.keys())
        #: (column, converter to JSON or None when the stored value already is JSON).
        self.dumpers = tuple((column.key, _converter(column)) for column in self.table.c)
        #: The JSON text of many rows at once (a bulk write's audit entries).
        self.record_json = RecordJSON([(column.key, _python_type(column), convert)
                                       for column, (_, convert) in zip(self.table.c, self.dumpers)])
        #: Columns whose values repeat down a bulk write (its timestamps, dates): see dump_many.
        self.repeating = frozenset(c.key for c in self.table.c if _python_type(c) in (date, datetime))
        table = self.table
        # Statements built once: executing them with parameters skips per-call construction.
        self.insert_statement = table.insert()
        #: An update at the version it read, answering the row as stored (no row: changed meanwhile).
        self.update_statement = table.update().where(
            table.c.id == sa.bindparam("_id"), table.c.version == sa.bindparam("_version")).returning(*table.c)
        self.exists_statement = sa.select(table.c.id).where(table.c.id == sa.bindparam("_id"))
        #: The records among a list of ids, given as one expanding parameter ``_ids`` (an ``in_``
        #: of the values themselves would build a bound parameter for each, every time).
        self.ids_among_statement = sa.select(table.c.id).where(table.c.id.in_(sa.bindparam("_ids", expanding=True)))
        self.row_statement = sa.select(table).where(table.c.id == sa.bindparam("_id"))
        self.unique_statements = {
            name: (
                sa.select(table.c.id).where(table.c[name] == sa.bindparam("_value")).limit(1),
                sa.select(table.c.id).where(table.c[name] == sa.bindparam("_value"),
                                            table.c.id != sa.bindparam("_self")).limit(1),
            )
            for name in self.unique
        }
        #: Per unique field: (value, id) of the records holding any of a list of values ``_values``.
        self.unique_among_statements = {
            name: sa.select(table.c[name], table.c.id).where(table.c[name].in_(sa.bindparam("_values", expanding=True)))
            for name in self.unique
        }

    # -- compilation ---------------------------------------------------------------------------

    def _record_schema(self) -> Schema:
        declared: dict[str, mm.Field] = {
            fd.name: FIELD_TYPES[fd.type].field(fd, True) for fd in self.writable
        }
        declared["owner_id"] = id_field()
        if self.has_pipeline:
            declared["stage"] = String(allow_none=True)
        schema_class = Schema.from_dict(declared, name=f"{self.name}_record")
        return schema_class(unknown=RAISE)

    def _field_refs(self) -> dict[str, FieldRef]:
        refs: dict[str, FieldRef] = {}
        for name, kind in SYSTEM_FIELD_KINDS.items():
            if name not in self.table.c:
                continue
            if kind == "datetime":
                loose: mm.Field = UTCAwareDateTime(default_timezone=timezone.utc)
            elif kind == "choice":
                loose = mm.String()
            else:
                loose = id_field()
            options = tuple(self.stages) if name == "stage" else None
            refs[name] = FieldRef(name, kind, _coercer(loose), self.table.c[name], options)
        for fd in self.definition.fields:
            value_ftype = FIELD_TYPES[value_type_of(fd)]
            loose = value_ftype.field(fd, False)
            options = fd.option_values if fd.type in {"picklist", "multi_picklist"} else None
            refs[fd.name] = FieldRef(fd.name, kind_of(fd), _coercer(loose), self.table.c[fd.name], options or None)
        refs[TAGS_FIELD] = FieldRef(TAGS_FIELD, "tags", _tag_value, None, None,
                                    lambda tags: tagged_any(self.table, self.name, tags))
        return refs

    def _formulas(self) -> tuple[tuple[str, Formula], ...]:
        names = [*self.fields, "id", "created_at", "updated_at", "owner_id"] + (["stage"] if self.has_pipeline else [])
        compiled = []
        for fd in formula_order(self.definition):
            compiled.append((fd.name, Formula(fd.expression, [n for n in names if n != fd.name], fd.result_type)))
        return tuple(compiled)

    # -- use -------------------------------------------------------------------------------------

    def label(self, language: str = "en") -> str:
        return label_text(self.definition.label, language)

    def dump(self, row: Any) -> dict[str, Any]:
        """A stored row as the API shows it."""
        mapping = row._mapping if hasattr(row, "_mapping") else row
        shown = {}
        for key, convert in self.dumpers:
            if key in mapping:
                value = mapping[key]
                shown[key] = convert(value) if convert is not None and value is not None else value
        return shown


    def dump_many(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`dump` of many stored rows (a bulk write's): a repeated timestamp or date is
        converted once."""
        repeating = self.repeating
        steps = [(key, convert, {} if key in repeating else None) for key, convert in self.dumpers]
        shown_rows = []
        for mapping in rows:
            shown = {}
            for key, convert, memo in steps:
                if key in mapping:
                    value = mapping[key]
                    if convert is not None and value is not None:
                        if memo is None:
                            value = convert(value)
                        else:
                            done = memo.get(value, memo)
                            if done is memo:
                                done = memo[value] = convert(value)
                            value = done
                    shown[key] = value
            shown_rows.append(shown)
        return shown_rows


def _coercer(field: mm.Field) -> Callable[[Any], Any]:
    def coerce(value: Any) -> Any:
        return deserialize_loose(field, value)

    return coerce


class TenantModel:
    """The compiled metadata of one tenant at one version."""

    def __init__(self, version: int, definitions: dict[str, ObjectDef], previous: TenantModel | None = None,
                 compiled: dict[str, ObjectModel] | None = None) -> None:
        """Compile every object, reusing ``previous``'s compilation of objects that did not change
        (a template install creating dozens of objects would otherwise recompile all of them each time)
        and ``compiled``, objects the caller has just compiled from these very definitions."""
        self.version = version
        self.definitions = definitions
        self.metadata = sa.MetaData()
        self.objects = {}
        for name, obj in definitions.items():
            old = previous.objects.get(name) if previous is not None else None
            if compiled and name in compiled:  # compiled from an equal definition (checked below)
                old = compiled[name]
            reusable = old is not None and (old.definition is obj or old.definition.document == obj.document)
            self.objects[name] = old if reusable else ObjectModel(obj, self.metadata)

    def object(self, name: str) -> ObjectModel:
        model = self.objects.get(name)
        if model is None:
            raise NotFound(f"object {name!r} does not exist", reason="no_such_object", params={"object": name})
        return model

    def referencing_lookups(self, target: str) -> list[tuple[str, str]]:
        """(object, field) pairs of lookups that point at ``target``."""
        return [
            (name, fd.name)
            for name, obj in self.definitions.items()
            for fd in obj.fields
            if fd.type == "lookup" and fd.target == target
        ]


MODEL_CACHE_SIZE = 256


def load_model(session: TenantSession) -> TenantModel:
    """The tenant's compiled metadata, shared across requests until the version moves."""
    model = session.cache.get("model")
    if model is not None:
        return model
    if session.cache.get("metadata_dirty"):
        return fresh_model(session)
    version = metadata_version(session)
    cache = session.platform.cache("models")
    key = (session.tenant, version)
    model = cache.get(key)
    if model is None:
        model = _remember(cache, key, TenantModel(version, load_definitions(session)))
    session.cache["model"] = model
    return model


def publish_model(session: TenantSession) -> None:
    """After a unit of work that changed metadata commits: share the model it compiled last (its
    version is the committed one), so the next unit of work does not compile it all again."""
    model = session.cache.get("model")
    versions = session.cache.get("versions") or {}
    if model is not None and versions.get(VERSION_KEY) == model.version:
        _remember(session.platform.cache("models"), (session.tenant, model.version), model)


def _remember(cache: dict[Any, Any], key: Any, model: TenantModel) -> TenantModel:
    if key not in cache and len(cache) >= MODEL_CACHE_SIZE:
        cache.pop(next(iter(cache)), None)
    cache[key] = model
    return model


def fresh_model(session: TenantSession) -> TenantModel:
    """Recompile inside a transaction that changed metadata (not cached until it commits)."""
    model = TenantModel(metadata_version(session), load_definitions(session))
    session.cache["model"] = model
    return model


def _tag_value(raw: Any) -> str:
    """A tag in a condition, checked as tags are when they are added."""
    if not isinstance(raw, str):
        raise ValueError("a tag is a string")
    try:
        return clean_tags([raw])[0]
    except CRMError as exc:
        raise ValueError(exc.message) from None
