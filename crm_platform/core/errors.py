"""The platform's exception tree.

Every error a user can cause is a :class:`CRMError` carrying a stable ``code`` and an HTTP
``status``; the API maps them to JSON in one place (``crm_platform.api.errors``) and the CLI
prints their message on one line. Exceptions stay picklable: Celery ships them across processes.
"""

from __future__ import annotations

from typing import Any


class CRMError(Exception):
    """Root of every error the platform raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ValidationError(CRMError):
    """Raised when input (a definition, a record, a parameter) breaks a rule; details name the fields."""

    code = "validation_error"
    status = 422


class BadRequest(CRMError):
    """Raised when a request cannot be read at all (malformed JSON, wrong content type)."""

    code = "bad_request"
    status = 400


class ExpressionError(ValidationError):
    """Raised when a formula or condition expression is unsafe, malformed or names unknown fields."""

    code = "expression_error"


class AuthenticationError(CRMError):
    """Raised when credentials are missing, malformed, expired or revoked."""

    code = "unauthorized"
    status = 401


class PermissionDenied(CRMError):
    """Raised when the caller is known but may not do what it asked."""

    code = "forbidden"
    status = 403


class NotFound(CRMError):
    """Raised when an object, field, record or tenant does not exist (or must not be seen to)."""

    code = "not_found"
    status = 404


class Conflict(CRMError):
    """Raised when a write collides with the current state: stale version, duplicate name."""

    code = "conflict"
    status = 409


class SchemaChangeError(CRMError):
    """Raised when a metadata change cannot be applied to the live tables; nothing was changed."""

    code = "schema_change_error"
    status = 409


class StillReferenced(SchemaChangeError):
    """Raised when a change would break definitions that still refer to what it removes."""

    code = "referenced"


class Problems:
    """Collects every problem of a document, keyed by the path it concerns, then raises them at once
    (a user fixing a definition wants the whole list, not one error per attempt)."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            path, messages = next(iter(self.errors.items()))
            raise ValidationError(f"invalid {self.subject}: {path}: {messages[0]}", self.errors)
