"""Access policies: a user's roles merged into scopes per object and action, and field access.

Roles add up: each action gets the widest scope any role grants, each field the least restrictive
access among the roles that may read its object. Scopes compile into SQL criteria (so a list is
filtered by the database, not by a loop over rows), and field access decides what a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .errors import PermissionDenied
from .roles import ACTIONS, ADMIN_ROLE, role_documents, security_version
from .session import TenantSession
from .tables import users

SCOPE_RANK = {"none": 0, "own": 1, "team": 2, "all": 3}
#: Field access from most to least restrictive; ``None`` is full access.
ACCESS_RANK = {"hidden": 0, "masked": 1, "read_only": 2, None: 3}
DEFAULT_MASK = {"keep_last": 4, "keep_first": 0, "char": "*"}


def mask_value(value: Any, keep_last: int = 4, keep_first: int = 0, char: str = "*") -> Any:
    """``13812341234`` -> ``*******1234``; short values are masked whole."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) <= keep_first + keep_last:
        return char * len(text)
    tail = text[len(text) - keep_last:] if keep_last else ""
    return text[:keep_first] + char * (len(text) - keep_first - keep_last) + tail


@dataclass(frozen=True)
class AccessPolicy:
    """What one user may do in one tenant."""

    user_id: int | None
    team: str | None
    is_admin: bool
    customize: bool
    manage_users: bool
    audit: bool
    scopes: Mapping[str, Mapping[str, str]]
    field_access: Mapping[str, Mapping[str, str]]
    masks: Mapping[str, Mapping[str, Mapping[str, Any]]]
    _team_ids: list[tuple[int, ...]] = field(default_factory=list, compare=False, repr=False)

    # -- objects -------------------------------------------------------------------------------

    def scope(self, object_name: str, action: str) -> str:
        if self.is_admin:
            return "all"
        per_object = self.scopes.get(object_name) or {}
        wildcard = self.scopes.get("*") or {}
        return max(per_object.get(action, "none"), wildcard.get(action, "none"), key=SCOPE_RANK.__getitem__)

    def require(self, object_name: str, action: str) -> str:
        scope = self.scope(object_name, action)
        if scope == "none":
            raise PermissionDenied(f"you may not {action} {object_name} records", reason="action_not_allowed",
                                   params={"action": action, "object": object_name})
        return scope

    def readable_objects(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.scope(name, "read") != "none"]

    # -- fields --------------------------------------------------------------------------------

    def access(self, object_name: str, field_name: str) -> str | None:
        """``hidden``, ``masked``, ``read_only``, or None for full access."""
        if self.is_admin:
            return None
        return (self.field_access.get(object_name) or {}).get(field_name)

    def restricted(self, object_name: str) -> Mapping[str, str]:
        return {} if self.is_admin else (self.field_access.get(object_name) or {})

    def unreadable(self, object_name: str) -> frozenset[str]:
        """Fields whose values a reader may not filter, sort or search on (hidden or masked)."""
        return frozenset(n for n, a in self.restricted(object_name).items() if a in ("hidden", "masked"))

    def unwritable(self, object_name: str) -> frozenset[str]:
        return frozenset(self.restricted(object_name))

    def present(self, object_name: str, record: dict[str, Any]) -> dict[str, Any]:
        """A record as this reader may see it: hidden fields absent, masked ones masked."""
        restricted = self.restricted(object_name)
        if not restricted:
            return record
        shown = dict(record)
        for name, access in restricted.items():
            if name not in shown:
                continue
            if access == "hidden":
                del shown[name]
            elif access == "masked":
                shown[name] = mask_value(shown[name], **self.mask_of(object_name, name))
        return shown

    def mask_of(self, object_name: str, field_name: str) -> dict[str, Any]:
        return {**DEFAULT_MASK, **((self.masks.get(object_name) or {}).get(field_name) or {})}

    # -- rows ----------------------------------------------------------------------------------

    def owner_ids(self, session: TenantSession, scope: str) -> tuple[int, ...] | None:
        """Owners whose records the scope covers; None means every record."""
        if scope == "all":
            return None
        if scope == "none" or self.user_id is None:
            return ()
        if scope == "own":
            return (self.user_id,)
        if not self._team_ids:
            self._team_ids.append(team_member_ids(session, self.user_id, self.team))
        return self._team_ids[0]

    def criterion(self, session: TenantSession, table: sa.Table, scope: str) -> Any | None:
        owners = self.owner_ids(session, scope)
        if owners is None:
            return None
        if not owners:
            return sa.false()
        if len(owners) == 1:
            return table.c.owner_id == owners[0]
        return table.c.owner_id.in_(owners)

    def covers(self, session: TenantSession, scope: str, owner_id: int | None) -> bool:
        owners = self.owner_ids(session, scope)
        return owners is None or owner_id in owners


def team_member_ids(session: TenantSession, user_id: int, team: str | None) -> tuple[int, ...]:
    """The user, their team mates, and everyone who reports to them directly or indirectly."""
    rows = session.conn.execute(sa.select(users.c.id, users.c.team, users.c.manager_id)).all()
    members = {user_id}
    if team:
        members |= {r.id for r in rows if r.team == team}
    reports: dict[int, list[int]] = {}
    for r in rows:
        if r.manager_id is not None:
            reports.setdefault(r.manager_id, []).append(r.id)
    pending = [user_id]
    while pending:
        for report in reports.get(pending.pop(), []):
            if report not in members:
                members.add(report)
                pending.append(report)
    return tuple(sorted(members))


def compile_policy(user_id: int | None, team: str | None, role_names: Iterable[str], documents: list[dict[str, Any]]) -> AccessPolicy:
    names = set(role_names)
    if ADMIN_ROLE in names:
        return AccessPolicy(user_id, team, True, True, True, True, {}, {}, {})
    scopes: dict[str, dict[str, str]] = {}
    for document in documents:
        for object_name, actions in (document.get("permissions") or {}).items():
            merged = scopes.setdefault(object_name, {})
            for action in ACTIONS:
                current, offered = merged.get(action, "none"), actions.get(action, "none")
                merged[action] = max(current, offered, key=SCOPE_RANK.__getitem__)
    field_access: dict[str, dict[str, str]] = {}
    masks: dict[str, dict[str, dict[str, Any]]] = {}
    objects = {name for document in documents for name in (document.get("field_access") or {})}
    for object_name in objects:
        readers = [
            d for d in documents
            if max((d.get("permissions") or {}).get(object_name, {}).get("read", "none"),
                   (d.get("permissions") or {}).get("*", {}).get("read", "none"), key=SCOPE_RANK.__getitem__) != "none"
        ]
        fields = {f for d in readers for f in ((d.get("field_access") or {}).get(object_name) or {})}
        for field_name in fields:
            ranks = [((d.get("field_access") or {}).get(object_name) or {}).get(field_name) for d in readers]
            least = max(ranks, key=ACCESS_RANK.__getitem__)
            if least is not None:
                field_access.setdefault(object_name, {})[field_name] = least
        for d in readers:
            for field_name, mask in ((d.get("masks") or {}).get(object_name) or {}).items():
                masks.setdefault(object_name, {})[field_name] = mask
    return AccessPolicy(
        user_id, team, False,
        any(d.get("customize") for d in documents),
        any(d.get("manage_users") for d in documents),
        any(d.get("audit") for d in documents),
        scopes, field_access, masks,
    )


def access_policy(session: TenantSession) -> AccessPolicy:
    """The acting user's policy, compiled once per (tenant, security version, user, roles, team).

    Roles, users' teams and managers all move the security version, so a cached policy (and the
    team it has resolved) is never stale.
    """
    policy = session.cache.get("access_policy")
    if policy is not None:
        return policy
    actor = session.actor
    if actor.is_admin:
        policy = compile_policy(actor.user_id, actor.team, actor.roles, [])
    else:
        key = (session.tenant, security_version(session), actor.user_id, actor.roles, actor.team)
        cache = session.platform.cache("access_policies")
        policy = cache.get(key)
        if policy is None:
            policy = compile_policy(actor.user_id, actor.team, actor.roles, role_documents(session, actor.roles))
            if len(cache) > 4096:
                cache.clear()
            cache[key] = policy
    session.cache["access_policy"] = policy
    return policy
