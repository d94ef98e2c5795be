"""`flask users …` and `flask tokens …`."""

from __future__ import annotations

import datetime as dt
import sys

import click
from flask.cli import AppGroup

from access_program.accounts import service
from access_program.accounts.models import Role, Scope
from access_program.audit.service import Actor
from access_program.db import unit_of_work, utcnow
from access_program.errors import DomainError

users_cli = AppGroup("users", help="Staff and admin accounts.")
tokens_cli = AppGroup("tokens", help="API tokens.")

CLI_ACTOR = Actor.system("cli")


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Piped in (`echo "$PASSWORD" | flask users create-admin …`): the first line, without its
    # line ending (CRLF too).
    return sys.stdin.readline().rstrip("\r\n")


def _create(email: str, name: str | None, role: Role) -> None:
    password = _read_password()
    try:
        with unit_of_work():
            user = service.create_user(
                CLI_ACTOR,
                email=email,
                name=name or email.split("@")[0],
                role=role,
                password=password,
            )
    except DomainError as exc:
        detail = "; ".join(m for msgs in exc.details.values() for m in msgs) if exc.details else ""
        raise click.ClickException(f"{exc.message} {detail}".strip()) from None
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--name", help="Display name (default: the part before @).")
def create_admin(email: str, name: str | None) -> None:
    """Create an admin; the password comes from a prompt or standard input."""
    _create(email, name, Role.ADMIN)


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([Role.STAFF.value, Role.ADMIN.value]), required=True)
@click.option("--name", help="Display name (default: the part before @).")
def create(email: str, role: str, name: str | None) -> None:
    """Create a staff or admin account; artists join through invitations."""
    _create(email, name, Role(role))


@tokens_cli.command("create")
@click.option("--email", help="The user the token acts as.")
@click.option("--service", "service_name", help="A service principal, e.g. the generation tool.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice([s.value for s in Scope]))
@click.option("--name", help="A label for the token.")
@click.option(
    "--expires-days",
    type=click.IntRange(min=1, max=3650),
    help="Expire after this many days (default: never).",
)
def create_token(
    email: str | None,
    service_name: str | None,
    scopes: tuple,
    name: str | None,
    expires_days: int | None,
):
    """Create an API token; the token is printed once, as the last line."""
    if bool(email) == bool(service_name):
        raise click.UsageError("Give exactly one of --email or --service.")
    try:
        with unit_of_work():
            user = None
            if email:
                user = service.get_user_by_email(email)
                if user is None:
                    raise click.ClickException(f"No user with email {email}.")
            token, plain = service.create_token(
                CLI_ACTOR,
                user=user,
                service_name=service_name,
                scopes=list(scopes) or None,
                name=name,
                expires_at=utcnow() + dt.timedelta(days=expires_days) if expires_days else None,
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    expiry = f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
    click.echo(f"Token {token.id} ({token.name}) with scopes: {token.scopes}{expiry}")
    click.echo(plain)
