"""The expression form of conditions: ``amount > 10000 and region in ("east", "north")``.

:func:`render` writes a validated tree in this syntax; :func:`parse_expression` reads it back into a
validated tree through a strict whitelist of Python syntax, so power users may write conditions
as text and nothing but comparisons, ``and``/``or``/``not`` and a few pseudo-functions get through.
"""

from __future__ import annotations

import ast
import json
import keyword
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from crm_platform.core.errors import UNCODED, ExpressionError, ValidationError, problem

from .conditions import _MAX_AST_DEPTH, MAX_EXPRESSION_LENGTH, OPERATORS, FieldRef, _split, _type_name, validate

__all__ = ["parse_expression", "render"]

# --------------------------------------------------------------------------- render


_SYMBOLS = MappingProxyType({
    "equal": "==", "not_equal": "!=", "less": "<", "less_or_equal": "<=", "greater": ">", "greater_or_equal": ">=",
})
_METHODS = MappingProxyType({"startswith": "begins_with", "endswith": "ends_with"})


def render(tree: Mapping[str, Any] | None) -> str:
    """Render a validated tree as a Python-syntax expression that :func:`parse_expression` reads.

    Groups of one rule need ``all_of(...)``/``any_of(...)`` to survive the round trip; operators
    without a Python spelling are pseudo-functions named like the operator (``between(x, 1, 5)``).
    """
    if not tree:
        return ""
    rules = tree["rules"]
    if len(rules) == 1 and not tree.get("not") and tree["condition"] == "AND" and "rules" not in rules[0]:
        return _render_rule(rules[0])
    return _render_group(tree)


def _render_group(group: Mapping[str, Any]) -> str:
    rules, negated, condition = group["rules"], group.get("not", False), group["condition"]
    if len(rules) > 1:
        body = f" {condition.lower()} ".join(_render_child(child) for child in rules)
    elif "rules" not in rules[0] and negated and condition == "AND":
        return f"not ({_render_rule(rules[0])})"
    else:
        inner = _render_group(rules[0]) if "rules" in rules[0] else _render_rule(rules[0])
        body = f"{'all_of' if condition == 'AND' else 'any_of'}({inner})"
    return f"not ({body})" if negated else body


def _render_child(node: Mapping[str, Any]) -> str:
    if "rules" not in node:
        return _render_rule(node)
    text = _render_group(node)
    return f"({text})" if len(node["rules"]) > 1 and not node.get("not") else text


def _render_rule(rule: Mapping[str, Any]) -> str:
    field, op_name, value = _render_field(rule["field"]), rule["operator"], rule.get("value")
    base, negated = _split(op_name)
    if op_name in _SYMBOLS:
        return f"{field} {_SYMBOLS[op_name]} {_literal(value)}"
    if base == "in":
        return f"{field} {'not in' if negated else 'in'} {_literal(tuple(value))}"
    if base == "contains":
        return f"{_literal(value)} {'not in' if negated else 'in'} {field}"
    if op_name in ("begins_with", "ends_with"):
        return f"{field}.{'startswith' if op_name == 'begins_with' else 'endswith'}({_literal(value)})"
    arity = OPERATORS[op_name].arity
    args = [] if arity == "none" else value if arity == "pair" else [value]
    return f"{op_name}({', '.join([field, *(_literal(arg) for arg in args)])})"


def _render_field(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        raise ValidationError(f"field {name!r} cannot be written in an expression", {"filter": [
            f"field {name!r} is not an identifier, so the condition cannot be rendered as an expression"]})
    return name


def _literal(value: Any) -> str:
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        items = ", ".join(_literal(item) for item in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    text = value.isoformat() if isinstance(value, (datetime, date, time)) else str(value)
    readable = json.dumps(text, ensure_ascii=False)
    try:
        readable.encode("utf-8")
        return readable
    except UnicodeEncodeError:  # lone surrogates: keep them as escapes
        return json.dumps(text)


# --------------------------------------------------------------------------- parse


_CONSTRUCTS = MappingProxyType({
    ast.Lambda: "lambda", ast.ListComp: "list comprehension", ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension", ast.GeneratorExp: "generator expression",
    ast.Subscript: "subscript ([...])", ast.NamedExpr: "assignment expression (:=)", ast.BinOp: "arithmetic",
    ast.IfExp: "conditional expression (... if ... else ...)", ast.JoinedStr: "f-string",
    ast.Dict: "dict literal", ast.Set: "set literal", ast.Starred: "starred expression (*...)",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
})
_AST_COMPARE = MappingProxyType({
    ast.Eq: "equal", ast.NotEq: "not_equal", ast.Lt: "less", ast.LtE: "less_or_equal",
    ast.Gt: "greater", ast.GtE: "greater_or_equal",
})
_FLIPPED = MappingProxyType({
    "equal": "equal", "not_equal": "not_equal", "less": "greater", "greater": "less",
    "less_or_equal": "greater_or_equal", "greater_or_equal": "less_or_equal",
})


def parse_expression(text: str, fields: Mapping[str, FieldRef]) -> dict[str, Any] | None:
    """Parse an expression (the syntax :func:`render` writes) into a validated tree.

    Only a whitelist of Python syntax is accepted; anything else raises ExpressionError naming
    the construct. An empty expression means "no condition" and gives ``None``.
    """
    if not isinstance(text, str):
        raise _expression_error(f"an expression must be text, got {_type_name(text)}", "not_text")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _expression_error(f"expression is too long ({len(text)} characters, at most {MAX_EXPRESSION_LENGTH})",
                                "max_length", max=MAX_EXPRESSION_LENGTH)
    source = text.strip()
    if not source:
        return None
    try:
        body = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise _expression_error(f"invalid syntax: {exc.msg} (column {exc.offset})", "syntax_error",
                                column=exc.offset) from None
    except (ValueError, RecursionError, MemoryError, Warning):  # Warning: when warnings are errors
        raise _expression_error("expression is malformed or nested too deeply", "nested_too_deeply") from None
    node = _Parser(source).condition(body, 0)
    if "rules" not in node:
        node = {"condition": "AND", "not": False, "rules": [node]}
    try:
        return validate(node, fields)
    except ValidationError as exc:
        raise ExpressionError(exc.message, {"expression": exc.details.get("filter", [])},
                              problems={"expression": exc.problems.get("filter", [])}) from None


def _expression_error(message: str, code: str = UNCODED, **params: Any) -> ExpressionError:
    return ExpressionError(message, {"expression": [message]}, problems={"expression": [problem(code, **params)]})


class _Parser:
    """Turns a whitelisted Python AST into an (unvalidated) tree; rejects everything else."""

    def __init__(self, source: str) -> None:
        self.source = source

    def condition(self, node: ast.AST, depth: int) -> dict[str, Any]:
        if depth > _MAX_AST_DEPTH:
            raise _expression_error("expression is nested too deeply", "nested_too_deeply")
        if isinstance(node, ast.BoolOp):
            return {"condition": "AND" if isinstance(node.op, ast.And) else "OR", "not": False,
                    "rules": [self.condition(value, depth + 1) for value in node.values]}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.condition(node.operand, depth + 1)
            if "rules" in inner and not inner["not"]:
                return {**inner, "not": True}
            return {"condition": "AND", "not": True, "rules": [inner]}
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Name):
            name = self.field(node)
            raise _expression_error(f"{name!r} alone is not a condition (compare it, e.g. {name} == True)",
                                    "name_alone", name=name)
        if isinstance(node, ast.Constant):
            raise _expression_error(f"the value {node.value!r} alone is not a condition", "value_alone",
                                    value=node.value)
        raise self.reject(node)

    def reject(self, node: ast.AST) -> ExpressionError:
        if isinstance(node, ast.Attribute):
            return _expression_error(f"attribute access '.{node.attr}' is not allowed", "not_allowed",
                                     construct=f".{node.attr}")
        if isinstance(node, ast.Name):
            return _expression_error(f"name {node.id!r} is not allowed", "not_allowed", construct=node.id)
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and not node.func.id.startswith("__"):
                return _expression_error(f"calling {node.func.id}() is not allowed here", "not_allowed",
                                         construct=f"{node.func.id}()")
            return self.reject(node.func)
        construct = _CONSTRUCTS.get(type(node), type(node).__name__)
        return _expression_error(f"{construct} is not allowed in a condition", "not_allowed", construct=construct)

    def field(self, node: ast.AST) -> str | None:
        """The field a node names, or None when it is not a name."""
        if not isinstance(node, ast.Name):
            return None
        if node.id.startswith("__"):
            raise self.reject(node)
        return node.id

    def value(self, node: ast.AST, allow_list: bool = True) -> Any:
        if isinstance(node, (ast.List, ast.Tuple)) and allow_list:
            return [self.value(item, allow_list=False) for item in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            number = self.value(node.operand, allow_list=False)
            if not isinstance(number, (int, Decimal)) or isinstance(number, bool):
                raise _expression_error(f"a sign only applies to numbers, not {number!r}", "sign_not_number",
                                        value=number)
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.Constant):
            if node.value is None:
                raise _expression_error("None is not a value: use is_null(field) or is_not_null(field)", "none_not_value")
            if isinstance(node.value, float):  # keep the digits as written
                try:
                    return Decimal(ast.get_source_segment(self.source, node) or repr(node.value))
                except InvalidOperation:
                    return Decimal(repr(node.value))
            if isinstance(node.value, (bool, int, str)):
                return node.value
            raise _expression_error(f"literal {node.value!r} is not allowed", "not_allowed", construct=repr(node.value))
        name = self.field(node)
        if name is not None:
            raise _expression_error(f"expected a value, got field {name!r} (comparing two fields is not supported)",
                                    "compare_fields")
        if isinstance(node, (ast.List, ast.Tuple)):
            raise _expression_error("nested lists are not allowed", "not_allowed", construct="[[...]]")
        raise self.reject(node)

    def compare(self, node: ast.Compare) -> dict[str, Any]:
        if len(node.ops) != 1:
            raise _expression_error("chained comparisons are not supported (use between(field, low, high))",
                                    "chained_comparison")
        op, left, right = node.ops[0], node.left, node.comparators[0]
        left_field, right_field = self.field(left), self.field(right)
        if isinstance(op, (ast.Is, ast.IsNot)):
            if left_field is None or not (isinstance(right, ast.Constant) and right.value is None):
                raise _expression_error("'is' is only allowed as 'field is None' or 'field is not None'", "is_only_none")
            return {"field": left_field, "operator": "is_null" if isinstance(op, ast.Is) else "is_not_null"}
        if left_field is not None and right_field is not None:
            raise _expression_error(f"comparing two fields ({left_field!r} and {right_field!r}) is not supported",
                                    "compare_fields")
        if left_field is None and right_field is None:
            for side in (left, right):
                if not isinstance(side, (ast.Constant, ast.List, ast.Tuple, ast.UnaryOp)):
                    raise self.reject(side)
            raise _expression_error("a comparison needs a field on one side", "needs_field")
        if isinstance(op, (ast.In, ast.NotIn)):
            prefix = "not_" if isinstance(op, ast.NotIn) else ""
            if right_field is not None:  # "vip" in tags
                return {"field": right_field, "operator": f"{prefix}contains",
                        "value": self.value(left, allow_list=False)}
            if not isinstance(right, (ast.List, ast.Tuple, ast.Constant)):
                raise self.reject(right)
            if not isinstance(right, (ast.List, ast.Tuple)):
                raise _expression_error(
                    f"'{left_field} in ...' needs a list of values, e.g. {left_field} in (\"a\", \"b\")",
                    "in_needs_list", name=left_field)
            return {"field": left_field, "operator": f"{prefix}in", "value": self.value(right)}
        op_name = _AST_COMPARE.get(type(op))
        if op_name is None:
            raise _expression_error(f"comparison operator {type(op).__name__} is not allowed", "not_allowed",
                                    construct=type(op).__name__)
        if left_field is not None:
            return {"field": left_field, "operator": op_name, "value": self.value(right)}
        return {"field": right_field, "operator": _FLIPPED[op_name], "value": self.value(left)}

    def call(self, node: ast.Call, depth: int) -> dict[str, Any]:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _METHODS:
            field = self.field(func.value)
            if field is None:
                raise _expression_error(f".{func.attr}() can only be called on a field", "method_on_field",
                                        method=func.attr)
            if len(node.args) != 1 or node.keywords:
                raise _expression_error(f".{func.attr}() takes exactly 1 argument", "method_one_argument",
                                        method=func.attr)
            return {"field": field, "operator": _METHODS[func.attr], "value": self.value(node.args[0], False)}
        if not isinstance(func, ast.Name) or func.id.startswith("__"):
            raise self.reject(func)
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _expression_error(f"{func.id}() takes plain arguments only (no keywords, no *)", "keyword_arguments",
                                    name=func.id)
        if func.id in ("all_of", "any_of"):
            if not node.args:
                raise _expression_error(f"{func.id}() needs at least one condition", "needs_condition", name=func.id)
            return {"condition": "AND" if func.id == "all_of" else "OR", "not": False,
                    "rules": [self.condition(arg, depth + 1) for arg in node.args]}
        op = OPERATORS.get(func.id)
        if op is None:
            raise _expression_error(f"unknown function {func.id!r}", "unknown_function", name=func.id)
        expected = {"none": 1, "one": 2, "list": 2, "pair": 3}[op.arity]
        field = self.field(node.args[0]) if node.args else None
        if len(node.args) != expected or field is None:
            raise _expression_error(f"{func.id}() takes a field and {expected - 1} value(s)", "function_values",
                                    name=func.id, count=expected - 1)
        rule: dict[str, Any] = {"field": field, "operator": func.id}
        if op.arity == "pair":
            rule["value"] = [self.value(arg, allow_list=False) for arg in node.args[1:]]
        elif op.arity != "none":
            rule["value"] = self.value(node.args[1])
        return rule
