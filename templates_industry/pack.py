"""Reading a pack folder: the manifest, its ordered data files and its sample data, each file checked
against the JSON Schema of its kind. Every problem is collected with its file and location.

A pack is a folder::

    pack.yaml                   name, version, label, description, dependencies, data, sample_data
    objects/<object>.yaml       one object definition (fields, layouts, pipeline)
    roles/<any>.yaml            the roles the pack defines
    security/access.csv         the permission table: role, object, read, create, update, delete, export
    security/field_access.csv   field-level security: role, object, field, access (hidden, masked, read_only)
    approvals/<any>.yaml        approval processes
    rules/<any>.yaml            workflow rules, each with a stable key
    reports/<any>.yaml          saved reports (shared), each with a stable key
    dashboards/<any>.yaml       dashboards (shared) of report widgets, each with a stable key
    sample/users.csv            sample users (only with --with-sample-data)
    sample/<object>.csv         sample records (only with --with-sample-data)

The kind of a data file is its folder. Only the files the manifest lists are read, in its order.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jsonschema import Draft202012Validator
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from crm_platform.core.errors import ValidationError

if TYPE_CHECKING:
    from .cache import PackCache

MANIFEST = "pack.yaml"
DATA_KINDS = {"objects": "object", "roles": "roles", "rules": "rules", "approvals": "approvals", "security": "security",
              "reports": "reports", "dashboards": "dashboards"}
USERS_FILE = "users.csv"
MAX_FILE_BYTES = 5 * 1024 * 1024


# -- problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a pack: the file, where in it, and what."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message}" if self.location else f"{self.file}: {self.message}"


class PackInvalid(ValidationError):
    """Raised when a pack has problems; ``details`` maps ``file: location`` to the messages."""

    code = "invalid_pack"

    @classmethod
    def of(cls, pack_name: str, problems: list[Problem]) -> PackInvalid:
        details: dict[str, list[str]] = {}
        for problem in problems:
            key = f"{problem.file}: {problem.location}" if problem.location else problem.file
            details.setdefault(key, []).append(problem.message)
        count = len(problems)
        return cls(f"pack {pack_name} has {count} problem{'s' * (count != 1)}; first: {problems[0]}", details)

    def lines(self) -> list[str]:
        return [f"{key}: {message}" for key, messages in self.details.items() for message in messages]


def schema_path(path: Iterable[Any]) -> str:
    """``['fields', 2, 'type']`` -> ``fields[2].type``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


# -- schemas -------------------------------------------------------------------------------------

SCHEMA_BASE = "https://crm-platform.local/schemas/packs/"
WORKFLOW_SCHEMA_BASE = "https://crm-platform.local/schemas/workflow/"


@cache
def _registry() -> Registry:
    resources_list = []
    for name in ("pack", "object", "object_extension", "roles", "access", "field_access", "rules", "approvals", "reports", "dashboards", "users", "sample_records"):
        document = json.loads(resources.files("templates_industry").joinpath(f"schemas/{name}.schema.json").read_text("utf-8"))
        resources_list.append((document["$id"], Resource.from_contents(document)))
    for name in ("definitions", "dashboard"):
        document = json.loads(resources.files("metadata").joinpath(f"schemas/{name}.schema.json").read_text("utf-8"))
        resources_list.append((document["$id"], Resource.from_contents(document)))
    # The workflow engine's own schemas, under addresses of ours (they carry no $id).
    for name in ("rule", "approval_process"):
        document = json.loads(resources.files("workflow_engine").joinpath(f"schemas/{name}.schema.json").read_text("utf-8"))
        resources_list.append((f"{WORKFLOW_SCHEMA_BASE}{name}.schema.json",
                               Resource.from_contents(document, default_specification=DRAFT202012)))
    return Registry().with_resources(resources_list)


@cache
def validator(kind: str) -> Draft202012Validator:
    """The validator of a file kind: pack, object, roles, access, field_access, rules, approvals, reports,
    dashboards, users, sample_records (the schemas in ``templates_industry/schemas``)."""
    registry = _registry()
    schema = registry.contents(f"{SCHEMA_BASE}{kind}.schema.json")
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(kind: str, document: Any, file: str, prefix: str = "") -> list[Problem]:
    problems = []
    for error in sorted(validator(kind).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        location = prefix + schema_path(error.absolute_path) if prefix else schema_path(error.absolute_path)
        if prefix and not error.absolute_path:
            location = prefix.rstrip(".")
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        if error.validator == "not":
            message = f"{error.instance!r} is not allowed here" + (
                " (the built-in role admin has every permission and cannot be changed)" if error.instance == "admin" else "")
        problems.append(Problem(file, location.lstrip(".") or "", message))
    return problems


# -- YAML ----------------------------------------------------------------------------------------

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PackLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """YAML read as JSON reads it: ``on``/``yes``/``no`` stay text, dates stay text (documents go to
    JSON Schemas and JSON columns), and a key given twice is an error, not a silent overwrite."""


PackLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)$",
     list("-+0123456789")),
]:
    PackLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "a key must be text", key_node.start_mark)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


PackLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    try:
        return yaml.load(text, Loader=PackLoader), []  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"invalid YAML: {what}" + (f" ({context})" if context else "")
        return None, [Problem(file, where, message)]


def dump_yaml(document: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, allow_unicode=True, sort_keys=False, default_flow_style=False, width=110)


# -- CSV -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]


def parse_csv(text: str, file: str) -> tuple[list[str], list[CsvRow], list[Problem]]:
    """Rows of a CSV file with a header; cells stripped; a row with the wrong number of cells is a problem."""
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [], [Problem(file, "", "empty file: a header row is needed")]
    except csv.Error as exc:
        return [], [], [Problem(file, "line 1", f"invalid CSV: {exc}")]
    if len(set(header)) != len(header):
        duplicates = sorted({h for h in header if header.count(h) > 1})
        problems.append(Problem(file, "line 1", f"duplicate columns: {', '.join(duplicates)}"))
    rows: list[CsvRow] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                problems.append(Problem(file, f"line {line}", f"{len(cells)} cells for {len(header)} columns"))
                continue
            rows.append(CsvRow(line, {h: c.strip() for h, c in zip(header, cells)}))
    except csv.Error as exc:
        problems.append(Problem(file, f"line {reader.line_num}", f"invalid CSV: {exc}"))
    return header, rows, problems


# -- the pack --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One document of a pack (an object, a role, a rule...) and where it was written."""

    file: str
    where: str
    document: Any


@dataclass
class SampleFile:
    file: str
    kind: str  # "users" or "records"
    object: str | None
    header: list[str]
    rows: list[CsvRow]


@dataclass
class Pack:
    """A pack as read from its folder. ``problems`` lists what could not be read or failed a schema."""

    root: Path
    name: str
    version: Version | None
    manifest: dict[str, Any]
    dependencies: list[Requirement] = field(default_factory=list)
    objects: dict[str, Item] = field(default_factory=dict)
    #: Fields (and layouts) added to objects of dependencies, by the extended object's name.
    extensions: dict[str, Item] = field(default_factory=dict)
    roles: dict[str, Item] = field(default_factory=dict)
    access: list[Item] = field(default_factory=list)
    field_access: list[Item] = field(default_factory=list)
    approvals: dict[str, Item] = field(default_factory=dict)
    rules: dict[str, Item] = field(default_factory=dict)
    reports: dict[str, Item] = field(default_factory=dict)
    dashboards: dict[str, Item] = field(default_factory=dict)
    samples: list[SampleFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Objects whose file could not be read at all: known by name only, so that what refers to them
    #: is not reported a second time.
    phantom_objects: set[str] = field(default_factory=set)
    #: Objects kept without the parts that failed their schema (their meaning is checked once fixed).
    partial_objects: set[str] = field(default_factory=set)
    #: What the folder held when it was read (every file's path, size and modification time).
    signature: tuple[Any, ...] = ()
    #: Values derived from the documents above (see :meth:`derive`).
    derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> Any:
        return self.manifest.get("label") or self.name

    @property
    def description(self) -> Any:
        return self.manifest.get("description")

    @property
    def version_text(self) -> str:
        return str(self.manifest.get("version", "")) if self.version is None else self.manifest["version"]

    def __repr__(self) -> str:
        return f"<Pack {self.name} {self.version_text} at {self.root}>"

    def derive(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()``, a value computed from the pack's documents alone, computed once: a pack as read
        never changes, and the platform's cache keeps it while its files stay the same, so every
        plan into every tenant would compute the same. Callers treat the value as read-only."""
        found = self.derived.get(key)
        if found is None:
            found = self.derived[key] = make()
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version_text,
            "label": self.label,
            "description": self.description,
            "dependencies": [str(r) for r in self.dependencies],
            "objects": list(self.objects),
            "roles": list(self.roles),
            "rules": len(self.rules),
            "approval_processes": len(self.approvals),
            "reports": len(self.reports),
            "dashboards": len(self.dashboards),
            "sample_records": sum(len(s.rows) for s in self.samples if s.kind == "records"),
            "sample_users": sum(len(s.rows) for s in self.samples if s.kind == "users"),
        }

    def raise_if_problems(self) -> None:
        if self.problems:
            raise PackInvalid.of(self.name, self.problems)


def read_manifest(root: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    path = root / MANIFEST
    if not path.is_file():
        return None, [Problem(MANIFEST, "", f"no {MANIFEST} in {root}")]
    problems: list[Problem] = []
    text = _read_text(path, MANIFEST, problems)
    if text is None:
        return None, problems
    document, problems = parse_yaml(text, MANIFEST)
    if problems:
        return None, problems
    if not isinstance(document, dict):
        return None, [Problem(MANIFEST, "", "expected a mapping (name, version, label, ...)")]
    problems.extend(schema_problems("pack", document, MANIFEST))
    return document, problems


def _read_text(path: Path, file: str, problems: list[Problem]) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(Problem(file, "", f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"))
            return None
        return path.read_text("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(file, "", "not UTF-8 text"))
    except OSError as exc:
        problems.append(Problem(file, "", f"cannot be read: {exc.strerror or exc}"))
    return None


def folder_signature(root: Path) -> tuple[Any, ...]:
    """Every file under ``root`` with its size and modification time: changes when any file does.
    Walked with ``os.scandir`` (as ``rglob`` would, not into linked folders): every plan checks its
    packs' folders this way, and pathlib costs several times more."""
    entries: list[tuple[tuple[str, ...], int, int]] = []

    def walk(folder: str, parts: tuple[str, ...]) -> None:
        with os.scandir(folder) as found:
            for entry in found:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, (*parts, entry.name))
                elif entry.is_file():
                    stat = entry.stat()
                    entries.append(((*parts, entry.name), stat.st_size, stat.st_mtime_ns))

    walk(str(root), ())
    return tuple((os.path.join(*parts), size, mtime) for parts, size, mtime in sorted(entries))


def read_pack(root: str | Path, cache: PackCache | None = None) -> Pack:
    """Read a pack folder; every problem found while reading is in ``pack.problems``. With a
    ``cache`` (the platform's), a folder whose files have not changed is read once; a pack read
    that way is shared: treat it as read-only."""
    root = Path(root).resolve()
    signature = folder_signature(root) if root.is_dir() else ()
    if cache is not None and (cached := cache.pack(root, signature)) is not None:
        return cached
    pack = _read_pack(root)
    pack.signature = signature
    if cache is not None:
        cache.packs.put(root, pack)
    return pack


def _read_pack(root: Path) -> Pack:
    manifest, problems = read_manifest(root)
    name = manifest.get("name") if isinstance(manifest, dict) and isinstance(manifest.get("name"), str) else root.name
    pack = Pack(root=root, name=name, version=None, manifest=manifest or {}, problems=problems)
    if manifest is None:
        return pack
    try:
        pack.version = Version(str(manifest.get("version", "")))
    except InvalidVersion:
        if not any(p.location == "version" for p in problems):
            problems.append(Problem(MANIFEST, "version", f"{manifest.get('version')!r} is not a semantic version"))
    for index, text in enumerate(manifest.get("dependencies") or []):
        requirement = parse_requirement(text)
        if isinstance(requirement, str):
            problems.append(Problem(MANIFEST, f"dependencies[{index}]", requirement))
        elif requirement.name == name:
            problems.append(Problem(MANIFEST, f"dependencies[{index}]", "a pack cannot depend on itself"))
        else:
            pack.dependencies.append(requirement)
    for index, file in enumerate(manifest.get("data") or []):
        if isinstance(file, str):
            _read_data_file(pack, file, f"data[{index}]")
    for index, file in enumerate(manifest.get("sample_data") or []):
        if isinstance(file, str):
            _read_sample_file(pack, file, f"sample_data[{index}]")
    return pack


def parse_requirement(text: Any) -> Requirement | str:
    """A dependency like ``crm_core>=1.0,<2``; answers an error message when it is not one."""
    if not isinstance(text, str):
        return f"expected text like 'crm_core>=1.0,<2', not {text!r}"
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        return f"{text!r} is not a dependency like 'crm_core>=1.0,<2': {exc}"
    if requirement.extras or requirement.url or requirement.marker:
        return f"{text!r}: only a pack name and a version range are allowed"
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,62}", requirement.name):
        return f"{requirement.name!r} is not a pack name"
    return requirement


def _resolve(pack: Pack, file: str, where: str) -> Path | None:
    path = (pack.root / file).resolve()
    if pack.root.resolve() not in path.parents:
        pack.problems.append(Problem(MANIFEST, where, f"{file!r} is outside the pack"))
        return None
    if not path.is_file():
        pack.problems.append(Problem(MANIFEST, where, f"{file!r} does not exist"))
        return None
    return path


def _read_data_file(pack: Pack, file: str, where: str) -> None:
    folder = file.split("/", 1)[0] if "/" in file else ""
    kind = DATA_KINDS.get(folder)
    if kind is None:
        pack.problems.append(Problem(MANIFEST, where, f"{file!r}: a data file lives in one of "
                                                      f"{', '.join(f'{k}/' for k in DATA_KINDS)} (its folder is its kind)"))
        return
    path = _resolve(pack, file, where)
    if path is None:
        return
    text = _read_text(path, file, pack.problems)
    if text is None:
        return
    if kind == "security":
        if not file.endswith(".csv"):
            pack.problems.append(Problem(file, "", "security files are CSV tables (access.csv, field_access.csv)"))
            return
        _read_security(pack, file, text)
        return
    if not file.endswith((".yaml", ".yml")):
        pack.problems.append(Problem(file, "", f"{folder}/ files are YAML"))
        return
    document, problems = parse_yaml(text, file)
    if problems:
        pack.problems.extend(problems)
        if kind == "object":
            _register_object(pack, file, None, [])
        return
    if kind == "object" and isinstance(document, dict) and "extends" in document:
        found = schema_problems("object_extension", document, file)
        pack.problems.extend(found)
        target = document.get("extends")
        if found or not isinstance(target, str):
            return
        if target in pack.extensions:
            pack.problems.append(Problem(file, "extends", f"{target!r} is already extended in {pack.extensions[target].file}"))
        else:
            pack.extensions[target] = Item(file, "", document)
        return
    schema_kind = {"object": "object", "roles": "roles", "rules": "rules", "approvals": "approvals", "reports": "reports",
                   "dashboards": "dashboards"}[kind]
    found = schema_problems(schema_kind, document, file)
    pack.problems.extend(found)
    if kind == "object":
        _register_object(pack, file, document, found)
        return
    if not isinstance(document, dict):
        return
    entries_key = {"roles": "roles", "rules": "rules", "approvals": "processes", "reports": "reports",
                   "dashboards": "dashboards"}[kind]
    bad_indexes = {_first_index(p.location, entries_key) for p in found}
    entries = document.get(entries_key)
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        if index in bad_indexes or not isinstance(entry, dict):
            continue
        item_where = f"{entries_key}[{index}]"
        if kind == "roles":
            key, registry = entry["name"], pack.roles
        elif kind == "rules":
            key, registry = entry["key"], pack.rules
        elif kind == "reports":
            key, registry = entry["key"], pack.reports
        elif kind == "dashboards":
            key, registry = entry["key"], pack.dashboards
        else:
            key, registry = f"{entry['object']}.{entry['name']}", pack.approvals
        if key in registry:
            previous = registry[key]
            what = {"roles": "role", "rules": "rule key", "approvals": "approval process", "reports": "report key",
                    "dashboards": "dashboard key"}[kind]
            pack.problems.append(Problem(file, item_where, f"{what} {key!r} is already defined in {previous.file} ({previous.where})"))
            continue
        registry[key] = Item(file, item_where, entry)


def _register_object(pack: Pack, file: str, document: Any, found: list[Problem]) -> None:
    """Keep an object for the checks that follow: whole when valid; without its invalid fields,
    layouts or pipeline when the schema found problems; by name only when even that fails."""
    stem = Path(file).stem
    if found:
        document = _salvage(document, found, stem)
    if document is None:
        if stem not in pack.objects:
            pack.phantom_objects.add(stem)
            pack.objects[stem] = Item(file, "", {"name": stem, "label": stem, "fields": []})
        return
    name = document["name"]
    if name in pack.objects:
        pack.problems.append(Problem(file, "name", f"object {name!r} is already defined in {pack.objects[name].file}"))
    else:
        pack.objects[name] = Item(file, "", document)
        if found:
            pack.partial_objects.add(name)


def _salvage(document: Any, found: list[Problem], stem: str) -> dict[str, Any] | None:
    if not isinstance(document, dict):
        return None
    bad_fields = {_first_index(p.location, "fields") for p in found}
    salvaged: dict[str, Any] = {
        "name": document.get("name") if isinstance(document.get("name"), str) else stem,
        "label": document.get("label") if isinstance(document.get("label"), (str, dict)) else stem,
        "fields": [f for i, f in enumerate(document.get("fields") or []) if i not in bad_fields]
        if isinstance(document.get("fields"), list) else [],
    }
    for key in ("layouts", "pipeline", "title_field", "label_plural"):
        if key in document and not any(p.location.startswith(key) for p in found):
            salvaged[key] = document[key]
    if list(validator("object").iter_errors(salvaged)):
        return None
    return salvaged


def _first_index(location: str, key: str) -> int | None:
    match = re.match(rf"{key}\[(\d+)\]", location)
    return int(match.group(1)) if match else None


def _read_security(pack: Pack, file: str, text: str) -> None:
    stem = Path(file).stem
    kind = "field_access" if stem.endswith("field_access") else "access"
    header, rows, problems = parse_csv(text, file)
    pack.problems.extend(problems)
    target = pack.field_access if kind == "field_access" else pack.access
    for row in rows:
        values = {k: v for k, v in row.values.items() if k}
        found = schema_problems(kind, values, file, prefix=f"line {row.line}.")
        # "line 3.read" reads badly: "line 3: read: ..."
        found = [Problem(p.file, p.location.replace(".", ": ", 1) if p.location.startswith("line") and "." in p.location
                         else p.location, p.message) for p in found]
        pack.problems.extend(found)
        if not found:
            target.append(Item(file, f"line {row.line}", values))


def _read_sample_file(pack: Pack, file: str, where: str) -> None:
    if not file.endswith(".csv"):
        pack.problems.append(Problem(MANIFEST, where, f"{file!r}: sample data are CSV files"))
        return
    path = _resolve(pack, file, where)
    if path is None:
        return
    text = _read_text(path, file, pack.problems)
    if text is None:
        return
    header, rows, problems = parse_csv(text, file)
    pack.problems.extend(problems)
    stem = Path(file).stem
    if Path(file).name == USERS_FILE:
        pack.samples.append(SampleFile(file, "users", None, header, rows))
    else:
        if "key" not in header:
            pack.problems.append(Problem(file, "line 1", "a 'key' column is needed: each sample record's stable id"))
        pack.samples.append(SampleFile(file, "records", stem, header, rows))
