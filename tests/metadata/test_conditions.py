"""The condition language: validation, predicate/clause agreement, render/parse round trips, safety."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from crm_platform.core.errors import ExpressionError, ValidationError
from metadata.conditions import (
    MAX_EXPRESSION_LENGTH,
    OPERATORS,
    FieldRef,
    compile_clause,
    compile_predicate,
    parse_expression,
    render,
    validate,
)

# --------------------------------------------------------------------------- fields and data


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, (int, Decimal, float)) and value == int(value):
        return int(value)
    raise ValueError(f"not a whole number: {value!r}")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise TypeError(f"not a number: {value!r}")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"not a boolean: {value!r}")
    return value


def _date(value: Any) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise TypeError(f"not a date: {value!r}")


def _datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _options(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"not a list of options: {value!r}")
    return value


METADATA = sa.MetaData()
TABLE = sa.Table(
    "deals", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("amount", sa.Integer),
    sa.Column("probability", sa.Numeric(5, 2)),
    sa.Column("is_active", sa.Boolean),
    sa.Column("close_date", sa.Date),
    sa.Column("created_at", sa.DateTime),
    sa.Column("region", sa.String),
    sa.Column("tags", sa.Text),
    sa.Column("owner_id", sa.Integer),
)
TAG_OPTIONS = ("vip", "hot", "cold", "a_b", "50%", "VIP Gold")


def _fields() -> dict[str, FieldRef]:
    c = TABLE.c
    return {
        "name": FieldRef("name", "text", _text, c.name),
        "amount": FieldRef("amount", "number", _integer, c.amount),
        "probability": FieldRef("probability", "number", _decimal, c.probability),
        "is_active": FieldRef("is_active", "boolean", _boolean, c.is_active),
        "close_date": FieldRef("close_date", "date", _date, c.close_date),
        "created_at": FieldRef("created_at", "datetime", _datetime, c.created_at),
        "region": FieldRef("region", "choice", _text, c.region, ("east", "north", "west", "south")),
        "tags": FieldRef("tags", "multi_choice", _options, c.tags, TAG_OPTIONS),
        "owner_id": FieldRef("owner_id", "reference", _integer, c.owner_id),
    }


FIELDS = _fields()

# name, amount, probability, is_active, close_date, created_at, region, tags (None = NULL, "" = empty), owner
ROWS = [
    ("Acme Corp", 15000, "75.50", True, "2024-03-01", "2024-01-05T10:00:00", "east", ["vip", "hot"], 1),
    ("acme ltd", 5000, "10", False, "2024-06-30", "2024-02-10T08:30:00", "north", ["cold"], 2),
    ("ACME", 10000, "50", True, "2024-12-31", "2023-12-31T23:59:59", "west", ["VIP"], 1),
    ("Beta_Co", 0, "0", None, None, None, None, None, None),
    ("Beta%Co", -250, "99.99", False, "2023-01-01", "2024-05-01T00:00:00", "south", "", 3),
    ("BetaXCo", 999999, None, True, "2024-03-01", "2024-01-05T10:00:00", "east", ["a_b"], 2),
    ("", 10001, "33.33", True, "2025-01-01", "2025-01-01T00:00:00", "north", ["50%", "vip"], None),
    (None, None, None, None, None, None, None, None, None),
    ("Gamma", 20000, "100", False, "2024-07-15", "2024-07-15T12:00:00", "east", ["hot", "vip", "cold"], 4),
    ("Delta 100%", 12345, "12.5", True, "2024-02-29", "2024-02-29T06:00:00", "west", ["axb"], 1),
    ("O'Brien & Sons", 7500, "60", None, "2024-09-09", None, "east", ["VIP Gold"], 5),
    ("east coast", 3000, "5", True, "2024-04-01", "2024-04-01T09:15:00", "east", ["hot"], 3),
    ("Northwind", 45000, "85", True, "2024-05-20", "2024-05-20T16:45:00", "north", ["vip", "hot", "cold"], 2),
    ("  padded  ", 1, "1", False, "2024-01-01", "2024-01-01T00:00:00", "south", [], 6),
    ("ÉCLAIR", 8000, "40", True, "2024-08-08", "2024-08-08T08:08:08", "west", ["cold", "hot"], 1),
    ("acme", 10000, "50.00", False, "2024-12-31", "2023-12-31T23:59:59", "west", ["hot", "vip"], 7),
    ("Zeta", 100, "20", True, "2024-10-10", "2024-10-10T10:10:10", None, ["vip"], 8),
    ("Eta_", 10000, "75.5", None, "2024-03-01", "2024-03-01T00:00:00", "north", None, 1),
    ("theta", 60000, "90", True, "2024-11-11", "2024-11-11T11:11:11", "south", ["hot"], 2),
    ("Iota Acme", 2500, "15", False, "2024-03-02", "2024-03-02T00:00:00", "east", ["vip", "hot"], 9),
]


def _stored_tags(tags: Any) -> Any:
    if isinstance(tags, list):
        return ";" + ";".join(tags) + ";" if tags else None
    return tags


@pytest.fixture(scope="module")
def database() -> Any:
    engine = sa.create_engine("sqlite://")
    METADATA.create_all(engine)
    rows = []
    for index, (name, amount, prob, active, closed, created, region, tags, owner) in enumerate(ROWS, start=1):
        rows.append({
            "id": index, "name": name, "amount": amount,
            "probability": Decimal(prob) if prob is not None else None, "is_active": active,
            "close_date": date.fromisoformat(closed) if closed else None,
            "created_at": datetime.fromisoformat(created) if created else None,
            "region": region, "tags": _stored_tags(tags), "owner_id": owner,
        })
    with engine.begin() as connection:
        connection.execute(TABLE.insert(), rows)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def records(database: Any) -> list[dict[str, Any]]:
    """The rows as the application sees them: multi_choice values as lists."""
    with database.connect() as connection:
        result = [dict(row._mapping) for row in connection.execute(sa.select(TABLE).order_by(TABLE.c.id))]
    for record in result:
        tags = record["tags"]
        record["tags"] = None if tags is None else [part for part in tags.split(";") if part]
    return result


def _sql_ids(database: Any, tree: Any) -> set[int]:
    with database.connect() as connection:
        return set(connection.scalars(sa.select(TABLE.c.id).where(compile_clause(tree, FIELDS))))


def _predicate_ids(records: list[dict[str, Any]], tree: Any) -> set[int]:
    predicate = compile_predicate(tree, FIELDS)
    return {record["id"] for record in records if predicate(record)}


# --------------------------------------------------------------------------- tree helpers


def rule(field: str, operator: str, *value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": field, "field": field, "type": "string", "input": "text", "operator": operator}
    if value:
        node["value"] = value[0]
    return node


def group(condition: str, *rules: Any, negate: bool = False) -> dict[str, Any]:
    return {"condition": condition, "not": negate, "rules": list(rules)}


def AND(*rules: Any, negate: bool = False) -> dict[str, Any]:
    return group("AND", *rules, negate=negate)


def OR(*rules: Any, negate: bool = False) -> dict[str, Any]:
    return group("OR", *rules, negate=negate)


SINGLE_RULES = [
    rule("name", "equal", "acme"), rule("name", "not_equal", "acme"), rule("name", "equal", ""),
    rule("name", "in", ["Acme Corp", "Gamma", "nobody"]), rule("name", "not_in", ["Acme Corp", "Gamma"]),
    rule("name", "begins_with", "acme"), rule("name", "not_begins_with", "ACME"),
    rule("name", "contains", "acme"), rule("name", "not_contains", "Acme"),
    rule("name", "ends_with", "CO"), rule("name", "not_ends_with", "co"),
    rule("name", "contains", "_"), rule("name", "contains", "%"), rule("name", "begins_with", "Beta_"),
    rule("name", "ends_with", "100%"), rule("name", "contains", "'"), rule("name", "contains", "  "),
    rule("name", "is_empty"), rule("name", "is_not_empty"), rule("name", "is_null"), rule("name", "is_not_null"),
    rule("amount", "equal", 10000), rule("amount", "not_equal", 10000), rule("amount", "less", 5000),
    rule("amount", "less_or_equal", 5000), rule("amount", "greater", "10000"),
    rule("amount", "greater_or_equal", 10000), rule("amount", "between", [1000, 15000]),
    rule("amount", "not_between", [1000, 15000]), rule("amount", "in", [0, 100, 10000]),
    rule("amount", "not_in", [0, 100, 10000]), rule("amount", "is_null"), rule("amount", "is_not_null"),
    rule("probability", "greater", 50.5), rule("probability", "equal", "50"),
    rule("probability", "between", ["10", 75.5]), rule("probability", "not_between", [10, 75.5]),
    rule("probability", "less_or_equal", 0), rule("probability", "not_equal", 75.5),
    rule("is_active", "equal", True), rule("is_active", "equal", False), rule("is_active", "not_equal", True),
    rule("is_active", "is_null"), rule("is_active", "is_not_null"),
    rule("close_date", "equal", "2024-03-01"), rule("close_date", "less", "2024-03-01"),
    rule("close_date", "greater_or_equal", "2024-06-30"), rule("close_date", "between", ["2024-03-01", "2024-06-30"]),
    rule("close_date", "not_between", ["2024-03-01", "2024-06-30"]),
    rule("close_date", "in", ["2024-03-01", "2024-12-31"]), rule("close_date", "not_in", ["2024-03-01"]),
    rule("close_date", "not_equal", "2024-03-01"), rule("close_date", "is_null"),
    rule("created_at", "greater", "2024-01-05T10:00:00"), rule("created_at", "less_or_equal", "2024-01-05T10:00:00"),
    rule("created_at", "between", ["2024-01-01T00:00:00", "2024-06-01T00:00:00"]),
    rule("created_at", "equal", "2023-12-31T23:59:59"), rule("created_at", "is_not_null"),
    rule("region", "equal", "east"), rule("region", "not_equal", "east"), rule("region", "in", ["east", "north"]),
    rule("region", "not_in", ["east", "north"]), rule("region", "is_null"), rule("region", "is_not_null"),
    rule("tags", "contains", "vip"), rule("tags", "not_contains", "vip"), rule("tags", "contains", "a_b"),
    rule("tags", "contains", "50%"), rule("tags", "contains", "VIP Gold"), rule("tags", "equal", ["vip", "hot"]),
    rule("tags", "equal", ["hot"]), rule("tags", "not_equal", ["hot", "vip"]),
    rule("tags", "equal", ["cold", "hot", "vip"]), rule("tags", "is_empty"), rule("tags", "is_not_empty"),
    rule("tags", "is_null"), rule("tags", "is_not_null"),
    rule("owner_id", "equal", 1), rule("owner_id", "not_equal", 1), rule("owner_id", "in", [1, 2]),
    rule("owner_id", "not_in", [1, 2]), rule("owner_id", "is_null"), rule("owner_id", "is_not_null"),
]

COMPOUND_TREES = [
    AND(rule("amount", "greater", 10000), rule("region", "in", ["east", "north"])),
    OR(rule("amount", "greater", 10000), rule("region", "in", ["east", "north"])),
    AND(rule("amount", "greater", 10000), rule("region", "equal", "east"), negate=True),
    OR(rule("region", "equal", "east"), rule("tags", "contains", "vip"), negate=True),
    AND(rule("name", "contains", "acme"), OR(rule("is_active", "equal", True), rule("amount", "less", 6000))),
    OR(AND(rule("region", "not_equal", "east"), rule("amount", "is_null")), rule("close_date", "is_null")),
    AND(rule("is_active", "equal", True), negate=True),
    OR(rule("region", "not_equal", "east"), negate=True),
    AND(OR(rule("region", "equal", "east"), rule("region", "equal", "west"), negate=True),
        rule("amount", "greater", 0)),
    OR(AND(rule("tags", "contains", "hot"), rule("tags", "not_contains", "vip")), AND(rule("name", "is_empty"))),
    AND(OR(AND(rule("amount", "between", [0, 20000]), rule("probability", "greater", 40), negate=True),
           rule("is_active", "is_null")), rule("owner_id", "in", [1, 2, 3])),
    AND(AND(AND(rule("amount", "greater", 0)))),
    OR(rule("is_active", "equal", True), rule("is_active", "not_equal", True)),
    AND(rule("name", "not_contains", "x"), rule("region", "not_in", ["south"]), negate=True),
    OR(OR(rule("amount", "less", 0), rule("amount", "greater", 50000)), AND(rule("tags", "is_empty"), negate=True)),
]

ALL_TREES = [AND(r) for r in SINGLE_RULES] + COMPOUND_TREES


def test_every_operator_is_exercised() -> None:
    assert {node["operator"] for node in SINGLE_RULES} | {"changed", "changed_to"} == set(OPERATORS)


def _tree_id(tree: dict[str, Any]) -> str:
    return render(validate(tree, FIELDS))


# --------------------------------------------------------------------------- predicate == clause


@pytest.mark.parametrize("tree", ALL_TREES, ids=_tree_id)
def test_predicate_and_clause_select_the_same_records(database: Any, records: list[dict[str, Any]], tree: Any) -> None:
    assert _predicate_ids(records, tree) == _sql_ids(database, tree)


def test_the_agreement_cases_are_not_trivial(database: Any) -> None:
    sizes = [len(_sql_ids(database, tree)) for tree in ALL_TREES]
    assert sum(1 for size in sizes if 0 < size < len(ROWS)) > len(ALL_TREES) * 0.8


@pytest.mark.parametrize(("tree", "expected"), [
    (AND(rule("name", "contains", "acme")), {1, 2, 3, 16, 20}),
    (AND(rule("name", "begins_with", "beta_")), {4}),
    (AND(rule("name", "contains", "%")), {5, 10}),
    (AND(rule("tags", "contains", "a_b")), {6}),
    (AND(rule("tags", "contains", "vip")), {1, 3, 7, 9, 13, 16, 17, 20}),
    (AND(rule("tags", "equal", ["vip", "hot"])), {1, 16, 20}),
    (AND(rule("tags", "is_empty")), {4, 5, 8, 14, 18}),
    (AND(rule("name", "is_empty")), {7, 8}),
    (AND(rule("amount", "between", [10000, 12345])), {3, 7, 10, 16, 18}),
    (AND(rule("close_date", "equal", "2024-03-01")), {1, 6, 18}),
])
def test_operators_select_what_they_say(
    database: Any, records: list[dict[str, Any]], tree: Any, expected: set[int]
) -> None:
    assert _sql_ids(database, tree) == expected
    assert _predicate_ids(records, tree) == expected


def test_negations_never_match_null_values_as_in_sql(database: Any, records: list[dict[str, Any]]) -> None:
    null_region = {8, 4, 17}
    for tree in (AND(rule("region", "not_equal", "east")), AND(rule("region", "not_in", ["east"])),
                 AND(rule("region", "equal", "east"), negate=True)):
        selected = _predicate_ids(records, tree)
        assert selected == _sql_ids(database, tree)
        assert not selected & null_region


def test_predicate_uses_three_valued_logic() -> None:
    tree = OR(rule("amount", "greater", 5), rule("region", "equal", "east"), negate=True)
    predicate = compile_predicate(tree, FIELDS)
    assert predicate({"amount": None, "region": "west"}) is False  # NOT (unknown OR false) is unknown
    assert predicate({"amount": 1, "region": "west"}) is True
    either = compile_predicate(OR(rule("amount", "greater", 5), rule("region", "equal", "east")), FIELDS)
    assert either({"amount": None, "region": "east"}) is True  # unknown OR true is true


def test_predicate_tolerates_missing_keys_and_odd_values() -> None:
    tree = AND(rule("amount", "greater", 5), rule("created_at", "less", "2024-01-01T00:00:00"))
    predicate = compile_predicate(tree, FIELDS)
    assert predicate({}) is False
    assert predicate({"amount": "not a number", "created_at": date(2023, 1, 1)}) is False


def test_multi_choice_accepts_delimited_strings_in_records() -> None:
    predicate = compile_predicate(AND(rule("tags", "contains", "vip")), FIELDS)
    assert predicate({"tags": ";hot;VIP;"}) and not predicate({"tags": ""}) and not predicate({"tags": []})


# --------------------------------------------------------------------------- changed / changed_to


def test_changed_compares_with_the_previous_record() -> None:
    changed = compile_predicate(AND(rule("region", "changed")), FIELDS)
    assert changed({"region": "east"}, {"region": "west"})
    assert not changed({"region": "east"}, {"region": "east"})
    assert changed({"region": "east"}, None)  # a new record: every value is a change from NULL
    assert not changed({"region": None}, None)


def test_changed_to_needs_the_new_value_and_a_different_old_one() -> None:
    changed_to = compile_predicate(AND(rule("region", "changed_to", "east"), rule("amount", "greater", 10)), FIELDS)
    assert changed_to({"region": "east", "amount": 20}, {"region": "west", "amount": 20})
    assert not changed_to({"region": "east", "amount": 20}, {"region": "east", "amount": 5})
    assert not changed_to({"region": "west", "amount": 20}, {"region": "east"})
    assert changed_to({"region": "east", "amount": 20})
    tags = compile_predicate(AND(rule("tags", "changed_to", ["vip", "hot"])), FIELDS)
    assert tags({"tags": ["hot", "vip"]}, {"tags": ["hot"]})
    assert not tags({"tags": ["vip", "hot"]}, {"tags": ";hot;vip;"})


@pytest.mark.parametrize("operator", ["changed", "changed_to"])
def test_workflow_operators_have_no_sql_form(operator: str) -> None:
    value = ["east"] if operator == "changed_to" else []
    tree = AND(rule("amount", "greater", 1), OR(rule("region", operator, *value)))
    with pytest.raises(ValidationError) as caught:
        compile_clause(tree, FIELDS)
    assert f"operator '{operator}' can only be used in workflow rules" in caught.value.details["filter"][0]


def test_clause_needs_columns() -> None:
    fields = {"amount": FieldRef("amount", "number", _integer)}
    with pytest.raises(ValidationError, match="no column"):
        compile_clause(AND(rule("amount", "equal", 1)), fields)


# --------------------------------------------------------------------------- no condition


@pytest.mark.parametrize("empty", [None, {}, {"condition": "AND", "rules": []}])
def test_no_condition(empty: Any) -> None:
    assert validate(empty, FIELDS) is None
    assert compile_predicate(empty, FIELDS)({"amount": 1}) is True
    assert str(compile_clause(empty, FIELDS)) == str(sa.true())
    assert render(None) == "" and parse_expression("  ", FIELDS) is None


def test_validate_normalizes() -> None:
    tree = {"condition": "or", "valid": True, "rules": [
        rule("amount", "between", ["1", 2.0]), rule("tags", "equal", ["vip", "hot", "vip"]),
        rule("name", "is_null", None)]}
    assert validate(tree, FIELDS) == {"condition": "OR", "not": False, "rules": [
        {"field": "amount", "operator": "between", "value": [1, 2]},
        {"field": "tags", "operator": "equal", "value": ["vip", "hot"]},
        {"field": "name", "operator": "is_null"}]}


@pytest.mark.parametrize("tree", COMPOUND_TREES + [AND(r) for r in SINGLE_RULES if "value" in r][:40], ids=_tree_id)
def test_validating_a_validated_tree_changes_nothing(tree: Any) -> None:
    normalized = validate(tree, FIELDS)
    assert validate(normalized, FIELDS) == normalized


# --------------------------------------------------------------------------- validation errors


def _problems(tree: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        validate(tree, FIELDS)
    assert caught.value.message.startswith("invalid condition: ")
    return caught.value.details["filter"]


@pytest.mark.parametrize(("bad_rule", "expected"), [
    (rule("foo", "equal", 1), "field 'foo', operator 'equal': unknown field 'foo'"),
    (rule("amount", "bigger", 1), "field 'amount', operator 'bigger': unknown operator 'bigger'"),
    (rule("name", "greater", "a"), "operator 'greater' cannot be used on text field 'name'"),
    (rule("is_active", "in", [True]), "operator 'in' cannot be used on boolean field 'is_active'"),
    (rule("created_at", "in", ["2024-01-01"]), "operator 'in' cannot be used on datetime field 'created_at'"),
    (rule("region", "contains", "ea"), "operator 'contains' cannot be used on choice field 'region'"),
    (rule("amount", "begins_with", "1"), "operator 'begins_with' cannot be used on number field 'amount'"),
    (rule("amount", "is_empty"), "operator 'is_empty' cannot be used on number field 'amount'"),
    (rule("amount", "equal", "ten"), "field 'amount', operator 'equal': value 'ten' is not a valid number"),
    (rule("amount", "equal", True), "value True is not a valid number"),
    (rule("amount", "equal", [1]), "value must be a single number value, got list"),
    (rule("amount", "equal"), "value must not be null (use is_null / is_not_null)"),
    (rule("amount", "in", 5), "field 'amount', operator 'in': value must be a non-empty list, got int"),
    (rule("amount", "in", []), "value must be a non-empty list, got list"),
    (rule("amount", "in", [1, "x"]), "value 'x' is not a valid number"),
    (rule("amount", "between", [1]), "field 'amount', operator 'between': value must be a list of two values"),
    (rule("amount", "between", 5), "value must be a list of two values"),
    (rule("amount", "between", [9, 1]), "lower bound 9 is greater than upper bound 1"),
    (rule("amount", "is_null", 5), "operator 'is_null' takes no value, got 5"),
    (rule("close_date", "equal", "31/12/2024"),
     "field 'close_date', operator 'equal': value '31/12/2024' is not a valid date"),
    (rule("region", "equal", "mars"), "field 'region', operator 'equal': value 'mars' is not one of the options"),
    (rule("region", "in", ["east", "mars"]),
     "value 'mars' is not one of the options ('east', 'north', 'west', 'south')"),
    (rule("tags", "contains", "gold"), "field 'tags', operator 'contains': value 'gold' is not one of the options"),
    (rule("tags", "contains", ["vip"]), "value must be one option (a string), got list"),
    (rule("tags", "equal", "vip"),
     "field 'tags', operator 'equal': value must be a non-empty list of options, got str"),
    (rule("tags", "equal", []), "value must be a non-empty list of options"),
    (rule("name", "contains", ""), "field 'name', operator 'contains': value must be a non-empty string"),
    (rule("probability", "greater", "NaN"), "value 'NaN' is not a finite number"),
    ({"field": "amount"}, "field 'amount', operator None: unknown operator None"),
])
def test_every_rule_problem_is_named(bad_rule: dict[str, Any], expected: str) -> None:
    problems = _problems(AND(rule("amount", "greater", 1), bad_rule))
    assert len(problems) == 1
    assert problems[0].startswith("condition.rules[1]: ")
    assert expected in problems[0]


def test_every_problem_is_listed() -> None:
    tree = {"condition": "XOR", "not": "yes", "rules": [
        rule("foo", "equal", 1), rule("amount", "bigger"), OR(rule("region", "equal", "mars")), 5, "text"]}
    problems = _problems(tree)
    assert problems == [
        "condition: condition must be 'AND' or 'OR', got 'XOR'",
        "condition: 'not' must be true or false, got 'yes'",
        "condition.rules[0]: field 'foo', operator 'equal': unknown field 'foo'",
        "condition.rules[1]: field 'amount', operator 'bigger': unknown operator 'bigger'",
        "condition.rules[2].rules[0]: field 'region', operator 'equal': value 'mars' is not one of the options "
        "('east', 'north', 'west', 'south')",
        "condition.rules[3]: expected a rule or a group object, got int",
        "condition.rules[4]: expected a rule or a group object, got str",
    ]


@pytest.mark.parametrize(("tree", "expected"), [
    ("amount > 1", "condition: expected a rule or a group object, got str"),
    ([rule("amount", "equal", 1)], "expected a rule or a group object, got list"),
    ({"condition": "AND", "rules": "amount"}, "condition: rules must be a non-empty list, got str"),
    ({"condition": "AND", "rules": {"field": "amount"}}, "rules must be a non-empty list, got dict"),
    ({"condition": "AND"}, "rules must be a non-empty list, got nothing"),
    (AND(rule("amount", "equal", 1), OR()), "condition.rules[1]: rules must be a non-empty list, got list"),
    ({"rules": [rule("amount", "equal", 1)]}, "condition must be 'AND' or 'OR', got None"),
    (rule("amount", "equal", 1), "the top level must be a group"),
])
def test_malformed_structure(tree: Any, expected: str) -> None:
    assert any(expected in problem for problem in _problems(tree))


def _nested(depth: int) -> dict[str, Any]:
    tree = AND(rule("amount", "equal", 1))
    for _ in range(depth - 1):
        tree = AND(tree)
    return tree


def test_depth_limit() -> None:
    assert validate(_nested(10), FIELDS) is not None
    assert _problems(_nested(11)) == [
        "condition" + ".rules[0]" * 10 + ": groups are nested too deeply (at most 10 levels)"]


def test_rule_count_limit() -> None:
    assert validate(AND(*[rule("amount", "equal", i) for i in range(200)]), FIELDS) is not None
    spread = AND(*[OR(*[rule("amount", "equal", i) for i in range(50)]) for _ in range(5)])
    assert _problems(spread) == ["condition.rules[4].rules[0]: too many rules (at most 200)"]
    problems = _problems(AND(*[rule("amount", "equal", "x") for _ in range(10_000)]))
    assert problems[-1] == "condition.rules[200]: too many rules (at most 200)"


# --------------------------------------------------------------------------- render / parse


@pytest.mark.parametrize(("tree", "text"), [
    (AND(rule("amount", "greater", 10000), rule("region", "in", ["east", "north"])),
     'amount > 10000 and region in ("east", "north")'),
    (OR(rule("amount", "equal", 1), rule("owner_id", "not_equal", 2), negate=True),
     "not (amount == 1 or owner_id != 2)"),
    (AND(rule("name", "begins_with", "Acme")), 'name.startswith("Acme")'),
    (AND(rule("name", "not_ends_with", "Inc")), 'not_ends_with(name, "Inc")'),
    (AND(rule("name", "is_null")), "is_null(name)"),
    (AND(rule("tags", "contains", "vip")), '"vip" in tags'),
    (AND(rule("tags", "equal", ["vip", "hot"])), 'tags == ["vip", "hot"]'),
    (AND(rule("amount", "between", [1, 5])), "between(amount, 1, 5)"),
    (AND(rule("region", "in", ["east"])), 'region in ("east",)'),
    (AND(rule("close_date", "less", "2024-03-01")), 'close_date < "2024-03-01"'),
    (AND(rule("probability", "greater", "12.50")), "probability > 12.50"),
    (AND(rule("is_active", "equal", True), rule("amount", "changed")), "is_active == True and changed(amount)"),
    (AND(rule("amount", "less", -5), OR(rule("name", "equal", 'say "hi"\n'), rule("name", "equal", "é")), negate=True),
     'not (amount < -5 and (name == "say \\"hi\\"\\n" or name == "é"))'),
    (OR(rule("amount", "equal", 1)), "any_of(amount == 1)"),
    (AND(rule("amount", "equal", 1), negate=True), "not (amount == 1)"),
])
def test_render(tree: Any, text: str) -> None:
    assert render(validate(tree, FIELDS)) == text


ROUND_TRIP_TREES = ALL_TREES + [
    AND(rule("amount", "changed")), AND(rule("region", "changed_to", "east")),
    AND(rule("tags", "changed_to", ["vip"])), AND(rule("created_at", "changed"), rule("tags", "changed")),
    OR(rule("amount", "equal", 1)), OR(rule("amount", "equal", 1), negate=True),
    AND(AND(rule("amount", "equal", 1))), AND(OR(rule("amount", "equal", 1)), negate=True),
    AND(AND(rule("amount", "equal", 1), negate=True), negate=True),
    AND(AND(rule("amount", "equal", 1), rule("amount", "equal", 2)), rule("amount", "equal", 3)),
    AND(OR(AND(OR(rule("amount", "equal", 1), rule("amount", "less", -2)), negate=True)), negate=True),
    AND(rule("name", "equal", 'quote " back \\ slash \t tab \u2028 ✓'), rule("probability", "equal", "1E+3")),
    AND(rule("probability", "between", ["-0.5", "1234567890.12345"])),
    _nested(10),
]


@pytest.mark.parametrize("tree", ROUND_TRIP_TREES, ids=_tree_id)
def test_render_parse_round_trip(tree: Any) -> None:
    normalized = validate(tree, FIELDS)
    assert parse_expression(render(normalized), FIELDS) == normalized


@pytest.mark.parametrize(("text", "expected"), [
    ("10000 < amount", AND(rule("amount", "greater", 10000))),
    ("amount is None", AND(rule("amount", "is_null"))),
    ("region is not None", AND(rule("region", "is_not_null"))),
    ('region in ["east"]', AND(rule("region", "in", ["east"]))),
    ('contains(name, "x") or begins_with(name, "y")',
     OR(rule("name", "contains", "x"), rule("name", "begins_with", "y"))),
    ("not_in(amount, [1, 2])", AND(rule("amount", "not_in", [1, 2]))),
    ("probability >= 0.1", AND(rule("probability", "greater_or_equal", "0.1"))),
    ("amount == 1 and (owner_id == 2 and probability == 3)",
     AND(rule("amount", "equal", 1), AND(rule("owner_id", "equal", 2), rule("probability", "equal", 3)))),
])
def test_parse_accepts_equivalent_spellings(text: str, expected: Any) -> None:
    assert parse_expression(text, FIELDS) == validate(expected, FIELDS)


@pytest.mark.parametrize(("text", "message"), [
    ("().__class__.__bases__", "attribute access '.__bases__' is not allowed"),
    ("__import__('os')", "name '__import__' is not allowed"),
    ("__import__('os').system('ls') == 0", "attribute access '.system' is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("(lambda: 1)() == 1", "lambda is not allowed"),
    ("[x for x in y]", "list comprehension is not allowed"),
    ("amount in [x for x in y]", "list comprehension is not allowed"),
    ("a.__dict__", "attribute access '.__dict__' is not allowed"),
    ("amount.__class__ == 1", "attribute access '.__class__' is not allowed"),
    ("name.lower() == 'x'", "attribute access '.lower' is not allowed"),
    ("len(name) > 3", "calling len() is not allowed here"),
    ("1 == 1", "a comparison needs a field on one side"),
    ("name.lower()", "attribute access '.lower' is not allowed"),
    ("__builtins__ == 1", "name '__builtins__' is not allowed"),
    ("amount[0] == 1", "subscript ([...]) is not allowed"),
    ("x[0]", "subscript ([...]) is not allowed"),
    ("open('x')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("between(amount, low=1, high=2)", "plain arguments only"),
    ("amount == 1 + 1", "arithmetic is not allowed"),
    ("amount == (y := 1)", "assignment expression (:=) is not allowed"),
    ("f'{amount}' == 'x'", "f-string is not allowed"),
    ("amount == {1: 2}", "dict literal is not allowed"),
    ("amount if amount else amount", "conditional expression"),
    ("amount = 1", "invalid syntax"),
    ("import os", "invalid syntax"),
    ("amount == 1; amount == 2", "invalid syntax"),
    ("amount == 1\x00", "invalid syntax"),
    ("amount", "'amount' alone is not a condition"),
    ("1 < amount < 5", "chained comparisons are not supported"),
    ("amount == probability", "comparing two fields ('amount' and 'probability') is not supported"),
    ("amount == None", "None is not a value: use is_null(field)"),
    ("amount == b'x'", "literal b'x' is not allowed"),
    ("amount == 1j", "literal 1j is not allowed"),
    ("region in 'east'", "needs a list of values"),
    ("amount in [[1]]", "nested lists are not allowed"),
    ("foo == 1", "unknown field 'foo'"),
    ("amount > 'many'", "value 'many' is not a valid number"),
    ("name.startswith(1)", "field 'name', operator 'begins_with': value 1 is not a valid text"),
    ('name.startswith("")', "field 'name', operator 'begins_with': value must be a non-empty string"),
    ("not " * 100 + "amount == 1", "nested too deeply"),
    ("(" * 300 + "amount == 1" + ")" * 300, "invalid syntax"),
    ("-" * 3000 + "1 == amount", "nested too deeply"),
    ("amount==1 or " * 200 + "amount==1", "too many rules (at most 200)"),
    ("amount == 1 and " * 1000 + "amount == 1", "expression is too long"),
    ("x" * 10_000, "expression is too long (10000 characters, at most 4000)"),
])
def test_hostile_or_invalid_expressions_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text, FIELDS)
    assert message in caught.value.message
    assert caught.value.details["expression"]


def test_expression_length_limit_is_exact() -> None:
    text = "amount == 1" + " " * (MAX_EXPRESSION_LENGTH - len("amount == 1"))
    assert parse_expression(text, FIELDS) is not None
    with pytest.raises(ExpressionError):
        parse_expression(text + " ", FIELDS)


def test_parsed_expressions_compile_like_trees(database: Any, records: list[dict[str, Any]]) -> None:
    text = 'amount > 5000 and (region in ("east", "north") or "vip" in tags) and not is_null(name)'
    tree = parse_expression(text, FIELDS)
    assert _predicate_ids(records, tree) == _sql_ids(database, tree) == {1, 3, 6, 7, 9, 11, 13, 16, 18}
