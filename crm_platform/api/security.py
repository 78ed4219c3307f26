"""Security endpoints: users, roles, API tokens, record transfer and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g, jsonify, request

from crm_platform.core.audit import query_audit
from crm_platform.core.errors import NotFound, PermissionDenied, ValidationError
from crm_platform.core.permissions import access_policy
from crm_platform.core.platform import get_platform
from crm_platform.core.roles import delete_role, get_role, list_roles, put_role
from crm_platform.core.session import utcnow
from crm_platform.core.tenancy import create_token, get_token, list_tokens, revoke_token
from crm_platform.core.users import (
    check_user_document,
    create_user,
    get_user,
    list_users,
    public_user,
    resolve_user,
    update_user,
)
from metadata import load_model
from metadata.ownership import transfer_records

from .context import json_body, require, unit_of_work


def _known_fields(session: Any) -> dict[str, set[str]]:
    model = load_model(session)
    return {name: set(obj.fields) | {"owner_id", "stage"} for name, obj in model.objects.items()}


def register(api: Blueprint) -> None:
    # -- users ---------------------------------------------------------------------------------

    @api.get("/users")
    def users_index():
        with unit_of_work() as session:
            return jsonify({"data": list_users(session)})

    @api.post("/users")
    def users_create():
        document = json_body()
        with unit_of_work() as session:
            require(session, "manage_users")
            values = check_user_document(session, document, partial=False)
            created = create_user(
                session, values["email"], document.get("password"), name=values.get("name", ""),
                roles=values.get("roles", []), team=values.get("team"), manager_id=values.get("manager_id"),
            )
            if values.get("active") is False:
                created = update_user(session, created["id"], {"active": False})
            return jsonify(public_user(get_user(session, created["id"]))), 201

    @api.get("/users/<user_id>")
    def users_show(user_id: str):
        with unit_of_work() as session:
            return jsonify(public_user(get_user(session, user_id)))

    @api.patch("/users/<user_id>")
    def users_update(user_id: str):
        document = json_body()
        with unit_of_work() as session:
            target = get_user(session, user_id)
            if not access_policy(session).manage_users:
                if target.id != g.actor.user_id:
                    raise PermissionDenied("you may only change your own name and password")
                forbidden = sorted(set(document) - {"name", "password"})
                if forbidden:
                    raise PermissionDenied(
                        f"you may not change your own {', '.join(forbidden)}",
                        {key: ["needs the manage_users permission"] for key in forbidden},
                    )
            return jsonify(update_user(session, target.id, document))

    @api.post("/users/<user_id>/transfer")
    def users_transfer(user_id: str):
        document = json_body()
        with unit_of_work() as session:
            require(session, "manage_users")
            source = get_user(session, user_id)
            if "to" not in document:
                raise ValidationError("say who receives the records: {\"to\": <user id or e-mail>}", {"to": ["required"]})
            target = resolve_user(session, document["to"], "to")
            if target.id == source.id:
                raise ValidationError("cannot transfer records to the same user", {"to": ["same user"]})
            if not target.active:
                raise ValidationError(f"{target.email} is inactive", {"to": ["inactive user"]})
            moved = transfer_records(session, source.id, target.id)
            return jsonify({"from": source.id, "to": target.id, "records": moved})

    # -- roles ---------------------------------------------------------------------------------

    @api.get("/roles")
    def roles_index():
        with unit_of_work() as session:
            return jsonify({"data": list_roles(session)})

    @api.post("/roles")
    def roles_create():
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            if isinstance(document.get("name"), str):
                try:
                    get_role(session, document["name"])
                except NotFound:
                    pass
                else:
                    from crm_platform.core.errors import Conflict

                    raise Conflict(f"role {document['name']!r} already exists", {"name": ["already exists"]})
            stored, _ = put_role(session, document, _known_fields(session))
            return jsonify(stored), 201

    @api.get("/roles/<name>")
    def roles_show(name: str):
        with unit_of_work() as session:
            return jsonify(get_role(session, name))

    @api.put("/roles/<name>")
    def roles_put(name: str):
        document = json_body()
        with unit_of_work() as session:
            require(session, "customize")
            stored, created = put_role(session, document, _known_fields(session), name=name)
            return jsonify(stored), 201 if created else 200

    @api.delete("/roles/<name>")
    def roles_delete(name: str):
        with unit_of_work() as session:
            require(session, "customize")
            delete_role(session, name)
        return "", 204

    # -- tokens --------------------------------------------------------------------------------

    @api.get("/tokens")
    def tokens_index():
        with unit_of_work() as session:
            everyone = access_policy(session).manage_users and request.args.get("all") == "1"
        return jsonify({"data": list_tokens(get_platform(), g.tenant, None if everyone else g.actor.user_id)})

    @api.post("/tokens")
    def tokens_create():
        document = json_body()
        unknown = set(document) - {"name", "expires_in_days", "read_only"}
        if unknown:
            raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}", {k: ["unknown field"] for k in unknown})
        name = document.get("name", "")
        days = document.get("expires_in_days")
        read_only = document.get("read_only", False)
        if not isinstance(name, str) or len(name) > 200:
            raise ValidationError("name must be text of at most 200 characters", {"name": ["at most 200 characters"]})
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650):
            raise ValidationError("expires_in_days must be 1 to 3650", {"expires_in_days": ["1 to 3650"]})
        if not isinstance(read_only, bool):
            raise ValidationError("read_only must be true or false", {"read_only": ["must be a boolean"]})
        expires_at = utcnow() + timedelta(days=days) if days else None
        token = create_token(get_platform(), g.tenant, g.actor.user_id, name=name, expires_at=expires_at, read_only=read_only)
        with unit_of_work() as session:
            session.audit("token.create", object="user", record_id=g.actor.user_id,
                          after={"name": name, "read_only": read_only, "prefix": token[:10]})
        return jsonify({"token": token, "name": name, "read_only": read_only,
                        "expires_at": expires_at.isoformat().replace("+00:00", "Z") if expires_at else None}), 201

    @api.delete("/tokens/<token_id>")
    def tokens_revoke(token_id: str):
        token = get_token(get_platform(), g.tenant, token_id)
        with unit_of_work() as session:
            if token["user_id"] != g.actor.user_id and not access_policy(session).manage_users:
                raise NotFound(f"token {token_id!r} does not exist")
            revoke_token(get_platform(), g.tenant, token["id"])
            session.audit("token.revoke", object="user", record_id=token["user_id"],
                          before={"name": token["name"], "prefix": token["prefix"]})
        return "", 204

    # -- audit ---------------------------------------------------------------------------------

    @api.get("/audit")
    def audit_index():
        with unit_of_work() as session:
            require(session, "audit")
            policy = access_policy(session)

            def present(object_name: str | None, values: dict[str, Any] | None) -> dict[str, Any] | None:
                if values is None or object_name is None:
                    return values
                return policy.present(object_name, values)

            entries, total, page, per_page = query_audit(session, request.args.to_dict(flat=False), present)
            return jsonify({"data": entries, "meta": {"total": total, "page": page, "per_page": per_page}})
