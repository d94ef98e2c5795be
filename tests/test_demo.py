"""`flask seed-demo`: a program to click through, built through the services, made only once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from access_program.access.models import Grant, Pause
from access_program.access.service import decide_access
from access_program.accounts.models import Role, User
from access_program.audit.service import head
from access_program.cohorts.models import (
    Cohort,
    CohortStatus,
    Invitation,
    InvitationStatus,
    Membership,
    MembershipStatus,
)
from access_program.db import db as _db
from access_program.demo import ADMIN, ARTIST_PASSWORD, DEMO_COHORT, STAFF
from tests.factories import UserFactory
from tests.helpers import CSRF_RE

pytestmark = pytest.mark.usefixtures("db")


def _seed(runner, *args: str):
    result = runner.invoke(args=["seed-demo", "--artists", "12", "--pending", "3", *args])
    assert result.exit_code == 0, result.output
    return result


def _count(model, *where) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _row_counts() -> dict[str, int]:
    return {
        table.name: _db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in _db.metadata.sorted_tables
    }


def _user(email: str) -> User:
    return _db.session.scalar(sa.select(User).where(User.email == email))


def test_seed_demo_builds_an_open_cohort_with_members_invitations_and_history(runner):
    result = _seed(runner)

    assert "Demo data created." in result.output
    assert f"{ADMIN[0]} / {ADMIN[2]}" in result.output
    cohort = _db.session.scalar(sa.select(Cohort).where(Cohort.name == DEMO_COHORT))
    assert cohort.status == CohortStatus.OPEN
    assert cohort.capacity == 300
    assert cohort.terms is not None and cohort.terms.is_published
    assert [c.code for c in cohort.terms.clauses][:2] == ["P1", "P2"]
    assert cohort.terms.rate_card.currency == "USD"
    assert _user(ADMIN[0]).role == Role.ADMIN
    assert _user(STAFF[0]).role == Role.STAFF
    assert _count(User, User.role == Role.ARTIST) == 12
    assert _count(Membership, Membership.status == MembershipStatus.ACTIVE) == 12
    assert _count(Invitation, Invitation.status == InvitationStatus.ACCEPTED) == 12
    assert _count(Invitation, Invitation.status == InvitationStatus.PENDING) == 3
    revoked = _db.session.scalars(sa.select(Grant).where(Grant.revoked_at.is_not(None))).all()
    assert len(revoked) == 3
    assert all(g.revoke_reason for g in revoked)
    pauses = _db.session.scalars(sa.select(Pause)).all()
    assert len(pauses) == 1 and pauses[0].ended_at is not None
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and verified.output.startswith("OK:"), verified.output


def test_seeded_artists_get_the_access_decision_their_history_implies(runner):
    _seed(runner)

    first = _user("artist001@example.org")
    assert decide_access(artist_id=first.id).allowed is True
    assert decide_access(external_id="tool-user-0001").allowed is True
    last = _user("artist012@example.org")
    denied = decide_access(artist_id=last.id)
    assert denied.allowed is False
    assert [r["code"] for r in denied.reasons] == ["no_active_grant"]


def test_seeded_artist_can_sign_in_with_the_published_password(runner, client):
    _seed(runner)

    response = client.get("/login")
    assert response.status_code == 200
    token = CSRF_RE.search(response.get_data(as_text=True))
    assert token, "the sign-in form has a CSRF token"
    response = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "email": "artist001@example.org",
            "password": ARTIST_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")


def test_running_seed_demo_twice_changes_nothing(runner):
    _seed(runner)
    counts, chain_head = _row_counts(), head()

    again = _seed(runner)

    assert "already present; nothing changed" in again.output
    assert _row_counts() == counts
    assert head() == chain_head


def test_seed_demo_reuses_an_admin_made_earlier_from_the_command_line(runner):
    existing = UserFactory(admin=True, email=ADMIN[0])

    _seed(runner)

    assert _count(User, User.email == ADMIN[0]) == 1
    cohort = _db.session.scalar(sa.select(Cohort).where(Cohort.name == DEMO_COHORT))
    assert cohort.status == CohortStatus.OPEN
    assert _user(ADMIN[0]).id == existing.id
