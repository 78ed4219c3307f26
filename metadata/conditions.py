"""The one condition language: QueryBuilder trees, validated, compiled, rendered and parsed back.

A condition is a jQuery QueryBuilder tree::

    {"condition": "AND", "not": False, "rules": [
        {"field": "amount", "operator": "greater", "value": 10000},
        {"condition": "OR", "not": False, "rules": [...]}]}

The same tree becomes a Python predicate (closures, no eval) for workflow rules and a SQLAlchemy
WHERE clause for list filters and reports, and both must select the same records. So the
predicate follows SQL's three-valued logic: a comparison with a NULL (``None``) value is
*unknown*, ``not`` of unknown stays unknown, and only a tree that is certainly true matches. In
particular ``not_equal``, ``not_in``, ``not_contains``, ``not_between`` and ``not (...)`` do *not*
match records whose value is NULL, exactly as in SQL.

Other shared semantics:

- ``begins_with``/``contains``/``ends_with`` (and negations) are case-insensitive on both sides
  (Python ``str.lower``, SQL ``lower()``; SQLite's ``lower()`` folds ASCII letters only).
  ``equal`` and ``in`` are case-sensitive.
- multi_choice columns hold ``";a;b;"``; an empty string counts as NULL, as does an empty list in
  Python. ``contains`` means "has this option", ``equal`` "exactly these options"; options match
  case-insensitively (ASCII) on both sides.
- ``_tags`` is the record's tags (a pseudo-field of kind ``tags`` on every object): ``contains``
  "has this tag", ``in`` "has any of these tags", ``is_empty`` "has no tag" (and negations). A
  record's tag set is never NULL (no tag is the empty set), so ``not_contains`` matches untagged
  records, as ``NOT IN (subquery)`` does in SQL. Tags match exactly (case-sensitive), like ``tag=``.
  The predicate reads the tag list from ``record["_tags"]`` (callers load it once per record).
- ``changed``/``changed_to`` compare with the previous record; with no previous record (a record
  being created) every field counts as previously NULL. They have no SQL form.

The expression form (``amount > 10000 and region in ("east", "north")``) is rendered from a tree
and parsed back into one through a strict whitelist of Python syntax.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.core.errors import UNCODED, ValidationError, problem

__all__ = [
    "FieldRef", "KINDS", "MAX_DEPTH", "MAX_EXPRESSION_LENGTH", "MAX_RULES", "OPERATORS", "Operator",
    "Predicate", "TAGS_FIELD", "compile_clause", "compile_predicate", "parse_expression", "render", "validate",
]

KINDS = frozenset({"text", "number", "boolean", "date", "datetime", "choice", "multi_choice", "reference", "tags"})
#: The pseudo-field naming a record's tags in conditions (no API field name starts with "_").
TAGS_FIELD = "_tags"
MAX_DEPTH = 10
MAX_RULES = 200
MAX_EXPRESSION_LENGTH = 4000
_MAX_AST_DEPTH = 60


class Predicate(Protocol):
    """A compiled condition: true when the record (compared with its previous state) matches."""

    def __call__(self, record: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> bool: ...


_Test = Callable[[Mapping[str, Any], Any], "bool | None"]
_ValueTest = Callable[[Any], "bool | None"]


@dataclass(frozen=True)
class FieldRef:
    """What a condition may know about a field: its kind, how to coerce values, its column."""

    name: str
    kind: str
    coerce: Callable[[Any], Any]
    column: Any = None
    options: tuple[str, ...] | None = None
    #: For the ``tags`` kind: ``membership(tags)`` is the WHERE clause "carries any of these tags"
    #: (``None``: "carries any tag"); tags live in a table of their own, not in a column.
    membership: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Operator:
    """An operator's value shape (none, one, list or pair) and the field kinds it fits."""

    arity: str
    kinds: frozenset[str]
    workflow_only: bool = False


def _operators() -> Mapping[str, Operator]:
    every, ordered = KINDS - {"tags"}, frozenset({"number", "date", "datetime"})
    listable = frozenset({"text", "number", "choice", "reference", "date", "tags"})
    text, texty = frozenset({"text"}), frozenset({"text", "multi_choice", "tags"})
    table = {
        "equal": Operator("one", every), "not_equal": Operator("one", every),
        "in": Operator("list", listable), "not_in": Operator("list", listable),
        "between": Operator("pair", ordered), "not_between": Operator("pair", ordered),
        "contains": Operator("one", texty), "not_contains": Operator("one", texty),
        "is_empty": Operator("none", texty), "is_not_empty": Operator("none", texty),
        "is_null": Operator("none", every), "is_not_null": Operator("none", every),
        "changed": Operator("none", every, True), "changed_to": Operator("one", every, True),
    }
    table.update(dict.fromkeys(("less", "less_or_equal", "greater", "greater_or_equal"), Operator("one", ordered)))
    table.update(dict.fromkeys(("begins_with", "not_begins_with", "ends_with", "not_ends_with"), Operator("one", text)))
    return MappingProxyType(table)


OPERATORS: Mapping[str, Operator] = _operators()
_COMPARE = MappingProxyType({
    "equal": operator.eq, "not_equal": operator.ne, "less": operator.lt,
    "less_or_equal": operator.le, "greater": operator.gt, "greater_or_equal": operator.ge,
})
_TEXT_MATCH = MappingProxyType({"begins_with": str.startswith, "contains": str.__contains__, "ends_with": str.endswith})
_LIKE = MappingProxyType({"begins_with": "istartswith", "contains": "icontains", "ends_with": "iendswith"})


def _split(op_name: str) -> tuple[str, bool]:
    """``not_in`` -> (``in``, True): negated operators share their positive's logic."""
    return (op_name[4:], True) if op_name.startswith("not_") else (op_name, False)


# --------------------------------------------------------------------------- validation


class _Bad(Exception):
    """A problem with one value; becomes a message naming the rule, and a coded problem."""

    def __init__(self, message: str, code: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def validate(tree: Any, fields: Mapping[str, FieldRef]) -> dict[str, Any] | None:
    """Check a tree completely and return it normalized (values coerced, extra keys dropped).

    ``None``, ``{}`` and a top-level group without rules (an empty builder) mean "no condition"
    and give ``None``. Every problem is reported, each naming the rule's field and operator.
    """
    if tree is None or (isinstance(tree, Mapping) and (not tree or tree.get("rules", ...) == [])):
        return None
    checker = _Validator(fields)
    normalized = checker.node(tree, "condition", 1)
    if not checker.problems and "rules" not in normalized:
        checker.problems.append("condition: the top level must be a group with 'condition' and 'rules'")
    if checker.problems:
        first, more = checker.problems[0], len(checker.problems) - 1
        coded = [checker.coded.get(i) or problem(UNCODED) for i in range(len(checker.problems))]
        raise ValidationError(f"invalid condition: {first}" + (f" (and {more} more)" if more else ""),
                              {"filter": list(checker.problems)},
                              problems={"filter": coded} if checker.coded else None)
    return normalized


class _Validator:
    def __init__(self, fields: Mapping[str, FieldRef]) -> None:
        self.fields = fields
        self.problems: list[str] = []
        #: Coded problems (for a catalogue) by their index in ``problems``.
        self.coded: dict[int, dict[str, Any]] = {}
        self.rule_count = 0

    def add(self, message: str, code: str, **params: Any) -> None:
        self.coded[len(self.problems)] = problem(code, **params)
        self.problems.append(message)

    def node(self, node: Any, path: str, depth: int) -> Any:
        if not isinstance(node, Mapping):
            self.problems.append(f"{path}: expected a rule or a group object, got {_type_name(node)}")
            return None
        if "rules" in node or "condition" in node:
            return self.group(node, path, depth)
        return self.rule(node, path)

    def group(self, node: Mapping[str, Any], path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.problems.append(f"{path}: groups are nested too deeply (at most {MAX_DEPTH} levels)")
            return None
        condition, negate, rules = node.get("condition"), node.get("not") or False, node.get("rules")
        if not isinstance(condition, str) or condition.upper() not in ("AND", "OR"):
            self.problems.append(f"{path}: condition must be 'AND' or 'OR', got {condition!r}")
        if not isinstance(negate, bool):
            self.problems.append(f"{path}: 'not' must be true or false, got {negate!r}")
        if not isinstance(rules, list) or not rules:
            self.problems.append(f"{path}: rules must be a non-empty list, got {_type_name(rules)}")
            return None
        children = []
        for index, child in enumerate(rules):
            if self.rule_count > MAX_RULES:
                break
            children.append(self.node(child, f"{path}.rules[{index}]", depth + 1))
        return {"condition": str(condition).upper(), "not": negate, "rules": children}

    def rule(self, node: Mapping[str, Any], path: str) -> Any:
        self.rule_count += 1
        if self.rule_count > MAX_RULES:
            self.problems.append(f"{path}: too many rules (at most {MAX_RULES})")
            return None
        name, op_name = node.get("field"), node.get("operator")
        where = f"{path}: field {name!r}, operator {op_name!r}: "
        op = OPERATORS.get(op_name) if isinstance(op_name, str) else None
        field = self.fields.get(name) if isinstance(name, str) else None
        if op is None:
            self.add(f"{where}unknown operator {op_name!r}", "unknown_operator", field=name, operator=op_name)
        if field is None:
            self.add(f"{where}unknown field {name!r}", "unknown_filter_field", field=name)
        if op is None or field is None:
            return None
        if field.kind not in op.kinds:
            self.add(f"{where}operator {op_name!r} cannot be used on {field.kind} field {name!r}",
                     "operator_not_for_field", field=name, operator=op_name)
            return None
        try:
            value = _check_value(field, op_name, op, node.get("value"))
        except _Bad as exc:
            self.add(f"{where}{exc}", exc.code, field=name, operator=op_name, **exc.params)
            return None
        return {"field": name, "operator": op_name, **({} if op.arity == "none" else {"value": value})}


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _check_value(field: FieldRef, op_name: str, op: Operator, raw: Any) -> Any:
    """Check the value's shape for the operator and coerce it; raise _Bad naming the problem."""
    if op.arity == "none":
        if raw is not None:
            raise _Bad(f"operator {op_name!r} takes no value, got {raw!r}", "takes_no_value")
        return None
    if op.arity == "list":
        if not isinstance(raw, (list, tuple)) or not raw:
            raise _Bad(f"value must be a non-empty list, got {_type_name(raw)}", "value_not_list")
        return [_coerce_one(field, item) for item in raw]
    if op.arity == "pair":
        if not isinstance(raw, (list, tuple)) or len(raw) != 2:
            raise _Bad("value must be a list of two values [low, high]", "value_not_pair")
        low, high = _coerce_one(field, raw[0]), _coerce_one(field, raw[1])
        try:
            if low > high:
                raise _Bad(f"lower bound {raw[0]!r} is greater than upper bound {raw[1]!r}", "bounds_reversed",
                           low=raw[0], high=raw[1])
        except TypeError:
            raise _Bad(f"bounds {raw[0]!r} and {raw[1]!r} cannot be compared", "bounds_incomparable", low=raw[0],
                       high=raw[1]) from None
        return [low, high]
    if field.kind == "tags" and not isinstance(raw, str):
        raise _Bad(f"value must be one tag (a string), got {_type_name(raw)}", "value_not_one")
    if field.kind == "multi_choice":
        if op_name not in ("contains", "not_contains"):
            return _coerce_options(field, raw)
        if not isinstance(raw, str):
            raise _Bad(f"value must be one option (a string), got {_type_name(raw)}", "value_not_one")
        return _coerce_options(field, [raw])[0]
    value = _coerce_one(field, raw)
    if _split(op_name)[0] in _TEXT_MATCH and (not isinstance(value, str) or not value):
        raise _Bad(f"value must be a non-empty string, got {raw!r}", "value_empty_text")
    return value


def _coerce_one(field: FieldRef, raw: Any) -> Any:
    if raw is None:
        raise _Bad("value must not be null (use is_null / is_not_null)", "value_null")
    if isinstance(raw, (list, tuple, dict, set)):
        raise _Bad(f"value must be a single {field.kind} value, got {_type_name(raw)}", "value_not_one")
    try:
        value = field.coerce(raw)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise _Bad(f"value {raw!r} is not a valid {field.kind}" + (f" ({exc})" if str(exc) else ""), "value_invalid",
                   value=raw) from None
    if value is None:
        raise _Bad(f"value {raw!r} is not a valid {field.kind}", "value_invalid", value=raw)
    if isinstance(value, (float, Decimal)) and not math.isfinite(value):
        raise _Bad(f"value {raw!r} is not a finite number", "value_invalid", value=raw)
    if field.kind == "choice" and field.options is not None and value not in field.options:
        raise _Bad(f"value {value!r} is not one of the options {_show(field.options)}", "value_not_option",
                   value=value, choices=list(field.options))
    return value


def _coerce_options(field: FieldRef, raw: Any) -> list[str]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise _Bad(f"value must be a non-empty list of options, got {_type_name(raw)}", "value_not_list")
    try:
        values = field.coerce(list(raw))
    except (ValueError, TypeError) as exc:
        raise _Bad(f"value {raw!r} is not a valid list of options ({exc})", "value_invalid", value=raw) from None
    if not isinstance(values, (list, tuple)):
        raise _Bad(f"value {raw!r} is not a valid list of options", "value_invalid", value=raw)
    result: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value or ";" in value:
            raise _Bad(f"option {value!r} must be a non-empty string without ';'", "value_invalid", value=value)
        if field.options is not None and value not in field.options:
            raise _Bad(f"value {value!r} is not one of the options {_show(field.options)}", "value_not_option",
                       value=value, choices=list(field.options))
        if value not in result:
            result.append(value)
    return result


def _show(options: tuple[str, ...]) -> str:
    return "(" + ", ".join(repr(o) for o in options[:10]) + (", ...)" if len(options) > 10 else ")")


# --------------------------------------------------------------------------- predicate


def compile_predicate(tree: Any, fields: Mapping[str, FieldRef]) -> Predicate:
    """Validate the tree and build ``predicate(record, previous=None) -> bool`` from closures."""
    normalized = validate(tree, fields)
    if normalized is None:
        return _always_true
    root = _pred_node(normalized, fields)

    def predicate(record: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> bool:
        return root(record, previous) is True

    return predicate


def _always_true(record: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> bool:
    return True


def _pred_node(node: dict[str, Any], fields: Mapping[str, FieldRef]) -> _Test:
    if "rules" not in node:
        return _pred_rule(node, fields[node["field"]])
    children = tuple(_pred_node(child, fields) for child in node["rules"])
    if len(children) == 1:
        test = children[0]
    elif node["condition"] == "AND":
        test = _all_of(children)
    else:
        test = _combine(children, False)
    return _negate(test) if node["not"] else test


def _combine(children: tuple[_Test, ...], conjunction: bool) -> _Test:
    """Kleene AND/OR: a decisive child wins, otherwise any unknown child makes the group unknown."""
    decisive = not conjunction

    def test(record: Mapping[str, Any], previous: Any) -> bool | None:
        result: bool | None = conjunction
        for child in children:
            outcome = child(record, previous)
            if outcome is decisive:
                return decisive
            if outcome is None:
                result = None
        return result

    return test


def _all_of(children: tuple[_Test, ...]) -> _Test:
    """Kleene AND, stopping at the first false child."""

    def test(record: Mapping[str, Any], previous: Any) -> bool | None:
        unknown = False
        for child in children:
            outcome = child(record, previous)
            if outcome is False:
                return False
            if outcome is None:
                unknown = True
        return None if unknown else True

    return test


def _negate(inner: _Test) -> _Test:
    def test(record: Mapping[str, Any], previous: Any) -> bool | None:
        outcome = inner(record, previous)
        return None if outcome is None else not outcome

    return test


def _pred_rule(rule: dict[str, Any], field: FieldRef) -> _Test:
    name, op_name, value = field.name, rule["operator"], rule.get("value")
    if field.kind == "tags":
        return _pred_tags(name, op_name, value)
    multi = field.kind == "multi_choice"
    read = _options_of if multi else (lambda v: v)
    value_test = _multi_test if multi else _scalar_test
    if op_name in ("changed", "changed_to"):
        target = value_test("equal", value) if op_name == "changed_to" else None
        return _pred_changed(name, read, target)
    if not multi:
        fused = _fused_scalar(name, op_name, value)
        if fused is not None:
            return fused
    check = value_test(op_name, value)
    if multi:
        return lambda record, previous: check(_options_of(record.get(name)))
    return lambda record, previous: check(record.get(name))


def _pred_tags(name: str, op_name: str, value: Any) -> _Test:
    """Tag tests: a set is never NULL, so each answers true or false (never unknown)."""
    base, negated = _split(op_name)
    wanted = frozenset([value] if base == "contains" else value or ())

    def test(record: Mapping[str, Any], previous: Any) -> bool:
        tags = record.get(name) or ()
        if base in ("is_empty", "is_not_empty"):
            return (not tags) == (base == "is_empty")
        return (not wanted.isdisjoint(tags)) != negated

    return test


def _fused_scalar(name: str, op_name: str, value: Any) -> _Test | None:
    """One closure for the commonest tests (a comparison, ``in``): rules are evaluated on every
    write, so each saved call level counts. Same semantics as the general path."""
    if op_name in _COMPARE:
        compare = _COMPARE[op_name]

        def compared(record: Mapping[str, Any], previous: Any) -> bool | None:
            v = record.get(name)
            if v is None:
                return None
            try:
                return compare(v, value) is True
            except TypeError:
                return None

        return compared
    if op_name in ("in", "not_in"):
        members, negated = frozenset(value), op_name == "not_in"

        def member(record: Mapping[str, Any], previous: Any) -> bool | None:
            v = record.get(name)
            if v is None:
                return None
            try:
                return (v in members) != negated
            except TypeError:
                return None

        return member
    return None


def _pred_changed(name: str, read: Callable[[Any], Any], target: _ValueTest | None) -> _Test:
    """True when the value differs from the previous record's (and, for changed_to, now is the target)."""

    def test(record: Mapping[str, Any], previous: Any) -> bool:
        now = read(record.get(name))
        before = read(previous.get(name)) if previous is not None else None
        if target is None:
            return now != before
        return target(now) is True and target(before) is not True

    return test


def _options_of(raw: Any) -> list[str] | None:
    """A multi_choice value as a sorted, lower-cased list; empty counts as NULL, like in SQL."""
    if raw is None:
        return None
    items = raw.split(";") if isinstance(raw, str) else raw
    return sorted(str(item).lower() for item in items if item != "") or None


def _scalar_test(op_name: str, value: Any) -> _ValueTest:
    if op_name in ("is_null", "is_not_null"):
        want = op_name == "is_null"
        return lambda v: (v is None) == want
    if op_name in ("is_empty", "is_not_empty"):
        want = op_name == "is_empty"
        return lambda v: (v is None or v == "") == want
    base, negated = _split(op_name)
    if base in _TEXT_MATCH:
        match, needle = _TEXT_MATCH[base], value.lower()
        return _unless_null(lambda v: match(str(v).lower(), needle) != negated)
    if base == "in":
        members = frozenset(value)
        return _unless_null(lambda v: (v in members) != negated)
    if base == "between":
        low, high = value
        return _unless_null(lambda v: (low <= v <= high) != negated)
    compare = _COMPARE[op_name]
    return _unless_null(lambda v: bool(compare(v, value)))


def _unless_null(test: _ValueTest) -> _ValueTest:
    """NULL (or a value that cannot be compared) makes a comparison unknown, as in SQL."""

    def guarded(v: Any) -> bool | None:
        if v is None:
            return None
        try:
            return test(v)
        except TypeError:
            return None

    return guarded


def _multi_test(op_name: str, value: Any) -> _ValueTest:
    if op_name in ("is_null", "is_empty"):
        return lambda options: options is None
    if op_name in ("is_not_null", "is_not_empty"):
        return lambda options: options is not None
    base, negated = _split(op_name)
    if base == "contains":
        wanted = value.lower()
        return lambda options: None if options is None else (wanted in options) != negated
    exact = sorted(option.lower() for option in value)
    return lambda options: None if options is None else (options == exact) != negated


# --------------------------------------------------------------------------- SQL clause


def compile_clause(tree: Any, fields: Mapping[str, FieldRef]) -> ColumnElement[bool]:
    """Validate the tree and build the equivalent SQLAlchemy WHERE clause (``true()`` for none)."""
    normalized = validate(tree, fields)
    if normalized is None:
        return sa.true()
    return _clause_node(normalized, fields)


def _clause_node(node: dict[str, Any], fields: Mapping[str, FieldRef]) -> ColumnElement[bool]:
    if "rules" not in node:
        field, op_name = fields[node["field"]], node["operator"]
        problem = None
        if OPERATORS[op_name].workflow_only:
            problem = (f"field {field.name!r}: operator {op_name!r} can only be used in workflow rules "
                       "(it needs the previous record), not in a database filter")
        elif field.kind == "tags":
            return _clause_tags(field, op_name, node.get("value"))
        elif field.column is None:
            problem = f"field {field.name!r}, operator {op_name!r}: the field has no column to filter on"
        if problem:
            raise ValidationError(f"invalid condition: {problem}", {"filter": [problem]})
        build = _clause_multi if field.kind == "multi_choice" else _clause_scalar
        return build(field.column, op_name, node.get("value"))
    parts = [_clause_node(child, fields) for child in node["rules"]]
    combined = sa.and_(*parts) if node["condition"] == "AND" else sa.or_(*parts)
    return sa.not_(combined) if node["not"] else combined


def _clause_scalar(column: Any, op_name: str, value: Any) -> ColumnElement[bool]:
    if op_name in _COMPARE:
        return _COMPARE[op_name](column, value)
    if op_name in ("is_null", "is_not_null"):
        return column.is_(None) if op_name == "is_null" else column.is_not(None)
    if op_name == "is_empty":
        return sa.or_(column.is_(None), column == "")
    if op_name == "is_not_empty":
        return sa.and_(column.is_not(None), column != "")
    base, negated = _split(op_name)
    if base == "in":
        clause = column.in_(value)
    elif base == "between":
        clause = column.between(value[0], value[1])
    else:
        clause = getattr(column, _LIKE[base])(value, autoescape=True)
    return sa.not_(clause) if negated else clause


def _clause_tags(field: FieldRef, op_name: str, value: Any) -> ColumnElement[bool]:
    if field.membership is None:
        problem = f"field {field.name!r}: tags cannot be filtered here"
        raise ValidationError(f"invalid condition: {problem}", {"filter": [problem]})
    if op_name in ("is_empty", "is_not_empty"):
        tagged = field.membership(None)
        return sa.not_(tagged) if op_name == "is_empty" else tagged
    base, negated = _split(op_name)
    clause = field.membership([value] if base == "contains" else list(value))
    return sa.not_(clause) if negated else clause


def _clause_multi(column: Any, op_name: str, value: Any) -> ColumnElement[bool]:
    stored = sa.func.nullif(column, "", type_=sa.String())
    if op_name in ("is_null", "is_empty"):
        return stored.is_(None)
    if op_name in ("is_not_null", "is_not_empty"):
        return stored.is_not(None)
    lowered = sa.func.lower(stored, type_=sa.String())
    base, negated = _split(op_name)
    if base == "contains":
        clause = lowered.contains(f";{value.lower()};", autoescape=True)
    else:  # exactly these options: each one present, and nothing else (same total length)
        length = 1 + sum(len(option) + 1 for option in value)
        clause = sa.and_(*(lowered.contains(f";{option.lower()};", autoescape=True) for option in value),
                         sa.func.length(stored, type_=sa.Integer()) == length)
    return sa.not_(clause) if negated else clause


# The expression syntax has a module of its own; it stays part of this module's public face.
from .expressions import parse_expression, render  # noqa: E402
