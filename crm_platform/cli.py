"""The ``crm`` command line: instance, tenants, users, tokens, serving.

Every command prints one clear line and exits non-zero on error; tables and progress use rich.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from crm_platform.core.errors import CRMError

if TYPE_CHECKING:
    from flask import Flask

console = Console()


def _app(ctx: click.Context) -> Flask:
    """Create the app lazily, once per invocation, so ``--help`` never touches a database."""
    obj = ctx.ensure_object(dict)
    if "app" not in obj:
        from crm_platform.app import create_app

        config: dict[str, Any] = {}
        if obj.get("instance"):
            config["INSTANCE_PATH"] = obj["instance"]
        if obj.get("database_url"):
            config["CRM_DATABASE_URL"] = obj["database_url"]
        if obj.get("broker_url"):
            config["CRM_BROKER_URL"] = obj["broker_url"]
        obj["app"] = create_app(config)
    return obj["app"]


def _platform(ctx: click.Context) -> Any:
    from crm_platform.core.platform import get_platform

    return get_platform(_app(ctx))


def clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the platform's errors into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CRMError as exc:
            raise click.ClickException(exc.message) from None
        except Exception as exc:  # a database that cannot be reached, a bad URL...
            if isinstance(exc, (click.ClickException, click.exceptions.Exit, click.Abort)):
                raise
            raise click.ClickException(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--instance", envvar="CRM_INSTANCE_PATH", type=click.Path(file_okay=False),
              help="Instance folder (SQLite files, secret key). Default: ./instance")
@click.option("--database-url", envvar="CRM_DATABASE_URL", help="SQLAlchemy URL; default: SQLite in the instance folder.")
@click.version_option(package_name="crm-platform")
@click.pass_context
def main(ctx: click.Context, instance: str | None, database_url: str | None) -> None:
    """A low-code configurable CRM platform."""
    ctx.ensure_object(dict).update(instance=instance, database_url=database_url)


@main.command()
@click.pass_context
@clear_errors
def init(ctx: click.Context) -> None:
    """Create the instance folder and the control-plane tables; bring every tenant's tables up to date."""
    from crm_platform.core.tenancy import upgrade_tenants

    app = _app(ctx)
    upgraded = upgrade_tenants(_platform(ctx))
    if upgraded:
        console.print(f"Tenants up to date: {', '.join(upgraded)}")
    console.print(f"Instance ready at [bold]{app.instance_path}[/] ({_platform(ctx).db.url.render_as_string()})")


# -- tenants ------------------------------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Create and list tenants."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@click.option("--admin-email", help="Create an admin user with this e-mail.")
@click.option("--admin-password", help="Password of the admin user (8 characters or more).")
@click.option("--template", "templates", multiple=True, metavar="PACK",
              help="Install this template pack (and its dependencies); repeat for several.")
@click.option("--with-sample-data", is_flag=True, help="Also load the packs' sample users and records.")
@click.pass_context
@clear_errors
def tenant_create(ctx: click.Context, slug: str, name: str | None, admin_email: str | None, admin_password: str | None,
                  templates: tuple[str, ...], with_sample_data: bool) -> None:
    """Create tenant SLUG with its own namespace (a PostgreSQL schema or a SQLite file), optionally
    bootstrapped from template packs in the same step (nothing is left behind if any of it fails)."""
    from crm_platform.core.tenancy import create_tenant, delete_tenant

    if bool(admin_email) != bool(admin_password):
        raise click.UsageError("--admin-email and --admin-password go together")
    platform = _platform(ctx)
    registry = _pack_registry(ctx)
    packs = [_open_pack(registry, reference) for reference in templates]
    created = create_tenant(platform, slug, name)
    plans = []
    try:
        if admin_email:
            _create_user(platform, slug, admin_email, admin_password, ("admin",))
        if packs:
            plans = _install_packs(platform, slug, registry, packs, with_sample_data)
    except BaseException:
        delete_tenant(platform, slug)
        raise
    console.print(f"Created tenant [bold]{created.slug}[/]" + (f" with admin {admin_email}" if admin_email else ""))
    for plan in plans:
        console.print("  " + _plan_headline(plan))


@tenant.command("list")
@click.pass_context
@clear_errors
def tenant_list(ctx: click.Context) -> None:
    """List the tenants of this instance."""
    from crm_platform.core.tenancy import list_tenants

    table = Table("slug", "name", "created")
    for item in list_tenants(_platform(ctx)):
        table.add_row(item.slug, item.name, f"{item.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


# -- users and tokens ---------------------------------------------------------------------------


def _create_user(platform: Any, slug: str, email: str, password: str | None, roles: tuple[str, ...]) -> dict[str, Any]:
    from crm_platform.core.session import Actor, tenant_session
    from crm_platform.core.tenancy import get_tenant
    from crm_platform.core.users import create_user

    get_tenant(platform, slug)
    with tenant_session(platform, slug, Actor.system()) as session:
        return create_user(session, email, password, roles=roles)


@main.group()
def user() -> None:
    """Manage users of a tenant."""


@user.command("create")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--email", required=True)
@click.option("--password", required=True, help="8 characters or more.")
@click.option("--role", "roles", multiple=True, help="Role name; repeat for several (admin has everything).")
@click.pass_context
@clear_errors
def user_create(ctx: click.Context, slug: str, email: str, password: str, roles: tuple[str, ...]) -> None:
    """Create a user in a tenant."""
    created = _create_user(_platform(ctx), slug, email, password, roles)
    console.print(f"Created user {created['email']} (id {created['id']}) in {slug}")


@user.command("transfer")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--from", "source", required=True, help="E-mail of the user whose records move (e.g. who leaves).")
@click.option("--to", "target", required=True, help="E-mail of the user who receives them.")
@click.option("--deactivate", is_flag=True, help="Also deactivate the user the records came from.")
@click.pass_context
@clear_errors
def user_transfer(ctx: click.Context, slug: str, source: str, target: str, deactivate: bool) -> None:
    """Hand every record of one user to another, in one audited step."""
    from crm_platform.core.errors import ValidationError
    from crm_platform.core.session import Actor, tenant_session
    from crm_platform.core.tenancy import get_tenant
    from crm_platform.core.users import resolve_user, update_user
    from metadata.ownership import transfer_records

    platform = _platform(ctx)
    get_tenant(platform, slug)
    with tenant_session(platform, slug, Actor.system()) as session:
        giver, receiver = resolve_user(session, source, "from"), resolve_user(session, target, "to")
        if giver.id == receiver.id:
            raise ValidationError("--from and --to are the same user")
        moved = transfer_records(session, giver.id, receiver.id)
        if deactivate:
            update_user(session, giver.id, {"active": False})
    table = Table("object", "records moved", title=f"{giver.email} -> {receiver.email}")
    for name, count in sorted(moved.items()):
        table.add_row(name, str(count))
    console.print(table if moved else f"{giver.email} owns no records; nothing to move")


@main.group()
def token() -> None:
    """Create API tokens."""


@token.command("create")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="cli", help="A note to recognise the token by.")
@click.option("--read-only", is_flag=True, help="The token may only read.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="Expire after this many days.")
@click.pass_context
@clear_errors
def token_create(ctx: click.Context, slug: str, email: str, name: str, read_only: bool, expires_in_days: int | None) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from datetime import timedelta

    from crm_platform.core.session import Actor, tenant_session, utcnow
    from crm_platform.core.tenancy import create_token, get_tenant
    from crm_platform.core.users import get_user_by_email

    platform = _platform(ctx)
    get_tenant(platform, slug)
    with tenant_session(platform, slug, Actor.system()) as session:
        found = get_user_by_email(session, email)
        session.audit("token.create", object="user", record_id=found.id, after={"name": name, "read_only": read_only})
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    click.echo(create_token(platform, slug, found.id, name=name, expires_at=expires_at, read_only=read_only))


# -- template packs -----------------------------------------------------------------------------


def _pack_registry(ctx: click.Context) -> Any:
    """A registry sharing the app's pack cache (the one the installer and the admin gallery use)."""
    from templates_industry import pack_registry

    return pack_registry(_platform(ctx))


def _open_pack(registry: Any, reference: str) -> Any:
    """A pack by name or folder; a pack with problems prints every one of them, then fails."""
    from templates_industry.validation import resolve_and_check

    pack = registry.open(reference)
    _, problems = resolve_and_check(pack, registry)
    if problems:
        _fail_with_problems(reference, [str(p) for p in problems])
    return pack


def _fail_with_problems(subject: str, lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)
    raise click.ClickException(f"{subject}: {len(lines)} problem{'s' * (len(lines) != 1)} (listed above)")


def _install_packs(platform: Any, slug: str, registry: Any, packs: list[Any], with_sample_data: bool) -> list[Any]:
    """Install packs one after the other in one unit of work: all of them or nothing."""
    from crm_platform.core.session import Actor, tenant_session
    from templates_industry import Installer, PackInvalid, plan_install

    plans = []
    try:
        with tenant_session(platform, slug, Actor.system()) as session:
            for pack in packs:
                plan = plan_install(session, pack, registry, with_sample_data)
                Installer(session, plan).apply()
                plans.append(plan)
    except PackInvalid as exc:
        _fail_with_problems(exc.message.split(";")[0], exc.lines())
    return plans


def _plan_headline(plan: Any) -> str:
    steps = []
    for step in plan.packs:
        if step.action == "upgrade":
            steps.append(f"{step.name} {step.installed} -> {step.version} (upgrade)")
        else:
            steps.append(f"{step.name} {step.version} ({step.action})")
    counts = {}
    for change in plan.changes:
        if change.action in ("create", "update"):
            counts[change.action] = counts.get(change.action, 0) + 1
    kept = sum(1 for change in plan.changes if change.action == "keep")
    tail = ", ".join(f"{n} to {a}" for a, n in counts.items()) or "nothing to change"
    return f"{', '.join(steps)}: {tail}" + (f", {kept} kept" if kept else "") + \
        (f", {len(plan.conflicts)} conflicts" if plan.conflicts else "")


ACTION_STYLES = {"create": "green", "update": "yellow", "keep": "cyan", "conflict": "bold red"}


def _print_plan(plan: Any) -> None:
    table = Table("pack", "kind", "key", "action", "detail", title=_plan_headline(plan), title_justify="left")
    for change in [*plan.changes, *plan.conflicts]:
        style = ACTION_STYLES.get(change.action, "")
        table.add_row(change.pack, change.kind, change.key, f"[{style}]{change.action}[/]", change.detail)
    if plan.changes or plan.conflicts:
        console.print(table)
    else:
        console.print(_plan_headline(plan))
    if plan.empty:
        console.print("Nothing to do: the tenant already has these versions (re-installing changes nothing).")


@main.group()
def template() -> None:
    """Industry template packs: list, validate, install (with a dry run), export."""


@template.command("list")
@click.option("--tenant", "slug", help="Also show the versions this tenant has installed.")
@click.pass_context
@clear_errors
def template_list(ctx: click.Context, slug: str | None) -> None:
    """List the available packs (the built-in ones under templates_industry/packs)."""
    from metadata import label_text

    installed: dict[str, Any] = {}
    if slug:
        from crm_platform.core.session import Actor, tenant_session
        from crm_platform.core.tenancy import get_tenant
        from templates_industry import installed_packs_of

        platform = _platform(ctx)
        get_tenant(platform, slug)
        with tenant_session(platform, slug, Actor.system(), write=False) as session:
            installed = installed_packs_of(session)
    columns = ["pack", "version", "label", "depends on", "objects", "rules"] + (["installed"] if slug else [])
    table = Table(*columns)
    for pack in _pack_registry(ctx).available():
        row = [pack.name, pack.version_text, f"{label_text(pack.label)} / {label_text(pack.label, 'zh')}",
               ", ".join(str(d) for d in pack.dependencies) or "-", str(len(pack.objects)), str(len(pack.rules))]
        if slug:
            row.append((installed.get(pack.name) or {}).get("version") or "-")
        table.add_row(*row)
    console.print(table)


@template.command("validate")
@click.argument("path")
@clear_errors
def template_validate(path: str) -> None:
    """Check the pack at PATH (or a built-in pack by name): every problem, with its file and location."""
    from templates_industry import validate

    pack, problems = validate(path)
    if problems:
        _fail_with_problems(path, [str(p) for p in problems])
    summary = pack.summary()
    console.print(f"{path}: pack [bold]{pack.name}[/] {pack.version_text} is valid: {len(summary['objects'])} objects, "
                  f"{len(summary['roles'])} roles, {summary['rules']} rules, {summary['approval_processes']} approval "
                  f"processes, {summary['reports']} reports, {summary['dashboards']} dashboards, "
                  f"{summary['sample_records']} sample records")


@template.command("install")
@click.argument("pack")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--with-sample-data", is_flag=True, help="Also load the pack's sample users and records.")
@click.pass_context
@clear_errors
def template_install(ctx: click.Context, pack: str, slug: str, dry_run: bool, with_sample_data: bool) -> None:
    """Install PACK (a built-in pack's name or a folder), dependencies first, in one transaction."""
    from crm_platform.core.session import Actor, tenant_session
    from crm_platform.core.tenancy import get_tenant
    from templates_industry import Installer, PackInvalid, plan_install

    platform = _platform(ctx)
    get_tenant(platform, slug)
    registry = _pack_registry(ctx)
    found = _open_pack(registry, pack)
    try:
        with tenant_session(platform, slug, Actor.system(), write=not dry_run) as session:
            plan = plan_install(session, found, registry, with_sample_data)
            _print_plan(plan)
            if not dry_run:
                Installer(session, plan).apply()
    except PackInvalid as exc:
        _fail_with_problems(pack, exc.lines())
    if dry_run:
        console.print("Dry run: nothing was changed.")
    elif not plan.empty:
        console.print(f"Installed into [bold]{slug}[/].")


@template.command("export")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder to write the pack into.")
@click.option("--name", help="Pack name (default: <tenant>_config).")
@click.option("--version", "version", default="1.0.0", show_default=True, help="Pack version.")
@click.pass_context
@clear_errors
def template_export(ctx: click.Context, slug: str, output: str, name: str | None, version: str) -> None:
    """Write the tenant's configuration (objects, roles, rules, approval processes) as a pack."""
    from crm_platform.core.session import Actor, tenant_session
    from crm_platform.core.tenancy import get_tenant
    from templates_industry import export_tenant

    platform = _platform(ctx)
    get_tenant(platform, slug)
    with tenant_session(platform, slug, Actor.system(), write=False) as session:
        written = export_tenant(session, output, name=name, version=version)
    console.print(f"Exported {slug} as pack [bold]{written['pack']}[/] {written['version']} into {written['path']}: "
                  f"{written['objects']} objects, {written['roles']} roles, {written['rules']} rules, "
                  f"{written['approval_processes']} approval processes, {written['reports']} reports, "
                  f"{written['dashboards']} dashboards")
    for left_out in written["widgets_left_out"]:
        console.print(f"  left out: {left_out}")


# -- serving ------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn worker processes.")
@click.option("--reload", "development", is_flag=True, help="Development server with the reloader instead of gunicorn.")
@click.pass_context
@clear_errors
def serve(ctx: click.Context, host: str, port: int, workers: int, development: bool) -> None:
    """Serve the web app and the API (gunicorn; --reload for development)."""
    from crm_platform.core.tenancy import upgrade_tenants

    app = _app(ctx)
    upgrade_tenants(_platform(ctx))
    if development:
        app.run(host=host, port=port, debug=True, use_reloader=True)
        return
    run_gunicorn(app, host, port, workers)


def run_gunicorn(app: Flask, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 120)

        def load(self) -> Flask:
            return app

    # Forked workers must not share the parent's database connections.
    from crm_platform.core.platform import get_platform

    get_platform(app).db.dispose()
    Server().run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-serve", is_flag=True, help="Prepare the demo and exit.")
@click.pass_context
@clear_errors
def demo(ctx: click.Context, host: str, port: int, workers: int, no_serve: bool) -> None:
    """Create one demo tenant per industry pack (education, finance, retail, each on crm_core) with
    sample data, print each tenant's login and an API token, then serve."""
    from crm_platform.demo import prepare_demo

    from crm_platform.core.tenancy import upgrade_tenants

    platform = _platform(ctx)
    upgrade_tenants(platform)
    logins = prepare_demo(platform, console)
    url = f"http://{host}:{port}"
    console.print("[bold]Demo ready[/]")
    for login in logins:
        # Plain lines, never wrapped or cut: these get copied into a browser and a terminal.
        click.echo(f"  tenant:    {login['tenant']}  (pack {login['pack']})")
        click.echo(f"  login:     {login['email']}")
        click.echo(f"  password:  {login['password']}")
        click.echo(f"  API token: {login['token']}")
    console.print(f"API: {url}/api/v1/objects  (header: Authorization: Bearer <token>)")
    console.print(f"OpenAPI: {url}/api/v1/openapi.json")
    if not no_serve:
        console.print(f"Serving on [bold]{url}[/] (Ctrl+C to stop)")
        run_gunicorn(_app(ctx), host, port, workers)


# -- background work ----------------------------------------------------------------------------


@main.group()
def workflow() -> None:
    """Workflow engine operations."""


@workflow.command("tick")
@click.option("--tenant", "slugs", multiple=True, help="Only this tenant; repeat for several (default: all).")
@click.pass_context
@clear_errors
def workflow_tick(ctx: click.Context, slugs: tuple[str, ...]) -> None:
    """Run one scheduler pass: retries, due time-relative rules, scheduled (cron) rules, escalations."""
    from crm_platform.core.tenancy import get_tenant
    from workflow_engine.scheduler import COUNTERS, tick

    platform = _platform(ctx)
    for slug in slugs:
        get_tenant(platform, slug)
    counts = tick(platform, tenants=list(slugs) or None)
    table = Table("what", "count", title="workflow tick")
    for key in COUNTERS:
        table.add_row(key.replace("_", " "), str(counts[key]))
    console.print(table)
    if counts["errors"]:
        for message in counts["errors"]:
            console.print(f"[red]error:[/] {message}", soft_wrap=True)
        raise click.ClickException(f"{len(counts['errors'])} error(s) during the tick (see above)")


def _celery(ctx: click.Context, broker_url: str | None) -> Any:
    if broker_url:
        ctx.ensure_object(dict)["broker_url"] = broker_url
    celery = _app(ctx).extensions.get("celery")
    if celery is None:
        raise click.ClickException("no broker: set CRM_BROKER_URL (redis://... or amqp://...) or pass --broker-url; "
                                   "without one, work runs in-process and no worker is needed")
    return celery


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--broker-url", envvar="CRM_BROKER_URL", help="Celery broker (redis:// or amqp://); default: CRM_BROKER_URL.")
@click.option("--concurrency", "-c", default=2, show_default=True, type=click.IntRange(1, 256),
              help="Worker processes.")
@click.option("--loglevel", "-l", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@clear_errors
def worker(ctx: click.Context, broker_url: str | None, concurrency: int, loglevel: str, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker: rule runs, e-mail, webhooks, scheduler ticks. Extra arguments go to Celery."""
    from crm_platform.core.platform import get_platform

    celery = _celery(ctx, broker_url)
    # Forked worker processes must not share the parent's database connections.
    get_platform(_app(ctx)).db.dispose()
    celery.worker_main(["worker", f"--loglevel={loglevel.upper()}", f"--concurrency={concurrency}",
                        "--without-gossip", "--without-mingle", *celery_args])


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--broker-url", envvar="CRM_BROKER_URL", help="Celery broker (redis:// or amqp://); default: CRM_BROKER_URL.")
@click.option("--loglevel", "-l", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@clear_errors
def beat(ctx: click.Context, broker_url: str | None, loglevel: str, celery_args: tuple[str, ...]) -> None:
    """Run Celery beat: sends the scheduler tick every minute. Run exactly one per deployment."""
    from pathlib import Path

    celery = _celery(ctx, broker_url)
    schedule = Path(_app(ctx).instance_path) / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", f"--schedule={schedule}", f"--loglevel={loglevel.upper()}", *celery_args])


def run() -> None:  # pragma: no cover - console entry point for `python -m`
    main(prog_name="crm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())



@main.command("import")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--object", "object_name", required=True, help="The object the rows become records of.")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False), help="CSV (UTF-8 or GBK) or XLSX.")
@click.option("--mapping", help='JSON {"column": "field"}, or @file.json; default: the mapping used last time.')
@click.option("--mode", type=click.Choice(["insert", "upsert"]), default="insert", show_default=True)
@click.option("--key", help="The field that identifies a record for upsert.")
@click.option("--on-error", type=click.Choice(["abort", "skip"]), default="abort", show_default=True,
              help="abort: keep nothing if any row is bad; skip: keep the good rows.")
@click.option("--preview", is_flag=True, help="Try the first rows and keep nothing.")
@click.pass_context
@clear_errors
def import_records(ctx: click.Context, slug: str, object_name: str, path: str, mapping: str | None, mode: str,
                   key: str | None, on_error: str, preview: bool) -> None:
    """Import a file into an object, with a progress bar and a report of every bad row.

    Files of CRM_IMPORT_ASYNC_ROWS rows or more run as a background task (on the workers when a
    broker is set); the progress bar follows it."""
    import json
    import time
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from crm_platform.core.errors import BadRequest
    from crm_platform.core.session import Actor, tenant_session
    from crm_platform.core.tenancy import get_tenant
    from metadata import import_jobs, importing

    platform = _platform(ctx)
    get_tenant(platform, slug)
    content = Path(path).read_bytes()
    chosen = None
    if mapping:
        text = Path(mapping[1:]).read_text("utf-8") if mapping.startswith("@") else mapping
        try:
            chosen = json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"--mapping is not valid JSON: {exc}") from None
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(f"importing {Path(path).name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with tenant_session(platform, slug, Actor.system()) as session:
            result = import_jobs.start_import(
                session, object_name, Path(path).name, content,
                chosen if chosen is not None else importing.saved_mapping(session, object_name),
                mode=mode, key=key, on_error=on_error, preview=preview, progress=advance)
        # A large file runs as a background task (a worker, or in-process right after the commit
        # above): follow its progress until it has finished.
        while result["status"] in ("queued", "running"):
            advance(result["processed"], result["total"])
            time.sleep(0.5)
            with tenant_session(platform, slug, Actor.system(), write=False) as session:
                result = import_jobs.get_import_status(session, result["id"])
        advance(result["processed"], result["total"])
    console.print(f"{result['status']}: {result['created']} created, {result['updated']} updated, "
                  f"{result['skipped']} skipped, {result['error_count']} errors (of {result['total']} rows)")
    if result["errors"]:
        table = Table("row", "column", "reason", title="rows with errors (first 20)")
        for error in result["errors"][:20]:
            table.add_row(str(error["row"]), error["column"], error["reason"])
        console.print(table)
    if result["status"] == "failed":
        raise click.ClickException("nothing was imported (use --on-error skip to keep the good rows)")
