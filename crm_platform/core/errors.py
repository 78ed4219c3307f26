"""The platform's exception tree.

Every error a user can cause is a :class:`CRMError` carrying a stable ``code`` and an HTTP
``status``; the API maps them to JSON in one place (``crm_platform.api.errors``) and the CLI
prints their message on one line. Exceptions stay picklable: Celery ships them across processes.

The message is English. So that a UI can say the same in the user's language, an error may also
carry a ``reason`` (a stable code of what went wrong, with ``params``) and, beside each English
field message in ``details``, a coded ``problem`` (``{"code": "min", "params": {"min": 0}}``) in
``problems``: a translation catalogue keyed by these codes renders them, with no parsing of English.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

#: The code of a field message that was not given one (an unexpected message is still shown as is).
UNCODED = "invalid"


def json_param(value: Any) -> Any:
    """A parameter as JSON carries it (errors go to API clients and across processes)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_param(v) for v in value]
    if isinstance(value, Mapping):  # a coded problem given as a parameter (an approver missing, and why)
        return {str(k): json_param(v) for k, v in value.items()}
    return str(value)


def problem(code: str, **params: Any) -> dict[str, Any]:
    """A coded field problem: what a translation catalogue needs to say it in any language."""
    return {"code": code, "params": {k: json_param(v) for k, v in params.items()}}


class CRMError(Exception):
    """Root of every error the platform raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, reason: str | None = None,
                 params: Mapping[str, Any] | None = None,
                 problems: Mapping[str, list[dict[str, Any]]] | None = None) -> None:
        super().__init__(message, details)
        self.message = message
        self.details = details or {}
        #: What went wrong as a stable code (``stale_version``...), with the values to say it.
        self.reason = reason
        self.params = {k: json_param(v) for k, v in (params or {}).items()}
        #: ``details``' messages as coded problems, key by key and in the same order.
        self.problems = dict(problems or {})

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.details, self.reason, self.params, self.problems))

    def field_problems(self) -> dict[str, list[dict[str, Any]]]:
        """Every detail as a coded problem; a message given none keeps its text (code ``invalid``)."""
        coded: dict[str, list[dict[str, Any]]] = {}
        for key, messages in self.details.items():
            messages = messages if isinstance(messages, list) else [messages]
            known = self.problems.get(key) or []
            coded[key] = [
                {**(known[i] if i < len(known) else problem(UNCODED)), "message": str(m)}
                for i, m in enumerate(messages)
            ]
        return coded

    def rekeyed(self, message: str, prefix: str) -> CRMError:
        """The same error about an item of a batch: ``message`` and keys prefixed (``rows[3].amount``)."""
        return type(self)(message, {f"{prefix}{k}": v for k, v in self.details.items()}, reason=self.reason,
                          params=self.params, problems={f"{prefix}{k}": v for k, v in self.problems.items()})

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        if self.reason:
            body["reason"] = self.reason
            if self.params:
                body["params"] = self.params
        if self.problems:
            body["problems"] = self.problems
        return body


def _rebuild(cls: type[CRMError], message: str, details: dict[str, Any], reason: str | None,
             params: dict[str, Any], problems: dict[str, Any]) -> CRMError:
    error = cls.__new__(cls)
    CRMError.__init__(error, message, details, reason=reason, params=params, problems=problems)
    return error


class FieldErrors:
    """Collects field messages with their coded problems, then raises them at once."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}
        self.problems: dict[str, list[dict[str, Any]]] = {}

    def add(self, key: str, message: str, code: str, **params: Any) -> None:
        self.details.setdefault(key, []).append(message)
        self.problems.setdefault(key, []).append(problem(code, **params))

    def __bool__(self) -> bool:
        return bool(self.details)


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
        self.coded: dict[str, list[dict[str, Any]]] = {}

    def add(self, path: str, message: str, code: str = UNCODED, **params: Any) -> None:
        """``code``/``params``: the problem as a catalogue says it (``reserved_name``, name=...)."""
        self.errors.setdefault(path, []).append(message)
        self.coded.setdefault(path, []).append(problem(code, **params))

    def raise_if_any(self) -> None:
        if self.errors:
            path, messages = next(iter(self.errors.items()))
            coded = self.coded if any(p["code"] != UNCODED for ps in self.coded.values() for p in ps) else None
            raise ValidationError(f"invalid {self.subject}: {path}: {messages[0]}", self.errors, problems=coded)
