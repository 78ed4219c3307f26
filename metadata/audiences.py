"""Members from a segment: every record a saved view selects becomes a member of a parent record.

The campaign case (``campaign_member`` rows linking a campaign to contacts or leads) is one use of
a generic shape: a *member object* with a lookup to the *parent* object and a lookup to the view's
object. The view is evaluated as the caller through the record service, so their read scope and
field access apply, and members are created through it too (validated, audited, events fired).
Adding is idempotent: a record already a member of that parent is skipped, never added twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from crm_platform.core.errors import ValidationError
from crm_platform.core.session import TenantSession

from .model import ObjectModel
from .views import get_view

__all__ = ["MAX_MEMBERS", "add_members_from_view"]

#: At most this many records are added in one call (a larger segment is refused, not cut short).
MAX_MEMBERS = 50_000
_PAGE = 500
_KEYS = frozenset({"view", "member_object", "parent_field", "member_field", "values"})


def _lookup_to(model: ObjectModel, target: str, given: Any, key: str) -> str:
    """The member object's lookup field to ``target``: the one named, or the only one there is."""
    if given is not None:
        fd = model.fields.get(given) if isinstance(given, str) else None
        if fd is None or fd.type != "lookup" or fd.target != target:
            raise ValidationError(f"{key}: {given!r} is not a lookup from {model.name} to {target}",
                                  {key: [f"not a lookup to {target}"]})
        return fd.name
    found = [fd.name for fd in model.lookups if fd.type == "lookup" and fd.target == target]
    if len(found) != 1:
        reason = "has no lookup" if not found else f"has several lookups ({', '.join(found)})"
        raise ValidationError(f"{key}: {model.name} {reason} to {target}; name the field in {key!r}",
                              {key: [f"name the lookup to {target}"]})
    return found[0]


def add_members_from_view(session: TenantSession, object_name: str, record_id: Any,
                          document: Any) -> dict[str, Any]:
    """Add every record of the saved view ``document["view"]`` as a member of ``object_name`` ``record_id``.

    ``member_object`` defaults to ``<object>_member``; the two lookup fields default to the member
    object's only lookup to each side; ``values`` are extra field values for each new member.
    Answers the counts ``added``, ``skipped`` (already members) and ``matched``, and the new ids.
    """
    from .records import RecordService

    if not isinstance(document, Mapping):
        raise ValidationError("expected a JSON object", {"body": ["expected an object"]})
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(unknown)}", {k: ["unknown field"] for k in unknown})
    values = document.get("values")
    values = {} if values is None else values
    if not isinstance(values, Mapping):
        raise ValidationError("values must be an object of field values", {"values": ["expected an object"]})
    service = RecordService(session)
    parent_model = service.object(object_name)
    parent = service.get(object_name, record_id)  # 404 unless the caller may read it
    view = get_view(session, document.get("view"))  # 404 unless the caller may see the view
    member_name = document.get("member_object") or f"{parent_model.name}_member"
    if not isinstance(member_name, str) or member_name not in service.model.objects:
        raise ValidationError(f"member_object: no object {member_name!r} to hold the members",
                              {"member_object": [f"unknown object {member_name!r}"]})
    member_model = service.object(member_name)
    parent_field = _lookup_to(member_model, parent_model.name, document.get("parent_field"), "parent_field")
    member_field = _lookup_to(member_model, view["object"], document.get("member_field"), "member_field")
    if member_field == parent_field:
        raise ValidationError("member_field and parent_field must be different lookups",
                              {"member_field": ["same as parent_field"]})
    for key in (parent_field, member_field):
        if key in values:
            raise ValidationError(f"values: {key!r} is set for each member", {"values": [f"{key} is set for you"]})
    service.policy.require(member_name, "create")
    if session.dialect == "postgresql":  # concurrent adds to one parent wait for each other: no duplicates
        session.conn.execute(sa.select(parent_model.table.c.id)
                             .where(parent_model.table.c.id == parent["id"]).with_for_update())
    matched = _matching_ids(service, view)
    table = member_model.table
    present: set[int] = set()
    for start in range(0, len(matched), _PAGE):
        chunk = matched[start:start + _PAGE]
        present.update(session.conn.execute(sa.select(table.c[member_field]).where(
            table.c[parent_field] == parent["id"], table.c[member_field].in_(chunk))).scalars())
    new = [i for i in matched if i not in present]
    created = service.create_many(member_name, (
        {**values, parent_field: parent["id"], member_field: i} for i in new)) if new else []
    session.audit("record.members_from_view", object=object_name, record_id=parent["id"], after={
        "view": view["id"], "member_object": member_name, "added": len(created), "skipped": len(present)})
    return {"view": view["id"], "member_object": member_name, "parent_field": parent_field,
            "member_field": member_field, "matched": len(matched), "added": len(created),
            "skipped": len(present), "ids": [r["id"] for r in created]}


def _matching_ids(service: Any, view: Mapping[str, Any]) -> list[int]:
    """The ids the view selects for this reader, all pages of them."""
    ids: list[int] = []
    page = 1
    while True:
        query = service.parse_list(view["object"], {"view": [str(view["id"])], "sort": ["id"],
                                                    "page": [str(page)], "per_page": [str(_PAGE)]})
        rows, total = service.list(view["object"], query)
        if total > MAX_MEMBERS:
            raise ValidationError(f"the view selects {total} records; at most {MAX_MEMBERS} can be added at once",
                           {"view": [f"{total} records, at most {MAX_MEMBERS}"]})
        ids.extend(r["id"] for r in rows)
        if len(rows) < _PAGE:
            return ids
        page += 1
