"""Where a warm pack install's time goes: crm_core + education with sample data, phase by phase.

Not a benchmark with a goal (that is ``pack_install.py``) but its breakdown: each installer step,
the Designer's object creation, the workflow engine's before-commit hook and the rule runs
carried out after the commit are timed (wall clock, summed over the runs, per install), with
the SQL statements each sends. "other" is what runs inside the unit of work outside those steps
(the commit itself). Driver-level bulk inserts (records, audit rows, the pack's item record) are
not statements SQLAlchemy sees, so they are not counted.

    .venv/bin/python bench/pack_phases.py [--database-url URL] [--runs N] [--statements PHASE]
"""

from __future__ import annotations

import argparse
import collections
import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

import _common as c

INSTALLER_STEPS = ("_put_role", "_create_approval", "_create_rule", "_create_report", "_create_dashboard",
                   "_create_users", "_create_records", "_record_pack", "_write_items", "_put_layout",
                   "_put_pipeline")


class Phases:
    """Wall time and statements per phase; the innermost phase running gets the statements."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.statements: dict[str, int] = collections.defaultdict(int)
        self.texts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.stack: list[str] = []

    def timed(self, original: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            self.stack.append(label)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()
                self.seconds[label] += time.perf_counter() - started

        return timed

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        setattr(owner, name, self.timed(getattr(owner, name), label or name))

    def count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        phase = self.stack[-1] if self.stack else "outside"
        self.statements[phase] += 1
        self.texts[(phase, " ".join(statement.split())[:110])] += 1

    def clear(self) -> None:
        self.seconds.clear()
        self.statements.clear()
        self.texts.clear()


def instrument(phases: Phases, hooks: list[Callable[..., Any]]) -> None:
    import crm_platform.core.session as session_module
    import metadata.designer as designer
    import templates_industry.installer as installer
    import workflow_engine.executor as executor

    phases.wrap(installer, "plan_install")
    for step in INSTALLER_STEPS:
        phases.wrap(installer.Installer, step)
    phases.wrap(designer.Designer, "create_objects")
    phases.wrap(session_module.TenantSession, "flush_audit")
    phases.wrap(executor, "execute_runs", "rule runs after commit")
    # The platform holds its before-commit hooks (the workflow engine's) as functions.
    hooks[:] = [phases.timed(hook, f"before-commit hook ({hook.__module__})") for hook in hooks]
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", phases.count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured installs (default 5)")
    parser.add_argument("--statements", metavar="PHASE", action="append", default=[],
                        help="also list the statements a phase sends, with their counts (repeatable)")
    c.common_arguments(parser)
    args = parser.parse_args()

    with c.Bench(args.database_url, args.keep) as bench:
        from crm_platform.core.session import BEFORE_COMMIT_HOOK, Actor, tenant_session
        from crm_platform.core.tenancy import create_tenant, delete_tenant

        phases = Phases()
        instrument(phases, bench.platform.hooks.setdefault(BEFORE_COMMIT_HOOK, []))
        from templates_industry import install

        c.header("pack_phases: crm_core + education with sample data, warm installs, by phase", bench)

        def once() -> float:
            slug = f"phases-{uuid.uuid4().hex[:8]}"
            create_tenant(bench.platform, slug)
            started = time.perf_counter()
            phases.stack.append("other")
            try:
                with tenant_session(bench.platform, slug, Actor.system()) as session:
                    install(session, "education", with_sample_data=True)
            finally:
                phases.stack.pop()
            elapsed = time.perf_counter() - started
            if not bench.keep:
                delete_tenant(bench.platform, slug)
            return elapsed

        once()  # packs read and checked, models compiled: what a running server has in its caches
        phases.clear()
        totals = [once() for _ in range(args.runs)]
        runs = args.runs
        rows = [[name, f"{seconds / runs * 1000:.1f}", f"{phases.statements.get(name, 0) / runs:.0f}"]
                for name, seconds in sorted(phases.seconds.items(), key=lambda item: -item[1])]
        rows.append(["other (commit, outside the steps)", "", f"{phases.statements.get('other', 0) / runs:.0f}"])
        c.table(rows, ["phase", "ms per install", "statements"])
        counted = sum(n for phase, n in phases.statements.items() if phase != "outside") / runs
        print(f"  installs (ms): {[round(t * 1000, 1) for t in totals]}; statements per install: {counted:.0f}")
        for wanted in args.statements:
            print(f"  statements of {wanted!r} (all runs):")
            for (phase, text), count in phases.texts.most_common():
                if phase == wanted:
                    print(f"    {count:4d}  {text}")


if __name__ == "__main__":
    main()
