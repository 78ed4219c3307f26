"""Users of a tenant: creation, lookup, authentication by password."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .errors import Conflict, CRMError, NotFound, ValidationError, problem
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
    values = _new_user(session, email, password, name, roles, team, manager_id)
    if session.conn.execute(sa.select(users.c.id).where(users.c.email == values["email"])).first():
        raise _email_taken(values["email"])
    values["id"] = session.conn.execute(users.insert(), values).inserted_primary_key[0]
    return _created(session, [values])[0]


def create_users(session: TenantSession, new_users: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Several users at once (the keyword arguments of :func:`create_user` each, or ``manager``:
    the e-mail of a user earlier in the list), with the same checks: their e-mails looked up in
    one query, the rows inserted in one executemany. The first user that fails, in order, fails
    as it would alone, keyed ``rows[i]``."""
    checked: list[dict[str, Any]] = []
    managers: dict[int, str] = {}  # position -> the e-mail of a manager earlier in the list
    failure: tuple[int, CRMError] | None = None
    seen: set[str] = set()
    for index, fields in enumerate(new_users):
        try:
            values = _new_user(session, fields["email"], fields.get("password"), fields.get("name", ""),
                               fields.get("roles", ()), fields.get("team"), fields.get("manager_id"))
            if values["email"] in seen:
                raise _email_taken(values["email"])
            if fields.get("manager"):
                managers[index] = _earlier_manager(fields["manager"], seen)
        except CRMError as exc:
            failure = (index, exc)
            break
        seen.add(values["email"])
        checked.append(values)
    if seen:
        taken = set(session.conn.execute(sa.select(users.c.email).where(users.c.email.in_(seen))).scalars())
        for index, values in enumerate(checked):
            if values["email"] in taken:
                failure = (index, _email_taken(values["email"]))
                break
    if failure is not None:
        index, exc = failure
        raise exc.rekeyed(f"rows[{index}]: {exc.message}", f"rows[{index}].")
    if not checked:
        return []
    # An executemany, then the ids by e-mail (unique): RETURNING in parameter order would cost a
    # statement per row on SQLite. Managers within the list are set once everyone has an id.
    session.conn.execute(users.insert(), checked)
    ids = dict(session.conn.execute(sa.select(users.c.email, users.c.id).where(users.c.email.in_(seen))).all())
    for values in checked:
        values["id"] = ids[values["email"]]
    if managers:
        for index, manager in managers.items():
            checked[index]["manager_id"] = ids[manager]
        session.conn.execute(users.update().where(users.c.id == sa.bindparam("_id")).values(
            manager_id=sa.bindparam("_manager")),
            [{"_id": checked[i]["id"], "_manager": checked[i]["manager_id"]} for i in managers])
    return _created(session, checked)


def _earlier_manager(email: Any, earlier: set[str]) -> str:
    manager = validate_email(email)
    if manager not in earlier:
        raise ValidationError(f"manager {manager} is not a user created before this one",
                              {"manager": [f"no user {manager} earlier in the list"]})
    return manager


def _new_user(session: TenantSession, email: Any, password: str | None, name: str,
              roles: Sequence[str], team: str | None, manager_id: int | None) -> dict[str, Any]:
    """A new user's checked column values."""
    from .roles import role_names

    email = validate_email(email)
    known = role_names(session)
    unknown = [r for r in roles if r not in known]
    if unknown:
        raise ValidationError(f"unknown roles: {', '.join(unknown)}", {"roles": [f"unknown role {r!r}" for r in unknown]})
    if password is not None and (not isinstance(password, str) or len(password) < 8 or len(password) > 200):
        raise ValidationError("a password needs 8 to 200 characters", {"password": ["8 to 200 characters"]})
    return {
        "email": email,
        "name": name or email.split("@")[0],
        "password_hash": session.platform.passwords.hash(password) if password else None,
        "roles": list(roles),
        "team": team,
        "manager_id": manager_id,
        "active": True,
        "created_at": utcnow(),
    }


def _email_taken(email: str) -> Conflict:
    return Conflict(f"a user with e-mail {email} already exists", {"email": ["already exists"]})


def _created(session: TenantSession, created: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit the new users (stored with their ids) and answer their public form."""
    session.inserted.add(users.name, [values["id"] for values in created])
    public = []
    for values in created:
        user = {key: values[key] for key in PUBLIC_COLUMNS}
        session.audit("user.create", object="user", record_id=user["id"], after=user)
        public.append(user)
    _users_changed(session)
    return public


def get_user_by_email(session: TenantSession, email: str) -> Any:
    row = session.conn.execute(sa.select(users).where(users.c.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"no user with e-mail {email} in tenant {session.tenant}")
    return row


def user_exists(session: TenantSession, user_id: int) -> bool:
    return session.conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None


USER_KEYS = frozenset({"email", "name", "password", "roles", "team", "manager", "active"})


def public_user(row: Any) -> dict[str, Any]:
    mapping = row._mapping if hasattr(row, "_mapping") else row
    user = {key: mapping[key] for key in PUBLIC_COLUMNS}
    user["roles"] = list(user["roles"] or [])
    created = user["created_at"]
    user["created_at"] = created.isoformat().replace("+00:00", "Z") if created else None
    return user


def list_users(session: TenantSession) -> list[dict[str, Any]]:
    return [public_user(r) for r in session.conn.execute(sa.select(users).order_by(users.c.id))]


def get_user(session: TenantSession, user_id: Any) -> Any:
    try:
        key = int(user_id)
    except (TypeError, ValueError):
        raise NotFound(f"user {user_id!r} does not exist") from None
    row = session.conn.execute(sa.select(users).where(users.c.id == key)).first()
    if row is None:
        raise NotFound(f"user {user_id!r} does not exist")
    return row


def resolve_user(session: TenantSession, reference: Any, field: str = "user") -> Any:
    """A user named by id or e-mail, or a 422 naming the field."""
    row = None
    if isinstance(reference, int) and not isinstance(reference, bool):
        row = session.conn.execute(sa.select(users).where(users.c.id == reference)).first()
    elif isinstance(reference, str) and "@" in reference:
        row = session.conn.execute(sa.select(users).where(users.c.email == reference.strip().lower())).first()
    if row is None:
        raise ValidationError(f"{field}: no user {reference!r}", {field: [f"no user {reference!r}"]})
    return row


def check_user_document(session: TenantSession, document: Any, partial: bool) -> dict[str, Any]:
    """Validate a user document (the API's shape) into column values."""
    from .roles import role_names

    if not isinstance(document, dict):
        raise ValidationError("a user must be a JSON object", {"user": ["expected a JSON object"]})
    errors: dict[str, list[str]] = {}
    for key in document:
        if key not in USER_KEYS:
            errors[key] = ["unknown field"]
    if not partial and "email" not in document:
        errors["email"] = ["required"]
    if errors:
        raise ValidationError("invalid user: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    values: dict[str, Any] = {}
    if "email" in document:
        values["email"] = validate_email(document["email"])
    if "name" in document:
        if not isinstance(document["name"], str) or len(document["name"]) > 200:
            raise ValidationError("name must be text of at most 200 characters", {"name": ["at most 200 characters"]})
        values["name"] = document["name"]
    if "team" in document:
        team = document["team"]
        if team is not None and (not isinstance(team, str) or not 0 < len(team) <= 100):
            raise ValidationError("team must be text of 1 to 100 characters", {"team": ["1 to 100 characters"]})
        values["team"] = team
    if "active" in document:
        if not isinstance(document["active"], bool):
            raise ValidationError("active must be true or false", {"active": ["must be a boolean"]})
        values["active"] = document["active"]
    if "roles" in document:
        roles_value = document["roles"]
        known = role_names(session)
        if not isinstance(roles_value, list) or not all(isinstance(r, str) for r in roles_value):
            raise ValidationError("roles must be a list of role names", {"roles": ["expected a list of names"]})
        unknown = [r for r in roles_value if r not in known]
        if unknown:
            raise ValidationError(f"unknown roles: {', '.join(unknown)}", {"roles": [f"unknown role {r!r}" for r in unknown]})
        values["roles"] = list(dict.fromkeys(roles_value))
    if "manager" in document:
        values["manager_id"] = None if document["manager"] is None else resolve_user(session, document["manager"], "manager").id
    if "password" in document:
        password = document["password"]
        if not isinstance(password, str) or not 8 <= len(password) <= 200:
            raise ValidationError("a password needs 8 to 200 characters", {"password": ["8 to 200 characters"]})
        values["password_hash"] = session.platform.passwords.hash(password)
    return values


def update_user(session: TenantSession, user_id: Any, document: Any) -> dict[str, Any]:
    from .roles import ADMIN_ROLE

    row = get_user(session, user_id)
    values = check_user_document(session, document, partial=True)
    if "email" in values and values["email"] != row.email:
        if session.conn.execute(sa.select(users.c.id).where(users.c.email == values["email"])).first():
            raise Conflict(f"a user with e-mail {values['email']} already exists", {"email": ["already exists"]})
    if values.get("manager_id") is not None:
        _check_no_manager_cycle(session, row.id, values["manager_id"])
    losing_admin = ADMIN_ROLE in (row.roles or []) and (
        ("roles" in values and ADMIN_ROLE not in values["roles"]) or values.get("active") is False
    )
    if losing_admin and _admin_count(session) <= 1:
        raise Conflict("this is the tenant's last active admin; make another admin first")
    if values:
        session.conn.execute(users.update().where(users.c.id == row.id).values(**values))
        if {"roles", "team", "manager_id", "active"} & set(values):
            _users_changed(session)
    after = public_user(get_user(session, row.id))
    before = public_user(row)
    changed = [k for k in after if after[k] != before[k]] + (["password"] if "password_hash" in values else [])
    session.audit(
        "user.update", object="user", record_id=row.id,
        before={k: before.get(k) for k in changed if k != "password"},
        after={**{k: after.get(k) for k in changed if k != "password"}, **({"password": "changed"} if "password_hash" in values else {})},
    )
    return after


def _users_changed(session: TenantSession) -> None:
    """Teams and reporting lines decide scopes: cached access policies must be rebuilt."""
    from .roles import bump_security_version

    bump_security_version(session)


def _admin_count(session: TenantSession) -> int:
    from .roles import ADMIN_ROLE

    return sum(1 for r in session.conn.execute(sa.select(users.c.roles, users.c.active)) if r.active and ADMIN_ROLE in (r.roles or []))


def _check_no_manager_cycle(session: TenantSession, user_id: int, manager_id: int) -> None:
    managers = dict(session.conn.execute(sa.select(users.c.id, users.c.manager_id)).all())
    current: int | None = manager_id
    seen: set[int] = set()
    while current is not None and current not in seen:
        if current == user_id:
            raise ValidationError("a user cannot report to themselves, directly or indirectly", {"manager": ["cycle"]})
        seen.add(current)
        current = managers.get(current)


def authenticate_password(session: TenantSession, email: str, password: str, max_failures: int = 5,
                          lock_minutes: int = 15) -> tuple[Any | None, dict[str, Any] | None]:
    """Check a password; count failures and lock the account after ``max_failures`` in a row.

    Answers ``(user, None)`` or ``(None, refusal)`` rather than raising, so that the failure (and its
    audit entry) is committed by the caller's unit of work. A refusal is a coded problem
    (``wrong_credentials``, ``account_locked`` with ``time``, ``inactive_account``) with its
    English ``message``.
    """
    from datetime import timedelta

    now = utcnow()
    try:
        normalized = validate_email(email)
    except ValidationError:
        normalized = str(email)[:254]
    row = session.conn.execute(sa.select(users).where(users.c.email == normalized)).first()
    if row is None:
        session.audit("auth.login_failed", object="user", after={"email": normalized, "reason": "unknown user"})
        return None, _refusal("wrong e-mail or password", "wrong_credentials")
    locked_until = row.locked_until
    if locked_until is not None and locked_until.tzinfo is None:
        from datetime import timezone

        locked_until = locked_until.replace(tzinfo=timezone.utc)
    if locked_until is not None and locked_until > now:
        session.audit("auth.login_failed", object="user", record_id=row.id, after={"email": normalized, "reason": "locked"})
        until = f"{locked_until:%H:%M}"
        return None, _refusal(f"too many failed logins; the account is locked until {until} UTC", "account_locked",
                              time=until)
    if not row.active:
        session.audit("auth.login_failed", object="user", record_id=row.id, after={"email": normalized, "reason": "inactive"})
        return None, _refusal("this account is inactive", "inactive_account")
    if not session.platform.passwords.verify(row.password_hash, password):
        failures = (row.failed_logins or 0) + 1
        values: dict[str, Any] = {"failed_logins": failures}
        if failures >= max_failures:
            values.update(failed_logins=0, locked_until=now + timedelta(minutes=lock_minutes))
        session.conn.execute(users.update().where(users.c.id == row.id).values(**values))
        session.audit("auth.login_failed", object="user", record_id=row.id,
                      after={"email": normalized, "reason": "wrong password", "locked": "locked_until" in values})
        return None, _refusal("wrong e-mail or password", "wrong_credentials")
    session.conn.execute(users.update().where(users.c.id == row.id).values(failed_logins=0, locked_until=None))
    session.audit("auth.login", object="user", record_id=row.id, after={"email": normalized})
    return row, None


def _refusal(message: str, code: str, **params: Any) -> dict[str, Any]:
    return {**problem(code, **params), "message": message}
