"""Every code the designers, list queries, rules and approvals raise has a catalogue message: a new
code without one would show English in the Chinese UI. The codes are read from the sources' syntax
trees (a code is a literal where a problem, a coded message, a reference or a reason is made)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import metadata
import workflow_engine
from admin.error_catalogue import CAUSES, FIELD_MESSAGES, REASONS, REFERENCES
from metadata.references import KINDS

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
METADATA = Path(metadata.__file__).parent
WORKFLOW = Path(workflow_engine.__file__).parent
SOURCES = [METADATA / name for name in ("designer.py", "definitions.py", "query.py", "conditions.py", "references.py",
                                        "formulas.py")]
SOURCES += [WORKFLOW / name for name in ("definitions.py", "approval_definitions.py", "approvals.py", "references.py")]


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return node.value
    return None


def codes_in(paths: list[Path]) -> dict[str, set[str]]:
    """Codes by what they name: ``problem`` (field problems), ``reason``, ``reference``, ``cause``."""
    found: dict[str, set[str]] = {"problem": set(), "reason": set(), "reference": set(), "cause": set()}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = node.args
            for keyword in node.keywords:
                if keyword.arg in ("code", "reason") and _literal(keyword.value):
                    found["problem" if keyword.arg == "code" else "reason"].add(_literal(keyword.value))
            if name == "problem" and args and _literal(args[0]):
                found["problem"].add(_literal(args[0]))
            elif name in ("add", "problem", "_error") and len(args) >= 2:  # (path, message, code), (message, code)
                code = next((_literal(a) for a in reversed(args[1:]) if _literal(a)), None)
                if code:
                    found["problem"].add(code)
            elif name == "reference" and args and _literal(args[0]):
                found["reference"].add(_literal(args[0]))
            elif name == "CodedMessage" and len(args) >= 2 and _literal(args[1]):
                found["cause" if path.name == "approvals.py" else "problem"].add(_literal(args[1]))
    return found


def test_every_code_has_a_catalogue_message():
    found = codes_in(SOURCES)
    assert {"reserved_name", "unknown_operator", "unknown_sort_field", "bad_pattern", "placed_twice",
            "duplicate_stage", "unknown_field_of", "action_needs", "quorum_above_approvers", "unknown_function",
            "syntax_error"} <= found["problem"]
    assert {"field_exists", "object_referenced", "no_approver", "quorum_unreachable"} <= found["reason"]
    assert {"rule", "approval_process", "pending_approvals"} <= found["reference"]
    assert {"role_unheld", "owner_without_manager"} <= found["cause"]
    assert not found["problem"] - set(FIELD_MESSAGES), found["problem"] - set(FIELD_MESSAGES)
    assert not found["reason"] - set(REASONS), found["reason"] - set(REASONS)
    assert not found["reference"] - set(KINDS), found["reference"] - set(KINDS)
    assert not found["cause"] - set(CAUSES), found["cause"] - set(CAUSES)


def test_every_kind_of_reference_has_a_message():
    assert set(KINDS) == set(REFERENCES)
