"""`flask users …` and `flask tokens …`: the first admin and tokens come from the command line."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.accounts import service
from access_program.accounts.models import ApiToken, Role, User
from access_program.audit.models import AuditEvent
from access_program.db import utcnow
from tests.conftest import Api
from tests.factories import GrantFactory, UserFactory
from tests.helpers import audit_actions_since, audit_head_seq

PASSWORD = "a long admin password"


def _user(db, email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_create_admin_reads_the_password_from_standard_input(db, runner):
    before = audit_head_seq()

    result = runner.invoke(
        args=["users", "create-admin", "Root@Example.org"], input=PASSWORD + "\n"
    )

    assert result.exit_code == 0, result.output
    assert "Created admin root@example.org" in result.output
    admin = _user(db, "root@example.org")
    assert admin.role == Role.ADMIN
    assert admin.name == "Root"
    assert service.authenticate("root@example.org", PASSWORD) == admin
    assert PASSWORD not in result.output
    assert audit_actions_since(before) == ["user.created"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.seq == before + 1))
    assert (event.actor_type, event.actor_label) == ("system", "cli")


def test_a_windows_line_ending_is_not_part_of_the_password(db, runner):
    result = runner.invoke(
        args=["users", "create-admin", "root@example.org"], input=PASSWORD + "\r\n"
    )
    assert result.exit_code == 0, result.output
    assert service.authenticate("root@example.org", PASSWORD) is not None


def test_create_staff_with_a_name(db, runner):
    result = runner.invoke(
        args=["users", "create", "desk@example.org", "--role", "staff", "--name", "Front Desk"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    staff = _user(db, "desk@example.org")
    assert (staff.role, staff.name) == (Role.STAFF, "Front Desk")


def test_artists_are_not_created_from_the_command_line(db, runner):
    result = runner.invoke(
        args=["users", "create", "art@example.org", "--role", "artist"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 2
    assert _user(db, "art@example.org") is None


@pytest.mark.parametrize(
    ("password", "message"),
    [("short\n", "Password too short"), ("\n", "Password too short"), ("", "Password too short")],
)
def test_a_short_or_missing_password_is_refused(db, runner, password, message):
    before = audit_head_seq()
    result = runner.invoke(args=["users", "create-admin", "root@example.org"], input=password)
    assert result.exit_code == 1
    assert message in result.output
    assert _user(db, "root@example.org") is None
    assert audit_head_seq() == before


def test_a_taken_email_is_refused(db, runner):
    UserFactory(email="root@example.org")
    db.session.commit()
    result = runner.invoke(
        args=["users", "create-admin", "ROOT@example.org"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_a_malformed_email_is_refused(db, runner):
    result = runner.invoke(args=["users", "create-admin", "not-an-email"], input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "email" in result.output.lower()
    assert _user(db, "not-an-email") is None


# --- tokens --------------------------------------------------------------------------------


def _token_from(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_a_user_token_is_printed_last_and_works(db, runner, client):
    staff = UserFactory(staff=True, email="staff@example.org")
    before = audit_head_seq()

    plain = _token_from(runner.invoke(args=["tokens", "create", "--email", "Staff@Example.org"]))

    me = Api(client, plain).get("/api/v1/me")
    assert me.status_code == 200
    assert me.json["id"] == staff.id
    assert audit_actions_since(before) == ["token.created"]
    stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert plain not in stored and service.hash_token(plain) in stored


def test_a_service_token_checks_access_and_nothing_else(db, runner, client):
    grant = GrantFactory()

    plain = _token_from(
        runner.invoke(args=["tokens", "create", "--service", "tool", "--scope", "access:check"])
    )

    tool = Api(client, plain)
    decision = tool.get(f"/api/v1/access/{grant.membership.user_id}")
    assert decision.status_code == 200
    assert decision.json["allowed"] is True
    assert tool.get("/api/v1/me").status_code == 403
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == service.hash_token(plain))
    )
    assert (token.service_name, token.scope_list, token.user_id) == ("tool", ["access:check"], None)


@pytest.mark.parametrize(
    "args",
    [
        ["tokens", "create"],
        ["tokens", "create", "--email", "a@example.org", "--service", "tool"],
        ["tokens", "create", "--service", "tool", "--scope", "everything"],
    ],
    ids=["no owner", "two owners", "unknown scope"],
)
def test_token_usage_errors(db, runner, args):
    UserFactory(email="a@example.org")
    db.session.commit()
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_token_for_an_unknown_user_is_refused(db, runner):
    result = runner.invoke(args=["tokens", "create", "--email", "nobody@example.org"])
    assert result.exit_code == 1
    assert "No user with email nobody@example.org" in result.output
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_token_can_expire(db, runner):
    UserFactory(email="a@example.org")
    result = runner.invoke(
        args=["tokens", "create", "--email", "a@example.org", "--expires-days", "7"]
    )
    plain = _token_from(result)
    assert "expires" in result.output
    token = service.resolve_token(plain)
    remaining = token.expires_at - utcnow()
    assert dt.timedelta(days=6, hours=23) < remaining <= dt.timedelta(days=7)
