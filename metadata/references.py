"""What still refers to an object or a field about to be deleted, said so that any language can say it.

A reference is the English text the API has always listed (``deal.expected (formula)``, ``rule 'hot'
(id 3)``) carrying a stable kind and the names and ids it is about, as a coded message: the
refusal keeps the text in its ``details`` and gives the kinds as its coded ``problems``, so a UI
names each one in its own words (the object and field by their labels, the kind translated).
Definitions outside the metadata layer (rules, approval processes) make theirs with :func:`reference`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crm_platform.core.errors import StillReferenced, problem

from .field_errors import CodedMessage, code_of

#: The kinds of reference the platform makes, with the parameters each carries.
KINDS = {
    "lookup_field": ("object", "field"),
    "formula_field": ("object", "field"),
    "dependent_field": ("object", "field"),
    "rule": ("name", "id"),
    "approval_process": ("name", "id"),
    "approval_process_version": ("name", "id", "version"),
    "pending_approvals": ("object",),
}


def reference(kind: str, text: str, **params: Any) -> CodedMessage:
    """A reference: its English ``text`` with its ``kind`` (one of :data:`KINDS`) and parameters."""
    return CodedMessage(text, kind, **params)


def lookup_reference(object_name: str, field_name: str) -> CodedMessage:
    return reference("lookup_field", f"{object_name}.{field_name}", object=object_name, field=field_name)


def formula_reference(object_name: str, field_name: str) -> CodedMessage:
    return reference("formula_field", f"{object_name}.{field_name} (formula)", object=object_name, field=field_name)


def dependent_reference(object_name: str, field_name: str) -> CodedMessage:
    return reference("dependent_field", f"{object_name}.{field_name} (depends on it)", object=object_name,
                     field=field_name)


def still_referenced(message: str, references: Iterable[str], *, reason: str, **params: Any) -> StillReferenced:
    """The refusal of a deletion: the references as text in ``details`` and as coded ``problems``
    (a reference given as plain text, by a hook of an older kind, keeps only its text)."""
    listed = list(references)
    texts = [str(r) for r in listed]
    return StillReferenced(f"{message}: {', '.join(texts)}", {"references": texts}, reason=reason,
                           params={**params, "references": texts},
                           problems={"references": [_problem(r) for r in listed]})


def _problem(item: Any) -> dict[str, Any]:
    code, params = code_of(item)
    return problem(code, **params)


__all__ = ["KINDS", "dependent_reference", "formula_reference", "lookup_reference", "reference", "still_referenced"]
