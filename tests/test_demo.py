"""`flask seed-demo`: a program to click through, built through the services, made only once."""

from __future__ import annotations

import datetime as dt

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
from access_program.compensation.models import Contribution, ContributionKind, ContributionStatus
from access_program.compensation.service import balance
from access_program.db import db as _db
from access_program.db import utcnow
from access_program.demo import ADMIN, ARTIST_PASSWORD, DEMO_COHORT, REVIEWER2, REVIEWER3, STAFF
from access_program.reviews.models import Decision, DecisionState, Outcome, Status, Submission
from access_program.reviews.service import rejection_participants
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


def test_seed_demo_adds_requests_in_every_state_some_overdue(runner):
    result = _seed(runner)

    assert f"{REVIEWER2[0]} / {REVIEWER2[2]}" in result.output
    assert f"{REVIEWER3[0]} / {REVIEWER3[2]}" in result.output
    assert {_user(p[0]).role for p in (STAFF, REVIEWER2, REVIEWER3)} == {Role.STAFF}
    submissions = _db.session.scalars(sa.select(Submission)).all()
    assert {s.status for s in submissions} == set(Status)
    first = _user("artist001@example.org")
    assert {s.status for s in submissions if s.artist_id == first.id} == set(Status)
    # Revoked artists (the last three) have no requests.
    assert _user("artist012@example.org").id not in {s.artist_id for s in submissions}
    now = utcnow()
    escalated = [s for s in submissions if s.escalated_at is not None]
    assert escalated and all(s.is_open and s.is_overdue(now) for s in escalated)
    assert any(s.is_overdue(now) and s.escalated_at is None for s in submissions)
    deemed = [s for s in submissions if s.status == Status.DEEMED_APPROVED]
    assert deemed and all(s.decided_at is not None for s in deemed)
    assert _count(Decision, Decision.outcome == Outcome.DEEMED_APPROVED) == len(deemed)
    assert any(s.revision == 2 and s.status == Status.SUBMITTED for s in submissions)
    # Every final rejection was confirmed by a second person; appeals by a third.
    rejections = _db.session.scalars(
        sa.select(Decision).where(
            Decision.outcome == Outcome.REJECTED, Decision.state == DecisionState.FINAL
        )
    ).all()
    assert rejections
    assert all(d.confirmed_by_id not in (None, d.reviewer_id) for d in rejections)
    assert _count(Decision, Decision.state == DecisionState.PROPOSED) > 0
    assert _count(Decision, Decision.state == DecisionState.OVERTURNED) > 0
    appeals = [s.appeal for s in submissions if s.appeal and s.appeal.decided_by_id]
    assert {a.outcome for a in appeals} == {"granted", "upheld"}
    assert all(a.decided_by_id not in rejection_participants(a.submission) for a in appeals)
    applied = runner.invoke(args=["reviews", "apply-deadlines"])
    assert applied.exit_code == 0, applied.output
    assert _count(Submission, Submission.status == Status.DEEMED_APPROVED) > len(deemed)


def test_seed_demo_adds_contributions_so_the_ledger_has_balances(runner):
    _seed(runner)

    def kinds(status):
        return set(
            _db.session.scalars(sa.select(Contribution.kind).where(Contribution.status == status))
        )

    assert {ContributionKind.BUG_REPORT} <= kinds(ContributionStatus.PROPOSED)
    assert {
        ContributionKind.BUG_REPORT,
        ContributionKind.RED_TEAM_FINDING,
        ContributionKind.FEEDBACK_SESSION,
        ContributionKind.MARKETING_USE,
        ContributionKind.STIPEND,
    } <= kinds(ContributionStatus.ACCEPTED)
    declined = _db.session.scalars(
        sa.select(Contribution).where(Contribution.status == ContributionStatus.DECLINED)
    ).all()
    assert declined and all(len(c.decline_reason or "") >= 20 for c in declined)
    assert _count(Contribution, Contribution.kind == ContributionKind.FEEDBACK_SESSION) == 8
    # Last month's stipend for each of the nine active members, at the rate card's 300.00.
    stipends = _db.session.scalars(
        sa.select(Contribution).where(Contribution.kind == ContributionKind.STIPEND)
    ).all()
    last_month = (utcnow().date().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    assert len(stipends) == 9
    assert {(c.month, c.amount_minor) for c in stipends} == {(last_month, 30000)}
    first = _user("artist001@example.org")
    amount, currency = balance(first.id)
    approved = _count(
        Contribution,
        Contribution.kind == ContributionKind.APPROVED_OUTPUT,
        Contribution.artist_id == first.id,
    )
    assert approved > 0
    # stipend 300 + feedback 2 h × 75 + high bug 200 + high red-team finding 400 + marketing 500
    # + 20.00 per approved output
    assert (amount, currency) == (30000 + 15000 + 20000 + 40000 + 50000 + approved * 2000, "USD")
    assert balance(_user("artist009@example.org").id)[0] > 0
