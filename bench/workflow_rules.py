"""Workflow: the cost of rules on writes, condition trees vs compiled Python, expression speed.

(1) Creating 10,000 records through the record service (one unit of work) with 10 active rules on
    the object (conditions over amount, region, employees; one in ten records matches one rule,
    whose action sets a field) vs the same with no rules. Goal: at most 1.5 x the time.
(2) A condition tree compiled once to closures, evaluated many times, vs the same predicate written
    as compiled Python. Goal: within 3 x.
(3) A free-form expression parsed once by simpleeval, evaluated many times: microseconds per call.

    .venv/bin/python bench/workflow_rules.py
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import _common as c

GOAL_RULES = 1.5
GOAL_TREE = 3.0


def rules_documents() -> list[dict]:
    documents = []
    for i in range(10):
        documents.append({
            "name": f"rule {i}", "object": "deal", "trigger": {"type": "on_create" if i % 2 else "on_create_or_update"},
            "condition": {"condition": "AND", "rules": [
                {"field": "amount", "operator": "greater", "value": 99_000 + i * 50},
                {"field": "region", "operator": "in", "value": ["east", "north"]},
                {"field": "employees", "operator": "greater_or_equal", "value": 1},
            ]},
            "actions": [{"type": "set_field", "field": "active", "value": True}],
        })
    return documents


def create_records(count: int, rules: bool, database_url: str | None) -> float:
    from metadata import RecordService
    from workflow_engine import create_rule

    with c.Bench(database_url) as bench:
        bench.create_object(c.object_document())
        if rules:
            with bench.session() as session:
                for document in rules_documents():
                    create_rule(session, document)
        inputs = c.json_inputs(count)
        started = time.perf_counter()
        with bench.session() as session:
            service = RecordService(session)
            for data in inputs:
                service.create("deal", data)
        return time.perf_counter() - started


def trees(calls: int) -> tuple[float, float]:
    from metadata import conditions
    from metadata.conditions import FieldRef

    refs = {
        "amount": FieldRef("amount", "number", Decimal),
        "region": FieldRef("region", "choice", str, options=("east", "west", "north", "south")),
        "employees": FieldRef("employees", "number", int),
    }
    tree = {"condition": "AND", "rules": [
        {"field": "amount", "operator": "greater", "value": 50000},
        {"field": "region", "operator": "in", "value": ["east", "north"]},
        {"field": "employees", "operator": "greater_or_equal", "value": 10},
    ]}
    predicate = conditions.compile_predicate(tree, refs)
    threshold, regions, minimum = Decimal(50000), ("east", "north"), 10

    def python(record: dict) -> bool:
        amount, region, employees = record["amount"], record["region"], record["employees"]
        return (amount is not None and amount > threshold) and region in regions and (
            employees is not None and employees >= minimum)

    records = [{"amount": Decimal(i * 997 % 100000), "region": ("east", "west", "north", "south")[i % 4],
                "employees": i % 40} for i in range(1000)]
    assert [predicate(r) for r in records] == [python(r) for r in records]
    loops = calls // len(records)
    started = time.perf_counter()
    for _ in range(loops):
        for record in records:
            predicate(record)
    tree_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(loops):
        for record in records:
            python(record)
    return tree_s / (loops * len(records)), (time.perf_counter() - started) / (loops * len(records))


def expressions(calls: int) -> tuple[float, float]:
    from metadata.formulas import Expression

    expression = Expression('amount > 10000 and region in ("east", "north")', ["amount", "region"])
    record = {"amount": Decimal(20000), "region": "east"}
    started = time.perf_counter()
    for _ in range(calls):
        expression.test(record)
    parsed_once = (time.perf_counter() - started) / calls
    started = time.perf_counter()
    for _ in range(calls // 10):
        Expression('amount > 10000 and region in ("east", "north")', ["amount", "region"]).test(record)
    return parsed_once, (time.perf_counter() - started) / (calls // 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=300_000)
    c.common_arguments(parser)
    args = parser.parse_args()
    c.header("workflow: rules on writes, condition trees, expressions")
    without = create_records(args.records, False, args.database_url)
    with_rules = create_records(args.records, True, args.database_url)
    ratio = with_rules / without
    print(f"(1) {args.records:,} records, one unit of work")
    c.table([["no rules", f"{without:.2f}", f"{args.records / without:,.0f}"],
             ["10 active rules", f"{with_rules:.2f}", f"{args.records / with_rules:,.0f}"]],
            ["path", "seconds", "records/s"])
    print(f"    with rules / without = {ratio:.2f}x (goal <= {GOAL_RULES}x): {c.verdict(ratio <= GOAL_RULES)}\n")
    tree_s, python_s = trees(args.calls)
    tree_ratio = tree_s / python_s
    print("(2) condition tree compiled to closures vs the same predicate as compiled Python")
    c.table([["tree (closures)", f"{tree_s * 1e6:.3f}"], ["compiled Python", f"{python_s * 1e6:.3f}"]],
            ["path", "µs per evaluation"])
    print(f"    tree / Python = {tree_ratio:.2f}x (goal <= {GOAL_TREE}x): {c.verdict(tree_ratio <= GOAL_TREE)}\n")
    parsed_once, parsed_each = expressions(args.calls // 3)
    print("(3) simpleeval expression 'amount > 10000 and region in (\"east\", \"north\")'")
    c.table([["parsed once", f"{parsed_once * 1e6:.2f}"], ["parsed on every call", f"{parsed_each * 1e6:.2f}"]],
            ["path", "µs per evaluation"])


if __name__ == "__main__":
    main()
