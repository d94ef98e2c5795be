"""Accounts service: users, passwords, sessions and API tokens (SPEC §3.1)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from access_program.accounts import service
from access_program.accounts.models import ApiToken, Role, Scope
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor
from access_program.db import utcnow
from access_program.errors import Conflict, ValidationError
from tests.factories import PASSWORD, ApiTokenFactory, UserFactory
from tests.helpers import audit_actions_since, audit_count, audit_head_seq

SYSTEM = Actor.system("test")


# --- users ---------------------------------------------------------------------------------


def test_create_user_stores_a_password_hash_and_writes_one_event(db):
    admin = UserFactory(admin=True)
    before = audit_head_seq()

    user = service.create_user(
        admin.actor,
        email="  New.Staff@Example.org ",
        name=" Nia ",
        role="staff",
        password="a long enough password",
    )

    assert user.email == "new.staff@example.org"
    assert user.name == "Nia"
    assert user.role == Role.STAFF
    assert user.password_hash != "a long enough password"
    assert check_password_hash(user.password_hash, "a long enough password")
    assert audit_actions_since(before) == ["user.created"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.seq == before + 1))
    assert (event.actor_type, event.actor_id) == ("user", admin.id)
    assert event.data == {"email": "new.staff@example.org", "role": "staff"}


@pytest.mark.parametrize("existing", ["a@x.org", "A@X.org", " a@X.ORG"])
def test_email_is_unique_whatever_its_case(db, existing):
    UserFactory(email="a@x.org")
    before = audit_head_seq()

    with pytest.raises(Conflict, match="already exists"):
        service.create_user(
            SYSTEM, email=existing.upper(), name="Dup", role="staff", password="x" * 12
        )
    assert audit_head_seq() == before


def test_a_short_password_is_refused_with_a_field_message(db):
    with pytest.raises(ValidationError) as refused:
        service.create_user(SYSTEM, email="s@x.org", name="S", role="staff", password="short")
    assert "password" in refused.value.details
    assert service.get_user_by_email("s@x.org") is None


def test_a_blank_name_is_refused(db):
    with pytest.raises(ValidationError) as refused:
        service.create_user(SYSTEM, email="s@x.org", name="   ", role="staff", password="x" * 12)
    assert "name" in refused.value.details


def test_authenticate_accepts_only_the_right_password_of_an_active_account(db):
    user = UserFactory(email="artist@example.org")
    UserFactory(email="gone@example.org", disabled=True)

    assert service.authenticate("ARTIST@example.org", PASSWORD) == user
    assert service.authenticate("artist@example.org", "wrong password") is None
    assert service.authenticate("nobody@example.org", PASSWORD) is None
    assert service.authenticate("gone@example.org", PASSWORD) is None


def test_record_sign_in_sets_last_login(db):
    user = UserFactory()
    before = audit_head_seq()

    service.record_sign_in(user)

    assert user.last_login_at is not None
    assert audit_actions_since(before) == ["user.signed_in"]


def test_sign_out_rotates_the_session_token(db):
    user = UserFactory()
    old_session = user.get_id()
    before = audit_head_seq()

    service.sign_out(user)

    assert user.get_id() != old_session
    assert service.load_session_user(old_session) is None
    assert service.load_session_user(user.get_id()) == user
    assert audit_actions_since(before) == ["user.signed_out"]


def test_disabling_a_user_ends_sessions_and_tokens(db):
    admin = UserFactory(admin=True)
    user = UserFactory(staff=True)
    session_id = user.get_id()
    _, plain = service.create_token(SYSTEM, user=user)
    assert service.resolve_token(plain) is not None
    before = audit_head_seq()

    service.set_user_active(admin.actor, user, False)

    assert service.load_session_user(session_id) is None
    assert service.resolve_token(plain) is None
    assert service.authenticate(user.email, PASSWORD) is None
    assert audit_actions_since(before) == ["user.disabled"]


def test_setting_the_same_active_flag_changes_nothing(db):
    admin = UserFactory(admin=True)
    user = UserFactory()
    session_id = user.get_id()
    before = audit_head_seq()

    service.set_user_active(admin.actor, user, True)

    assert service.load_session_user(session_id) == user
    assert audit_head_seq() == before


def test_reenabling_a_user_writes_user_enabled(db):
    admin = UserFactory(admin=True)
    user = UserFactory(disabled=True)
    before = audit_head_seq()

    service.set_user_active(admin.actor, user, True)

    assert service.authenticate(user.email, PASSWORD) == user
    assert audit_actions_since(before) == ["user.enabled"]


@pytest.mark.parametrize(
    "session_id", ["", "abc", "1", "1:", ":token", "999999:deadbeef", "²:abc", "1:é"]
)
def test_malformed_or_unknown_session_ids_load_nobody(db, session_id):
    UserFactory()
    assert service.load_session_user(session_id) is None


# --- tokens --------------------------------------------------------------------------------


def _token_table_text(db) -> str:
    """Every value of every row of api_tokens, as text."""
    rows = db.session.execute(sa.select(ApiToken.__table__)).all()
    return " ".join(str(value) for row in rows for value in row)


def test_a_token_is_stored_only_as_its_hash(db):
    user = UserFactory(staff=True)
    before = audit_head_seq()

    token, plain = service.create_token(SYSTEM, user=user, scopes=["api"])

    assert plain.startswith("eap_") and len(plain) > 40
    assert plain not in _token_table_text(db)
    assert token.token_hash == service.hash_token(plain)
    assert token.prefix == plain[:10]
    assert service.resolve_token(plain) == token
    assert audit_actions_since(before) == ["token.created"]


def test_two_tokens_are_never_equal(db):
    user = UserFactory()
    plains = {service.create_token(SYSTEM, user=user)[1] for _ in range(5)}
    assert len(plains) == 5


def test_default_scopes_user_api_service_access_check(db):
    user_token, _ = service.create_token(SYSTEM, user=UserFactory())
    service_token, _ = service.create_token(SYSTEM, service_name="tool")
    assert user_token.scope_list == [Scope.API]
    assert service_token.scope_list == [Scope.ACCESS_CHECK]
    assert service_token.actor == Actor("service", service_token.id, "service:tool")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"service_name": "tool", "with_user": True}, {"service_name": "tool", "scopes": ["root"]}],
    ids=["no owner", "two owners", "unknown scope"],
)
def test_token_refusals(db, kwargs):
    user = UserFactory() if kwargs.pop("with_user", False) else None
    before = audit_head_seq()
    with pytest.raises(ValidationError):
        service.create_token(SYSTEM, user=user, **kwargs)
    assert audit_head_seq() == before


@pytest.mark.parametrize("trait", ["expired", "revoked"])
def test_expired_and_revoked_tokens_do_not_resolve(db, trait):
    token = ApiTokenFactory(**{trait: True})
    assert service.resolve_token(token.plain) is None


def test_unknown_token_does_not_resolve(db):
    ApiTokenFactory()
    assert service.resolve_token("eap_not-a-token") is None


def test_resolving_records_last_use_at_most_once_a_minute(db):
    token = ApiTokenFactory()
    assert token.last_used_at is None

    def use() -> None:
        service.resolve_token(token.plain)
        service.record_token_use()  # what the request boundary does after its commit
        db.session.refresh(token)

    use()
    first = token.last_used_at
    assert first is not None and utcnow() - first < dt.timedelta(seconds=5)

    use()
    assert token.last_used_at == first

    token.last_used_at = utcnow() - dt.timedelta(minutes=2)
    db.session.flush()
    use()
    assert utcnow() - token.last_used_at < dt.timedelta(seconds=5)


def test_revoke_token_writes_one_event_even_when_repeated(db):
    token = ApiTokenFactory()
    admin = UserFactory(admin=True)
    before = audit_head_seq()

    service.revoke_token(admin.actor, token)
    service.revoke_token(admin.actor, token)

    assert service.resolve_token(token.plain) is None
    assert audit_actions_since(before) == ["token.revoked"]


def test_session_token_from_sign_in_expires_in_30_days(db):
    user = UserFactory()
    token, plain = service.issue_session_token(user)
    assert token.user == user
    remaining = token.expires_at - utcnow()
    assert dt.timedelta(days=29) < remaining <= dt.timedelta(days=30)
    assert audit_count("token.created") == 1
    assert service.resolve_token(plain) == token


def test_a_disabled_user_loads_no_session_even_with_a_current_token(db):
    user = UserFactory()
    session_id = user.get_id()
    user.active = False  # changed some other way than set_user_active
    assert service.load_session_user(session_id) is None


@pytest.mark.parametrize("bad", ["", "   ", "x" * 121])
def test_token_names_are_bounded(db, bad):
    with pytest.raises(ValidationError):
        service.create_token(SYSTEM, service_name=bad)


def test_a_long_email_still_gets_a_named_token(db):
    user = UserFactory(email="a" * 200 + "@example.org")
    token, _ = service.create_token(SYSTEM, user=user)
    assert token.name == user.email[:120]
