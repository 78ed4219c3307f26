"""Meaning checks of a pack against the metadata it plans (its dependencies' and its own): objects
with metadata's own checks, roles and access tables against the planned objects, approval processes,
rules with the workflow engine's ``check_rule``, and sample data with each object's record schema.
Every problem is reported with its file and location; nothing stops at the first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError as MarshmallowError

from crm_platform.core.errors import ValidationError
from crm_platform.core.roles import ADMIN_ROLE, check_role
from metadata.definitions import ObjectDef, check_definitions, content_key
from metadata.model import ObjectModel, TenantModel

from . import approvals
from .compose import (
    SAMPLE_SYSTEM_COLUMNS,
    check_pack_report,
    empty_role,
    extended,
    normalize_path,
    pack_role_parts,
    report_document,
    rule_document,
    sample_record,
    set_role_part,
    split_roles,
)
from .cache import PackCache
from .dashboards import check_dashboards
from .pack import MANIFEST, Pack, PackInvalid, Problem, schema_problems
from .registry import PackRegistry


def compile_model(definitions: dict[str, ObjectDef], cache: PackCache | None = None) -> TenantModel:
    """The compiled form of planned metadata (with a ``cache``, compiled once per distinct content,
    then shared read-only); objects that do not compile are left out."""
    if cache is None:
        return _compile_model(definitions)
    return cached_model({name: content_key(obj.document) for name, obj in definitions.items()},
                        lambda: definitions, cache)


def cached_model(keys: Mapping[str, str | None], definitions: Callable[[], dict[str, ObjectDef]],
                 cache: PackCache) -> TenantModel:
    """``compile_model`` for a caller that knows each definition's content key: the definitions
    are asked for only when this content was not compiled before."""
    if any(key is None for key in keys.values()):  # not plain JSON: not worth remembering
        return _compile_model(definitions())
    key = tuple(sorted(keys.items()))
    cached = cache.models.get(key)
    if cached is None:
        cached = cache.models.put(key, _compile_model(definitions()))
    return cached


def _compile_model(definitions: dict[str, ObjectDef]) -> TenantModel:
    try:
        return TenantModel(0, dict(definitions))
    except Exception:  # a broken definition; its own problems are reported elsewhere
        good = {}
        for name, obj in definitions.items():
            for candidate in (obj, _degraded(obj)):
                try:
                    ObjectModel(candidate, sa.MetaData())
                except Exception:
                    continue
                good[name] = candidate
                break
        return TenantModel(0, good)


def _degraded(obj: ObjectDef) -> ObjectDef:
    """An object without what most often fails to compile (formulas, pipeline, layouts), so that
    the checks of what refers to it can still run."""
    fields = [f for f in obj.document.get("fields", []) if f.get("type") != "formula"]
    names = {f.get("name") for f in fields}
    pipeline = obj.document.get("pipeline")
    if pipeline:
        pipeline = {"stages": [{**stage, "required_fields": [f for f in stage.get("required_fields", []) if f in names]}
                               for stage in pipeline.get("stages", [])]}
    document = {**obj.document, "layouts": {}, "pipeline": pipeline, "fields": fields}
    document.pop("title_field", None)
    return ObjectDef.from_document(document)


@dataclass
class Planned:
    """What packs (in install order) would give a fresh tenant: objects, roles, processes, sample keys."""

    definitions: dict[str, ObjectDef] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # object -> pack
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    approvals: set[tuple[str, str]] = field(default_factory=set)
    sample_keys: dict[str, set[str]] = field(default_factory=dict)
    sample_users: set[str] = field(default_factory=set)

    def add(self, pack: Pack) -> None:
        for name, item in pack.objects.items():
            self.definitions.setdefault(name, ObjectDef.from_document(item.document))
            self.owners.setdefault(name, pack.name)
        for name, item in pack.extensions.items():
            base = self.definitions.get(name)
            if base is not None and self.owners.get(name) != pack.name:
                known = set(base.field_names)
                extension = {**item.document, "fields": [f for f in item.document["fields"] if f["name"] not in known]}
                self.definitions[name] = ObjectDef.from_document(extended(base.document, extension))
        for (kind, key), (_, value) in pack_role_parts(pack).items():
            role_name = key.split(".", 1)[0]
            set_role_part(self.roles.setdefault(role_name, empty_role(role_name)), kind, key, value)
        self.approvals |= {(item.document["object"], item.document["name"]) for item in pack.approvals.values()}
        for sample in pack.samples:
            if sample.kind == "users":
                self.sample_users |= {row.values.get("email", "").lower() for row in sample.rows}
            else:
                self.sample_keys.setdefault(sample.object, set()).update(row.values.get("key", "") for row in sample.rows)


def check_pack(pack: Pack, dependencies: Iterable[Pack], cache: PackCache | None = None) -> list[Problem]:
    """Every problem of ``pack``: what reading found, then the meaning checks (with a ``cache``,
    checked once while the pack's and its dependencies' files stay the same)."""
    dependencies = [d for d in dependencies if d is not pack]
    key = tuple((p.root, p.signature) for p in [*dependencies, pack])
    cacheable = cache is not None and all(p.signature for p in [*dependencies, pack])
    if cacheable and (found := cache.checked(key)) is not None:
        return found
    problems = _check_pack(pack, dependencies, cache)
    if cacheable:
        cache.checks.put(key, list(problems))
    return problems


def _check_pack(pack: Pack, dependencies: list[Pack], cache: PackCache | None = None) -> list[Problem]:
    problems = list(pack.problems)
    planned = Planned()
    for dependency in dependencies:
        if dependency is not pack:
            planned.add(dependency)
    base_objects = set(planned.definitions)
    base_roles = set(planned.roles)
    base_sample = Planned(sample_keys={k: set(v) for k, v in planned.sample_keys.items()},
                          sample_users=set(planned.sample_users))
    for name, item in pack.objects.items():
        if name in base_objects:
            problems.append(Problem(item.file, "name", f"object {name!r} belongs to dependency {planned.owners[name]}; "
                                                       f"add fields to it with 'extends: {name}'"))
    base_fields = {name: len(planned.definitions[name].fields) for name in pack.extensions if name in base_objects}
    for name, item in pack.extensions.items():
        if name not in base_objects:
            problems.append(Problem(item.file, "extends", f"{name!r} is not an object of a dependency"))
            continue
        existing = set(planned.definitions[name].field_names)
        for index, fd in enumerate(item.document["fields"]):
            if fd["name"] in existing:
                problems.append(Problem(item.file, f"fields[{index}].name", f"{name} already has a field {fd['name']!r}"))
        for layout_name in item.document.get("layouts") or {}:
            if layout_name in planned.definitions[name].layouts:
                problems.append(Problem(item.file, f"layouts.{layout_name}", f"{name} already has a layout {layout_name!r}"))
    planned.add(pack)
    for name, item in pack.extensions.items():
        if name not in base_fields:
            continue
        merged = list(planned.definitions[name].field_names)
        own = [f["name"] for f in item.document["fields"]]
        try:
            check_definitions(planned.definitions, [name])
        except ValidationError as exc:
            for path, messages in exc.details.items():
                problems.extend(Problem(item.file, _extension_path(path, merged, own), m) for m in messages)
    model = _check_objects(pack, planned, base_objects, problems, cache)
    known_fields = {name: set(obj.fields) | {"owner_id", "stage"} for name, obj in model.objects.items()}
    _check_roles(pack, planned, base_roles, known_fields, problems)
    roles = set(planned.roles) | {ADMIN_ROLE}

    def approval_exists(object_name: str, process: str) -> bool:
        return (object_name, process) in planned.approvals

    for key, item in pack.approvals.items():
        if item.document["object"] in pack.phantom_objects:
            continue
        for path, messages in approvals.check_process(item.document, model, roles, approval_exists).items():
            problems.extend(Problem(item.file, f"{item.where}.{path}", m) for m in messages)
    _check_rules(pack, model, approval_exists, problems)
    _check_reports(pack, model, problems)
    check_dashboards(pack, dependencies, model, problems)
    _check_samples(pack, model, roles, base_sample, problems)
    return problems


def _extension_path(path: str, merged: list[str], own: list[str]) -> str:
    """``fields[14].target`` of the extended object -> ``fields[2].target`` of the extension file."""
    import re

    match = re.match(r"fields\[(\d+)\](.*)", path)
    if match and int(match.group(1)) < len(merged) and merged[int(match.group(1))] in own:
        return f"fields[{own.index(merged[int(match.group(1))])}]{match.group(2)}"
    return path


def _check_objects(pack: Pack, planned: Planned, base: set[str], problems: list[Problem],
                   cache: PackCache | None) -> TenantModel:
    for name, item in pack.objects.items():
        if name in base or name in pack.phantom_objects or name in pack.partial_objects:
            continue
        try:
            check_definitions(planned.definitions, [name])
        except ValidationError as exc:
            for path, messages in exc.details.items():
                problems.extend(Problem(item.file, path, message) for message in messages)
    return compile_model(planned.definitions, cache)


def _check_roles(pack: Pack, planned: Planned, base_roles: set[str], known_fields: dict[str, set[str]],
                 problems: list[Problem]) -> None:
    for name, item in pack.roles.items():
        if name in base_roles:
            problems.append(Problem(item.file, f"{item.where}.name", f"role {name!r} belongs to a dependency"))
    known_roles = set(planned.roles)
    seen: dict[tuple[str, ...], str] = {}
    for item in [*pack.access, *pack.field_access]:
        row = item.document
        if row["object"] in pack.phantom_objects:
            continue
        key = (row["role"], row["object"], row.get("field", ""), "field" if "field" in row else "")
        if key in seen:
            problems.append(Problem(item.file, item.where, f"the same row as {seen[key]}"))
        seen[key] = item.where
        if row["role"] not in known_roles:
            problems.append(Problem(item.file, f"{item.where}: role", f"unknown role {row['role']!r}; define it in roles/"))
        if row["object"] not in known_fields:
            problems.append(Problem(item.file, f"{item.where}: object", f"unknown object {row['object']!r}"))
        elif "field" in row and row["field"] not in known_fields[row["object"]]:
            problems.append(Problem(item.file, f"{item.where}: field", f"unknown field {row['field']!r} of {row['object']}"))
    if any(p.file in {i.file for i in [*pack.access, *pack.field_access]} for p in problems):
        return
    touched = {item.document["role"] for item in [*pack.access, *pack.field_access]} | set(pack.roles)
    for name in sorted(touched & known_roles):
        try:
            check_role(planned.roles[name], known_fields)
        except ValidationError as exc:
            item = pack.roles.get(name) or next(i for i in [*pack.access, *pack.field_access] if i.document["role"] == name)
            for path, messages in exc.details.items():
                problems.extend(Problem(item.file, item.where, f"role {name}: {path}: {m}") for m in messages)


def _check_rules(pack: Pack, model: TenantModel, approval_exists: Any, problems: list[Problem]) -> None:  # noqa: D103
    from workflow_engine.definitions import check_rule

    for key, item in pack.rules.items():
        if item.document.get("object") in pack.phantom_objects:
            continue
        try:
            check_rule(rule_document(item), model, approval_exists)
        except ValidationError as exc:
            for path, messages in exc.details.items():
                location = f"{item.where}.{normalize_path(path)}" if path != "rule" else item.where
                problems.extend(Problem(item.file, location, message) for message in messages
                                if not _about_phantom(message, pack.phantom_objects))


def _check_reports(pack: Pack, model: TenantModel, problems: list[Problem]) -> None:
    """Each report against the planned metadata: its object, group-by fields and buckets, aggregates."""
    for key, item in pack.reports.items():
        object_name = item.document.get("object")
        if object_name in pack.phantom_objects:
            continue
        if object_name not in model.objects:
            problems.append(Problem(item.file, f"{item.where}.object", f"unknown object {object_name!r}"))
            continue
        try:
            check_pack_report(model, report_document(item))
        except ValidationError as exc:
            for path, messages in exc.details.items():
                problems.extend(Problem(item.file, f"{item.where}.{path}", message) for message in messages)


def _about_phantom(message: str, phantoms: set[str]) -> bool:
    """A problem that only repeats that an unreadable object file is unreadable."""
    return any(message.endswith(f" of {name}") or f"object {name!r}" in message for name in phantoms)


def _check_samples(pack: Pack, model: TenantModel, roles: set[str], known: Planned, problems: list[Problem]) -> None:
    """Sample data in manifest order: a reference must name a row defined earlier (or in a dependency)."""
    now = datetime.now(timezone.utc)
    users = set(known.sample_users)
    keys = {name: set(values) for name, values in known.sample_keys.items()}
    for sample in pack.samples:
        if sample.kind == "users":
            for row in sample.rows:
                where = f"line {row.line}"
                found = schema_problems("users", row.values, sample.file, prefix=f"{where}.")
                problems.extend(Problem(p.file, p.location.replace(".", ": ", 1), p.message) for p in found)
                email = row.values.get("email", "").lower()
                if email in users:
                    problems.append(Problem(sample.file, f"{where}: email", f"{email} appears twice"))
                manager = row.values.get("manager", "").lower()
                if manager and manager not in users:
                    problems.append(Problem(sample.file, f"{where}: manager", f"{manager} is not a user of an earlier row"))
                for role in split_roles(row.values.get("roles")):
                    if role not in roles:
                        problems.append(Problem(sample.file, f"{where}: roles", f"unknown role {role!r}"))
                users.add(email)
            continue
        if sample.object in pack.phantom_objects:
            continue
        obj = model.objects.get(sample.object or "")
        if obj is None:
            problems.append(Problem(sample.file, "", f"no object {sample.object!r} for this file (the file is named after its object)"))
            continue
        unknown = [c for c in sample.header if c not in obj.fields and c not in SAMPLE_SYSTEM_COLUMNS]
        if unknown:
            problems.append(Problem(sample.file, "line 1", f"{obj.name} has no field {', '.join(map(repr, unknown))}"))
        object_keys = keys.setdefault(obj.name, set())

        def resolve_key(target: str, key: str) -> int:
            if key not in keys.get(target, ()):
                raise LookupError(f"no earlier {target} row with key {key!r}")
            return 1

        def resolve_user(email: str) -> int:
            if email.lower() not in users:
                raise LookupError(f"no sample user {email!r}")
            return 1

        for row in sample.rows:
            where = f"line {row.line}"
            key = row.values.get("key", "")
            found = schema_problems("sample_records", {k: v for k, v in row.values.items()
                                                       if k in ("key", "owner")}, sample.file, prefix=f"{where}.")
            problems.extend(Problem(p.file, p.location.replace(".", ": ", 1), p.message) for p in found)
            if key in object_keys:
                problems.append(Problem(sample.file, f"{where}: key", f"key {key!r} is used twice for {obj.name}"))
            data, column_problems = sample_record(obj, _known_columns(row, unknown), resolve_key, resolve_user, now)
            for column, message in column_problems.items():
                problems.append(Problem(sample.file, f"{where}: {column}", message))
            for column, messages in _record_problems(obj, data).items():
                problems.extend(Problem(sample.file, f"{where}: {column}", m) for m in messages)
            object_keys.add(key)


def _known_columns(row: Any, unknown: list[str]) -> Any:
    if not unknown:
        return row
    from .pack import CsvRow

    return CsvRow(row.line, {k: v for k, v in row.values.items() if k not in unknown})


def _record_problems(obj: ObjectModel, data: dict[str, Any]) -> dict[str, list[str]]:
    """What the record service would refuse in a new record, short of the database's unique checks."""
    problems: dict[str, list[str]] = {}
    try:
        values = obj.record_schema.load({k: v for k, v in data.items()})
    except MarshmallowError as exc:
        for key, messages in exc.normalized_messages().items():
            for message in messages if isinstance(messages, list) else [messages]:
                problems.setdefault(key, []).append(str(message))
        values = {k: v for k, v in data.items() if k not in problems}
    for name in obj.required:
        if values.get(name) in (None, "", []) and name not in obj.defaults:
            problems.setdefault(name, []).append("required")
    stage = values.get("stage")
    if stage is not None:
        if stage not in obj.stages:
            problems.setdefault("stage", []).append(f"unknown stage {stage!r}; stages: {', '.join(obj.stages)}")
        else:
            missing = [f for f in obj.stages[stage].get("required_fields", []) if values.get(f) in (None, "", [])]
            if missing:
                problems.setdefault("stage", []).append(f"stage {stage!r} requires: {', '.join(missing)}")
    for fd in obj.dependent_picklists:
        controlling, value = values.get(fd.depends_on["field"]), values.get(fd.name)
        allowed = fd.depends_on["values"].get(controlling) if controlling is not None else None
        if value is not None and allowed is not None and value not in allowed:
            problems.setdefault(fd.name, []).append(f"{value!r} is not allowed when {fd.depends_on['field']} is {controlling!r}")
    return problems


def validate(reference: str, registry: PackRegistry | None = None) -> tuple[Pack, list[Problem]]:
    """Read, resolve and check the pack named or found at ``reference``; every problem it has."""
    registry = registry or PackRegistry()
    pack = registry.open(reference)
    _, problems = resolve_and_check(pack, registry)
    return pack, problems


def resolve_and_check(pack: Pack, registry: PackRegistry) -> tuple[list[Pack] | None, list[Problem]]:
    """The install order (dependencies first) and every problem of the pack and of its dependencies
    (theirs prefixed with the dependency's name); the order is None when dependencies are missing."""
    if not pack.manifest:
        return None, list(pack.problems)
    try:
        order = registry.resolve(pack)
    except PackInvalid as exc:
        resolution = [Problem(MANIFEST, key.split(": ", 1)[1] if ": " in key else "", message)
                      for key, messages in exc.details.items() for message in messages]
        # Dependencies that could not be found: still check what can be checked without them.
        return None, [*check_pack(pack, [], registry.cache), *resolution]
    problems: list[Problem] = []
    for index, current in enumerate(order):
        found = check_pack(current, order[:index], registry.cache)
        if current is not pack:
            found = [Problem(f"{current.name}/{p.file}", p.location, p.message) for p in found]
        problems.extend(found)
    return order, problems
