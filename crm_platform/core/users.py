"""Users of a tenant: creation, lookup, authentication by password."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from .errors import Conflict, NotFound, ValidationError
from .session import TenantSession, utcnow
from .tables import users

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PUBLIC_COLUMNS = ("id", "email", "name", "roles", "team", "manager_id", "active", "created_at")


def validate_email(email: Any) -> str:
    if not isinstance(email, str) or len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise ValidationError(f"invalid e-mail address {email!r}", {"email": ["not a valid e-mail address"]})
    return email.strip().lower()


def create_user(
    session: TenantSession,
    email: str,
    password: str | None,
    name: str = "",
    roles: list[str] | tuple[str, ...] = (),
    team: str | None = None,
    manager_id: int | None = None,
) -> dict[str, Any]:
    email = validate_email(email)
    if password is not None and (not isinstance(password, str) or len(password) < 8 or len(password) > 200):
        raise ValidationError("a password needs 8 to 200 characters", {"password": ["8 to 200 characters"]})
    if session.conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
        raise Conflict(f"a user with e-mail {email} already exists", {"email": ["already exists"]})
    values = {
        "email": email,
        "name": name or email.split("@")[0],
        "password_hash": session.platform.passwords.hash(password) if password else None,
        "roles": list(roles),
        "team": team,
        "manager_id": manager_id,
        "active": True,
        "created_at": utcnow(),
    }
    user_id = session.conn.execute(users.insert().values(**values)).inserted_primary_key[0]
    public = {key: values.get(key) for key in PUBLIC_COLUMNS if key in values}
    public["id"] = user_id
    session.audit("user.create", object="user", record_id=user_id, after=public)
    return public


def get_user_by_email(session: TenantSession, email: str) -> Any:
    row = session.conn.execute(sa.select(users).where(users.c.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"no user with e-mail {email} in tenant {session.tenant}")
    return row


def user_exists(session: TenantSession, user_id: int) -> bool:
    return session.conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None
