"""Reading the ledger: balance and pages in a constant number of statements, statements per
period (JSON and CSV) with the rate-card version of each entry, and the artist's data export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from access_program.cohorts.models import Terms
from access_program.compensation import service
from access_program.compensation.models import Contribution, LedgerEntry
from access_program.db import UTCDateTime, utcnow
from access_program.errors import ValidationError
from tests.compensation import days_ago, entries_of, make_payout, member, move_to_new_terms
from tests.factories import SubmissionFactory, UserFactory


@contextmanager
def counting_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement sent while inside (savepoint bookkeeping of the test fixture aside)."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def bulk_credits(db, artist_id: int, terms_id: int, count: int) -> None:
    """``count`` accepted bug reports and their credits, made by the database itself in two
    INSERT … SELECT statements over a counting CTE (fast on SQLite and PostgreSQL alike)."""
    nums = sa.select(sa.literal(1).label("n")).cte("nums", recursive=True)
    nums = nums.union_all(sa.select(nums.c.n + 1).where(nums.c.n < count))
    now, today = utcnow(), utcnow().date()
    values = {
        "artist_id": sa.literal(artist_id),
        "kind": sa.literal("bug_report"),
        "status": sa.literal("accepted"),
        "title": sa.literal("Bug ") + sa.cast(nums.c.n, sa.String),
        "description": sa.literal(""),
        "severity": sa.literal("low"),
        "work_date": sa.literal(today, sa.Date),
        "terms_id": sa.literal(terms_id),
        "amount_minor": sa.literal(100),
        "currency": sa.literal("USD"),
        "created_at": sa.literal(now, UTCDateTime),
    }
    db.session.execute(
        sa.insert(Contribution).from_select(list(values), sa.select(*values.values()))
    )
    c = Contribution.__table__.c
    credits = {
        "artist_id": c.artist_id,
        "kind": sa.literal("credit"),
        "amount_minor": c.amount_minor,
        "currency": c.currency,
        "description": c.title,
        "contribution_id": c.id,
        "terms_id": c.terms_id,
        "created_at": c.created_at,
    }
    db.session.execute(
        sa.insert(LedgerEntry).from_select(
            list(credits), sa.select(*credits.values()).where(c.artist_id == artist_id)
        )
    )


def test_balance_and_a_ledger_page_take_the_same_statements_for_10_and_10000_entries(
    db, api_client
):
    few, many = member(), member()
    bulk_credits(db, few.user_id, few.accepted_terms_id, 10)
    bulk_credits(db, many.user_id, many.accepted_terms_id, 10_000)
    db.session.commit()
    staff = api_client(UserFactory(staff=True))
    # The token's first use records it (once a minute at most): warm it up before counting.
    assert staff.get(f"/api/v1/artists/{few.user_id}/ledger").status_code == 200
    db.session.commit()

    counts = {}
    for name, membership in (("few", few), ("many", many)):
        artist_id = membership.user_id
        db.session.expire_all()
        with counting_statements(db.engine) as balance_statements:
            amount, _ = service.balance(artist_id)
        with counting_statements(db.engine) as page_statements:
            page = service.ledger_page(artist_id, page=2, page_size=5)
            labels = {e.terms.label for e in page.entries}  # loaded with the page
            kinds = {e.contribution.kind for e in page.entries}
        with counting_statements(db.engine) as api_statements:
            response = staff.get(f"/api/v1/artists/{artist_id}/ledger?page=2&page_size=5")
        assert response.status_code == 200
        assert len(response.json["entries"]) == 5
        assert (labels, kinds) == ({membership.accepted_terms.label}, {"bug_report"})
        counts[name] = (len(balance_statements), len(page_statements), len(api_statements))
        assert amount == page.balance_minor == response.json["balance_minor"]

    assert counts["few"] == counts["many"]
    assert counts["few"][0] == 1
    assert service.balance(many.user_id) == (1_000_000, "USD")


def test_the_ledger_page_is_newest_first_with_its_total(db):
    membership = member()
    bulk_credits(db, membership.user_id, membership.accepted_terms_id, 12)

    page = service.ledger_page(membership.user_id, page=3, page_size=5)

    assert (page.total, page.total_pages, len(page.entries)) == (12, 3, 2)
    first = service.ledger_page(membership.user_id, page=1, page_size=5).entries
    assert [e.id for e in first] == sorted((e.id for e in first), reverse=True)


# --- payout entries --------------------------------------------------------------------------


def payout_entry(payout, kind: str, amount_minor: int, reversed_through: int | None = None):
    return LedgerEntry(
        artist_id=payout.artist_id,
        kind=kind,
        amount_minor=amount_minor,
        currency="USD",
        description="by hand",
        payout_id=payout.id,
        reversed_through=reversed_through,
    )


def test_each_partial_reversal_of_a_payout_is_posted_once_per_cumulative_total(db):
    artist = member().user
    payout = make_payout(artist.id, 1000, status="paid", transfer_id="tr_parts")
    service.post_payout_debit(payout)

    first = service.post_payout_reversal(payout, 400, reversed_through=400)
    first_again = service.post_payout_reversal(payout, 400, reversed_through=400)
    second = service.post_payout_reversal(payout, 600, reversed_through=1000)
    second_again = service.post_payout_reversal(payout, 600, reversed_through=1000)

    assert (first.id, second.id) == (first_again.id, second_again.id) and first.id != second.id
    assert [(e.kind, e.amount_minor, e.reversed_through) for e in entries_of(artist.id)] == [
        ("payout", -1000, None),
        ("payout_reversal", 400, 400),
        ("payout_reversal", 600, 1000),
    ]
    assert service.balance(artist.id) == (0, "USD")


@pytest.mark.parametrize(
    ("amount", "through"), [(400, 300), (400, 1001), (0, 400), (400, True), (400, "400")]
)
def test_a_reversal_total_is_at_least_its_amount_and_at_most_the_payout(db, amount, through):
    payout = make_payout(member().user_id, 1000, status="paid")

    with pytest.raises(ValidationError):
        service.post_payout_reversal(payout, amount, reversed_through=through)


def test_the_database_refuses_a_second_entry_for_the_same_reversed_total(db):
    payout = make_payout(member().user_id, 1000, status="paid")
    service.post_payout_reversal(payout, 400, reversed_through=400)

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(payout_entry(payout, "payout_reversal", 400, reversed_through=400))


def test_the_database_refuses_a_second_debit_for_a_payout(db):
    payout = make_payout(member().user_id, 1000, status="paid")
    service.post_payout_debit(payout)

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(payout_entry(payout, "payout", -1000))


def test_the_database_refuses_a_reversal_without_its_cumulative_total(db):
    payout = make_payout(member().user_id, 1000, status="paid")

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(payout_entry(payout, "payout_reversal", 400))


def test_two_partial_reversals_are_two_lines_of_the_statement(db):
    artist = member().user
    payout = make_payout(artist.id, 1000, status="paid", transfer_id="tr_parts")
    service.post_payout_debit(payout)
    service.post_payout_reversal(payout, 400, reversed_through=400)
    service.post_payout_reversal(payout, 600, reversed_through=1000)

    statement = service.statement(artist, days_ago(1).date(), utcnow().date())

    assert [(line.entry.amount_minor, line.balance_after_minor) for line in statement.lines] == [
        (-1000, -1000),
        (400, -600),
        (600, 0),
    ]
    rows = list(csv.DictReader(io.StringIO(service.statement_csv(statement))))
    assert [r["amount"] for r in rows if r["row"] == "entry"] == ["-10.00", "4.00", "6.00"]


# --- statements ----------------------------------------------------------------------------


def entry_at(entry: LedgerEntry, when: dt.datetime) -> None:
    """Ledger rows are never updated by the app; a test dates its fixture rows by hand."""
    entry.created_at = when


@pytest.fixture
def history(db):
    """An artist with a credit in each of two terms versions, a payout and a correction, each
    on a known day."""
    staff = UserFactory(staff=True)
    membership = member(accepted_days_ago=90, bug_high=15000, red_team_low=4000)
    artist = membership.user
    old_terms = db.session.get(Terms, membership.accepted_terms_id)
    bug = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="Crash", work_date=days_ago(40).date()
    )
    service.accept_contribution(staff, bug)
    new_terms = move_to_new_terms(membership, accepted_days_ago=20, red_team_low=6000)
    finding = service.propose_contribution(
        artist,
        kind="red_team_finding",
        severity="low",
        title="Prompt injection",
        work_date=days_ago(10).date(),
    )
    service.accept_contribution(staff, finding)
    payout = make_payout(artist.id, 15000, status="paid", transfer_id="tr_777")
    debit = service.post_payout_debit(payout)
    credit_bug, credit_finding = entries_of(artist.id)[:2]
    entry_at(credit_bug, days_ago(35))
    entry_at(debit, days_ago(30))
    payout.created_at = payout.paid_at = days_ago(30)
    entry_at(credit_finding, days_ago(5))
    db.session.flush()
    return artist, old_terms, new_terms, payout


def test_a_statement_has_opening_entries_with_their_terms_closing_and_payouts(db, history):
    artist, old_terms, new_terms, payout = history

    whole = service.statement(artist, days_ago(60).date(), utcnow().date())
    recent = service.statement(artist, days_ago(31).date(), utcnow().date())

    assert whole.opening_balance_minor == 0
    assert [(line.entry.amount_minor, line.balance_after_minor) for line in whole.lines] == [
        (15000, 15000),
        (-15000, 0),
        (6000, 6000),
    ]
    assert [line.entry.terms.label if line.entry.terms else None for line in whole.lines] == [
        old_terms.label,
        None,
        new_terms.label,
    ]
    assert whole.closing_balance_minor == 6000 == service.balance(artist.id)[0]
    assert (recent.opening_balance_minor, recent.closing_balance_minor) == (15000, 6000)
    assert [p.transfer_id for p in recent.payouts] == ["tr_777"]
    data = service.statement_dict(recent)
    assert data["payouts"][0] | {"amount_minor": 15000, "status": "paid"} == data["payouts"][0]
    assert (data["credits_minor"], data["debits_minor"]) == (6000, -15000)
    assert data["entries"][-1]["terms_label"] == new_terms.label
    # The payout's period only: it is not in a statement of the last week.
    assert service.statement(artist, days_ago(7).date(), utcnow().date()).payouts == []


def test_the_csv_statement_lists_terms_balances_and_transfer_ids_safely(db, history):
    artist, old_terms, new_terms, _ = history
    old_terms.label = "=SUM(A1:A9)"  # typed by an admin: must not run as a formula

    text = service.statement_csv(service.statement(artist, days_ago(60).date(), utcnow().date()))

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["row"] for r in rows] == ["opening", "entry", "entry", "entry", "closing", "payout"]
    entries = rows[1:4]
    assert [r["terms"] for r in entries] == ["'=SUM(A1:A9)", "", new_terms.label]
    assert [r["amount"] for r in entries] == ["150.00", "-150.00", "60.00"]
    assert [r["balance_minor"] for r in entries] == ["15000", "0", "6000"]
    assert rows[4]["balance_minor"] == "6000"
    assert (rows[5]["transfer_id"], rows[5]["status"]) == ("tr_777", "paid")


def test_a_period_that_ends_before_it_starts_is_refused(db):
    artist = member().user

    with pytest.raises(ValidationError):
        service.statement(artist, utcnow().date(), days_ago(3).date())


# --- the data export -----------------------------------------------------------------------


def test_the_export_holds_the_artists_requests_contributions_ledger_payouts_and_record(db, history):
    artist, *_ = history
    submission = SubmissionFactory(membership=artist_membership(db, artist))
    other = member().user
    service.propose_contribution(other, kind="bug_report", severity="low", title="Not mine")

    data = json.loads(json.dumps(service.export_artist_data(artist)))

    assert data["artist"]["id"] == artist.id
    assert [r["id"] for r in data["requests"]] == [submission.id]
    assert data["requests"][0]["decisions"] == [] and data["requests"][0]["appeal"] is None
    assert {c["kind"] for c in data["contributions"]} == {"bug_report", "red_team_finding"}
    assert all(c["artist_id"] == artist.id for c in data["contributions"])
    assert [e["amount_minor"] for e in data["ledger"]["entries"]] == [15000, -15000, 6000]
    assert data["ledger"]["balance_minor"] == 6000
    assert [p["transfer_id"] for p in data["payouts"]] == ["tr_777"]
    assert {e["artist_id"] for e in data["audit_record"]} == {artist.id}
    assert "contribution.accepted" in {e["action"] for e in data["audit_record"]}
    assert len(data["terms_acceptances"]) == 2


def artist_membership(db, artist):
    from access_program.cohorts.models import Membership

    return db.session.scalar(sa.select(Membership).where(Membership.user_id == artist.id))
