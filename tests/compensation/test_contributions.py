"""Proposing, accepting and declining contributions: the price comes from the rate card of the
terms the artist had accepted when the work was done; each change is one audit event about the
artist; accepting or declining tells the artist by email."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.compensation import service
from access_program.compensation.models import Contribution, LedgerEntry
from access_program.db import utcnow
from access_program.errors import Forbidden, InvalidTransition, ValidationError
from tests.compensation import (
    actions_for,
    days_ago,
    entries_of,
    member,
    move_to_new_terms,
    outbox_for,
)
from tests.factories import UserFactory
from tests.helpers import audit_head_seq


def today_minus(days: int) -> dt.date:
    return days_ago(days).date()


@pytest.fixture
def staff(db):
    return UserFactory(staff=True)


def test_an_artist_proposes_a_bug_report_and_nothing_is_credited_yet(db):
    artist = member().user
    seq = audit_head_seq()

    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="Crash on export"
    )

    assert (contribution.status, contribution.amount_minor) == ("proposed", None)
    assert contribution.work_date == utcnow().date()
    assert contribution.proposed_by_id == artist.id
    assert actions_for(seq) == [("contribution.proposed", artist.id)]
    assert entries_of(artist.id) == []


def test_feedback_hours_are_stored_as_minutes(db):
    artist = member().user

    contribution = service.propose_contribution(
        artist, kind="feedback_session", hours="1.5", title="Call about the timeline"
    )

    assert contribution.minutes == 90
    assert contribution.hours == 1.5


@pytest.mark.parametrize(
    ("minutes", "rate", "amount"),
    [(60, 5000, 5000), (1, 30, 1), (1, 29, 0), (90, 3333, 5000), (21, 3333, 1167), (45, 1, 1)],
)
def test_feedback_is_paid_minutes_times_rate_over_60_rounded_half_up(minutes, rate, amount):
    assert service.fee_for_minutes(minutes, rate) == amount


def test_accepting_prices_it_at_the_rate_card_and_credits_the_ledger_at_once(db, staff):
    artist = member(bug_high=15000).user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="Crash on export"
    )
    seq = audit_head_seq()

    service.accept_contribution(staff, contribution)

    assert (contribution.status, contribution.amount_minor, contribution.currency) == (
        "accepted",
        15000,
        "USD",
    )
    assert contribution.terms_id == artist_terms_id(artist)
    [entry] = entries_of(artist.id)
    assert (entry.kind, entry.amount_minor, entry.contribution_id, entry.terms_id) == (
        "credit",
        15000,
        contribution.id,
        contribution.terms_id,
    )
    assert actions_for(seq) == [("contribution.accepted", artist.id)]
    [email] = outbox_for(artist.id)
    assert email.subject == "Contribution accepted: Crash on export"
    assert "$150.00" in email.body
    assert service.balance(artist.id) == (15000, "USD")


def artist_terms_id(artist) -> int:
    return service.price_point(artist.id, utcnow().date()).terms_id


def test_feedback_hours_are_paid_at_the_hourly_rate(db, staff):
    artist = member(feedback_hour=3333).user
    contribution = service.propose_contribution(
        artist, kind="feedback_session", hours=0.35, title="Interview"
    )

    service.accept_contribution(staff, contribution)

    assert (contribution.minutes, contribution.amount_minor) == (21, 1167)


def test_work_is_priced_by_the_terms_accepted_when_it_was_done(db, staff):
    membership = member(accepted_days_ago=90, bug_high=15000, red_team_critical=80000)
    old_terms_id = membership.accepted_terms_id
    new_terms = move_to_new_terms(
        membership, accepted_days_ago=10, bug_high=20000, red_team_critical=99000
    )
    artist = membership.user
    before = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="Old", work_date=today_minus(30)
    )
    after = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="New", work_date=today_minus(5)
    )
    # Accepted on the work day itself (any time that day) counts for that day's work.
    same_day = service.propose_contribution(
        artist,
        kind="red_team_finding",
        severity="critical",
        title="Same day",
        work_date=today_minus(10),
    )

    for contribution in (before, after, same_day):
        service.accept_contribution(staff, contribution)

    assert (before.amount_minor, before.terms_id) == (15000, old_terms_id)
    assert (after.amount_minor, after.terms_id) == (20000, new_terms.id)
    assert (same_day.amount_minor, same_day.terms_id) == (99000, new_terms.id)
    assert [e.terms_id for e in entries_of(artist.id)] == [old_terms_id, new_terms.id, new_terms.id]


def test_work_before_any_accepted_terms_cannot_be_proposed(db):
    artist = member(accepted_days_ago=3).user

    with pytest.raises(ValidationError) as error:
        service.propose_contribution(
            artist, kind="bug_report", severity="low", title="Old", work_date=today_minus(10)
        )

    assert "work_date" in error.value.details


def test_work_in_the_future_cannot_be_proposed(db):
    artist = member().user

    with pytest.raises(ValidationError) as error:
        service.propose_contribution(
            artist,
            kind="bug_report",
            severity="low",
            title="Tomorrow",
            work_date=utcnow().date() + dt.timedelta(days=1),
        )

    assert error.value.details["work_date"] == ["That date is in the future."]


def test_a_zero_fee_is_accepted_without_a_ledger_entry(db, staff):
    artist = member(bug_low=0).user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )

    service.accept_contribution(staff, contribution)

    assert (contribution.status, contribution.amount_minor) == ("accepted", 0)
    assert entries_of(artist.id) == []


def test_declining_needs_a_reason_and_tells_the_artist(db, staff):
    artist = member().user
    contribution = service.propose_contribution(
        artist, kind="red_team_finding", severity="medium", title="Prompt leak"
    )

    with pytest.raises(ValidationError) as error:
        service.decline_contribution(staff, contribution, "   ")
    assert "reason" in error.value.details

    seq = audit_head_seq()
    service.decline_contribution(staff, contribution, "Already reported by another artist.")

    assert (contribution.status, contribution.decline_reason) == (
        "declined",
        "Already reported by another artist.",
    )
    assert actions_for(seq) == [("contribution.declined", artist.id)]
    [email] = outbox_for(artist.id)
    assert email.subject == "Contribution declined: Prompt leak"
    assert "Reason: Already reported by another artist." in email.body
    assert entries_of(artist.id) == []


def test_a_declined_contribution_cannot_be_accepted(db, staff):
    artist = member().user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )
    service.decline_contribution(staff, contribution, "Not reproducible.")

    with pytest.raises(InvalidTransition, match="declined") as error:
        service.accept_contribution(staff, contribution)

    assert error.value.status == 409
    assert error.value.details == {"status": "declined"}
    assert entries_of(artist.id) == []


def test_an_accepted_contribution_is_credited_once(db, staff):
    artist = member().user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )
    service.accept_contribution(staff, contribution)

    with pytest.raises(InvalidTransition, match="accepted"):
        service.accept_contribution(staff, contribution)
    with pytest.raises(InvalidTransition, match="accepted"):
        service.decline_contribution(staff, contribution, "Changed my mind.")

    assert len(entries_of(artist.id)) == 1


def test_the_database_refuses_a_second_credit_for_one_contribution(db, staff):
    artist = member().user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )
    service.accept_contribution(staff, contribution)

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(
            LedgerEntry(
                artist_id=artist.id,
                kind="credit",
                amount_minor=2000,
                currency="USD",
                description="again",
                contribution_id=contribution.id,
            )
        )

    assert len(entries_of(artist.id)) == 1


def test_staff_propose_for_an_artist_and_must_name_one(db, staff):
    artist = member().user

    with pytest.raises(ValidationError) as error:
        service.propose_contribution(staff, kind="bug_report", severity="low", title="Typo")
    assert "artist_id" in error.value.details
    with pytest.raises(ValidationError) as error:
        service.propose_contribution(
            staff, kind="bug_report", severity="low", title="Typo", artist_id=staff.id
        )
    assert error.value.details["artist_id"] == [f"No artist {staff.id}."]

    contribution = service.propose_contribution(
        staff, kind="bug_report", severity="low", title="Typo", artist_id=artist.id
    )
    assert (contribution.artist_id, contribution.proposed_by_id) == (artist.id, staff.id)


def test_an_artist_cannot_propose_for_someone_else_or_decide(db):
    artist, other = member().user, member().user

    with pytest.raises(Forbidden):
        service.propose_contribution(
            artist, kind="bug_report", severity="low", title="Typo", artist_id=other.id
        )
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )
    with pytest.raises(Forbidden):
        service.accept_contribution(other, contribution)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "poem"}, "kind"),
        ({"kind": "stipend"}, "kind"),
        ({"kind": "feedback_session", "hours": 0}, "hours"),
        ({"kind": "feedback_session", "hours": -2}, "hours"),
        ({"kind": "feedback_session", "hours": "24.01"}, "hours"),
        ({"kind": "feedback_session", "hours": "0.001"}, "hours"),
        ({"kind": "feedback_session"}, "hours"),
        ({"kind": "bug_report", "severity": "catastrophic"}, "severity"),
        ({"kind": "red_team_finding"}, "severity"),
        ({"kind": "bug_report", "severity": "low", "hours": 2}, "hours"),
        ({"kind": "bug_report", "severity": "low", "title": " "}, "title"),
        ({"kind": "bug_report", "severity": "low", "link": "javascript:alert(1)"}, "link"),
    ],
)
def test_bad_proposals_are_refused_per_field(db, fields, field):
    artist = member().user
    data = {"title": "Something", **fields}

    with pytest.raises(ValidationError) as error:
        service.propose_contribution(artist, **data)

    assert error.value.status == 422
    assert field in error.value.details
    assert db.session.scalar(sa.select(sa.func.count(Contribution.id))) == 0


def test_twenty_four_hours_is_the_longest_session(db):
    artist = member().user

    contribution = service.propose_contribution(
        artist, kind="feedback_session", hours=24, title="Hackathon"
    )

    assert contribution.minutes == 24 * 60
