"""Formula fields and power-user expressions: arithmetic, functions, NULLs, conversions, safety."""

from __future__ import annotations

import ast
import re
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import simpleeval

from crm_platform.core.errors import ExpressionError
from metadata.formulas import FUNCTION_NAMES, MAX_FORMULA_LENGTH, Expression, Formula

FIELDS = [
    "amount", "probability", "rate", "name", "region", "tags", "close_date", "created_at", "count", "flag", "note",
]
FIXED_NOW = datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 2024-05-02 04:30 UTC
RECORD = {
    "amount": Decimal("1234.56"), "probability": 35, "rate": 0.15, "name": "  Acme Corp ", "region": "east",
    "tags": ["vip", "hot"], "close_date": date(2024, 3, 15),
    "created_at": datetime(2024, 1, 10, 8, 0, tzinfo=timezone.utc),
    "count": 7, "flag": True, "note": None,
}


def evaluate(expression: str, result_type: str = "decimal", record: dict[str, Any] | None = None) -> Any:
    formula = Formula(expression, FIELDS, result_type, clock=lambda: FIXED_NOW)
    return formula.evaluate(RECORD if record is None else record)


def raw(expression: str, record: dict[str, Any] | None = None) -> Any:
    return Expression(expression, FIELDS, clock=lambda: FIXED_NOW).evaluate(RECORD if record is None else record)


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(("expression", "expected"), [
    ("amount * probability / 100", Decimal("432.096")),
    ("amount * 0.1", Decimal("123.456")),
    ("0.1 + 0.2", Decimal("0.3")),
    ("amount * rate", Decimal("185.1840")),  # a float field meets a Decimal through its repr
    ("rate * 2", 0.3),  # float with int stays float
    ("7 / 2", Decimal("3.5")),
    ("7 // 2", 3),
    ("7 % 3", 1),
    ("2 ** 10", 1024),
    ("0.5 ** 2", Decimal("0.25")),
    ("2 ** -1", 0.5),
    ("-amount + +count", Decimal("-1227.56")),
    ("(count + 3) * 2 - 1", 19),
    ("1e3 + 1", Decimal("1001")),
    ("name + '!'", "  Acme Corp !"),
    ("amount > 1000 and region in ('east', 'north')", True),
    ("'vip' in tags and 'cold' not in tags", True),
    ("not flag or count >= 7", True),
    ("'big' if amount > 1000 else 'small'", "big"),
    ("amount == 1234.56", True),
    ("count != 7", False),
    ("note == None", True),
    ("note is None", True),
])
def test_arithmetic_and_operators(expression: str, expected: Any) -> None:
    result = raw(expression)
    assert result == expected
    assert type(result) is type(expected)


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize(("expression", "expected"), [
    ("IF(amount > 1000, 'big', 'small')", "big"),
    ("IF(count > 10, 1 / 0, 'lazy')", "lazy"),  # only the chosen branch is evaluated
    ("IF(note, 'yes', 'no')", "no"),
    ("AND(flag, count > 5, region == 'east')", True),
    ("AND(flag, note)", False),
    ("OR(note, count > 100)", False),
    ("OR(note, flag)", True),
    ("NOT(flag)", False),
    ("ROUND(amount, 1)", Decimal("1234.6")),
    ("ROUND(2.5)", Decimal("3")),
    ("ROUND(-2.5)", Decimal("-3")),
    ("ROUND(1234, -2)", 1200),
    ("ROUND(amount, -2)", Decimal("1200")),
    ("ROUND(rate, 1)", Decimal("0.2")),
    ("ROUND(count)", 7),
    ("ABS(-amount)", Decimal("1234.56")),
    ("MIN(count, 3, 10)", 3),
    ("MAX(amount, 2000)", 2000),
    ("MAX(count)", 7),
    ("LEN(name)", 12),
    ("LEN(tags)", 2),
    ("UPPER(region)", "EAST"),
    ("LOWER('ABC')", "abc"),
    ("TRIM(name)", "Acme Corp"),
    ("CONCAT(region, '-', count, '-', note, '-', amount)", "east-7--1234.56"),
    ("CONCAT(close_date, ' ', flag)", "2024-03-15 true"),
    ("LEFT(TRIM(name), 4)", "Acme"),
    ("RIGHT(TRIM(name), 4)", "Corp"),
    ("RIGHT(region, 0)", ""),
    ("LEFT(region, 10)", "east"),
    ("TODAY()", date(2024, 5, 2)),
    ("NOW()", datetime(2024, 5, 2, 4, 30, tzinfo=timezone.utc)),
    ("YEAR(close_date)", 2024),
    ("MONTH(close_date)", 3),
    ("DAY(created_at)", 10),
    ("ADD_DAYS(close_date, 30)", date(2024, 4, 14)),
    ("ADD_DAYS(created_at, -10)", datetime(2023, 12, 31, 8, 0, tzinfo=timezone.utc)),
    ("DAYS_BETWEEN(close_date, TODAY())", 48),
    ("DAYS_BETWEEN(created_at, close_date)", 65),
    ("ISBLANK(note)", True),
    ("ISBLANK('')", True),
    ("ISBLANK(region)", False),
    ("BLANKVALUE(note, 'n/a')", "n/a"),
    ("BLANKVALUE(region, 'n/a')", "east"),
    ("TEXT(amount)", "1234.56"),
    ("TEXT(close_date)", "2024-03-15"),
    ("TEXT(1.50)", "1.50"),
    ("VALUE('42')", 42),
    ("VALUE(' 1,234.5 ')", Decimal("1234.5")),
    ("VALUE('12') + VALUE('0.5')", Decimal("12.5")),
])
def test_functions(expression: str, expected: Any) -> None:
    result = raw(expression)
    assert result == expected
    assert type(result) is type(expected)


def test_every_library_function_is_tested() -> None:
    source = test_functions.pytestmark[0].args[1]  # type: ignore[attr-defined]
    used = {node.func.id for expression, _ in source for node in ast.walk(ast.parse(expression))
            if isinstance(node, ast.Call)}
    assert used == set(FUNCTION_NAMES)


def test_now_is_utc_and_the_default_clock_is_real() -> None:
    before = datetime.now(timezone.utc)
    now = Expression("NOW()", []).evaluate({})
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(timezone.utc)
    naive = Expression("NOW()", [], clock=lambda: datetime(2024, 1, 1, 12)).evaluate({})
    assert naive == datetime(2024, 1, 1, 12, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- NULL propagation


@pytest.mark.parametrize("expression", [
    "note * 2", "note + 1", "1 - note", "note / 2", "2 / note", "note // 2", "note % 2", "note ** 2", "-note",
    "amount * note / 100", "note > 1", "1 <= note", "not note", "ROUND(note, 2)", "ABS(note)", "MIN(note, 1)",
    "MAX(1, note)", "LEN(note)", "UPPER(note)", "LOWER(note)", "TRIM(note)", "LEFT(note, 1)", "RIGHT(note, 1)",
    "YEAR(note)", "MONTH(note)", "DAY(note)", "ADD_DAYS(note, 1)", "ADD_DAYS(close_date, note)",
    "DAYS_BETWEEN(note, close_date)", "TEXT(note)", "VALUE(note)", "NOT(note)", "'x' in note", "'x' not in note",
])
def test_null_propagates(expression: str) -> None:
    assert raw(expression) is None
    assert evaluate(expression, "text") is None


def test_missing_fields_count_as_null() -> None:
    assert evaluate("amount * probability / 100", record={"amount": Decimal(5)}) is None
    assert Expression("amount > 5", ["amount"]).test({}) is False


# --------------------------------------------------------------------------- result conversion


@pytest.mark.parametrize(("result_type", "expression", "expected"), [
    ("decimal", "amount * probability / 100", Decimal("432.096")),
    ("decimal", "count", Decimal(7)),
    ("decimal", "rate", Decimal("0.15")),
    ("decimal", "'12.5'", Decimal("12.5")),
    ("currency", "amount * probability / 100", Decimal("432.10")),
    ("currency", "2.345", Decimal("2.35")),
    ("currency", "count", Decimal("7.00")),
    ("percent", "probability / 2", Decimal("17.5")),
    ("integer", "amount", 1235),
    ("integer", "2.5", 3),
    ("integer", "7 / 2", 4),
    ("integer", "'42'", 42),
    ("integer", "flag", 1),
    ("text", "amount", "1234.56"),
    ("text", "count * 2", "14"),
    ("text", "flag", "true"),
    ("text", "close_date", "2024-03-15"),
    ("text", "1e3", "1000"),
    ("boolean", "count > 3", True),
    ("boolean", "count - 7", False),
    ("boolean", "amount", True),
    ("date", "created_at", date(2024, 1, 10)),
    ("date", "'2024-02-29'", date(2024, 2, 29)),
    ("date", "ADD_DAYS(close_date, 1)", date(2024, 3, 16)),
    ("datetime", "close_date", datetime(2024, 3, 15, tzinfo=timezone.utc)),
    ("datetime", "'2024-02-29T10:00:00'", datetime(2024, 2, 29, 10, tzinfo=timezone.utc)),
    ("datetime", "NOW()", datetime(2024, 5, 2, 4, 30, tzinfo=timezone.utc)),
])
def test_result_conversion(result_type: str, expression: str, expected: Any) -> None:
    result = evaluate(expression, result_type)
    assert result == expected
    assert type(result) is type(expected)
    if result_type == "currency":
        assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(("result_type", "expression"), [
    ("integer", "'many'"), ("decimal", "'x'"), ("currency", "close_date"), ("boolean", "'yes'"),
    ("date", "count"), ("date", "'31/12/2024'"), ("datetime", "amount"), ("integer", "tags"),
])
def test_result_that_cannot_be_converted(result_type: str, expression: str) -> None:
    with pytest.raises(ExpressionError, match=f"cannot be converted to {result_type}"):
        evaluate(expression, result_type)


def test_unknown_result_type() -> None:
    with pytest.raises(ExpressionError, match="unknown formula result type 'money'") as caught:
        Formula("amount", FIELDS, "money")
    assert "result_type" in caught.value.details


# --------------------------------------------------------------------------- names and references


def test_references_are_the_fields_used() -> None:
    formula = Formula("IF(ISBLANK(note), amount * probability, ROUND(amount, 2))", FIELDS, "decimal")
    assert formula.references == frozenset({"note", "amount", "probability"})
    assert Formula("TODAY()", FIELDS, "date").references == frozenset()


@pytest.mark.parametrize(("expression", "message"), [
    ("foo + 1", "unknown field 'foo' in formula"),
    ("FOO(amount)", "unknown function 'FOO' in formula"),
    ("round(amount)", "unknown function 'round' in formula"),
    ("int('1')", "unknown function 'int' in formula"),
    ("list(tags)", "unknown function 'list' in formula"),
    ("TODAY + 1", "function 'TODAY' must be called"),
    ("IF(flag, 1)", "function 'IF' takes 3 argument(s), got 2"),
    ("ROUND()", "function 'ROUND' takes 1 to 2 argument(s), got 0"),
    ("TODAY(1)", "function 'TODAY' takes 0 argument(s), got 1"),
    ("CONCAT()", "function 'CONCAT' takes 1 or more argument(s), got 0"),
    ("ROUND(amount, ndigits=2)", "keyword arguments are not allowed"),
    ("amount +", "invalid syntax in formula"),
    ("amount = 1", "invalid syntax in formula"),
    ("", "formula is empty"),
    ("amount & 1", "operator BitAnd is not allowed"),
    ("amount << 2", "operator LShift is not allowed"),
    ("~count", "operator Invert is not allowed"),
    ("f'{amount}'", "f-string is not allowed"),
    ("{'a': 1}", "dict literal is not allowed"),
    ("{1, 2}", "set literal is not allowed"),
    ("tags[0]", "subscript ([...]) is not allowed"),
    ("b'x'", "literal b'x' is not allowed"),
    ("1j", "literal 1j is not allowed"),
])
def test_construction_errors_name_the_problem(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        Formula(expression, FIELDS, "decimal")


def test_all_problems_are_listed() -> None:
    with pytest.raises(ExpressionError) as caught:
        Formula("foo + bar + NOPE(1)", FIELDS, "decimal")
    assert sorted(caught.value.details["expression"]) == [
        "unknown field 'bar' in formula", "unknown field 'foo' in formula", "unknown function 'NOPE' in formula"]
    assert "(and 2 more)" in caught.value.message


def test_a_formula_field_cannot_use_itself() -> None:
    with pytest.raises(ExpressionError, match="unknown field 'total'"):
        Formula("total + 1", [name for name in FIELDS if name != "total"], "decimal")


# --------------------------------------------------------------------------- runtime errors


@pytest.mark.parametrize(("expression", "message"), [
    ("amount / 0", "division by zero in formula 'amount / 0'"),
    ("amount / (count - 7)", "division by zero in formula"),
    ("count // 0", "division by zero"),
    ("count % 0", "division by zero"),
    ("0 / 0", "division by zero"),
    ("0.0 / 0", "division by zero"),
    ("VALUE('abc')", "VALUE: 'abc' is not a number"),
    ("region + 1", "cannot evaluate formula 'region + 1': can only concatenate str"),
    ("region > 1", "cannot evaluate formula"),
    ("YEAR(region)", "'east' is not a date"),
    ("ROUND(amount, 2.5)", "ROUND needs a whole number, got Decimal('2.5')"),
    ("ROUND(amount, 99)", "ROUND needs a number between -20 and 20"),
    ("LEFT(region, -1)", "LEFT needs a number between 0"),
    ("ADD_DAYS(close_date, 10**9)", "ADD_DAYS needs a number between"),
    ("ABS(region)", "cannot evaluate formula"),
    ("'x' in count", "cannot evaluate formula"),
])
def test_runtime_errors_are_expression_errors(expression: str, message: str) -> None:
    formula = Formula(expression, FIELDS, "text")
    with pytest.raises(ExpressionError, match=re.escape(message)) as caught:
        formula.evaluate(RECORD)
    assert caught.value.details["expression"]


# --------------------------------------------------------------------------- safety


@pytest.mark.parametrize("expression", [
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "10**10**10",
    "9**9**9**9",
    "2**3999999",
    "(10**300)**10",
    "1.5**100000",
    "0.5**-5000",
    "0.1**-1e6",
    "'a'*10**9",
    "'a'*10**5*10**5",
    "tags * 10**9",
    "CONCAT('a'*99999, 'bb')",
    "__import__('os')",
    "__import__('os').system('echo hacked')",
    "lambda: 1",
    "(lambda: 1)()",
    "open('x')",
    "open('/etc/passwd').read()",
    "exec('1')",
    "eval('1')",
    "getattr(amount, 'real')",
    "type(amount)",
    "name.format()",
    "name.upper()",
    "region.__len__()",
    "[x for x in tags]",
    "{x: 1 for x in tags}",
    "(x for x in tags)",
    "__builtins__",
    "amount.real",
    "(y := 1)",
    "-" * 1999 + "1",
    "(" * 300 + "1" + ")" * 300,
    "not " * 400 + "flag",
    "1" + " + 1" * 499,
    "amount\x00",
])
def test_hostile_formulas_raise_expression_error(expression: str) -> None:
    with pytest.raises(ExpressionError):
        Formula(expression, FIELDS, "text").evaluate(RECORD)


def test_length_limit() -> None:
    at_limit = "CONCAT(" + ", ".join(["name"] * 200) + ") + '" + "x" * 100 + "' + " + " + ".join(["'y'"] * 90)
    at_limit += " " * (MAX_FORMULA_LENGTH - len(at_limit))
    assert len(at_limit) == MAX_FORMULA_LENGTH
    assert Formula(at_limit, FIELDS, "text").evaluate({"name": "n"}) == "n" * 200 + "x" * 100 + "y" * 90
    too_long = re.escape(f"formula is too long (2001 characters, at most {MAX_FORMULA_LENGTH})")
    with pytest.raises(ExpressionError, match=too_long):
        Formula(at_limit + "1", FIELDS, "integer")


def test_not_text_is_rejected() -> None:
    with pytest.raises(ExpressionError, match="must be text"):
        Formula(42, FIELDS, "integer")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Expression


def test_expression_test_and_evaluate() -> None:
    condition = Expression('amount > 10000 and region in ("east", "north")', ["amount", "region"])
    assert condition.references == frozenset({"amount", "region"})
    assert condition.test({"amount": 20000, "region": "east"}) is True
    assert condition.test({"amount": 20000, "region": "west"}) is False
    assert condition.test({"amount": None, "region": "east"}) is False
    assert condition.evaluate({"amount": 5, "region": "east"}) is False
    assert Expression("LEN(name) > 3 and ISBLANK(note)", FIELDS).test(RECORD) is True


def test_expression_errors_say_expression() -> None:
    with pytest.raises(ExpressionError, match="unknown field 'foo' in expression"):
        Expression("foo > 1", FIELDS)
    with pytest.raises(ExpressionError, match="division by zero in expression"):
        Expression("amount / 0 > 1", FIELDS).test(RECORD)


# --------------------------------------------------------------------------- design: parse once, a thread each


def test_evaluation_never_parses_again(monkeypatch: pytest.MonkeyPatch) -> None:
    formula = Formula("ROUND(amount * probability / 100, 2)", FIELDS, "currency")

    def no_parsing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed during evaluation")

    monkeypatch.setattr(ast, "parse", no_parsing)
    monkeypatch.setattr(simpleeval.SimpleEval, "parse", staticmethod(no_parsing))
    assert formula.evaluate(RECORD) == Decimal("432.10")
    assert formula.evaluate({"amount": Decimal(100), "probability": 50}) == Decimal("50.00")


def test_one_formula_from_eight_threads() -> None:
    expression = "IF(count > 500, CONCAT(name, ':', count * 2), count * 2 + amount)"
    formula = Formula(expression, ["name", "count", "amount"], "text")
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(2000):
            count = worker * 1000 + i
            record = {"name": f"w{worker}", "count": count, "amount": Decimal(worker)}
            expected = f"w{worker}:{count * 2}" if count > 500 else str(count * 2 + worker)
            result = formula.evaluate(record)
            if result != expected:
                failures.append(f"worker {worker}: {result!r} != {expected!r}")

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# --------------------------------------------------------------------------- plain arithmetic path

ARITHMETIC = ["amount * 0.1", "amount + probability - count", "-amount / 3", "count // 2 + count % 3",
              "count ** 2", "amount * rate", "note + 1", "amount / (count - 7)", "name * 2", "+count - -1",
              "region + name", "2 ** 2000000", "tags * 3"]
RECORDS = [RECORD, {**RECORD, "amount": None, "count": 0}, {"amount": Decimal("-0.005"), "count": -3},
           {"name": "x" * 10, "tags": []}]


@pytest.mark.parametrize("expression", ARITHMETIC)
def test_plain_arithmetic_gives_what_the_general_evaluator_gives(expression: str) -> None:
    # IF(1, x, 0) is the same expression, but is run by simpleeval rather than as plain arithmetic.
    def outcome(text: str, record: dict[str, Any]) -> Any:
        try:
            return "ok", Expression(text, FIELDS).evaluate(record)
        except ExpressionError as exc:
            return "error", exc.message.replace(repr(text), "<expression>")  # messages quote it

    for record in RECORDS:
        assert outcome(expression, record) == outcome(f"IF(1, {expression}, 0)", record), (expression, record)
