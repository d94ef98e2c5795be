"""The access decision the generation tool asks before each generation (SPEC §3.7)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from access_program.accounts import service as accounts
from access_program.audit.service import Actor
from access_program.db import utcnow
from tests.access import setup_committed_before_requests  # noqa: F401
from tests.factories import (
    ApiTokenFactory,
    CohortFactory,
    GrantFactory,
    MembershipFactory,
    PauseFactory,
    TermsFactory,
    UserFactory,
)


@pytest.fixture
def tool(api_client):
    """The generation tool: a service token holding only ``access:check``."""
    return api_client(service="generation-tool", scopes=["access:check"])


def check(tool, artist_id):
    response = tool.get(f"/api/v1/access/{artist_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def codes(decision) -> list[str]:
    return [reason["code"] for reason in decision["reasons"]]


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# --- allowed ------------------------------------------------------------------------------


def test_allowed_names_the_grant_and_its_expiry(tool):
    expires = utcnow() + dt.timedelta(days=30)
    grant = GrantFactory(expires_at=expires)

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is True
    assert decision["reasons"] == []
    assert decision["grant_id"] == grant.id
    assert abs(parse(decision["expires_at"]) - expires) < dt.timedelta(seconds=1)
    assert abs(parse(decision["checked_at"]) - utcnow()) < dt.timedelta(minutes=1)


def test_allowed_with_an_open_ended_grant_has_no_expiry(tool):
    grant = GrantFactory()

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is True
    assert decision["grant_id"] == grant.id
    assert decision["expires_at"] is None


def test_by_external_id_gives_the_same_decision(tool):
    grant = GrantFactory(membership__user__external_id="tool-user-0042")

    response = tool.get("/api/v1/access", query_string={"external_id": "tool-user-0042"})

    assert response.status_code == 200
    assert response.get_json()["allowed"] is True
    assert response.get_json()["grant_id"] == grant.id


def test_by_external_id_denies_with_its_reasons(tool):
    member = MembershipFactory(user__external_id="tool-user-7", terms_not_accepted=True)

    decision = tool.get("/api/v1/access?external_id=tool-user-7").get_json()

    assert decision["allowed"] is False
    assert codes(decision) == ["terms_not_accepted", "no_active_grant"]
    assert member.cohort.name in decision["reasons"][0]["message"]


@pytest.mark.parametrize("query", ["", "?external_id="])
def test_by_external_id_requires_a_value(tool, query):
    response = tool.get(f"/api/v1/access{query}")

    assert response.status_code == 422
    assert "external_id" in response.get_json()["error"]["details"]


# --- every reason code --------------------------------------------------------------------


def test_unknown_artist_id(tool):
    decision = check(tool, 987654)

    assert decision["allowed"] is False
    assert codes(decision) == ["unknown_artist"]
    assert decision["grant_id"] is None


def test_unknown_external_id(tool):
    GrantFactory(membership__user__external_id="known")

    decision = tool.get("/api/v1/access?external_id=unknown").get_json()

    assert codes(decision) == ["unknown_artist"]


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_a_staff_or_admin_id_is_an_unknown_artist(tool, role):
    user = UserFactory(**{role: True})

    decision = check(tool, user.id)

    assert codes(decision) == ["unknown_artist"]


def test_an_id_beyond_the_integer_range_is_an_unknown_artist_not_an_error(tool):
    decision = check(tool, 99999999999999999999)

    assert codes(decision) == ["unknown_artist"]


def test_account_disabled(tool):
    grant = GrantFactory(membership__user__active=False)

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == ["account_disabled"]


def test_no_active_membership_without_any_membership(tool):
    artist = UserFactory()

    decision = check(tool, artist.id)

    assert decision["allowed"] is False
    assert codes(decision) == ["no_active_membership"]


def test_no_active_membership_after_leaving_even_with_an_old_grant(tool):
    grant = GrantFactory(membership__ended=True)

    decision = check(tool, grant.user_id)

    assert codes(decision) == ["no_active_membership"]
    assert decision["grant_id"] is None


def test_terms_not_accepted(tool):
    grant = GrantFactory(membership__terms_not_accepted=True)

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == ["terms_not_accepted"]
    assert grant.membership.cohort.name in decision["reasons"][0]["message"]


def test_terms_not_accepted_when_the_cohort_moved_to_new_terms(tool, db):
    grant = GrantFactory()
    grant.membership.cohort.terms = TermsFactory(label="v-next")
    db.session.flush()

    decision = check(tool, grant.user_id)

    assert codes(decision) == ["terms_not_accepted"]


def test_no_active_grant_without_any_grant(tool):
    member = MembershipFactory()

    decision = check(tool, member.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == ["no_active_grant"]


def test_no_active_grant_after_revocation_says_so(tool):
    grant = GrantFactory(revoked=True)

    decision = check(tool, grant.user_id)

    assert codes(decision) == ["no_active_grant"]
    assert "revoked" in decision["reasons"][0]["message"]


def test_grant_expired_gives_the_expiry(tool):
    expired = utcnow() - dt.timedelta(days=2)
    grant = GrantFactory(expires_at=expired)

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == ["grant_expired"]
    assert f"{expired:%d %b %Y}" in decision["reasons"][0]["message"]


def test_a_revocation_after_an_expired_grant_is_reported_as_revoked(tool):
    old = GrantFactory(expired=True)
    GrantFactory(membership=old.membership, revoked=True)

    decision = check(tool, old.user_id)

    assert codes(decision) == ["no_active_grant"]
    assert "revoked" in decision["reasons"][0]["message"]


def test_an_expired_grant_after_a_revoked_one_is_reported_as_expired(tool):
    old = GrantFactory(revoked=True)
    GrantFactory(membership=old.membership, expired=True)

    decision = check(tool, old.user_id)

    assert codes(decision) == ["grant_expired"]


def test_a_current_grant_wins_over_older_revoked_and_expired_ones(tool):
    old = GrantFactory(revoked=True)
    GrantFactory(membership=old.membership, expired=True)
    current = GrantFactory(membership=old.membership)

    decision = check(tool, old.user_id)

    assert decision["allowed"] is True
    assert decision["grant_id"] == current.id


def test_cohort_paused_gives_the_pause_reason(tool):
    grant = GrantFactory()
    cohort = grant.membership.cohort
    PauseFactory(for_cohort=True, cohort=cohort, reason="Model update under review.")

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == ["cohort_paused"]
    message = decision["reasons"][0]["message"]
    assert "Model update under review." in message
    assert cohort.name in message
    # A pause stops tool access only; the grant itself is still there.
    assert decision["grant_id"] == grant.id


def test_another_cohorts_pause_does_not_apply(tool):
    grant = GrantFactory()
    PauseFactory(for_cohort=True, reason="Only the other cohort.")

    assert check(tool, grant.user_id)["allowed"] is True


def test_program_paused_gives_the_pause_reason(tool):
    grant = GrantFactory()
    PauseFactory(reason="Legal review of outputs, back Monday.")

    decision = check(tool, grant.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == ["program_paused"]
    assert "Legal review of outputs, back Monday." in decision["reasons"][0]["message"]


def test_ended_pauses_do_not_apply(tool):
    grant = GrantFactory()
    PauseFactory(ended=True)
    PauseFactory(for_cohort=True, cohort=grant.membership.cohort, ended=True)

    assert check(tool, grant.user_id)["allowed"] is True


def test_every_reason_that_applies_is_given_at_once(tool):
    member = MembershipFactory(user__active=False, terms_not_accepted=True)
    GrantFactory(membership=member, expired=True)
    PauseFactory(for_cohort=True, cohort=member.cohort, reason="Cohort reason.")
    PauseFactory(reason="Program reason.")

    decision = check(tool, member.user_id)

    assert decision["allowed"] is False
    assert codes(decision) == [
        "account_disabled",
        "terms_not_accepted",
        "grant_expired",
        "cohort_paused",
        "program_paused",
    ]
    assert all(reason["message"] for reason in decision["reasons"])


def test_a_global_pause_is_reported_even_without_membership(tool):
    artist = UserFactory()
    PauseFactory(reason="Program reason.")

    assert codes(check(tool, artist.id)) == ["no_active_membership", "program_paused"]


# --- who may ask --------------------------------------------------------------------------


def test_a_tool_token_may_ask_but_may_not_use_the_rest_of_the_api(tool):
    grant = GrantFactory()

    assert tool.get(f"/api/v1/access/{grant.user_id}").status_code == 200
    assert tool.get("/api/v1/access?external_id=x").status_code == 200
    response = tool.get("/api/v1/cohorts")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "missing_scope"
    assert tool.get(f"/api/v1/artists/{grant.user_id}").status_code == 403


@pytest.mark.parametrize("role", ["artist", "staff", "admin"])
def test_a_user_token_without_access_check_is_refused(api_client, role):
    user = UserFactory(**({} if role == "artist" else {role: True}))
    grant = GrantFactory()

    response = api_client(user).get(f"/api/v1/access/{grant.user_id}")

    assert response.status_code == 403
    assert "access:check" in response.get_json()["error"]["message"]


def test_a_user_token_holding_access_check_may_ask(api_client):
    admin = UserFactory(admin=True)
    grant = GrantFactory()

    response = api_client(admin, scopes=["api", "access:check"]).get(
        f"/api/v1/access/{grant.user_id}"
    )

    assert response.status_code == 200
    assert response.get_json()["allowed"] is True


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer eap_not-a-real-token"},
    ],
    ids=["missing", "empty", "not-bearer", "wrong"],
)
def test_missing_or_wrong_token_is_401(client, headers):
    grant = GrantFactory()

    response = client.get(f"/api/v1/access/{grant.user_id}", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["error"]["code"] in ("unauthorized", "invalid_token")


@pytest.mark.parametrize("trait", ["expired", "revoked"])
def test_expired_or_revoked_token_is_401(client, trait):
    token = ApiTokenFactory(**{trait: True})
    grant = GrantFactory()

    response = client.get(
        f"/api/v1/access/{grant.user_id}", headers={"Authorization": f"Bearer {token.plain}"}
    )

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_disabling_an_account_makes_its_tokens_401(api_client, db):
    admin = UserFactory(admin=True)
    caller = api_client(admin, scopes=["api", "access:check"])
    grant = GrantFactory()
    assert caller.get(f"/api/v1/access/{grant.user_id}").status_code == 200
    assert caller.get("/api/v1/me").status_code == 200

    accounts.set_user_active(Actor.system("test"), admin, False)
    db.session.commit()

    assert caller.get(f"/api/v1/access/{grant.user_id}").status_code == 401
    assert caller.get("/api/v1/me").status_code == 401


def test_the_decision_writes_nothing_to_the_audit_log(tool):
    from tests.helpers import audit_head_seq

    grant = GrantFactory()
    before = audit_head_seq()

    check(tool, grant.user_id)

    assert audit_head_seq() == before


# --- statement count (issue 2: at most 2 SQL statements per access decision) --------------

#: Transaction control is not a query: the test ``db`` fixture wraps each request in a SAVEPOINT
#: and the SQLite driver is sent an explicit BEGIN; neither reads or writes a row.
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def statements_of(db, call) -> list[str]:
    statements: list[str] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        if not TRANSACTION_CONTROL.match(statement):
            statements.append(statement)

    db.session.commit()
    sa.event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before_cursor_execute)
    return statements


def _history(size: int):
    """An allowed artist with ``size`` grants (all but one revoked) and ``size`` ended pauses
    (global and of their cohort)."""
    member = MembershipFactory(user__external_id=f"tool-{size}")
    for _ in range(size - 1):
        GrantFactory(membership=member, revoked=True)
    grant = GrantFactory(membership=member)
    for n in range(size):
        if n % 2:
            PauseFactory(ended=True)
        else:
            PauseFactory(for_cohort=True, cohort=member.cohort, ended=True)
    return grant


@pytest.mark.parametrize("by", ["id", "external_id"])
def test_a_decision_takes_at_most_two_statements_whatever_the_history(db, tool, by):
    counts = {}
    for size in (1, 50):
        grant = _history(size)
        url = (
            f"/api/v1/access/{grant.user_id}"
            if by == "id"
            else f"/api/v1/access?external_id=tool-{size}"
        )
        # The first call of a token records its last use (an UPDATE, at most once a minute);
        # steady state is every call after that, which is what the tool does all day.
        assert tool.get(url).status_code == 200

        statements = statements_of(db, lambda url=url: _assert_allowed(tool.get(url)))

        # The token lookup (joined with its user) and the decision itself, in one SELECT.
        assert len(statements) == 1, statements
        assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
        counts[size] = len(statements)
    assert counts[1] == counts[50]


def _assert_allowed(response):
    assert response.status_code == 200
    assert response.get_json()["allowed"] is True


def test_a_refused_check_also_stays_within_two_statements(db, tool):
    grant = GrantFactory()
    CohortFactory()
    PauseFactory(reason="Paused.")
    url = f"/api/v1/access/{grant.user_id}"
    assert tool.get(url).status_code == 200

    statements = statements_of(db, lambda: tool.get(url))

    assert len(statements) == 1, statements
