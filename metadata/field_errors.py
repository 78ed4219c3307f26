"""Field-level validation messages that keep a stable code and parameters beside their English text.

marshmallow gives only text; the record service turns each message into a coded problem
(``{"code": "max_length", "params": {"max": 80}}``, see :func:`crm_platform.core.errors.problem`)
so a UI can say it in its own language. A :class:`CodedMessage` is the English text carrying
its code; the fields and validators here raise nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from marshmallow import ValidationError as MarshmallowError

from crm_platform.core.errors import UNCODED, json_param


class CodedMessage(str):
    """English message text with the stable code and the parameters a translation needs."""

    code: str
    params: dict[str, Any]

    def __new__(cls, text: str, code: str, **params: Any) -> CodedMessage:
        message = super().__new__(cls, text)
        message.code = code
        message.params = {k: json_param(v) for k, v in params.items()}
        return message

    def __reduce__(self) -> Any:
        return (_coded, (str(self), self.code, self.params))


def _coded(text: str, code: str, params: dict[str, Any]) -> CodedMessage:
    return CodedMessage(text, code, **params)


def coded_error(text: str, code: str, **params: Any) -> MarshmallowError:
    return MarshmallowError(CodedMessage(text, code, **params))


#: marshmallow's error keys as our codes; ``invalid`` depends on the field (see ``invalid_code``).
KEY_CODES = {"required": "required", "null": "required", "too_large": "out_of_range", "special": "not_number",
             "invalid_utf8": "invalid_unicode", "invalid_phone": "not_phone", "format": "invalid"}


class CodedErrors:
    """Mixed into a marshmallow field: every error it makes carries a code."""

    invalid_code = UNCODED

    def make_error(self, key: str, **kwargs: Any) -> MarshmallowError:
        error = super().make_error(key, **kwargs)  # type: ignore[misc]
        messages = error.messages if isinstance(error.messages, list) else [error.messages]
        code = self.invalid_code if key in ("invalid", "invalid_awareness") else KEY_CODES.get(key, UNCODED)
        return coded_error(str(messages[0]), code)


def recoded(validator: Callable[[Any], Any], code: str, **params: Any) -> Callable[[Any], Any]:
    """``validator`` whose refusal carries ``code`` and ``params`` (its text stays marshmallow's)."""

    def check(value: Any) -> Any:
        try:
            return validator(value)
        except MarshmallowError as exc:
            messages = exc.messages if isinstance(exc.messages, list) else [exc.messages]
            raise coded_error(str(messages[0]), code, **params) from None

    return check


def flat_messages(messages: Any) -> Iterator[Any]:
    """Every message of a marshmallow error, items of a list field included (``{0: [...]}``)."""
    if isinstance(messages, dict):
        for value in messages.values():
            yield from flat_messages(value)
    elif isinstance(messages, list):
        for value in messages:
            yield from flat_messages(value)
    else:
        yield messages


def code_of(message: Any) -> tuple[str, dict[str, Any]]:
    """A message's code and parameters (``invalid`` and none for a message without a code)."""
    return getattr(message, "code", UNCODED), dict(getattr(message, "params", {}))


__all__ = ["CodedErrors", "CodedMessage", "code_of", "coded_error", "flat_messages", "recoded"]
