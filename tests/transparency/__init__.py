"""Tests of the public transparency report.

``build_dataset()`` makes a small program whose every figure is known (see ``Dataset``): cohort
Aurora with five active members and plenty of activity, Borealis with one member, Cygnus closed
and empty, and a draft cohort that the report must not name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from access_program import audit
from access_program.accounts.models import User
from access_program.audit.service import Actor
from access_program.cohorts.models import Cohort
from access_program.compensation.models import LedgerEntry
from access_program.db import db, utcnow
from tests.factories import (
    AppealFactory,
    CohortFactory,
    ContributionFactory,
    DecisionFactory,
    GrantFactory,
    InvitationFactory,
    LedgerEntryFactory,
    MembershipFactory,
    PauseFactory,
    PayoutFactory,
    SubmissionFactory,
    UserFactory,
)

CATEGORIES = ("misconduct", "inactivity", "artist_request", "program_end", "other")
PROGRAM_PAUSE_REASON = "Safety review of a model update."
COHORT_PAUSE_REASON = "Borealis storage migration."


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


@dataclass
class Dataset:
    aurora: Cohort
    borealis: Cohort
    cygnus: Cohort
    draft: Cohort
    artists: list[User]
    #: Everything personal the report must never show.
    secrets: list[str] = field(default_factory=list)


def artist(n: int) -> User:
    return UserFactory(name=f"Zelda Quixote{n}", email=f"zelda.quixote{n}@artists.example")


def build_dataset() -> Dataset:
    """The known program.

    Aurora (review deadline 72 h): 5 active members and 1 who left; invitations 5 accepted,
    1 declined, 1 expired and 1 pending past its expiry, 2 pending; one revocation per category;
    requests: approved in 10 h; rejected (proposed at 50 h, confirmed at 100 h, citing P1 and
    P2) and then granted on appeal; deemed approved at 73 h; changes requested at 20 h (citing P1)
    and its revision approved 30 h after it was sent; one still submitted (with a proposed
    rejection citing P2 that has not taken effect). Decisions: 10, 20, 30, 73, 100 h, 3 within
    the deadline. Credited: bug report $20 (a second one of $30 corrected away), feedback $50,
    marketing use $500; paid: $520 and $50; a failed and a fully reversed payout pay nothing.

    Borealis: 1 member; invitations 1 pending and 1 withdrawn; an ongoing cohort pause; a stipend
    of $250, paid $250 of which $50 was reversed.

    The program: a global pause of exactly 6 hours, ended; two audit events.
    """
    now = utcnow()
    aurora = CohortFactory(name="Aurora", review_hours=72)
    borealis = CohortFactory(name="Borealis")
    cygnus = CohortFactory(name="Cygnus", closed=True)
    draft = CohortFactory(name="Secret draft cohort", draft=True)

    artists = [artist(n) for n in range(7)]
    a = [MembershipFactory(cohort=aurora, user=user) for user in artists[:5]]
    MembershipFactory(cohort=aurora, user=artists[5], ended=True)
    MembershipFactory(cohort=borealis, user=artists[6])

    for user in artists[:5]:
        InvitationFactory(cohort=aurora, email=user.email, accepted=True)
    InvitationFactory(cohort=aurora, email="declined@invitees.example", status="declined")
    InvitationFactory(cohort=aurora, email="expired@invitees.example", status="expired")
    InvitationFactory(cohort=aurora, email="stale@invitees.example", expired=True)
    InvitationFactory(cohort=aurora, email="waiting1@invitees.example")
    InvitationFactory(cohort=aurora, email="waiting2@invitees.example")
    InvitationFactory(cohort=borealis, email="waiting3@invitees.example")
    InvitationFactory(cohort=borealis, email="withdrawn@invitees.example", withdrawn=True)

    for membership, category in zip(a, CATEGORIES, strict=True):
        GrantFactory(
            membership=membership,
            revoked=True,
            revoke_category=category,
            revoke_reason=f"Confidential reason about {category} #7731",
        )

    PauseFactory(
        reason=PROGRAM_PAUSE_REASON,
        started_at=now - hours(10),
        ended_at=now - hours(4),
        end_note="Done.",
    )
    PauseFactory(
        scope="cohort",
        cohort=borealis,
        reason=COHORT_PAUSE_REASON,
        started_at=now - hours(2),
        expected_end_at=now + hours(24),
    )

    t = now - dt.timedelta(days=30)
    reviewer = UserFactory(staff=True, name="Rita Reviewer", email="rita@staff.example")
    approved = SubmissionFactory(membership=a[0], submitted_at=t, status="approved")
    DecisionFactory(submission=approved, reviewer=reviewer, decided_at=t + hours(10))

    appealed = SubmissionFactory(membership=a[1], submitted_at=t, status="appeal_granted")
    DecisionFactory(
        submission=appealed,
        reviewer=reviewer,
        outcome="rejected",
        reason="It shows a real person without consent.",
        clauses=["P1", "P2"],
        decided_at=t + hours(50),
        confirmed_at=t + hours(100),
    )
    AppealFactory(
        submission=appealed,
        outcome="granted",
        reason="The person is a consenting collaborator.",
        decided_at=t + hours(120),
    )

    deemed = SubmissionFactory(membership=a[2], submitted_at=t, status="deemed_approved")
    DecisionFactory(submission=deemed, deemed=True, decided_at=t + hours(73))

    revised = SubmissionFactory(
        membership=a[3],
        created_at=t,
        submitted_at=t + hours(48),
        revision=2,
        status="approved",
    )
    DecisionFactory(
        submission=revised,
        revision=1,
        reviewer=reviewer,
        outcome="changes_requested",
        reason="Blur the unreleased interface first.",
        clauses=["P1"],
        decided_at=t + hours(20),
    )
    DecisionFactory(submission=revised, reviewer=reviewer, decided_at=t + hours(48 + 30))

    waiting = SubmissionFactory(membership=a[4])
    DecisionFactory(
        submission=waiting,
        reviewer=reviewer,
        outcome="rejected",
        state="proposed",
        reason="It shows confidential features.",
        clauses=["P2"],
    )

    def credit(user: User, cohort: Cohort, kind: str, amount: int) -> LedgerEntry:
        contribution = ContributionFactory(
            artist=user, cohort_id=cohort.id, kind=kind, amount_minor=amount
        )
        return LedgerEntryFactory(contribution=contribution)

    credit(artists[0], aurora, "bug_report", 2000)
    corrected = credit(artists[2], aurora, "bug_report", 3000)
    LedgerEntryFactory(
        contribution=None,
        contribution_id=None,
        artist_id=artists[2].id,
        kind="correction",
        amount_minor=-3000,
        currency="USD",
        reverses_entry_id=corrected.id,
    )
    credit(artists[1], aurora, "feedback_session", 5000)
    credit(artists[0], aurora, "marketing_use", 50000)
    credit(artists[6], borealis, "stipend", 25000)

    PayoutFactory(artist=artists[0], paid=True, amount_minor=52000)
    PayoutFactory(artist=artists[1], paid=True, amount_minor=5000)
    PayoutFactory(artist=artists[2], status="failed", amount_minor=3000)
    PayoutFactory(
        artist=artists[3], paid=True, status="reversed", amount_minor=4000, amount_reversed=4000
    )
    PayoutFactory(artist=artists[6], paid=True, amount_minor=25000, amount_reversed=5000)

    system = Actor.system("test")
    audit.record(system, "cohort.created", "cohort", aurora.id)
    audit.record(system, "cohort.opened", "cohort", aurora.id)
    db.session.flush()

    secrets = [
        *(u.name for u in artists),
        *(u.email for u in artists),
        "Rita Reviewer",
        "rita@staff.example",
        "@invitees.example",
        "Confidential reason",
        "Secret draft cohort",
        "It shows a real person",
        "consenting collaborator",
    ]
    return Dataset(aurora, borealis, cygnus, draft, artists, secrets)
