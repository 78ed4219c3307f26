"""Planning an install: what a pack and its dependencies would create or change in one tenant.

Every stable part a pack declares (see :mod:`.compose`) is compared three ways: the pack's document
now, the pack's document when it was last installed (``source_checksum``) and the tenant's document
now against what the pack wrote then (``installed_checksum``):

- not installed before, absent from the tenant: **create**;
- the pack changed it and the tenant did not: **update**;
- the pack changed it and the tenant customized it: **keep (customized)**; deleted it: **keep (deleted by
  the tenant)**; the tenant's own definition with the same name: **keep (the tenant's)**, unless it
  cannot coexist (a field of another type): **conflict**, which blocks the install;
- the pack did not change it since it was installed: nothing, whatever the tenant did.

So re-installing a version plans nothing, and an upgrade adds what is new without dropping data or
overwriting customizations. The plan is computed without writing anything (the dry run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from crm_platform.core.database import copy_document
from crm_platform.core.errors import NotFound, ValidationError
from crm_platform.core.roles import ADMIN_ROLE, VALID_ROLE_SHAPES, check_role
from crm_platform.core.session import TenantSession
from metadata.definitions import ObjectDef, check_definitions, content_key, label_text
from metadata.designer import VALID_DEFINITIONS, VALID_SHAPES
from metadata.model import TenantModel

from . import approvals
from .compose import (
    check_pack_report,
    checksum,
    empty_role,
    extension_parts,
    normalize_path,
    object_parts,
    pack_object,
    pack_role_parts,
    part_checksum,
    report_document,
    role_parts,
    rule_document,
    set_role_part,
)
from .dashboards import plan_dashboards
from .pack import Pack, PackInvalid
from .registry import PackRegistry, pack_registry
from .state import TenantState
from .validation import cached_model, resolve_and_check

#: Keys a pack's rule may drop between versions, and the value that removes them on update.
RULE_RESET = {"condition": None, "active": True, "run_once": False, "order": 0, "description": ""}


@dataclass
class Change:
    """One line of a plan."""

    pack: str
    kind: str
    key: str
    action: str  # create, update, keep, conflict
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Op:
    """One step of applying a plan (not part of the plan's JSON)."""

    pack: str
    kind: str
    args: dict[str, Any]


@dataclass
class ItemRecord:
    """A stable key to write into the pack's record after applying. ``refresh``: take the installed
    checksum from the tenant's document once applied; otherwise keep ``installed``. ``planned``:
    the pack's document the plan writes for the key as it is (its checksum is ``source``), so a
    tenant's document found the same once applied needs no checksum of its own."""

    pack: str
    kind: str
    key: str
    source: str | None
    installed: str | None = None
    refresh: bool = False
    ref: str | None = None
    forget: bool = False
    planned: Any = field(default=None, repr=False)


@dataclass
class PackStep:
    name: str
    version: str
    installed: str | None
    action: str  # install, upgrade, unchanged
    label: Any = None
    pack: Pack | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "installed_version": self.installed,
                "action": self.action, "label": self.label}


@dataclass
class Plan:
    tenant: str
    target: str
    with_sample_data: bool
    packs: list[PackStep] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Change] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    items: list[ItemRecord] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to do: no step, and no pack whose recorded version would move."""
        return not self.ops and all(step.action == "unchanged" for step in self.packs)

    def summary(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for change in [*self.changes, *self.conflicts]:
            per_kind = counts.setdefault(change.kind, {})
            per_kind[change.action] = per_kind.get(change.action, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "pack": self.target,
            "with_sample_data": self.with_sample_data,
            "empty": self.empty,
            "packs": [step.to_dict() for step in self.packs],
            "changes": [c.to_dict() for c in self.changes],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "summary": self.summary(),
        }


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except Exception:
        return None


class Planner:
    """Computes the plan of installing a pack (dependencies first) into the tenant of ``session``."""

    def __init__(self, session: TenantSession, registry: PackRegistry | None = None,
                 with_sample_data: bool = False) -> None:
        self.session = session
        self.registry = registry or pack_registry(session.platform)
        self.with_sample_data = with_sample_data
        # Definitions are shared (the tenant's compiled model, the packs' cached documents) until
        # merging a pack into one changes it: then it is copied first (see ``_own_definition``).
        self.state = TenantState.load(session, copied=False)
        self._shared: set[str] = set(self.state.definitions)
        # The planned definitions as checked and compiled, with their content keys, made once per
        # document (see ``_planned_object``); forgotten when a document is changed.
        self._objects: dict[str, tuple[ObjectDef, str | None]] = {}
        self.plan: Plan | None = None
        self.model: TenantModel | None = None

    # -- entry ---------------------------------------------------------------------------------

    def plan_for(self, pack: Pack) -> Plan:
        order, problems = resolve_and_check(pack, self.registry)
        if problems or order is None:
            raise PackInvalid.of(pack.name, problems)
        plan = self.plan = Plan(tenant=self.session.tenant, target=pack.name, with_sample_data=self.with_sample_data)
        for current in order:
            self._plan_pack(current, is_target=current is pack, requirements=self._requirements(order, current))
        return plan

    @staticmethod
    def _requirements(order: list[Pack], dependency: Pack) -> SpecifierSet:
        specs = [str(r.specifier) for p in order for r in p.dependencies if r.name == dependency.name and str(r.specifier)]
        return SpecifierSet(",".join(specs))

    # -- one pack --------------------------------------------------------------------------------

    def _plan_pack(self, pack: Pack, is_target: bool, requirements: SpecifierSet) -> None:
        plan = self.plan
        installed = self.state.installed.get(pack.name)
        installed_version = _version(installed["version"]) if installed else None
        if installed_version is not None and pack.version is not None and installed_version > pack.version:
            if not is_target and requirements.contains(installed_version, prereleases=True):
                plan.packs.append(PackStep(pack.name, installed["version"], installed["version"], "unchanged",
                                           pack.label, pack))
                return
            self._conflict(pack, "pack", pack.name, f"version {installed['version']} is installed; "
                                                     f"{pack.version_text} would be a downgrade")
            return
        if installed_version is None:
            action = "install"
        elif installed_version < pack.version:
            action = "upgrade"
        else:
            action = "unchanged"
        plan.packs.append(PackStep(pack.name, pack.version_text, installed["version"] if installed else None,
                                   action, pack.label, pack))
        first_op = len(plan.ops)
        self._plan_objects(pack)
        self.model = cached_model({name: self._planned_object(name)[1] for name in self.state.definitions},
                                  lambda: {name: self._planned_object(name)[0] for name in self.state.definitions},
                                  self.registry.cache)
        self._plan_roles(pack)
        self._plan_approvals(pack)
        self._plan_rules(pack)
        self._plan_reports(pack)
        plan_dashboards(self, pack)
        self._forget_removed(pack)
        if self.with_sample_data:
            self._plan_samples(pack)
        sample_now = self.with_sample_data and any(op.kind in ("create_users", "create_records") for op in plan.ops[first_op:])
        if action != "unchanged" or len(plan.ops) > first_op:
            plan.ops.append(Op(pack.name, "record_pack", {"pack": pack, "sample_data": sample_now}))

    # -- bookkeeping helpers ---------------------------------------------------------------------

    def _change(self, pack: Pack, kind: str, key: str, action: str, detail: str = "") -> None:
        self.plan.changes.append(Change(pack.name, kind, key, action, detail))

    def _conflict(self, pack: Pack, kind: str, key: str, detail: str) -> None:
        self.plan.conflicts.append(Change(pack.name, kind, key, "conflict", detail))

    def _record(self, pack: Pack, kind: str, key: str, source: str | None, **options: Any) -> ItemRecord:
        record = ItemRecord(pack.name, kind, key, source, **options)
        self.plan.items.append(record)
        return record

    def _decide(self, pack: Pack, kind: str, key: str, source: Any, desired: Any, current: Any,
                clash: str | None = None, ref: str | None = None) -> tuple[str, str]:
        """create / update / keep (with the reason) / conflict / none, recording the key as it goes;
        ``ref`` is the id of the tenant's own item of that key, when it has one."""
        src = part_checksum(pack, kind, key, source)
        rec = self.state.items.get((pack.name, kind, key))
        if rec is not None:
            if rec.source_checksum == src:
                return "none", ""
            if current is None:
                self._record(pack, kind, key, src, installed=rec.installed_checksum, ref=rec.ref)
                return "keep", "deleted by the tenant"
            now = checksum(current)
            if now == (src if desired is source else checksum(desired)):
                self._record(pack, kind, key, src, installed=now, ref=rec.ref)
                return "none", ""
            if rec.installed_checksum is not None and now == rec.installed_checksum:
                self._record(pack, kind, key, src, refresh=True, ref=rec.ref, planned=_planned(source, desired))
                return "update", ""
            self._record(pack, kind, key, src, installed=rec.installed_checksum, ref=rec.ref)
            return "keep", "customized"
        if current is None:
            self._record(pack, kind, key, src, refresh=True, planned=_planned(source, desired))
            return "create", ""
        if clash:
            return "conflict", clash
        now = checksum(current)
        if now == (src if desired is source else checksum(desired)):
            self._record(pack, kind, key, src, installed=now, ref=ref)
            return "none", ""
        owner = self.state.owner_of(kind, key, besides=pack.name)
        self._record(pack, kind, key, src, installed=None, ref=ref)
        return "keep", f"installed by {owner}" if owner else "the tenant's own"

    def _settled(self, pack: Pack, kind: str, key: str, source: Any, current: Any) -> bool:
        """Whether the plan for a key is decided without looking at the pack's document: unchanged
        since the pack installed it, or installed and since deleted by the tenant (so a rule of a
        deleted object is kept as deleted, not reported as invalid)."""
        rec = self.state.items.get((pack.name, kind, key))
        return rec is not None and (rec.source_checksum == part_checksum(pack, kind, key, source) or current is None)

    def _checked(self, pack: Pack, kind: str, key: str, surroundings: Any, check: Callable[[], Any]) -> Any:
        """``check()`` of the pack's part (kind, key) against the planned model and ``surroundings``
        (whatever else the check reads), remembered on the pack for the next plan with the same: the
        model is shared by every plan of the same metadata (see ``cached_model``), so a pack planned
        into many fresh tenants checks its rules and processes once. A check that raises is not kept."""
        found = pack.derived.get(("checked", kind, key))
        if found is not None and found[0] is self.model and found[1] == surroundings:
            return found[2]
        result = check()
        pack.derived[("checked", kind, key)] = (self.model, surroundings, result)
        return result

    def _forget_removed(self, pack: Pack) -> None:
        """Keys the pack installed before that its new version no longer declares: left in place as
        the tenant's (never dropped), and no longer tracked."""
        declared: set[tuple[str, str]] = set()
        for item in pack.objects.values():
            declared |= set(object_parts(item.document))
        for item in pack.extensions.values():
            declared |= set(extension_parts(item.document))
        declared |= set(pack_role_parts(pack))
        declared |= {("approval", key) for key in pack.approvals} | {("rule", key) for key in pack.rules}
        declared |= {("report", key) for key in pack.reports} | {("dashboard", key) for key in pack.dashboards}
        for (name, kind, key) in list(self.state.items):
            if name == pack.name and kind not in ("user", "record") and (kind, key) not in declared:
                self._record(pack, kind, key, None, forget=True)
                self._change(pack, kind, key, "keep", "no longer in the pack; left as it is")

    # -- objects ---------------------------------------------------------------------------------

    def _plan_objects(self, pack: Pack) -> None:
        state, plan = self.state, self.plan
        new_docs: dict[str, dict[str, Any]] = {}
        field_ops: list[Op] = []
        late_ops: list[Op] = []
        changed: list[str] = []
        for name, item in pack.objects.items():
            document = item.document
            parts = object_parts(document)
            current = state.definitions.get(name)
            if current is None:
                if (pack.name, "object", name) in state.items:
                    moved = [k for k, v in parts.items() if (rec := state.items.get((pack.name, *k))) is not None
                             and rec.source_checksum != part_checksum(pack, *k, v)]
                    for kind, key in parts:
                        rec = state.items.get((pack.name, kind, key))
                        if rec is not None:
                            self._record(pack, kind, key, part_checksum(pack, kind, key, parts[(kind, key)]),
                                         installed=rec.installed_checksum)
                    if moved:
                        self._change(pack, "object", name, "keep", "deleted by the tenant; not re-created")
                    continue
                new_docs[name] = document  # read only: ``_creation_ops`` copies what it changes
                for (kind, key), value in parts.items():
                    self._record(pack, kind, key, part_checksum(pack, kind, key, value), refresh=True, planned=value)
                self._describe_new_object(pack, document)
                state.definitions[name] = document
                self._shared.add(name)
                self._objects[name] = pack_object(pack, name)
                changed.append(name)
                continue
            if self._merge_object(pack, name, parts, self._own_definition(name), field_ops, late_ops):
                changed.append(name)
        for name, item in pack.extensions.items():
            current = state.definitions.get(name)
            if current is None:
                if any((pack.name, k, key) in state.items for k, key in extension_parts(item.document)):
                    self._change(pack, "object", name, "keep", "deleted by the tenant; its extension is skipped")
                continue
            if self._merge_object(pack, name, extension_parts(item.document), self._own_definition(name),
                                  field_ops, late_ops):
                changed.append(name)
        plan.ops.extend(self._creation_ops(pack, new_docs, field_ops, late_ops))
        plan.ops.extend(field_ops)
        plan.ops.extend(late_ops)
        if changed:
            definitions = {n: self._planned_object(n)[0] for n in state.definitions}
            platform = self.session.platform
            valid_shapes, valid = platform.cache(VALID_SHAPES), platform.cache(VALID_DEFINITIONS)
            for name in changed:
                try:
                    check_definitions(definitions, [name], valid_shapes, valid, {name: self._planned_object(name)[1]})
                except ValidationError as exc:
                    for path, messages in exc.details.items():
                        for message in messages:
                            self._conflict(pack, "object", name, f"{path}: {message}")

    def _describe_new_object(self, pack: Pack, document: dict[str, Any]) -> None:
        """The plan's lines of a new object, its fields, stages and layouts (the same for every
        tenant: described once per pack as read)."""
        for kind, key, detail in pack.derive(("new_object_lines", document["name"]), lambda: _new_object_lines(document)):
            self._change(pack, kind, key, "create", detail)

    def _own_definition(self, name: str) -> dict[str, Any]:
        """The planned definition of ``name``, copied first if it is still shared, or if an ObjectDef
        made from it is (merging changes it in place, and an ObjectDef shares its lists)."""
        handed_out = self._objects.pop(name, None) is not None
        if name in self._shared or handed_out:
            self.state.definitions[name] = copy_document(self.state.definitions[name])
            self._shared.discard(name)
        return self.state.definitions[name]

    def _planned_object(self, name: str) -> tuple[ObjectDef, str | None]:
        """The planned definition of ``name`` as an ObjectDef, and its content key (of its check and
        its compiled form), made once per document: a pack's objects once per pack as read."""
        known = self._objects.get(name)
        if known is None:
            obj = ObjectDef.from_document(self.state.definitions[name])
            known = self._objects[name] = (obj, content_key(obj.document))
        return known

    def _merge_object(self, pack: Pack, name: str, parts: dict[tuple[str, str], Any], current: dict[str, Any],
                      field_ops: list[Op], late_ops: list[Op]) -> bool:
        """Plan the parts of an object the tenant already has; answers whether the definition changes."""
        current_parts = object_parts(current)
        changed = False
        for (kind, key), value in parts.items():
            existing = current_parts.get((kind, key))
            clash = None
            if kind == "field" and existing is not None:
                if existing.get("type") != value.get("type"):
                    clash = f"the tenant's field is a {existing.get('type')}, the pack's a {value.get('type')}"
                elif value.get("type") == "lookup" and existing.get("target") != value.get("target"):
                    clash = f"the tenant's lookup points to {existing.get('target')}, the pack's to {value.get('target')}"
            action, reason = self._decide(pack, kind, key, value, value, existing, clash)
            if action == "none":
                continue
            if action in ("keep", "conflict"):
                (self._conflict(pack, kind, key, reason) if action == "conflict"
                 else self._change(pack, kind, key, "keep", reason))
                continue
            changed = True
            detail = ""
            if kind == "object":
                late_ops.append(Op(pack.name, "update_object", {"object": name, "patch": dict(value)}))
                current.update(value)
            elif kind == "field":
                field_name = value["name"]
                detail = _field_detail(value)
                if action == "create":
                    field_ops.append(Op(pack.name, "add_field", {"object": name, "field": copy_document(value)}))
                    current.setdefault("fields", []).append(copy_document(value))
                else:
                    patch = {**{k: None for k in existing if k not in value}, **copy_document(value)}
                    field_ops.append(Op(pack.name, "update_field", {"object": name, "field": field_name, "patch": patch}))
                    current["fields"] = [copy_document(value) if f["name"] == field_name else f for f in current["fields"]]
            elif kind == "layout":
                layout_name = key.split(".", 1)[1]
                late_ops.append(Op(pack.name, "put_layout", {"object": name, "layout": layout_name,
                                                             "document": copy_document(value)}))
                current.setdefault("layouts", {})[layout_name] = copy_document(value)
            elif kind == "pipeline":
                late_ops.append(Op(pack.name, "put_pipeline", {"object": name, "pipeline": copy_document(value)}))
                old = [s["name"] for s in ((existing or {}).get("stages") or [])]
                for stage in value.get("stages") or []:
                    if stage["name"] not in old:
                        self._change(pack, "stage", f"{name}.{stage['name']}", "create", _stage_detail(stage))
                detail = " -> ".join(label_text(s.get("label"), "zh") or s["name"] for s in value.get("stages") or [])
                current["pipeline"] = copy_document(value)
            self._change(pack, kind, key, action, detail)
        return changed

    def _creation_ops(self, pack: Pack, new_docs: dict[str, dict[str, Any]], field_ops: list[Op],
                      late_ops: list[Op]) -> list[Op]:
        """Create new objects so that lookups find their targets: in dependency order, and where
        objects point at each other, the closing lookups (and what uses them) added afterwards."""
        existing = set(self.state.definitions) - set(new_docs)
        ops: list[Op] = []
        created: set[str] = set()
        for name in _lookup_order(new_docs):
            document = new_docs[name]  # the pack's own: the Designer copies what it keeps
            available = existing | created | {name}
            deferred = [f for f in document.get("fields") or []
                        if f.get("type") == "lookup" and f.get("target") not in available]
            if deferred:
                document = copy_document(document)
                deferred = [f for f in document["fields"] if f["name"] in {d["name"] for d in deferred}]
                names = {f["name"] for f in deferred}
                document["fields"] = [f for f in document["fields"] if f["name"] not in names]
                for fd in deferred:
                    field_ops.append(Op(pack.name, "add_field", {"object": name, "field": fd}))
                pipeline = document.get("pipeline")
                if pipeline and any(set(s.get("required_fields") or []) & names for s in pipeline["stages"]):
                    late_ops.append(Op(pack.name, "put_pipeline", {"object": name, "pipeline": document.pop("pipeline")}))
                for layout_name, layout in list((document.get("layouts") or {}).items()):
                    used = {f for s in layout.get("sections", []) for f in s.get("fields", [])} | set(layout.get("columns", []))
                    used |= {p.lstrip("-") for p in (layout.get("sort") or "").split(",") if p}
                    if used & names:
                        late_ops.append(Op(pack.name, "put_layout", {"object": name, "layout": layout_name,
                                                                     "document": document["layouts"].pop(layout_name)}))
                if document.get("title_field") in names:
                    late_ops.append(Op(pack.name, "update_object", {"object": name,
                                                                    "patch": {"title_field": document.pop("title_field")}}))
            ops.append(Op(pack.name, "create_object", {"document": document}))
            created.add(name)
        return ops

    # -- roles -------------------------------------------------------------------------------------

    def _plan_roles(self, pack: Pack) -> None:
        state = self.state
        parts = pack_role_parts(pack)
        by_role: dict[str, list[tuple[str, str]]] = {}
        for kind, key in parts:
            by_role.setdefault(key.split(".", 1)[0], []).append((kind, key))
        known_fields = {name: set(obj.fields) | {"owner_id", "stage"} for name, obj in self.model.objects.items()}
        for role_name, keys in by_role.items():
            current = state.roles.get(role_name)
            if current is None and ("role", role_name) not in parts:
                for kind, key in keys:
                    if (pack.name, kind, key) not in state.items:
                        self._change(pack, kind, key, "keep", f"role {role_name!r} does not exist in the tenant")
                continue
            if current is None and (pack.name, "role", role_name) in state.items:
                header = parts[("role", role_name)][1]
                action, reason = self._decide(pack, "role", role_name, header, header, None)
                if action == "keep":
                    self._change(pack, "role", role_name, "keep", reason)
                continue
            document = copy_document(current) if current is not None else empty_role(role_name)
            current_parts = role_parts(current) if current is not None else {}
            touched = current is None
            for kind, key in keys:
                value = parts[(kind, key)][1]
                action, reason = self._decide(pack, kind, key, value, value, current_parts.get((kind, key)))
                if action == "none":
                    continue
                if action == "keep":
                    self._change(pack, kind, key, "keep", reason)
                    continue
                set_role_part(document, kind, key, value)
                touched = True
                self._change(pack, kind, key, action, _role_part_detail(kind, value))
            if not touched:
                continue
            try:
                check_role(document, known_fields, self.session.platform.cache(VALID_ROLE_SHAPES))
            except ValidationError as exc:
                for path, messages in exc.details.items():
                    for message in messages:
                        self._conflict(pack, "role", role_name, f"{path}: {message}")
                continue
            state.roles[role_name] = document
            self.plan.ops.append(Op(pack.name, "put_role", {"document": copy_document(document)}))

    # -- approvals and rules ---------------------------------------------------------------------

    def _approval_exists(self, object_name: str, process: str) -> bool:
        return f"{object_name}.{process}" in self.state.approvals

    def _plan_approvals(self, pack: Pack) -> None:
        state = self.state
        roles = set(state.roles) | {ADMIN_ROLE}
        for key, item in pack.approvals.items():
            document = copy_document(item.document)
            if not approvals.available():
                if (pack.name, "approval", key) not in state.items:
                    self._change(pack, "approval", key, "keep", "approval processes are not available on this platform yet")
                continue
            found = state.approvals.get(key)
            if not self._settled(pack, "approval", key, document, found):
                problems = self._checked(pack, "approval", key, frozenset(roles),
                                         lambda: approvals.check_process(document, self.model, roles, None))
                if problems:
                    for path, messages in problems.items():
                        for message in messages:
                            self._conflict(pack, "approval", key, f"{path}: {message}")
                    continue
            action, reason = self._decide(pack, "approval", key, document, document, found[1] if found else None)
            if action == "none":
                continue
            if action == "keep":
                self._change(pack, "approval", key, "keep", reason)
                continue
            steps = " -> ".join(s["name"] for s in document["steps"])
            self._change(pack, "approval", key, action, f"{label_text(document.get('label')) or document['name']}: {steps}")
            if action == "create":
                self.plan.ops.append(Op(pack.name, "create_approval", {"key": key, "document": document}))
                state.approvals[key] = (None, document)
            else:
                self.plan.ops.append(Op(pack.name, "update_approval", {"key": key, "id": found[0], "document": document}))
                state.approvals[key] = (found[0], document)

    def _plan_rules(self, pack: Pack) -> None:
        from workflow_engine.definitions import VALID_RULE_SHAPES, check_rule

        state = self.state
        exists = self._approval_exists if approvals.available() else None
        processes = frozenset(state.approvals) if exists else None  # what ``exists`` answers from
        for key, item in pack.rules.items():
            document = rule_document(item)
            rec = state.items.get((pack.name, "rule", key))
            current = None
            rule_id = None
            if rec is not None and rec.ref:
                row = state.rules.get(int(rec.ref))
                current, rule_id = (row.definition, row.id) if row else (None, None)
            elif rec is None:
                row = state.rule_by_name(document["object"], document["name"])
                current, rule_id = (row.definition, row.id) if row else (None, None)
            checked = document
            if not self._settled(pack, "rule", key, document, current):
                try:
                    checked = self._checked(pack, "rule", key, processes, lambda: check_rule(
                        copy_document(document), self.model, exists, self.session.platform.cache(VALID_RULE_SHAPES)))
                except ValidationError as exc:
                    for path, messages in exc.details.items():
                        for message in messages:
                            self._conflict(pack, "rule", key, f"{normalize_path(path)}: {message}")
                    continue
            action, reason = self._decide(pack, "rule", key, document, checked, current,
                                          ref=str(rule_id) if rule_id is not None else None)
            if action == "none":
                continue
            if action == "keep":
                self._change(pack, "rule", key, "keep", reason)
                continue
            self._change(pack, "rule", key, action, f"{document['name']} ({document['object']}, {document['trigger']['type']})")
            if action == "create":
                self.plan.ops.append(Op(pack.name, "create_rule", {"key": key, "document": copy_document(document)}))
            else:
                patch = {**{k: RULE_RESET[k] for k in current if k in RULE_RESET and k not in document},
                         **copy_document(document)}
                self.plan.ops.append(Op(pack.name, "update_rule", {"key": key, "id": rule_id, "patch": patch}))

    # -- reports ---------------------------------------------------------------------------------

    def _plan_reports(self, pack: Pack) -> None:
        """Shared reports by stable key: created, updated while the tenant has not edited them, kept
        (as customized or deleted) once it has."""
        state = self.state
        for key, item in pack.reports.items():
            document = report_document(item)
            rec = state.items.get((pack.name, "report", key))
            row = None
            if rec is not None and rec.ref:
                row = state.reports.get(int(rec.ref))
            elif rec is None:
                row = state.shared_report(document["object"], document["name"])
            current = row.document if row else None
            checked = document
            if not self._settled(pack, "report", key, document, current):
                try:
                    checked = check_pack_report(self.model, document)
                except (ValidationError, NotFound) as exc:
                    for path, messages in (exc.details or {"object": [exc.message]}).items():
                        for message in messages:
                            self._conflict(pack, "report", key, f"{path}: {message}")
                    continue
            action, reason = self._decide(pack, "report", key, document, checked, current,
                                          ref=str(row.id) if row is not None else None)
            if action == "none":
                continue
            if action == "keep":
                self._change(pack, "report", key, "keep", reason)
                continue
            self._change(pack, "report", key, action, f"{document['name']} ({document['object']})")
            if action == "create":
                self.plan.ops.append(Op(pack.name, "create_report", {"key": key, "document": copy_document(document)}))
            else:
                self.plan.ops.append(Op(pack.name, "update_report", {"key": key, "id": row.id,
                                                                     "document": copy_document(document)}))

    # -- sample data -------------------------------------------------------------------------------

    def _plan_samples(self, pack: Pack) -> None:
        state = self.state
        for sample in pack.samples:
            if sample.kind == "users":
                rows = []
                for row in sample.rows:
                    email = row.values["email"].strip().lower()
                    if ("user", email) in state.by_key or email in state.users:
                        continue
                    rows.append(row)
                    state.users[email] = -1
                if rows:
                    self.plan.ops.append(Op(pack.name, "create_users", {"file": sample.file, "rows": rows}))
                    self._change(pack, "user", sample.file, "create",
                                 f"{len(rows)} sample users: " + ", ".join(r.values["email"] for r in rows[:3])
                                 + (" ..." if len(rows) > 3 else ""))
                continue
            object_name = sample.object or ""
            if object_name not in state.definitions:
                if sample.rows:
                    self._change(pack, "records", object_name, "keep", "the object was deleted by the tenant; sample data skipped")
                continue
            rows = [row for row in sample.rows if ("record", f"{object_name}:{row.values.get('key')}") not in state.by_key]
            if rows:
                self.plan.ops.append(Op(pack.name, "create_records", {"file": sample.file, "object": object_name,
                                                                      "rows": rows}))
                self._change(pack, "records", object_name, "create", f"{len(rows)} sample records from {sample.file}")


def _planned(source: Any, desired: Any) -> Any:
    """The document an ItemRecord compares the tenant's with once applied: the pack's, where the plan
    asks for it as the pack has it (None where it asks for a checked form, as for rules and reports)."""
    return source if desired is source else None


def _lookup_order(documents: dict[str, dict[str, Any]]) -> list[str]:
    """Object names so that a lookup's target comes first where possible (manifest order otherwise)."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name):
            return
        state[name] = "visiting"
        for fd in documents[name].get("fields") or []:
            target = fd.get("target") if fd.get("type") == "lookup" else None
            if target and target != name and target in documents and not state.get(target):
                visit(target)
        state[name] = "done"
        order.append(name)

    for name in documents:
        visit(name)
    return order


def _new_object_lines(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, key, detail) of each plan line creating an object's parts."""
    name = document["name"]
    fields = document.get("fields") or []
    stages = ((document.get("pipeline") or {}).get("stages")) or []
    lines = [("object", name, f"{label_text(document.get('label'))} / {label_text(document.get('label'), 'zh')}: "
                              f"{len(fields)} fields" + (f", {len(stages)} stages" if stages else ""))]
    lines += [("field", f"{name}.{fd['name']}", _field_detail(fd)) for fd in fields]
    lines += [("stage", f"{name}.{stage['name']}", _stage_detail(stage)) for stage in stages]
    lines += [("layout", f"{name}.{layout_name}", "") for layout_name in document.get("layouts") or {}]
    return lines


def _field_detail(fd: dict[str, Any]) -> str:
    parts = [fd.get("type", "")]
    if fd.get("type") == "lookup":
        parts[0] += f" -> {fd.get('target')}"
    if fd.get("type") in ("picklist", "multi_picklist"):
        values = [o["value"] for o in fd.get("options") or []]
        parts.append(", ".join(values[:6]) + (" ..." if len(values) > 6 else ""))
    if fd.get("type") == "formula":
        parts.append(fd.get("expression", ""))
    if fd.get("required"):
        parts.append("required")
    if fd.get("unique"):
        parts.append("unique")
    label = fd.get("label")
    if label:
        parts.insert(0, label_text(label, "zh") or label_text(label))
    return ", ".join(p for p in parts if p)


def _stage_detail(stage: dict[str, Any]) -> str:
    parts = [label_text(stage.get("label"), "zh") or stage["name"]]
    if stage.get("probability") is not None:
        parts.append(f"{stage['probability']}%")
    if stage.get("category"):
        parts.append(stage["category"])
    if stage.get("required_fields"):
        parts.append("requires " + ", ".join(stage["required_fields"]))
    return ", ".join(parts)


def _role_part_detail(kind: str, value: dict[str, Any]) -> str:
    if kind == "role":
        flags = [flag for flag in ("customize", "manage_users", "audit") if value.get(flag)]
        return label_text(value.get("label"), "zh") + (f" ({', '.join(flags)})" if flags else "")
    if kind == "access":
        return " ".join(f"{action}:{scope}" for action, scope in value.items())
    return value["access"] + (f" {value['mask']}" if value.get("mask") else "")


__all__ = ["Change", "ItemRecord", "Op", "PackStep", "Plan", "Planner"]
