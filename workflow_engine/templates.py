"""Message templates for notifications and e-mail: Jinja in a sandbox, over the record's values."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 100_000


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    # Sandboxed: templates written by admins cannot reach Python internals or change data.
    return ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    return _environment().from_string(source)


def render(source: str | None, context: dict[str, Any]) -> str:
    """Render with ``record``, ``object``, ``rule`` and ``user`` in scope; errors become text."""
    if not source:
        return ""
    try:
        text = compile_template(source).render(**context)
    except Exception as exc:  # a template refers to a missing value, or the sandbox refused
        text = f"[template error: {exc}]"
    return text[:MAX_OUTPUT]
