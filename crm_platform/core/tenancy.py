"""Tenants: provisioning a namespace, listing, removing; and resolving API tokens to a tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .database import validate_slug
from .errors import AuthenticationError, Conflict, NotFound
from .security import TOKEN_PREFIX, hash_token, new_token
from .session import Actor, utcnow
from .tables import api_tokens, meta_state, tenants, users

if TYPE_CHECKING:
    from .platform import Platform


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    created_at: datetime


def create_tenant(platform: Platform, slug: str, name: str | None = None) -> Tenant:
    """Create the namespace and its system tables; on any failure nothing is left behind."""
    validate_slug(slug)
    with platform.db.control() as conn:
        if conn.execute(sa.select(tenants.c.id).where(tenants.c.slug == slug)).first():
            raise Conflict(f"tenant {slug!r} already exists", {"slug": ["already exists"]})
    created_at = utcnow()
    platform.db.create_namespace(slug)
    try:
        conn = platform.db.tenant_connection(slug, write=True)
        with conn, conn.begin():
            for table_set in platform.tenant_table_sets:
                table_set.create_all(conn)
            conn.execute(meta_state.insert(), [{"key": "metadata_version", "value": 1},
                                               {"key": "security_version", "value": 1},
                                               {"key": "workflow_version", "value": 1}])
        with platform.db.control(write=True) as conn:
            conn.execute(tenants.insert().values(slug=slug, name=name or slug, created_at=created_at))
    except BaseException:
        platform.db.drop_namespace(slug)
        raise
    return Tenant(slug=slug, name=name or slug, created_at=created_at)


def upgrade_tenants(platform: Platform) -> list[str]:
    """Create system tables that newer versions added, in every tenant (existing ones are kept)."""
    upgraded = []
    for tenant in list_tenants(platform):
        conn = platform.db.tenant_connection(tenant.slug, write=True)
        with conn, conn.begin():
            for table_set in platform.tenant_table_sets:
                table_set.create_all(conn, checkfirst=True)
            present = set(conn.execute(sa.select(meta_state.c.key)).scalars())
            for key in ("metadata_version", "security_version", "workflow_version"):
                if key not in present:
                    conn.execute(meta_state.insert().values(key=key, value=1))
        upgraded.append(tenant.slug)
    return upgraded


def get_tenant(platform: Platform, slug: str) -> Tenant:
    with platform.db.control() as conn:
        row = conn.execute(sa.select(tenants).where(tenants.c.slug == slug)).first()
    if row is None:
        raise NotFound(f"tenant {slug!r} does not exist")
    return Tenant(slug=row.slug, name=row.name, created_at=row.created_at)


def list_tenants(platform: Platform) -> list[Tenant]:
    with platform.db.control() as conn:
        rows = conn.execute(sa.select(tenants).order_by(tenants.c.slug)).all()
    return [Tenant(slug=r.slug, name=r.name, created_at=r.created_at) for r in rows]


def delete_tenant(platform: Platform, slug: str) -> None:
    get_tenant(platform, slug)
    with platform.db.control(write=True) as conn:
        conn.execute(api_tokens.delete().where(api_tokens.c.tenant_slug == slug))
        conn.execute(tenants.delete().where(tenants.c.slug == slug))
    platform.db.drop_namespace(slug)


# -- API tokens ---------------------------------------------------------------------------------


def create_token(
    platform: Platform,
    slug: str,
    user_id: int,
    name: str = "",
    expires_at: datetime | None = None,
    read_only: bool = False,
) -> str:
    """Store a new token's hash and return the token itself: this is the only time it is visible."""
    token = new_token()
    with platform.db.control(write=True) as conn:
        conn.execute(
            api_tokens.insert().values(
                tenant_slug=slug,
                user_id=user_id,
                name=name,
                token_hash=hash_token(token),
                prefix=token[: len(TOKEN_PREFIX) + 6],
                read_only=read_only,
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )
    return token


TOKEN_BY_HASH = sa.select(api_tokens).where(api_tokens.c.token_hash == sa.bindparam("_hash"))
USER_BY_ID = sa.select(users).where(users.c.id == sa.bindparam("_id"))


def authenticate_token(platform: Platform, token: str) -> tuple[str, Actor]:
    """Resolve a bearer token to its tenant and user, or raise :class:`AuthenticationError`."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthenticationError("malformed API token")
    with platform.db.control() as conn:
        row = conn.execute(TOKEN_BY_HASH, {"_hash": hash_token(token)}).first()
    if row is None:
        raise AuthenticationError("unknown API token")
    if row.revoked_at is not None:
        raise AuthenticationError("this API token was revoked")
    if row.expires_at is not None and _aware(row.expires_at) <= utcnow():
        raise AuthenticationError("this API token has expired")
    with platform.db.tenant_connection(row.tenant_slug) as conn:
        user = conn.execute(USER_BY_ID, {"_id": row.user_id}).first()
    if user is None or not user.active:
        raise AuthenticationError("the user of this API token is inactive")
    return row.tenant_slug, actor_from_row(user, read_only=row.read_only)


def actor_from_row(row: Any, read_only: bool = False) -> Actor:
    return Actor(user_id=row.id, email=row.email, roles=tuple(row.roles or ()), team=row.team, read_only=read_only)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def list_tokens(platform: Platform, slug: str, user_id: int | None = None) -> list[dict[str, Any]]:
    """Tokens of a tenant (of one user if given), without their secret: only a recognisable prefix."""
    criteria = [api_tokens.c.tenant_slug == slug]
    if user_id is not None:
        criteria.append(api_tokens.c.user_id == user_id)
    with platform.db.control() as conn:
        rows = conn.execute(sa.select(api_tokens).where(*criteria).order_by(api_tokens.c.id)).mappings().all()
    return [_token_json(row) for row in rows]


def get_token(platform: Platform, slug: str, token_id: Any) -> dict[str, Any]:
    try:
        key = int(token_id)
    except (TypeError, ValueError):
        raise NotFound(f"token {token_id!r} does not exist") from None
    with platform.db.control() as conn:
        row = conn.execute(
            sa.select(api_tokens).where(api_tokens.c.id == key, api_tokens.c.tenant_slug == slug)
        ).mappings().first()
    if row is None:
        raise NotFound(f"token {token_id!r} does not exist")
    return _token_json(row)


def revoke_token(platform: Platform, slug: str, token_id: int) -> None:
    with platform.db.control(write=True) as conn:
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.tenant_slug == slug, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def _token_json(row: Any) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return None if value is None else _aware(value).isoformat().replace("+00:00", "Z")

    return {
        "id": row["id"], "user_id": row["user_id"], "name": row["name"], "prefix": row["prefix"],
        "read_only": row["read_only"], "created_at": moment(row["created_at"]),
        "expires_at": moment(row["expires_at"]), "revoked_at": moment(row["revoked_at"]),
    }
