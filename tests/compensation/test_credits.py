"""Credits the program makes itself or staff record: feedback sessions, marketing uses, approved
outputs, stipends, adjustments; corrections; and the payout entries the payouts domain posts.
The database refuses every double credit; the ledger is never edited."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.audit.service import Actor
from access_program.compensation import service
from access_program.compensation.models import Contribution, LedgerEntry
from access_program.db import utcnow
from access_program.errors import Conflict, Forbidden, InvalidTransition, ValidationError
from tests.compensation import (
    actions_for,
    days_ago,
    entries_of,
    make_payout,
    member,
    move_to_new_terms,
    outbox_for,
    row_counts,
)
from tests.factories import GrantFactory, MembershipFactory, SubmissionFactory, UserFactory
from tests.helpers import audit_head_seq

SYSTEM = Actor.system("test")


@pytest.fixture
def staff(db):
    return UserFactory(staff=True)


@pytest.fixture
def admin(db):
    return UserFactory(admin=True)


def this_month() -> str:
    return utcnow().strftime("%Y-%m")


def last_month() -> str:
    first = utcnow().date().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


# --- feedback sessions ---------------------------------------------------------------------


def test_a_feedback_session_credits_each_artist_at_their_own_rate_card(db, staff):
    a = member(feedback_hour=6000).user
    b = member(feedback_hour=4000).user
    held_on = days_ago(2).date()
    seq = audit_head_seq()

    logged = service.log_feedback_session(
        staff,
        title="Editing tools round table",
        held_on=held_on,
        hours=1.5,
        artist_ids=[a.id, b.id],
    )

    assert logged.session.minutes == 90
    assert [(c.artist_id, c.status, c.amount_minor) for c in logged.contributions] == [
        (a.id, "accepted", 9000),
        (b.id, "accepted", 6000),
    ]
    assert [e.amount_minor for e in entries_of(a.id)] == [9000]
    assert [e.amount_minor for e in entries_of(b.id)] == [6000]
    assert actions_for(seq) == [("contribution.credited", a.id), ("contribution.credited", b.id)]


def test_a_feedback_session_with_unknown_or_non_member_ids_writes_nothing(db, staff):
    a = member().user
    ended = MembershipFactory(ended=True)
    ended.ended_at = days_ago(30)
    non_member = UserFactory()
    before = row_counts()

    with pytest.raises(ValidationError) as error:
        service.log_feedback_session(
            staff,
            title="Round table",
            held_on=days_ago(1).date(),
            hours=2,
            artist_ids=[a.id, 999_999, non_member.id, ended.user_id, staff.id],
        )

    problems = error.value.details["artist_ids"]
    assert "No artist 999999." in problems
    assert f"No artist {staff.id}." in problems
    assert any(f"Artist {non_member.id} " in p for p in problems)
    assert any(f"Artist {ended.user_id} " in p for p in problems)
    assert not any(f"Artist {a.id} " in p for p in problems)
    assert row_counts() == before


@pytest.mark.parametrize("hours", [0, -1, "24.5"])
def test_a_feedback_session_needs_hours_between_0_and_24(db, staff, hours):
    a = member().user

    with pytest.raises(ValidationError) as error:
        service.log_feedback_session(
            staff, title="Round table", held_on=days_ago(1).date(), hours=hours, artist_ids=[a.id]
        )

    assert "hours" in error.value.details


def test_only_staff_log_feedback_sessions(db):
    a = member().user

    with pytest.raises(Forbidden):
        service.log_feedback_session(
            a, title="Me", held_on=days_ago(1).date(), hours=1, artist_ids=[a.id]
        )


# --- marketing uses ------------------------------------------------------------------------


def approved_submission(membership=None, status="approved", **kwargs):
    submission = SubmissionFactory(membership=membership or member(), **kwargs)
    submission.status = status
    submission.queue_at = submission.due_at = None
    return submission


def test_a_marketing_use_credits_the_fee_of_the_terms_on_the_day_of_use(db, staff):
    membership = member(accepted_days_ago=60, marketing_use=50000)
    submission = approved_submission(membership)
    move_to_new_terms(membership, accepted_days_ago=5, marketing_use=70000)
    seq = audit_head_seq()

    early = service.record_marketing_use(
        staff, submission_id=submission.id, channel="Instagram", used_on=days_ago(20).date()
    )
    late = service.record_marketing_use(
        staff, submission_id=submission.id, channel="Launch video", used_on=days_ago(1).date()
    )

    assert (early.kind, early.status, early.amount_minor) == ("marketing_use", "accepted", 50000)
    assert late.amount_minor == 70000
    assert (early.submission_id, early.channel) == (submission.id, "Instagram")
    assert [e.amount_minor for e in entries_of(membership.user_id)] == [50000, 70000]
    assert actions_for(seq) == [("contribution.credited", membership.user_id)] * 2


@pytest.mark.parametrize("status", ["submitted", "in_review", "rejected", "withdrawn"])
def test_a_marketing_use_needs_an_approved_output(db, staff, status):
    submission = approved_submission(status=status)
    before = row_counts()

    with pytest.raises(Conflict) as error:
        service.record_marketing_use(
            staff, submission_id=submission.id, channel="Billboard", used_on=days_ago(1).date()
        )

    assert error.value.status == 409
    assert row_counts() == before


def test_the_same_marketing_use_is_not_recorded_twice(db, staff):
    submission = approved_submission(status="deemed_approved")
    used_on = days_ago(1).date()
    service.record_marketing_use(
        staff, submission_id=submission.id, channel="Billboard", used_on=used_on
    )

    with pytest.raises(Conflict, match="already recorded"):
        service.record_marketing_use(
            staff, submission_id=submission.id, channel="billboard", used_on=used_on
        )


def test_a_marketing_use_of_an_unknown_request_is_a_validation_error(db, staff):
    with pytest.raises(ValidationError) as error:
        service.record_marketing_use(
            staff, submission_id=424242, channel="Billboard", used_on=days_ago(1).date()
        )

    assert "submission_id" in error.value.details


# --- approved outputs ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["approved", "deemed_approved", "appeal_granted"])
def test_an_approved_output_is_credited_once(db, status):
    membership = member(approved_output=1200)
    submission = approved_submission(membership, status=status)
    seq = audit_head_seq()

    first = service.credit_approved_output(submission)
    second = service.credit_approved_output(submission)

    assert first is second
    assert (first.kind, first.status, first.amount_minor, first.terms_id) == (
        "approved_output",
        "accepted",
        1200,
        submission.terms_id,
    )
    assert [e.amount_minor for e in entries_of(membership.user_id)] == [1200]
    assert actions_for(seq) == [("contribution.credited", membership.user_id)]


def test_an_approved_output_fee_of_zero_records_the_contribution_without_an_entry(db):
    membership = member(approved_output=0)
    submission = approved_submission(membership)

    contribution = service.credit_approved_output(submission)

    assert (contribution.status, contribution.amount_minor) == ("accepted", 0)
    assert entries_of(membership.user_id) == []


def test_an_undecided_request_earns_no_approved_output_fee(db):
    submission = SubmissionFactory()

    with pytest.raises(InvalidTransition):
        service.credit_approved_output(submission)


def test_the_database_refuses_a_second_approved_output_for_a_request(db):
    submission = approved_submission(member(approved_output=1200))
    service.credit_approved_output(submission)

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(
            Contribution(
                artist_id=submission.artist_id,
                kind="approved_output",
                status="accepted",
                submission_id=submission.id,
                work_date=utcnow().date(),
            )
        )


# --- stipends ------------------------------------------------------------------------------


def test_stipends_accrue_once_per_active_member_and_month(db):
    a = member(monthly_stipend=25000).user
    b = member(monthly_stipend=30000).user
    member(monthly_stipend=0)  # pays no stipend
    MembershipFactory(ended=True)  # left
    MembershipFactory(terms_not_accepted=True)  # has not accepted terms
    seq = audit_head_seq()

    first = service.accrue_stipends(last_month())
    second = service.accrue_stipends(last_month())

    assert (first.credited, first.zero_stipend, first.already_credited) == (2, 1, 0)
    assert (second.credited, second.already_credited) == (0, 2)
    assert [e.amount_minor for e in entries_of(a.id)] == [25000]
    assert [e.amount_minor for e in entries_of(b.id)] == [30000]
    assert sorted(actions_for(seq)) == sorted(
        [("contribution.credited", a.id), ("contribution.credited", b.id)]
    )
    [stipend] = [c for c in first.contributions if c.artist_id == a.id]
    assert (stipend.kind, stipend.month, stipend.status) == ("stipend", last_month(), "accepted")


def test_a_paused_program_still_accrues_stipends(db):
    from tests.factories import PauseFactory

    PauseFactory()
    a = member(monthly_stipend=25000).user

    assert service.accrue_stipends(this_month()).credited == 1
    assert service.balance(a.id) == (25000, "USD")


def test_a_second_stipend_for_a_month_is_refused(db):
    a = member(monthly_stipend=25000).user
    service.credit_stipend(SYSTEM, a.id, this_month())

    with pytest.raises(Conflict) as error:
        service.credit_stipend(SYSTEM, a.id, this_month())

    assert error.value.status == 409
    assert "already" in error.value.message
    assert len(entries_of(a.id)) == 1


def test_the_database_refuses_a_second_stipend_row(db):
    a = member(monthly_stipend=25000).user
    service.credit_stipend(SYSTEM, a.id, this_month())

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(
            Contribution(
                artist_id=a.id,
                kind="stipend",
                status="accepted",
                month=this_month(),
                work_date=utcnow().date(),
            )
        )


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "March", "", "0000-01", "2026-03-01"])
def test_a_malformed_month_is_refused(db, month):
    with pytest.raises(ValidationError) as error:
        service.accrue_stipends(month)

    assert "month" in error.value.details


def test_a_month_that_has_not_started_is_refused(db):
    next_year = f"{utcnow().year + 1}-01"

    with pytest.raises(ValidationError):
        service.accrue_stipends(next_year)


# --- adjustments and corrections -----------------------------------------------------------


@pytest.mark.usefixtures("adjustment_entries")
def test_an_adjustment_credits_or_debits_with_its_reason(db, admin):
    artist = member().user
    seq = audit_head_seq()

    up = service.record_adjustment(
        admin, artist_id=artist.id, amount_minor=5000, reason="Travel costs for the workshop."
    )
    down = service.record_adjustment(
        admin, artist_id=artist.id, amount_minor=-1500, reason="Travel costs were overstated."
    )

    assert (up.kind, up.status, up.amount_minor, up.currency) == (
        "adjustment",
        "accepted",
        5000,
        "USD",
    )
    assert [(e.kind, e.amount_minor) for e in entries_of(artist.id)] == [
        ("adjustment", 5000),
        ("adjustment", -1500),
    ]
    assert down.description == "Travel costs were overstated."
    assert service.balance(artist.id) == (3500, "USD")
    assert actions_for(seq) == [("contribution.credited", artist.id)] * 2
    assert len(outbox_for(artist.id)) == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount_minor": 0}, "amount_minor"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"amount_minor": 10**13}, "amount_minor"),
        ({"artist_id": 999_999}, "artist_id"),
    ],
)
def test_an_adjustment_needs_an_artist_a_reason_and_a_non_zero_amount(db, admin, fields, field):
    artist = member().user
    data = {"artist_id": artist.id, "amount_minor": 100, "reason": "Because.", **fields}
    before = row_counts()

    with pytest.raises(ValidationError) as error:
        service.record_adjustment(admin, **data)

    assert field in error.value.details
    assert row_counts() == before


def test_only_admins_adjust(db, staff):
    artist = member().user

    with pytest.raises(Forbidden):
        service.record_adjustment(staff, artist_id=artist.id, amount_minor=100, reason="Gift.")


def snapshot(artist_id: int) -> list[tuple]:
    return [
        (e.id, e.kind, e.amount_minor, e.currency, e.description, e.created_at)
        for e in entries_of(artist_id)
    ]


def test_a_correction_is_a_new_reversing_entry_and_the_ledger_is_never_edited(db, staff, admin):
    artist = member(bug_high=15000).user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="Crash"
    )
    service.accept_contribution(staff, contribution)
    [credit] = entries_of(artist.id)
    before = snapshot(artist.id)
    seq = audit_head_seq()

    correction = service.reverse_entry(admin, credit, "Duplicate of an earlier report.")

    db.session.expire_all()
    assert snapshot(artist.id)[:1] == before
    assert (correction.kind, correction.amount_minor, correction.reverses_entry_id) == (
        "correction",
        -15000,
        credit.id,
    )
    assert service.balance(artist.id) == (0, "USD")
    assert actions_for(seq) == [("ledger.corrected", artist.id)]
    with pytest.raises(Conflict, match="already reversed"):
        service.reverse_entry(admin, credit, "Again.")
    assert len(entries_of(artist.id)) == 2


def test_corrections_need_a_reason_and_an_admin_and_leave_payout_entries_alone(db, staff, admin):
    artist = member().user
    payout = make_payout(artist.id, 5000, status="paid", transfer_id="tr_1")
    debit = service.post_payout_debit(payout)
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )
    service.accept_contribution(staff, contribution)
    credit = entries_of(artist.id)[-1]

    with pytest.raises(ValidationError):
        service.reverse_entry(admin, credit, "")
    with pytest.raises(Forbidden):
        service.reverse_entry(staff, credit, "Mistake.")
    with pytest.raises(Conflict, match="payout"):
        service.reverse_entry(admin, debit, "Mistake.")


def test_the_database_refuses_a_second_correction_of_an_entry(db, staff, admin):
    artist = member().user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="low", title="Typo"
    )
    service.accept_contribution(staff, contribution)
    [credit] = entries_of(artist.id)
    service.reverse_entry(admin, credit, "Mistake.")

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(
            LedgerEntry(
                artist_id=artist.id,
                kind="correction",
                amount_minor=-credit.amount_minor,
                currency="USD",
                description="again",
                reverses_entry_id=credit.id,
            )
        )


# --- payout entries, payable, leaving ------------------------------------------------------


def test_payout_debit_and_reversal_are_posted_once(db):
    artist = member().user
    payout = make_payout(artist.id, 4000, status="paid", transfer_id="tr_42")

    debit = service.post_payout_debit(payout)
    again = service.post_payout_debit(payout)
    reversal = service.post_payout_reversal(payout, 4000, reversed_through=4000)
    reversal_again = service.post_payout_reversal(payout, 4000, reversed_through=4000)

    assert debit.id == again.id and reversal.id == reversal_again.id
    assert (debit.kind, debit.amount_minor, debit.payout_id) == ("payout", -4000, payout.id)
    assert (reversal.kind, reversal.amount_minor) == ("payout_reversal", 4000)
    assert len(entries_of(artist.id)) == 2


@pytest.mark.parametrize("amount", [0, -5, 4001])
def test_a_reversal_is_between_1_and_the_payout_amount(db, amount):
    payout = make_payout(member().user_id, 4000, status="paid")

    with pytest.raises(ValidationError):
        service.post_payout_reversal(payout, amount, reversed_through=4000)


def test_payable_is_the_balance_less_the_payouts_in_flight(db, staff):
    artist = member(bug_critical=40000).user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="critical", title="Data leak"
    )
    service.accept_contribution(staff, contribution)
    make_payout(artist.id, 10000, status="failed")
    assert service.payable(artist.id) == 40000

    make_payout(artist.id, 15000, status="submitted")

    assert service.payable(artist.id) == 25000
    assert service.balance(artist.id) == (40000, "USD")


def test_payable_is_never_negative(db):
    artist = member().user
    make_payout(artist.id, 15000, status="pending")

    assert service.payable(artist.id) == 0


def test_the_current_rate_card_is_the_last_accepted_one_even_after_leaving(db):
    membership = member(accepted_days_ago=90, minimum_payout=2500)
    move_to_new_terms(membership, accepted_days_ago=10, minimum_payout=1000)
    membership.status, membership.ended_at = "ended", days_ago(1)

    assert service.current_rate_card(membership.user_id).minimum_payout == 1000
    assert service.current_rate_card(UserFactory().id) is None


def test_the_balance_currency_comes_from_the_rate_card_before_any_entry(db):
    artist = member(currency="EUR").user

    assert service.balance(artist.id) == (0, "EUR")


def test_a_member_with_a_current_grant_is_not_leaving(db):
    grant = GrantFactory(membership=member())

    assert service.is_leaving(grant.membership.user) is False


def test_a_member_waiting_for_a_first_grant_is_not_leaving(db):
    assert service.is_leaving(member().user) is False


@pytest.mark.parametrize("trait", ["revoked", "expired"])
def test_a_member_whose_grants_all_ended_is_leaving(db, trait):
    membership = member()
    GrantFactory(membership=membership, revoked=True)
    GrantFactory(membership=membership, **{trait: True})

    assert service.is_leaving(membership.user) is True


def test_an_artist_without_an_active_membership_is_leaving(db):
    membership = MembershipFactory(ended=True)

    assert service.is_leaving(membership.user) is True
