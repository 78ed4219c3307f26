"""Formula fields and power-user boolean expressions, evaluated safely with simpleeval.

An expression is parsed once, checked against a whitelist of Python syntax and the known field
and function names, rewritten a little (``IF`` becomes a lazy conditional, float literals become
exact Decimals) and then evaluated many times with simpleeval's ``previously_parsed=``. simpleeval
keeps the record's values as evaluator state, so each thread gets its own evaluator.

Semantics, chosen for a CRM rather than for Python:

- Numbers are exact: float literals are Decimals, ``int / int`` is a Decimal, and a float meeting
  a Decimal is converted through its shortest repr (``Decimal("0.1")``, not the binary value).
- NULL propagates: arithmetic, ordering comparisons, ``not`` and most functions return ``None``
  when an operand is ``None``. ``==``/``!=`` keep Python's meaning (``x == None`` works), and
  ``ISBLANK``, ``BLANKVALUE``, ``CONCAT`` (None counts as ""), ``AND``/``OR`` (None counts as
  false) and ``IF`` (a None condition takes the else branch) handle ``None`` themselves.
- Every failure, at construction or evaluation, is an :class:`ExpressionError`.
"""

from __future__ import annotations

import ast
import math
import operator
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import simpleeval

from crm_platform.core.errors import UNCODED, ExpressionError, problem

__all__ = ["Expression", "Formula", "FUNCTION_NAMES", "MAX_FORMULA_LENGTH", "RESULT_TYPES"]

MAX_FORMULA_LENGTH = 2000
RESULT_TYPES = frozenset(
    {"text", "integer", "decimal", "currency", "percent", "boolean", "date", "datetime"}
)
_MAX_DEPTH = 100  # a chain a + b + c ... nests one level per term; evaluation recurses ~3 frames a level
_MAX_TEXT = simpleeval.MAX_STRING_LENGTH
_MAX_POWER_DIGITS = 1000

Clock = Callable[[], datetime]


# --------------------------------------------------------------------------- operators


def _numbers(a: Any, b: Any) -> tuple[Any, Any]:
    """Let a float meet a Decimal: the float becomes the Decimal of its shortest repr."""
    if type(a) is float and isinstance(b, Decimal):
        return Decimal(repr(a)), b
    if type(b) is float and isinstance(a, Decimal):
        return a, Decimal(repr(b))
    return a, b


def _null_propagating(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        a, b = _numbers(a, b)
        return fn(a, b)

    return apply


def _nonzero(b: Any) -> None:
    if b == 0:
        raise ZeroDivisionError("division by zero")


def _divide(a: Any, b: Any) -> Any:
    _nonzero(b)
    if isinstance(a, int) and isinstance(b, int):
        return Decimal(a) / Decimal(b)
    return a / b


def _floor_divide(a: Any, b: Any) -> Any:
    _nonzero(b)
    return a // b


def _modulo(a: Any, b: Any) -> Any:
    _nonzero(b)
    return a % b


def _power(a: Any, b: Any) -> Any:
    """Powers whose result would have more than a thousand digits are refused, not computed."""
    try:
        magnitude = float(b) * math.log10(abs(float(a))) if a else 0.0
    except OverflowError:
        magnitude = math.inf
    if magnitude > _MAX_POWER_DIGITS or abs(b) > simpleeval.MAX_POWER:
        raise simpleeval.NumberTooHigh(f"{a} ** {b} is too large")
    return a**b


def _unary(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda a: None if a is None else fn(a)


def _contains(item: Any, container: Any) -> Any:
    return None if container is None else item in container


def _equal(a: Any, b: Any) -> bool:
    a, b = _numbers(a, b)
    return bool(a == b)


def _operators() -> dict[type, Callable[..., Any]]:
    """A fresh operator table (simpleeval keeps it on the evaluator)."""
    return {
        ast.Add: _null_propagating(simpleeval.safe_add),
        ast.Sub: _null_propagating(operator.sub),
        ast.Mult: _null_propagating(simpleeval.safe_mult),
        ast.Div: _null_propagating(_divide),
        ast.FloorDiv: _null_propagating(_floor_divide),
        ast.Mod: _null_propagating(_modulo),
        ast.Pow: _null_propagating(_power),
        ast.Eq: _equal,
        ast.NotEq: lambda a, b: not _equal(a, b),
        ast.Lt: _null_propagating(operator.lt),
        ast.LtE: _null_propagating(operator.le),
        ast.Gt: _null_propagating(operator.gt),
        ast.GtE: _null_propagating(operator.ge),
        ast.In: _contains,
        ast.NotIn: lambda a, b: _not(_contains(a, b)),
        ast.Is: operator.is_,
        ast.IsNot: operator.is_not,
        ast.Not: _unary(operator.not_),
        ast.USub: _unary(operator.neg),
        ast.UAdd: _unary(operator.pos),
    }


_BIN_OPS = frozenset({ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow})
_UNARY_OPS = frozenset({ast.Not, ast.USub, ast.UAdd})
_CMP_OPS = frozenset({ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot})


# --------------------------------------------------------------------------- functions


def _text(value: Any) -> str:
    """How a value reads as text: ISO dates, plain decimals, lower-case booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value if item is not None)
    return str(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    raise TypeError(f"{value!r} is not a number")


def _whole(value: Any, function: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)) or value != int(value):
        raise ValueError(f"{function} needs a whole number, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{function} needs a number between {low} and {high}, got {value}")
    return int(value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"{value!r} is not a date")


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and not value)


def _if_none_none(fn: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        if any(arg is None for arg in args):
            return None
        return fn(*args)

    apply.__name__ = fn.__name__
    return apply


def _round(value: Any, digits: Any = 0) -> Any:
    places = _whole(digits, "ROUND", -20, 20)
    result = _decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if places < 0 or isinstance(value, int):
        return int(result) if isinstance(value, int) else Decimal(int(result))
    return result


def _concat(*values: Any) -> str:
    result = "".join(_text(value) for value in values if value is not None)
    if len(result) > _MAX_TEXT:
        raise simpleeval.IterableTooLong("CONCAT result is too long")
    return result


def _left(value: Any, count: Any) -> str:
    return _text(value)[: _whole(count, "LEFT", 0, _MAX_TEXT)]


def _right(value: Any, count: Any) -> str:
    text, n = _text(value), _whole(count, "RIGHT", 0, _MAX_TEXT)
    return text[len(text) - n:] if n else ""


def _add_days(value: Any, days: Any) -> Any:
    if not isinstance(value, date):
        raise TypeError(f"ADD_DAYS needs a date, got {value!r}")
    return value + timedelta(days=_whole(days, "ADD_DAYS", -3_650_000, 3_650_000))


def _value(text: Any) -> Any:
    if isinstance(text, (int, Decimal)) and not isinstance(text, bool):
        return text
    if isinstance(text, float):
        return Decimal(repr(text))
    if not isinstance(text, str):
        raise TypeError(f"VALUE needs text, got {text!r}")
    cleaned = text.strip().replace(",", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"VALUE: {text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"VALUE: {text!r} is not a number")
    return int(number) if cleaned.lstrip("+-").isdigit() else number


def _not(value: Any) -> Any:
    return None if value is None else not value


def _library() -> Mapping[str, tuple[Callable[..., Any] | None, int, int | None]]:
    """name -> (function, min args, max args); TODAY/NOW are bound to a clock per instance."""
    return MappingProxyType({
        "IF": (None, 3, 3),  # rewritten into a lazy conditional expression
        "AND": (lambda *xs: all(bool(x) for x in xs), 1, None),
        "OR": (lambda *xs: any(bool(x) for x in xs), 1, None),
        "NOT": (_not, 1, 1),
        "ROUND": (_if_none_none(_round), 1, 2),
        "ABS": (_if_none_none(abs), 1, 1),
        "MIN": (_if_none_none(lambda *xs: min(xs)), 1, None),
        "MAX": (_if_none_none(lambda *xs: max(xs)), 1, None),
        "LEN": (_if_none_none(lambda x: len(x) if isinstance(x, (list, tuple)) else len(_text(x))), 1, 1),
        "UPPER": (_if_none_none(lambda x: _text(x).upper()), 1, 1),
        "LOWER": (_if_none_none(lambda x: _text(x).lower()), 1, 1),
        "TRIM": (_if_none_none(lambda x: _text(x).strip()), 1, 1),
        "CONCAT": (_concat, 1, None),
        "LEFT": (_if_none_none(_left), 2, 2),
        "RIGHT": (_if_none_none(_right), 2, 2),
        "TODAY": (None, 0, 0),
        "NOW": (None, 0, 0),
        "YEAR": (_if_none_none(lambda d: _as_date(d).year), 1, 1),
        "MONTH": (_if_none_none(lambda d: _as_date(d).month), 1, 1),
        "DAY": (_if_none_none(lambda d: _as_date(d).day), 1, 1),
        "ADD_DAYS": (_if_none_none(_add_days), 2, 2),
        "DAYS_BETWEEN": (_if_none_none(lambda a, b: (_as_date(b) - _as_date(a)).days), 2, 2),
        "ISBLANK": (_blank, 1, 1),
        "BLANKVALUE": (lambda x, default: default if _blank(x) else x, 2, 2),
        "TEXT": (_if_none_none(_text), 1, 1),
        "VALUE": (_if_none_none(_value), 1, 1),
    })


_LIBRARY = _library()
FUNCTION_NAMES = frozenset(_LIBRARY)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _functions(clock: Clock) -> dict[str, Callable[..., Any]]:
    def now() -> datetime:
        value = clock()
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    functions = {name: fn for name, (fn, _, _) in _LIBRARY.items() if fn is not None}
    functions.update(NOW=now, TODAY=lambda: now().date())
    return functions


# --------------------------------------------------------------------------- checking


_CONSTRUCTS = MappingProxyType({
    ast.Lambda: "lambda", ast.ListComp: "list comprehension", ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension", ast.GeneratorExp: "generator expression",
    ast.Subscript: "subscript ([...])", ast.NamedExpr: "assignment expression (:=)",
    ast.JoinedStr: "f-string", ast.Dict: "dict literal", ast.Set: "set literal",
    ast.Starred: "starred expression (*...)", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Slice: "slice",
})


class _Checker:
    """Walks the AST once (iteratively), collecting references and every problem."""

    def __init__(self, field_names: frozenset[str], what: str) -> None:
        self.field_names = field_names
        self.what = what
        self.references: set[str] = set()
        self.problems: list[str] = []
        self.coded: list[dict[str, Any]] = []

    def run(self, root: ast.AST) -> None:
        stack: list[tuple[ast.AST, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > _MAX_DEPTH:
                self.problems.append(f"{self.what} is nested too deeply (at most {_MAX_DEPTH} levels)")
                self.coded.append(problem("nested_too_deeply", max=_MAX_DEPTH))
                return
            stack.extend((child, depth + 1) for child in self.children(node))

    def children(self, node: ast.AST) -> list[ast.AST]:
        """Check one node; return the sub-expressions still to check."""
        if isinstance(node, ast.Constant):
            if node.value is not None and not isinstance(node.value, (bool, int, float, str)):
                self.problem(f"literal {node.value!r} is not allowed", "not_allowed", construct=repr(node.value))
            return []
        if isinstance(node, ast.Name):
            self.name(node.id)
            return []
        if isinstance(node, ast.BinOp):
            return self.op(node.op, _BIN_OPS, [node.left, node.right])
        if isinstance(node, ast.UnaryOp):
            return self.op(node.op, _UNARY_OPS, [node.operand])
        if isinstance(node, ast.BoolOp):
            return list(node.values)
        if isinstance(node, ast.Compare):
            bad = [op for op in node.ops if type(op) not in _CMP_OPS]
            if bad:
                self.problem(f"operator {type(bad[0]).__name__} is not allowed", "not_allowed",
                             construct=type(bad[0]).__name__)
            return [node.left, *node.comparators]
        if isinstance(node, ast.IfExp):
            return [node.test, node.body, node.orelse]
        if isinstance(node, (ast.Tuple, ast.List)):
            return list(node.elts)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            self.problem(f"attribute access '.{node.attr}' is not allowed", "not_allowed", construct=f".{node.attr}")
            return []
        construct = _CONSTRUCTS.get(type(node), type(node).__name__)
        self.problem(f"{construct} is not allowed", "not_allowed", construct=construct)
        return []

    def op(self, op: ast.AST, allowed: frozenset[type], operands: list[ast.AST]) -> list[ast.AST]:
        if type(op) not in allowed:
            self.problem(f"operator {type(op).__name__} is not allowed", "not_allowed", construct=type(op).__name__)
        return operands

    def name(self, name: str) -> None:
        if name.startswith("__"):
            self.problem(f"name {name!r} is not allowed", "not_allowed", construct=name)
        elif name in self.field_names:
            self.references.add(name)
        elif name in _LIBRARY:
            self.problem(f"function {name!r} must be called, e.g. {name}(...)", "function_not_called", name=name)
        else:
            self.problem(f"unknown field {name!r}", "unknown_field_named", name=name)

    def call(self, node: ast.Call) -> list[ast.AST]:
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                self.problem(f"attribute access '.{func.attr}' is not allowed", "not_allowed", construct=f".{func.attr}")
            else:
                construct = _CONSTRUCTS.get(type(func), type(func).__name__)
                self.problem(f"calling a {construct} is not allowed", "not_allowed", construct=construct)
            return []
        if func.id.startswith("__"):
            self.problem(f"name {func.id!r} is not allowed", "not_allowed", construct=func.id)
            return []
        if func.id not in _LIBRARY:
            self.problem(f"unknown function {func.id!r}", "unknown_function", name=func.id)
            return list(node.args)
        if node.keywords:
            self.problem(f"keyword arguments are not allowed ({func.id})", "keyword_arguments", name=func.id)
        _, low, high = _LIBRARY[func.id]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = str(low) if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            self.problem(f"function {func.id!r} takes {wanted} argument(s), got {count}", "argument_count",
                         name=func.id, count=count)
        return list(node.args)

    def problem(self, message: str, code: str, **params: Any) -> None:
        self.problems.append(f"{message} in {self.what}")
        self.coded.append(problem(code, **params))


class _Rewriter(ast.NodeTransformer):
    """IF(c, a, b) becomes a lazy ``a if c else b``; float literals become exact Decimals."""

    def __init__(self, source: str) -> None:
        self.source = source

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "IF":
            return ast.IfExp(test=node.args[0], body=node.args[1], orelse=node.args[2])
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            segment = ast.get_source_segment(self.source, node) or repr(node.value)
            try:
                value = Decimal(segment)
            except InvalidOperation:
                value = Decimal(repr(node.value))
            return ast.Constant(value=value)
        return node


def _arithmetic(node: ast.AST, names: frozenset[str], operators: dict[type, Callable[..., Any]]
                ) -> Callable[[Mapping[str, Any]], Any] | None:
    """Plain arithmetic of fields and numbers as nested closures, with simpleeval's own operator
    functions (so results and errors are the same); None for anything else, which simpleeval runs."""
    if isinstance(node, ast.Name) and node.id in names:
        name = node.id
        return lambda record: record.get(name)
    if isinstance(node, ast.Constant) and type(node.value) in (int, Decimal):
        value = node.value
        return lambda record: value
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        left, right = _arithmetic(node.left, names, operators), _arithmetic(node.right, names, operators)
        if left is None or right is None:
            return None
        binary = operators[type(node.op)]
        return lambda record: binary(left(record), right(record))
    if isinstance(node, ast.UnaryOp) and type(node.op) in (ast.USub, ast.UAdd):
        operand = _arithmetic(node.operand, names, operators)
        if operand is None:
            return None
        unary = operators[type(node.op)]
        return lambda record: unary(operand(record))
    return None


# --------------------------------------------------------------------------- compiled forms


class _Compiled:
    """An expression parsed and checked once, evaluated many times (one evaluator per thread)."""

    what = "expression"

    def __init__(self, expression: str, field_names: Collection[str], clock: Clock | None = None) -> None:
        if not isinstance(expression, str):
            raise self._error(f"a {self.what} must be text, got {type(expression).__name__}", "not_text")
        if len(expression) > MAX_FORMULA_LENGTH:
            raise self._error(
                f"{self.what} is too long ({len(expression)} characters, at most {MAX_FORMULA_LENGTH})", "max_length",
                max=MAX_FORMULA_LENGTH)
        source = expression.strip()
        if not source:
            raise self._error(f"{self.what} is empty", "empty")
        try:
            body = ast.parse(source, mode="eval").body
        except SyntaxError as exc:
            raise self._error(f"invalid syntax in {self.what} {expression!r}: {exc.msg} "
                              f"(column {exc.offset})", "syntax_error", column=exc.offset) from None
        except (ValueError, RecursionError, MemoryError, Warning):  # Warning: when warnings are errors
            raise self._error(f"{self.what} {expression!r} is malformed or nested too deeply",
                              "nested_too_deeply") from None
        checker = _Checker(frozenset(field_names), self.what)
        checker.run(body)
        if checker.problems:
            more = len(checker.problems) - 1
            message = checker.problems[0] + (f" (and {more} more)" if more else "")
            raise ExpressionError(message, {"expression": checker.problems}, problems={"expression": checker.coded})
        self.expression = expression
        self.references = frozenset(checker.references)
        self._names = tuple(sorted(checker.references))
        self._node = _Rewriter(source).visit(body)
        self._arithmetic = _arithmetic(self._node, self.references, _operators())
        self._functions = _functions(clock or _utc_now)
        self._local = threading.local()

    def _error(self, message: str, code: str = UNCODED, **params: Any) -> ExpressionError:
        return ExpressionError(message, {"expression": [message]}, problems={"expression": [problem(code, **params)]})

    def _evaluator(self) -> simpleeval.EvalWithCompoundTypes:
        evaluator = getattr(self._local, "evaluator", None)
        if evaluator is None:
            evaluator = simpleeval.EvalWithCompoundTypes(
                operators=_operators(), functions=dict(self._functions), names={})
            self._local.evaluator = evaluator
        return evaluator

    def _run(self, record: Mapping[str, Any]) -> Any:
        try:
            if self._arithmetic is not None:
                return self._arithmetic(record)
            evaluator = self._evaluator()
            evaluator.names = {name: record.get(name) for name in self._names}
            return evaluator.eval(self.expression, previously_parsed=self._node)
        except ExpressionError:
            raise
        except ZeroDivisionError:
            raise self._error(f"division by zero in {self.what} {self.expression!r}", "division_by_zero") from None
        except (simpleeval.NumberTooHigh, simpleeval.IterableTooLong, OverflowError, MemoryError) as exc:
            raise self._error(f"a value is too large in {self.what} {self.expression!r} ({exc})",
                              "value_too_large") from None
        except RecursionError:
            raise self._error(f"{self.what} {self.expression!r} is nested too deeply", "nested_too_deeply") from None
        except Exception as exc:  # noqa: BLE001 - every failure must surface as ExpressionError
            raise self._error(f"cannot evaluate {self.what} {self.expression!r}: {exc}", "formula_failed",
                              error=str(exc)) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r})"


class Expression(_Compiled):
    """A power user's condition in the formula language, e.g. ``amount > 10000 and region == "east"``."""

    def __init__(self, expression: str, field_names: Collection[str], *, clock: Clock | None = None) -> None:
        super().__init__(expression, field_names, clock)

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """The raw value of the expression for this record."""
        return self._run(record)

    def test(self, record: Mapping[str, Any]) -> bool:
        """Whether the record matches; an unknown (``None``) result does not match."""
        return bool(self._run(record))


class Formula(_Compiled):
    """A formula field: an expression and the type its result is stored as."""

    what = "formula"

    def __init__(
        self,
        expression: str,
        field_names: Collection[str],
        result_type: str,
        *,
        clock: Clock | None = None,
    ) -> None:
        if result_type not in RESULT_TYPES:
            message = f"unknown formula result type {result_type!r} (expected one of {', '.join(sorted(RESULT_TYPES))})"
            raise ExpressionError(message, {"result_type": [message]},
                                  problems={"result_type": [problem("choice", choices=sorted(RESULT_TYPES))]})
        super().__init__(expression, field_names, clock)
        self.result_type = result_type

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """The formula's value for this record, converted to the result type (None stays None)."""
        value = self._run(record)
        if value is None:
            return None
        try:
            return _CONVERTERS[self.result_type](value)
        except (ValueError, TypeError, ArithmeticError, OverflowError):
            message = (f"the result {value!r} of formula {self.expression!r} "
                       f"cannot be converted to {self.result_type}")
            raise self._error(message, "result_not_convertible", value=value, type=self.result_type) from None


def formula_problem(exc: ExpressionError) -> dict[str, Any]:
    """A formula's error as the coded problem ``bad_formula``: its English text, and its first
    coded problem as the ``cause`` a UI says in its own words."""
    causes = [p for items in exc.problems.values() for p in items if p.get("code") != UNCODED]
    return problem("bad_formula", error=exc.message, **({"cause": causes[0]} if causes else {}))


# --------------------------------------------------------------------------- result conversion


def _finite(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise ValueError(f"{number} is not a finite number")
    return number


def _to_decimal(value: Any) -> Decimal:
    if type(value) is Decimal and value.is_finite():  # the usual result of arithmetic on amounts
        return value
    if isinstance(value, str):
        return _finite(Decimal(value.strip()))
    return _finite(_decimal(value))


def _to_integer(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    return int(_to_decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _to_boolean(value: Any) -> bool:
    if isinstance(value, (bool, int, float, Decimal)):
        return bool(value)
    raise TypeError(f"{value!r} is not a boolean")


def _to_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else _as_date(value)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    raise TypeError(f"{value!r} is not a datetime")


_CENT = Decimal("0.01")
_CONVERTERS: Mapping[str, Callable[[Any], Any]] = MappingProxyType({
    "text": _text,
    "integer": _to_integer,
    "decimal": _to_decimal,
    "percent": _to_decimal,
    "currency": lambda value: _to_decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP),
    "boolean": _to_boolean,
    "date": _to_date,
    "datetime": _to_datetime,
})
