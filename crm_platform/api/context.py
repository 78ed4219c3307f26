"""Per-request plumbing: who is calling, their unit of work, and reading JSON bodies strictly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, request

from crm_platform.core.errors import (
    AuthenticationError,
    BadRequest,
    PermissionDenied,
    ValidationError,
)
from crm_platform.core.platform import get_platform
from crm_platform.core.session import TenantSession, tenant_session
from crm_platform.core.tenancy import authenticate_token

MAX_JSON_BYTES = 2 * 1024 * 1024


def authenticate() -> None:
    """Resolve the bearer token; the tenant comes from it and from nothing the caller can edit."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AuthenticationError("missing Authorization header; send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("malformed Authorization header; expected 'Bearer <token>'")
    g.tenant, g.actor = authenticate_token(get_platform(), token.strip())
    if g.actor.read_only and request.method not in {"GET", "HEAD", "OPTIONS"}:
        raise PermissionDenied("this API token is read-only")


@contextmanager
def unit_of_work(write: bool | None = None) -> Iterator[TenantSession]:
    """The request's unit of work; reads take no write lock unless they write (an audited export)."""
    if write is None:
        write = request.method not in {"GET", "HEAD", "OPTIONS"}
    with tenant_session(get_platform(), g.tenant, g.actor, write=write) as session:
        yield session


def require(session: TenantSession, permission: str) -> None:
    """Refuse unless one of the caller's roles grants ``customize``, ``manage_users`` or ``audit``."""
    from crm_platform.core.permissions import access_policy

    if not getattr(access_policy(session), permission):
        raise PermissionDenied(f"this needs a role with the {permission!r} permission")


def json_body(expected: type = dict) -> Any:
    """The request's JSON document, or a 400 that says what is wrong with it."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise BadRequest(f"request body larger than {MAX_JSON_BYTES} bytes")
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("request body is empty; send a JSON document")
    mimetype = request.mimetype or ""
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise BadRequest(f"unsupported content type {mimetype!r}; send application/json")
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8") from None
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    if expected is dict and not isinstance(document, dict):
        raise BadRequest(f"expected a JSON object, got {type(document).__name__}")
    return document


def page_arguments(default_per_page: int = 100) -> tuple[int, int]:
    """``page`` and ``per_page`` from the query string, checked."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        raise ValidationError("page and per_page must be integers", {"page": ["must be an integer"]}) from None
    if page < 1 or not 1 <= per_page <= 500:
        raise ValidationError("page must be 1 or more, per_page 1 to 500", {"per_page": ["1 to 500"]})
    return page, per_page
