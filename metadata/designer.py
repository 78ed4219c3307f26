"""Metadata changes: objects, fields, layouts and pipelines, applied to the live tables.

Each change follows the same steps: build the new definition, check its shape and meaning, check the
existing data against it (listing the offending records), then run the DDL and save the definition,
all in the caller's transaction. Any failure rolls back both, so the tenant stays as it was.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from crm_platform.core.database import copy_document
from crm_platform.core.errors import Conflict, NotFound, SchemaChangeError, ValidationError, problem
from crm_platform.core.events import METADATA_CHANGED
from crm_platform.core.session import TenantSession, utcnow

from . import ddl
from .definitions import ObjectDef, check_definitions, check_shape, check_shape_once, content_key
from .field_types import FIELD_TYPES, deserialize_loose
from .model import ObjectModel, TenantModel, field_column, index_name, load_model, publish_model, stage_column
from .references import dependent_reference, formula_reference, lookup_reference, still_referenced
from .store import bump_version, delete_definition, save_definition, save_definitions
from .tables import autonumber_counters, stage_history

#: Hook name: callables ``(session, change) -> list[str]`` naming definitions outside the metadata
#: layer (rules, saved views...) that still refer to a field or object about to be deleted, or that
#: they updated for a rename; each made by :func:`metadata.references.reference`, so a UI can
#: say it in its language. ``change`` is a dict: ``{"action": "delete_field" | "rename_field" |
#: "delete_object", "object": ..., "field": ..., "new_name": ...}``.
REFERENCE_HOOK = "metadata.references"
#: Types whose values are plain data, convertible into one another when the data allows.
CONVERTIBLE_TYPES = frozenset(
    {"text", "textarea", "rich_text", "integer", "decimal", "currency", "percent", "boolean", "date", "datetime",
     "email", "phone", "url", "picklist", "multi_picklist"}
)
OFFENDERS_SHOWN = 20
BATCH = 1000
#: The platform cache of documents found well-shaped (by content), see ``check_shape_once``.
VALID_SHAPES = "valid_shapes"
#: The platform cache of objects found meaningful (by content and surroundings), see ``check_definitions``.
VALID_DEFINITIONS = "valid_definitions"
#: The platform cache of compiled models of created objects (by definition), and its bound.
NEW_OBJECT_MODELS = "new_object_models"
NEW_OBJECT_MODELS_SIZE = 256
#: The DDL of new objects' tables, by (content key, schema): see ``Designer._new_table_statements``.
NEW_OBJECT_DDL = "new_object_ddl"


class Designer:
    """Applies metadata changes for one unit of work."""

    def __init__(self, session: TenantSession) -> None:
        self.session = session
        self.model: TenantModel = load_model(session)
        self.definitions: dict[str, ObjectDef] = dict(self.model.definitions)

    # -- objects -------------------------------------------------------------------------------

    def create_object(self, document: Any) -> dict[str, Any]:
        return self.create_objects([document])[0]

    def create_objects(self, documents: list[Any]) -> list[dict[str, Any]]:
        """Create several objects (in the order given, so a lookup's target comes first) in one
        metadata change: one check of them all, one version bump and one model compile, rather than
        one per object; each still gets its own audit entry and change event."""
        objects: dict[str, ObjectDef] = {}
        for document in documents:
            self._check_shape("object", document)
            name = document["name"]
            if name in self.definitions or name in objects:
                raise Conflict(f"object {name!r} already exists", {"name": ["already exists"]},
                               reason="object_exists", params={"object": name},
                               problems={"name": [problem("already_exists")]})
            objects[name] = ObjectDef.from_document(copy_document(document))
        if not objects:
            return []
        keys = {name: content_key(obj.document) for name, obj in objects.items()}
        self._check({**self.definitions, **objects}, list(objects), keys)
        compiled: dict[str, ObjectModel] = {}
        statements: list[str] = []  # the new tables and their indexes, run together
        for name, obj in objects.items():
            model = compiled[name] = self._compiled_new(obj, keys[name])
            statements.extend(self._new_table_statements(obj, model, keys[name]))
        ddl.run_statements(self.session, statements)
        self.session.created_tables.update(obj.table_name for obj in objects.values())
        counters = [{"object": obj.name, "field": fd.name, "value": 0}
                    for obj in objects.values() for fd in obj.fields if fd.type == "autonumber"]
        if counters:  # every new autonumber's counter in one executemany
            self.session.conn.execute(autonumber_counters.insert(), counters)
        save_definitions(self.session, list(objects.values()))
        self._committed_many([("object.create", name, None, obj.document) for name, obj in objects.items()],
                             compiled=compiled)
        return [obj.document for obj in objects.values()]

    def update_object(self, name: str, patch: Any) -> dict[str, Any]:
        check_shape("object_patch", patch)
        before = self._object(name)
        obj = before.with_document(**copy_document(patch))
        self._check({**self.definitions, name: obj}, [name])
        save_definition(self.session, obj)
        self._committed("object.update", name, before=_subset(before.document, patch), after=patch)
        return obj.document

    def delete_object(self, name: str) -> None:
        obj = self._object(name)
        lookups = [lookup_reference(o, f) for o, f in self.model.referencing_lookups(name) if o != name]
        blocking = lookups + self._hook_references({"action": "delete_object", "object": name})
        if blocking:
            raise still_referenced(f"object {name!r} is still referenced by", blocking, reason="object_referenced",
                                   object=name)
        ddl.drop_table(self.session, obj.table_name)
        self.session.inserted.forget_table(obj.table_name)
        self.session.conn.execute(stage_history.delete().where(stage_history.c.object == name))
        self.session.conn.execute(autonumber_counters.delete().where(autonumber_counters.c.object == name))
        delete_definition(self.session, name)
        self.definitions.pop(name, None)
        self._committed("object.delete", name, before=obj.document)

    # -- fields --------------------------------------------------------------------------------

    def add_field(self, object_name: str, field_doc: Any) -> dict[str, Any]:
        check_shape("field", field_doc, prefix="field")
        before = self._object(object_name)
        name = field_doc["name"]
        if before.field(name) is not None:
            raise Conflict(f"field {name!r} already exists on {object_name}", {"name": ["already exists"]},
                           reason="field_exists", params={"field": name, "object": object_name},
                           problems={"name": [problem("already_exists")]})
        obj = before.with_document(fields=[*before.document["fields"], copy_document(field_doc)])
        self._check({**self.definitions, object_name: obj}, [object_name])
        fd = obj.field(name)
        table = self.model.object(object_name).table
        if fd.required and fd.default is None:
            count = self._count(table)
            if count:
                raise SchemaChangeError(
                    f"field {name!r} is required but {count} existing records would have no value; give it a default",
                    {name: ["required without a default on an object that has records"]},
                    reason="required_without_default", params={"field": name, "count": count},
                )
        ddl.add_column(self.session, obj.table_name, field_column(fd))
        new_model = self._recompile(obj)
        if fd.default is not None:
            value = deserialize_loose(FIELD_TYPES[fd.type].field(fd, True), fd.default)
            new_table = new_model.object(object_name).table
            self.session.conn.execute(new_table.update().values({name: value}))
        if fd.type == "autonumber":
            self._init_counter(object_name, name)
            self._backfill_autonumber(new_model.object(object_name), fd)
        if fd.type == "formula":
            self._recompute_formulas(new_model.object(object_name))
        self._create_field_indexes(obj, fd)
        save_definition(self.session, obj)
        self._committed("field.create", object_name, after={"field": field_doc})
        return fd.document

    def update_field(self, object_name: str, field_name: str, patch: Any) -> dict[str, Any]:
        if not isinstance(patch, dict):
            raise ValidationError("a field change must be a JSON object", {"field": ["expected an object"]},
                                  reason="field_change_not_object")
        before = self._object(object_name)
        old = self._field(before, field_name)
        merged = {**old.document, **copy_document(patch)}
        merged = {k: v for k, v in merged.items() if v is not None or k == "default"}
        check_shape("field", merged, prefix="field")
        new_name = merged["name"]
        if new_name != field_name and before.field(new_name) is not None:
            raise Conflict(f"field {new_name!r} already exists on {object_name}", {"name": ["already exists"]},
                           reason="field_exists", params={"field": new_name, "object": object_name},
                           problems={"name": [problem("already_exists")]})
        fields = [merged if f["name"] == field_name else f for f in before.document["fields"]]
        obj = before.with_document(fields=fields)
        if new_name != field_name:
            obj = _rename_references(obj, field_name, new_name)
        self._check({**self.definitions, object_name: obj}, [object_name])
        new = obj.field(new_name)
        model = self.model.object(object_name)
        self._check_existing_data(model, old, new)

        self._drop_field_indexes(before, old)
        if new_name != field_name:
            self._hook_references(
                {"action": "rename_field", "object": object_name, "field": field_name, "new_name": new_name}
            )
            ddl.rename_column(self.session, obj.table_name, field_name, new_name)
            self.session.conn.execute(
                autonumber_counters.update()
                .where(autonumber_counters.c.object == object_name, autonumber_counters.c.field == field_name)
                .values(field=new_name)
            )
        if _sql_type(old) != _sql_type(new):
            self._convert_column(object_name, old, new)
        new_model = self._recompile(obj)
        if new.type == "formula" and (old.type != "formula" or old.expression != new.expression
                                      or old.result_type != new.result_type):
            self._recompute_formulas(new_model.object(object_name))
        self._create_field_indexes(obj, new)
        save_definition(self.session, obj)
        self._committed("field.update", object_name, before={"field": old.document}, after={"field": new.document})
        return new.document

    def delete_field(self, object_name: str, field_name: str) -> None:
        before = self._object(object_name)
        fd = self._field(before, field_name)
        blocking: list[str] = [
            formula_reference(object_name, other.name)
            for other in before.fields
            if other.type == "formula" and field_name in _formula_names(other.expression)
        ]
        blocking += [
            dependent_reference(object_name, other.name)
            for other in before.fields
            if other.depends_on and other.depends_on.get("field") == field_name
        ]
        blocking += self._hook_references({"action": "delete_field", "object": object_name, "field": field_name})
        if blocking:
            raise still_referenced(f"field {object_name}.{field_name} is still referenced by", blocking,
                                   reason="field_referenced", object=object_name, field=field_name)
        fields = [f for f in before.document["fields"] if f["name"] != field_name]
        obj = _remove_references(before.with_document(fields=fields), field_name)
        self._check({**self.definitions, object_name: obj}, [object_name])
        self._drop_field_indexes(before, fd)
        ddl.drop_column(self.session, obj.table_name, field_name)
        self.session.conn.execute(
            autonumber_counters.delete().where(
                autonumber_counters.c.object == object_name, autonumber_counters.c.field == field_name
            )
        )
        self._recompile(obj)
        save_definition(self.session, obj)
        self._committed("field.delete", object_name, before={"field": fd.document})

    # -- layouts and pipelines -----------------------------------------------------------------

    def put_layout(self, object_name: str, layout_name: str, layout: Any) -> dict[str, Any]:
        before = self._object(object_name)
        check_shape("object", {"name": object_name, "label": "x", "layouts": {layout_name: layout}})
        layouts = {**before.layouts, layout_name: copy_document(layout)}
        obj = before.with_document(layouts=layouts)
        self._check({**self.definitions, object_name: obj}, [object_name])
        save_definition(self.session, obj)
        self._committed(
            "layout.update", object_name,
            before={"layout": layout_name, "definition": before.layouts.get(layout_name)},
            after={"layout": layout_name, "definition": layout},
        )
        return layout

    def put_pipeline(self, object_name: str, pipeline: Any) -> dict[str, Any] | None:
        check_shape("pipeline", pipeline, prefix="pipeline")
        before = self._object(object_name)
        removing = not pipeline["stages"]
        obj = before.with_document(pipeline=None if removing else copy_document(pipeline))
        self._check({**self.definitions, object_name: obj}, [object_name])
        model = self.model.object(object_name)
        if model.has_pipeline:
            kept = set() if removing else set(obj.stage_names)
            in_use = self.session.conn.execute(
                sa.select(model.table.c.stage, sa.func.count())
                .where(model.table.c.stage.is_not(None))
                .group_by(model.table.c.stage)
            ).all()
            orphaned = {stage: count for stage, count in in_use if stage not in kept}
            if orphaned:
                described = ", ".join(f"{stage!r} ({count} records)" for stage, count in sorted(orphaned.items()))
                raise SchemaChangeError(
                    f"stages still hold records: {described}; move those records first",
                    {"stages": [f"{stage}: {count} records" for stage, count in sorted(orphaned.items())]},
                    reason="stages_in_use", params={"object": object_name, "stages": sorted(orphaned)},
                )
        if removing and model.has_pipeline:
            ddl.drop_index(self.session, index_name(obj.table_name, "stage", False), obj.table_name)
            ddl.drop_column(self.session, obj.table_name, "stage")
        elif not removing and not model.has_pipeline:
            ddl.add_column(self.session, obj.table_name, stage_column())
            ddl.create_index(self.session, index_name(obj.table_name, "stage", False), obj.table_name, "stage")
            self._enter_first_stage(obj)
        self._recompile(obj)
        save_definition(self.session, obj)
        self._committed("pipeline.update", object_name, before={"pipeline": before.pipeline}, after={"pipeline": obj.pipeline})
        return obj.pipeline

    # -- steps ---------------------------------------------------------------------------------

    def _object(self, name: str) -> ObjectDef:
        obj = self.definitions.get(name)
        if obj is None:
            raise NotFound(f"object {name!r} does not exist", reason="no_such_object", params={"object": name})
        return obj

    @staticmethod
    def _field(obj: ObjectDef, name: str) -> Any:
        fd = obj.field(name)
        if fd is None:
            raise NotFound(f"field {name!r} does not exist on {obj.name}", reason="no_such_field",
                           params={"field": name, "object": obj.name})
        return fd

    def _check(self, definitions: dict[str, ObjectDef], changed: Iterable[str],
               keys: dict[str, str | None] | None = None) -> None:
        """``keys``: the changed objects' content keys, when the caller has them."""
        platform = self.session.platform
        check_definitions(definitions, changed, platform.cache(VALID_SHAPES), platform.cache(VALID_DEFINITIONS), keys)
        self.definitions = definitions

    def _recompile(self, obj: ObjectDef) -> TenantModel:
        self.definitions[obj.name] = obj
        self.model = TenantModel(self.model.version, dict(self.definitions), previous=self.model)
        self.session.cache["model"] = self.model
        return self.model

    def _compiled_new(self, obj: ObjectDef, key: str | None) -> ObjectModel:
        """A new object's compiled model, shared on this platform by objects of the same definition
        (``key``, its content key): a compiled model names no tenant and is never changed once
        built, and a pack creates the same objects in every tenant it goes into (compiling one costs
        a few milliseconds)."""
        if key is None:
            return ObjectModel(obj, sa.MetaData())
        models = self.session.platform.cache(NEW_OBJECT_MODELS)
        model = models.get(key)
        if model is None:
            model = ObjectModel(obj, sa.MetaData())
            if len(models) >= NEW_OBJECT_MODELS_SIZE:
                models.clear()
            models[key] = model
        return model

    def _new_table_statements(self, obj: ObjectDef, model: ObjectModel, key: str | None) -> list[str]:
        """A new object's CREATE TABLE and CREATE INDEX statements, in the tenant's schema. Shared
        on this platform like the compiled model (by content key and schema): writing out a
        table's DDL costs about as much as the database's own work on SQLite."""
        cache = self.session.platform.cache(NEW_OBJECT_DDL) if key is not None else {}
        schema = self.session.schema
        statements = cache.get((key, schema))
        if statements is None:
            statements = [ddl.table_statement(self.session, model.table)]
            for column, unique in [("owner_id", False), *(("stage", False),) * model.has_pipeline]:
                statements.append(ddl.index_statement(self.session, index_name(obj.table_name, column, unique),
                                                      obj.table_name, column, unique))
            for fd in obj.fields:
                statements.extend(self._field_index_statements(obj, fd))
            if len(cache) >= NEW_OBJECT_MODELS_SIZE:
                cache.clear()
            cache[(key, schema)] = statements
        return statements

    def _check_shape(self, kind: str, document: Any) -> None:
        """``check_shape``, skipped for a document already found valid on this platform."""
        check_shape_once(kind, document, self.session.platform.cache(VALID_SHAPES))

    def _committed(self, action: str, object_name: str, before: Any = None, after: Any = None) -> None:
        self._committed_many([(action, object_name, before, after)])

    def _committed_many(self, changes: list[tuple[str, str, Any, Any]],
                        compiled: dict[str, ObjectModel] | None = None) -> None:
        """Bump the version once for ``changes`` (action, object, before, after), then audit and
        announce each; ``compiled``: models the caller has just built from these very definitions."""
        version = bump_version(self.session)
        # The definitions in hand are what was just saved: compile from them, not from the database.
        self.model = TenantModel(version, dict(self.definitions), previous=self.model, compiled=compiled)
        self.session.cache["model"] = self.model
        if not self.session.cache.get("model_published"):
            self.session.cache["model_published"] = True
            self.session.after_commit(lambda session=self.session: publish_model(session))
        for action, object_name, before, after in changes:
            self.session.audit(f"metadata.{action}", object=object_name, before=before, after=after)
            self.session.publish(METADATA_CHANGED, object=object_name, extra={"action": action})

    def _hook_references(self, change: dict[str, Any]) -> list[str]:
        found: list[str] = []
        hooks: list[Callable[..., list[str]]] = self.session.platform.hooks.get(REFERENCE_HOOK, [])
        for hook in hooks:
            found.extend(hook(self.session, change) or [])
        return found

    def _count(self, table: sa.Table, *criteria: Any) -> int:
        return self.session.conn.execute(sa.select(sa.func.count()).select_from(table).where(*criteria)).scalar_one()

    def _create_field_indexes(self, obj: ObjectDef, fd: Any) -> None:
        ddl.run_statements(self.session, self._field_index_statements(obj, fd))

    def _field_index_statements(self, obj: ObjectDef, fd: Any) -> list[str]:
        return [ddl.index_statement(self.session, index_name(obj.table_name, fd.name, unique), obj.table_name, fd.name,
                                    unique, include_owner=not unique) for unique in _index_kinds(fd)]

    def _drop_field_indexes(self, obj: ObjectDef, fd: Any) -> None:
        for unique in _index_kinds(fd):
            ddl.drop_index(self.session, index_name(obj.table_name, fd.name, unique), obj.table_name)

    def _init_counter(self, object_name: str, field_name: str) -> None:
        self.session.conn.execute(autonumber_counters.insert(), {"object": object_name, "field": field_name, "value": 0})

    def _backfill_autonumber(self, model: ObjectModel, fd: Any) -> None:
        from .records import format_autonumber

        ids = self.session.conn.execute(sa.select(model.table.c.id).order_by(model.table.c.id)).scalars().all()
        if not ids:
            return
        self.session.conn.execute(
            model.table.update().where(model.table.c.id == sa.bindparam("_id")).values({fd.name: sa.bindparam("_value")}),
            [{"_id": record_id, "_value": format_autonumber(fd.format, n)} for n, record_id in enumerate(ids, 1)],
        )
        self.session.conn.execute(
            autonumber_counters.update()
            .where(autonumber_counters.c.object == model.name, autonumber_counters.c.field == fd.name)
            .values(value=len(ids))
        )

    def _recompute_formulas(self, model: ObjectModel) -> None:
        table = model.table
        last_id = 0
        while True:
            rows = self.session.conn.execute(
                sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(BATCH)
            ).mappings().all()
            if not rows:
                return
            updates = []
            for row in rows:
                values = dict(row)
                for name, formula in model.formulas:
                    values[name] = formula.evaluate(values)
                updates.append({"_id": row["id"], **{f"_{n}": values[n] for n, _ in model.formulas}})
            statement = table.update().where(table.c.id == sa.bindparam("_id")).values(
                {name: sa.bindparam(f"_{name}") for name, _ in model.formulas}
            )
            self.session.conn.execute(statement, updates)
            last_id = rows[-1]["id"]

    def _enter_first_stage(self, obj: ObjectDef) -> None:
        first = obj.stage_names[0]
        table = self._recompile(obj).object(obj.name).table
        ids = self.session.conn.execute(sa.select(table.c.id)).scalars().all()
        if not ids:
            return
        now = utcnow()
        self.session.conn.execute(table.update().values(stage=first))
        self.session.conn.execute(
            stage_history.insert(),
            [{"object": obj.name, "record_id": i, "from_stage": None, "to_stage": first, "entered_at": now,
              "user_id": self.session.actor.user_id} for i in ids],
        )

    # -- data checks ---------------------------------------------------------------------------

    def _check_existing_data(self, model: ObjectModel, old: Any, new: Any) -> None:
        column = model.table.c[old.name]
        if old.type != new.type:
            if old.type not in CONVERTIBLE_TYPES or new.type not in CONVERTIBLE_TYPES:
                raise SchemaChangeError(
                    f"cannot change field {old.name!r} from {old.type} to {new.type}; add a new field instead",
                    {old.name: [f"{old.type} -> {new.type} is not a supported conversion"]},
                    reason="type_change_unsupported", params={"field": old.name, "from": old.type, "to": new.type},
                )
        if new.type == "lookup" and new.target != old.target:
            if self._count(model.table, column.is_not(None)):
                raise SchemaChangeError(
                    f"cannot retarget lookup {old.name!r} while records point somewhere",
                    {old.name: ["clear the field on every record first"]},
                    reason="lookup_retarget_in_use", params={"field": old.name},
                )
        if _sql_type(old) != _sql_type(new) or old.options != new.options:
            self._check_conversion(model, old, new)
        if new.required and not old.required:
            missing = self._offending_ids(model, _empty(column, old))
            if missing:
                raise SchemaChangeError(
                    f"cannot make {old.name!r} required: {len(missing)} records have no value",
                    {old.name: ["records without a value"], "records": missing[:OFFENDERS_SHOWN]},
                    reason="required_refused",
                    params={"field": old.name, "count": len(missing), "ids": missing[:OFFENDERS_SHOWN]},
                )
        if new.unique and not old.unique:
            duplicates = self.session.conn.execute(
                sa.select(column, sa.func.count()).where(column.is_not(None)).group_by(column)
                .having(sa.func.count() > 1).limit(OFFENDERS_SHOWN)
            ).all()
            if duplicates:
                values = [FIELD_TYPES[old.type].to_json(value) for value, _ in duplicates]
                raise SchemaChangeError(
                    f"cannot make {old.name!r} unique: some values occur more than once: {values}",
                    {old.name: ["duplicate values"], "duplicates": values},
                    reason="unique_refused", params={"field": old.name, "values": values},
                )

    def _check_conversion(self, model: ObjectModel, old: Any, new: Any) -> None:
        if new.computed:
            return
        target = FIELD_TYPES[new.type].field(new, True)
        offenders: list[dict[str, Any]] = []
        for record_id, value in self._non_null_values(model.table, old.name):
            try:
                deserialize_loose(target, _convertible(old, new, value))
            except ValueError as exc:
                offenders.append({"id": record_id, "value": FIELD_TYPES[old.type].to_json(value), "error": str(exc)})
                if len(offenders) >= OFFENDERS_SHOWN:
                    break
        if offenders:
            raise SchemaChangeError(
                f"cannot change field {old.name!r}: {len(offenders)}{'+' if len(offenders) >= OFFENDERS_SHOWN else ''} "
                f"records hold values that do not fit (first: id {offenders[0]['id']}, {offenders[0]['error']})",
                {old.name: ["existing values do not convert"], "records": offenders},
                reason="conversion_refused",
                params={"field": old.name, "count": f"{len(offenders)}{'+' if len(offenders) >= OFFENDERS_SHOWN else ''}",
                        "ids": [o["id"] for o in offenders], "to": new.type},
            )

    def _non_null_values(self, table: sa.Table, name: str) -> Iterable[tuple[int, Any]]:
        column = table.c[name]
        last_id = 0
        while True:
            rows = self.session.conn.execute(
                sa.select(table.c.id, column).where(table.c.id > last_id, column.is_not(None))
                .order_by(table.c.id).limit(BATCH)
            ).all()
            if not rows:
                return
            yield from rows
            last_id = rows[-1][0]

    def _offending_ids(self, model: ObjectModel, criterion: Any) -> list[int]:
        return self.session.conn.execute(
            sa.select(model.table.c.id).where(criterion).order_by(model.table.c.id).limit(OFFENDERS_SHOWN + 1)
        ).scalars().all()

    def _convert_column(self, object_name: str, old: Any, new: Any) -> None:
        """Rewrite a column into a new type: add, copy converted values, drop, rename."""
        obj = self.definitions[object_name]
        temporary = f"tmp_{new.name}"[:63]
        ddl.add_column(self.session, obj.table_name, sa.Column(temporary, FIELD_TYPES[new.type].sql_type(new)))
        target = FIELD_TYPES[new.type].field(new, False)
        scratch = sa.Table(obj.table_name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                           sa.Column(temporary, FIELD_TYPES[new.type].sql_type(new)))
        statement = scratch.update().where(scratch.c.id == sa.bindparam("_id")).values(
            {temporary: sa.bindparam("_value")}
        )
        batch: list[dict[str, Any]] = []
        current = sa.Table(obj.table_name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                           sa.Column(new.name, FIELD_TYPES[old.type].sql_type(old)))
        for record_id, value in self._non_null_values(current, new.name):
            batch.append({"_id": record_id, "_value": deserialize_loose(target, _convertible(old, new, value))})
            if len(batch) >= BATCH:
                self.session.conn.execute(statement, batch)
                batch = []
        if batch:
            self.session.conn.execute(statement, batch)
        ddl.drop_column(self.session, obj.table_name, new.name)
        ddl.rename_column(self.session, obj.table_name, temporary, new.name)


def _index_kinds(fd: Any) -> list[bool]:
    kinds = []
    if fd.unique or fd.type == "autonumber":
        kinds.append(True)
    if (fd.indexed or fd.type in {"lookup", "user"}) and not fd.unique:
        kinds.append(False)
    return kinds


def _sql_type(fd: Any) -> str:
    return repr(FIELD_TYPES[fd.type].sql_type(fd))


def _empty(column: Any, fd: Any) -> Any:
    if FIELD_TYPES[fd.type].kind == "text":
        return sa.or_(column.is_(None), column == "")
    return column.is_(None)


def _convertible(old: Any, new: Any, value: Any) -> Any:
    """A stored value in the form the new type's loader reads."""
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, list) and new.type != "multi_picklist":
        return ";".join(value)
    if new.type == "multi_picklist" and not isinstance(value, list):
        return [part.strip() for part in str(value).split(";") if part.strip()]
    if isinstance(value, Decimal):
        if new.type == "integer" and value == value.to_integral_value():
            return int(value)
        return str(value) if FIELD_TYPES[new.type].kind == "text" else value
    if isinstance(value, datetime):
        return value.date().isoformat() if new.type == "date" else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) and FIELD_TYPES[new.type].kind == "text":
        return "true" if value else "false"
    if isinstance(value, int) and not isinstance(value, bool) and FIELD_TYPES[new.type].kind == "text":
        return str(value)
    return value


def _subset(document: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: document.get(key) for key in keys}


def _formula_names(expression: str | None) -> set[str]:
    return {start for start, _, _ in _name_tokens(expression or "")}


def _name_tokens(expression: str) -> list[tuple[str, int, int]]:
    """NAME tokens of an expression with their character offsets, skipping attribute names."""
    tokens: list[tuple[str, int, int]] = []
    line_starts = [0]
    for line in expression.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    previous = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(expression).readline):
            if token.type == tokenize.NAME and not (previous is not None and previous.string == "."):
                start = line_starts[token.start[0] - 1] + token.start[1]
                end = line_starts[token.end[0] - 1] + token.end[1]
                tokens.append((token.string, start, end))
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                previous = token
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return tokens
    return tokens


def rename_in_expression(expression: str, old: str, new: str) -> str:
    """Rewrite every use of field ``old`` in an expression (strings and attributes untouched)."""
    result = expression
    for name, start, end in reversed(_name_tokens(expression)):
        if name == old:
            result = result[:start] + new + result[end:]
    return result


def _rename_references(obj: ObjectDef, old: str, new: str) -> ObjectDef:
    document = copy_document(obj.document)
    for fd in document["fields"]:
        if fd.get("type") == "formula" and fd.get("expression"):
            fd["expression"] = rename_in_expression(fd["expression"], old, new)
        if fd.get("depends_on") and fd["depends_on"].get("field") == old:
            fd["depends_on"]["field"] = new
    if document.get("title_field") == old:
        document["title_field"] = new
    for stage in (document.get("pipeline") or {}).get("stages", []):
        stage["required_fields"] = [new if f == old else f for f in stage.get("required_fields", [])]
    for name, layout in (document.get("layouts") or {}).items():
        for section in layout.get("sections", []):
            section["fields"] = [new if f == old else f for f in section["fields"]]
        if "columns" in layout:
            layout["columns"] = [new if f == old else f for f in layout["columns"]]
        if layout.get("sort"):
            layout["sort"] = ",".join(
                ("-" if part.startswith("-") else "") + (new if part.lstrip("-") == old else part.lstrip("-"))
                for part in layout["sort"].split(",")
            )
    return ObjectDef.from_document(document)


def _remove_references(obj: ObjectDef, name: str) -> ObjectDef:
    document = copy_document(obj.document)
    if document.get("title_field") == name:
        document.pop("title_field")
    for stage in (document.get("pipeline") or {}).get("stages", []):
        stage["required_fields"] = [f for f in stage.get("required_fields", []) if f != name]
    for layout in (document.get("layouts") or {}).values():
        for section in layout.get("sections", []):
            section["fields"] = [f for f in section["fields"] if f != name]
        if "columns" in layout:
            layout["columns"] = [f for f in layout["columns"] if f != name] or ["id"]
        if layout.get("sort"):
            layout["sort"] = ",".join(p for p in layout["sort"].split(",") if p.lstrip("-") != name) or "-id"
    return ObjectDef.from_document(document)
