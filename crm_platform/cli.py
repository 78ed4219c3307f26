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
@click.pass_context
@clear_errors
def tenant_create(ctx: click.Context, slug: str, name: str | None, admin_email: str | None, admin_password: str | None) -> None:
    """Create tenant SLUG with its own namespace (a PostgreSQL schema or a SQLite file)."""
    from crm_platform.core.tenancy import create_tenant, delete_tenant

    if bool(admin_email) != bool(admin_password):
        raise click.UsageError("--admin-email and --admin-password go together")
    platform = _platform(ctx)
    created = create_tenant(platform, slug, name)
    if admin_email:
        try:
            _create_user(platform, slug, admin_email, admin_password, ("admin",))
        except BaseException:
            delete_tenant(platform, slug)
            raise
    console.print(f"Created tenant [bold]{created.slug}[/]" + (f" with admin {admin_email}" if admin_email else ""))


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
    """Create a demo tenant with sample data, print its login and an API token, then serve."""
    from crm_platform.demo import prepare_demo

    from crm_platform.core.tenancy import upgrade_tenants

    platform = _platform(ctx)
    upgrade_tenants(platform)
    logins = prepare_demo(platform, console)
    url = f"http://{host}:{port}"
    console.print("[bold]Demo ready[/]")
    for login in logins:
        # Plain lines, never wrapped or cut: these get copied into a browser and a terminal.
        click.echo(f"  tenant:    {login['tenant']}")
        click.echo(f"  login:     {login['email']}")
        click.echo(f"  password:  {login['password']}")
        click.echo(f"  API token: {login['token']}")
    console.print(f"API: {url}/api/v1/objects  (header: Authorization: Bearer <token>)")
    console.print(f"OpenAPI: {url}/api/v1/openapi.json")
    if not no_serve:
        console.print(f"Serving on [bold]{url}[/] (Ctrl+C to stop)")
        run_gunicorn(_app(ctx), host, port, workers)


def run() -> None:  # pragma: no cover - console entry point for `python -m`
    main(prog_name="crm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())

