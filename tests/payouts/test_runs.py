"""Payout runs: the preview, execution, audit and email, the API and the command.

Stripe is the emulator, reached over HTTP by the real client (app.config points at it).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.cohorts.models import Membership
from access_program.compensation import service as compensation
from access_program.compensation.models import EntryKind, LedgerEntry
from access_program.db import db, utcnow
from access_program.errors import Conflict, Forbidden, ValidationError
from access_program.payouts import service
from access_program.payouts.cli import payouts_cli
from access_program.payouts.models import Payout, PayoutRun
from tests.factories import CohortFactory, GrantFactory, MembershipFactory, UserFactory
from tests.helpers import audit_head_seq

from .runs_support import (
    NO_ACCOUNT,
    ONBOARDING,
    assert_exactly_once,
    assert_nothing_payable_left,
    credit,
    emails,
    fresh_payouts,
    payable_artist,
)


@pytest.fixture
def stripe_app(app, stripe_emulator, monkeypatch):
    """The app calling the emulator (restored afterwards)."""
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_emulator.url)
    monkeypatch.setitem(app.config, "STRIPE_TIMEOUT", 5.0)
    monkeypatch.setitem(app.config, "STRIPE_MAX_RETRIES", 2)
    return app


@pytest.fixture
def admin(db):
    return UserFactory(admin=True)


@pytest.fixture
def artist_factory(db, stripe_app, stripe_client, stripe_emulator):
    def make(**kwargs):
        return payable_artist(stripe_client, stripe_emulator, **kwargs)

    return make


def events_since(seq: int) -> list[tuple[str, int | None]]:
    return [
        (e.action, e.artist_id)
        for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        )
    ]


# --- the preview ---------------------------------------------------------------------------


def test_the_preview_lists_each_payable_amount_or_why_the_artist_is_blocked(
    admin, artist_factory, stripe_emulator
):
    cohort = CohortFactory()
    ready = artist_factory(cohort=cohort, amount_minor=5000)
    no_account = artist_factory(cohort=cohort, account=NO_ACCOUNT)
    onboarding = artist_factory(cohort=cohort, account=ONBOARDING)
    below = artist_factory(cohort=cohort, amount_minor=2499)
    leaving = artist_factory(cohort=cohort, amount_minor=700, ended=True)
    seq = audit_head_seq()

    run = service.create_run(admin, cohort)

    lines = {line["artist_id"]: line for line in run.preview}
    assert {a: (line["payable"], line["blocked_reason"]) for a, line in lines.items()} == {
        ready.id: (True, None),
        no_account.id: (False, "no payout account"),
        onboarding.id: (False, "payout account not ready (onboarding incomplete)"),
        below.id: (False, "below the minimum payout of $25.00"),
        leaving.id: (True, None),
    }
    assert lines[below.id]["amount_minor"] == 2499
    assert lines[ready.id]["name"] == ready.name
    payouts = {p.artist_id: p for p in run.payouts}
    assert set(payouts) == {ready.id, leaving.id}
    assert (payouts[ready.id].amount_minor, payouts[ready.id].status) == (5000, "pending")
    assert payouts[leaving.id].settlement is True and payouts[ready.id].settlement is False
    for payout in payouts.values():
        assert payout.idempotency_key.startswith(f"payout-{payout.id}-")
        assert payout.transfer_group == f"payout-{payout.id}"
    assert run.status == "preview"
    # A preview sends nothing, and the money it holds is no longer payable elsewhere.
    assert stripe_emulator.emulator.transfer_log() == []
    assert compensation.payable(ready.id) == 0
    assert sorted(events_since(seq)) == sorted(
        [("payout_run.created", None), ("payout.created", ready.id), ("payout.created", leaving.id)]
    )


def test_an_artist_whose_payout_is_in_progress_is_blocked_in_the_next_run(admin, artist_factory):
    cohort = CohortFactory()
    artist = artist_factory(cohort=cohort)
    first = service.create_run(admin, cohort)
    credit(artist.id, 3000)

    second = service.create_run(admin, cohort)

    assert second.payouts == []
    assert second.preview[0]["blocked_reason"] == "a payout is already in progress"
    assert second.preview[0]["amount_minor"] == 3000
    assert [p.artist_id for p in first.payouts] == [artist.id]


def test_a_cohort_run_covers_that_cohorts_members_and_a_run_for_all_everyone(admin, artist_factory):
    one, other = CohortFactory(), CohortFactory()
    inside = artist_factory(cohort=one)
    outside = artist_factory(cohort=other)

    assert [p.artist_id for p in service.create_run(admin, one).payouts] == [inside.id]
    assert [p.artist_id for p in service.create_run(admin).payouts] == [outside.id]


def test_only_admins_open_runs(db):
    with pytest.raises(Forbidden):
        service.create_run(UserFactory(staff=True))


# --- execution -----------------------------------------------------------------------------


def test_executing_pays_each_artist_once_with_the_debit_the_audit_and_an_email(
    admin, artist_factory, stripe_emulator
):
    cohort = CohortFactory()
    artists = [artist_factory(cohort=cohort, amount_minor=2500 + i) for i in range(3)]
    run = service.create_run(admin, cohort)
    seq = audit_head_seq()

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid, result.failed, result.finished) == ("finished", 3, 0, True)
    for payout in fresh_payouts():
        assert payout.status == "paid" and payout.transfer_id.startswith("tr_")
        assert payout.attempts == 1 and payout.lease_until is None
        debit = db.session.scalar(
            sa.select(LedgerEntry).where(
                LedgerEntry.payout_id == payout.id, LedgerEntry.kind == EntryKind.PAYOUT
            )
        )
        assert debit.amount_minor == -payout.amount_minor
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left(artists)
    per_artist = [("payout.submitted", a.id) for a in artists] + [
        ("payout.paid", a.id) for a in artists
    ]
    actions = events_since(seq)
    assert actions[0] == ("payout_run.executing", None)
    assert actions[-1] == ("payout_run.finished", None)
    assert sorted(actions[1:-1]) == sorted(per_artist)
    assert sorted(m.user_id for m in emails("payout.paid")) == sorted(a.id for a in artists)
    paid = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "payout.paid"))
    assert paid.data["transfer_id"].startswith("tr_")


def test_a_finished_run_cannot_be_executed_again(admin, artist_factory, api_client, runner):
    artist_factory()
    run, _ = service.execute_run(admin, service.create_run(admin))
    assert run.status == "finished"

    with pytest.raises(Conflict, match="finished"):
        service.execute_run(admin, run)
    response = api_client(admin).post(f"/api/v1/payout-runs/{run.id}/execute")
    assert response.status_code == 409
    assert "finished" in response.json["error"]["message"]
    result = runner.invoke(payouts_cli, ["execute", str(run.id)])
    assert result.exit_code == 1 and "finished" in result.output


def test_a_run_with_nothing_to_pay_finishes_at_once(admin, artist_factory):
    artist_factory(account=NO_ACCOUNT)
    run, result = service.execute_run(admin, service.create_run(admin))
    assert (run.status, result.paid) == ("finished", 0)


def test_a_payout_leased_by_another_executor_is_left_to_it_until_the_lease_expires(
    admin, artist_factory, stripe_emulator
):
    first, second = artist_factory(), artist_factory()
    run = service.create_run(admin)
    held = next(p for p in run.payouts if p.artist_id == second.id)
    held.lease_until = utcnow() + dt.timedelta(minutes=5)  # another executor is working it
    db.session.commit()

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid) == ("executing", 1)
    statuses = {p.artist_id: p.status for p in fresh_payouts()}
    assert statuses == {first.id: "paid", second.id: "pending"}
    assert len(stripe_emulator.emulator.transfer_log()) == 1

    db.session.execute(sa.update(Payout).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()  # ... which dies: its lease runs out
    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid) == ("finished", 1)
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left([first, second])


def test_only_admins_execute_runs(admin, artist_factory):
    artist_factory()
    run = service.create_run(admin)
    with pytest.raises(Forbidden):
        service.execute_run(UserFactory(staff=True), run)
    assert db.session.get(PayoutRun, run.id).status == "preview"


# --- reconciliation of payouts older than 23 hours --------------------------------------------


def _submitted_long_ago(payout: Payout) -> None:
    """The payout was committed as submitted a day ago and Stripe's answer was lost."""
    payout.status = "submitted"
    payout.submitted_at = utcnow() - dt.timedelta(hours=24)
    payout.attempts = 1
    payout.run.status = "executing"
    db.session.commit()


def test_a_payout_submitted_over_23_hours_ago_is_reconciled_from_its_transfer_group(
    admin, artist_factory, stripe_emulator, make_stripe_client
):
    artist = artist_factory()
    run = service.create_run(admin)
    (payout,) = run.payouts
    _submitted_long_ago(payout)
    # Stripe made the transfer, then forgot the key (keys last 24 hours): retrying with it would
    # pay a second time. The transfer is there under the payout's group.
    made = make_stripe_client().v1.transfers.create(
        params={
            "amount": payout.amount_minor,
            "currency": "usd",
            "destination": payout.destination,
            "transfer_group": payout.transfer_group,
            "metadata": {"payout_id": str(payout.id), "payout_key": payout.idempotency_key},
        },
        options={"idempotency_key": "forgotten-by-stripe"},
    )

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid) == ("finished", 1)
    (payout,) = assert_exactly_once(stripe_emulator, same_keys=False)
    assert payout.transfer_id == made.id
    assert_nothing_payable_left([artist])


def test_a_payout_submitted_over_23_hours_ago_without_a_transfer_is_retried_with_its_key(
    admin, artist_factory, stripe_emulator
):
    artist = artist_factory()
    run = service.create_run(admin)
    (payout,) = run.payouts
    key = payout.idempotency_key
    _submitted_long_ago(payout)

    run, _ = service.execute_run(admin, run)

    (payout,) = assert_exactly_once(stripe_emulator)
    assert (payout.status, payout.idempotency_key, payout.attempts) == ("paid", key, 2)
    assert_nothing_payable_left([artist])


# --- the command -----------------------------------------------------------------------------


def test_the_command_executes_a_run(admin, artist_factory, runner, stripe_emulator):
    artist = artist_factory()
    run = service.create_run(admin)
    db.session.commit()

    result = runner.invoke(payouts_cli, ["execute", str(run.id)])

    assert result.exit_code == 0, result.output
    assert "finished" in result.output and "1 paid" in result.output
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left([artist])
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "payout.paid"))
    assert (event.actor_type, event.actor_label, event.artist_id) == ("system", "cli", artist.id)


def test_the_command_refuses_an_unknown_run(runner):
    result = runner.invoke(payouts_cli, ["execute", "999999"])
    assert result.exit_code == 1 and "No payout run 999999" in result.output


# --- the API -------------------------------------------------------------------------------


LINE_FIELDS = {
    "artist_id",
    "name",
    "amount_minor",
    "currency",
    "payable",
    "blocked_reason",
    "settlement",
    "payout_id",
}


def test_an_admin_previews_executes_and_reads_a_run_through_the_api(
    admin, artist_factory, api_client, stripe_emulator
):
    cohort = CohortFactory()
    paid = artist_factory(cohort=cohort)
    blocked = artist_factory(cohort=cohort, account=NO_ACCOUNT)
    api = api_client(admin)

    response = api.post("/api/v1/payout-runs", json={"cohort_id": cohort.id})

    assert response.status_code == 201, response.json
    preview = response.json
    assert (preview["status"], preview["cohort_id"]) == ("preview", cohort.id)
    lines = {line["artist_id"]: line for line in preview["lines"]}
    assert set(lines[paid.id]) == LINE_FIELDS
    assert lines[paid.id]["payable"] is True and lines[paid.id]["currency"] == "USD"
    assert lines[blocked.id]["blocked_reason"] == "no payout account"

    executed = api.post(f"/api/v1/payout-runs/{preview['id']}/execute")

    assert executed.status_code == 200, executed.json
    assert executed.json["status"] == "finished"
    (payout,) = executed.json["payouts"]
    assert payout["status"] == "paid" and payout["transfer_id"].startswith("tr_")
    assert payout["failure_message"] is None
    read = api.get(f"/api/v1/payout-runs/{preview['id']}")
    assert read.status_code == 200
    assert read.json["payouts"] == executed.json["payouts"]
    assert_exactly_once(stripe_emulator)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cohort_id": "one"}, "cohort_id"),
        ({"cohort_id": 0}, "cohort_id"),
        ({"cohort_id": 2**40}, "cohort_id"),
        ({"cohort_id": 999_999}, "cohort_id"),
        ({"cohort": 1}, "cohort"),
    ],
)
def test_a_run_for_a_bad_cohort_is_refused_with_422(admin, api_client, body, field):
    response = api_client(admin).post("/api/v1/payout-runs", json=body)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutRun)) == 0


def test_a_run_for_all_cohorts_is_opened_with_a_null_or_missing_cohort(admin, api_client):
    api = api_client(admin)
    assert api.post("/api/v1/payout-runs", json={"cohort_id": None}).status_code == 201
    assert api.post("/api/v1/payout-runs", json={}).status_code == 201


@pytest.mark.parametrize("role", ["artist", "staff"])
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/payout-runs"),
        ("get", "/api/v1/payout-runs"),
        ("get", "/api/v1/payout-runs/{run}"),
        ("post", "/api/v1/payout-runs/{run}/execute"),
        ("post", "/api/v1/payout-runs/{run}/cancel"),
    ],
)
def test_payout_runs_are_for_admins_only(admin, api_client, role, method, url):
    run = service.create_run(admin)
    user = UserFactory(staff=role == "staff")
    response = getattr(api_client(user), method)(url.format(run=run.id), json={})
    assert response.status_code == 403
    assert getattr(api_client(), method)(url.format(run=run.id), json={}).status_code == 401
    assert db.session.get(PayoutRun, run.id).status == "preview"


def test_an_unknown_run_is_404(admin, api_client):
    api = api_client(admin)
    assert api.get("/api/v1/payout-runs/999999").status_code == 404
    assert api.post("/api/v1/payout-runs/999999/execute").status_code == 404
    assert api.post("/api/v1/payout-runs/999999/cancel").status_code == 404


def test_payouts_admins_see_all_artists_their_own_staff_none(admin, artist_factory, api_client):
    one, other = artist_factory(), artist_factory()
    run, _ = service.execute_run(admin, service.create_run(admin))
    later = service.create_run(admin)  # nothing payable: no payouts

    everyone = api_client(admin).get("/api/v1/payouts")
    assert everyone.status_code == 200
    assert {p["artist_id"] for p in everyone.json} == {one.id, other.id}
    filtered = api_client(admin).get(
        f"/api/v1/payouts?status=paid&run_id={run.id}&artist_id={other.id}"
    )
    assert [p["artist_id"] for p in filtered.json] == [other.id]
    assert api_client(admin).get(f"/api/v1/payouts?run_id={later.id}").json == []
    assert api_client(admin).get("/api/v1/payouts?status=failed").json == []

    own = api_client(one).get(f"/api/v1/payouts?artist_id={other.id}")
    assert own.status_code == 200
    assert [p["artist_id"] for p in own.json] == [one.id]
    assert own.json[0]["transfer_id"].startswith("tr_")

    assert api_client(UserFactory(staff=True)).get("/api/v1/payouts").status_code == 403
    assert api_client().get("/api/v1/payouts").status_code == 401


@pytest.mark.parametrize("query", ["status=gone", "run_id=abc", "artist_id=0"])
def test_bad_payout_filters_are_422(admin, api_client, query):
    assert api_client(admin).get(f"/api/v1/payouts?{query}").status_code == 422


def test_the_minimum_is_the_current_terms_one(admin, artist_factory):
    cohort = CohortFactory(terms__rate_card__minimum_payout=10_000)
    artist = artist_factory(cohort=cohort, amount_minor=9_999)
    (line,) = service.create_run(admin, cohort).preview
    assert (line["artist_id"], line["blocked_reason"]) == (
        artist.id,
        "below the minimum payout of $100.00",
    )


def test_an_artist_without_a_balance_is_not_listed(admin, artist_factory):
    cohort = CohortFactory()
    MembershipFactory(cohort=cohort)
    artist = artist_factory(cohort=cohort)
    assert [line["artist_id"] for line in service.create_run(admin, cohort).preview] == [artist.id]


def test_a_validation_error_names_the_unknown_cohort(db):
    with pytest.raises(ValidationError) as error:
        service.get_cohort_for_run(999_999)
    assert error.value.details == {"cohort_id": ["No cohort 999999."]}


def test_the_preview_pays_leaving_artists_whatever_the_minimum_as_compensation_says(
    admin, artist_factory
):
    """The preview decides for all artists at once; it must agree with compensation.is_leaving
    and compensation.payable, artist by artist."""
    cohort = CohortFactory()
    staying = artist_factory(cohort=cohort, amount_minor=700)
    ended = artist_factory(cohort=cohort, amount_minor=700, ended=True)
    revoked = artist_factory(cohort=cohort, amount_minor=700)
    expired = artist_factory(cohort=cohort, amount_minor=700)
    current = artist_factory(cohort=cohort, amount_minor=700)
    for artist, trait in ((revoked, "revoked"), (expired, "expired"), (current, None)):
        membership = db.session.scalar(sa.select(Membership).where(Membership.user_id == artist.id))
        GrantFactory(membership=membership, **({trait: True} if trait else {}))

    run = service.create_run(admin, cohort)

    lines = {line["artist_id"]: line for line in run.preview}
    for artist in (staying, ended, revoked, expired, current):
        line = lines[artist.id]
        leaving = compensation.is_leaving(artist)
        assert line["payable"] is leaving, artist
        assert line["settlement"] is leaving
        assert line["amount_minor"] == 700
    assert {a.id for a in (ended, revoked, expired)} == {
        a for a, line in lines.items() if line["payable"]
    }


# --- cancelling a run before it is executed ---------------------------------------------------


def test_cancelling_a_preview_sends_nothing_and_frees_the_artists_for_the_next_run(
    admin, artist_factory, api_client, stripe_emulator
):
    artists = [artist_factory(amount_minor=3000 + i) for i in range(2)]
    run = service.create_run(admin)
    api = api_client(admin)
    seq = audit_head_seq()

    response = api.post(
        f"/api/v1/payout-runs/{run.id}/cancel", json={"reason": "Wrong month: wait for May."}
    )

    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled"
    assert response.json["finished_at"] is not None
    assert {p["status"] for p in response.json["payouts"]} == {"cancelled"}
    assert stripe_emulator.emulator.transfer_log() == []
    actions = events_since(seq)
    assert actions[0] == ("payout_run.cancelled", None)
    assert sorted(actions[1:]) == sorted(("payout.cancelled", a.id) for a in artists)
    cancelled = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "payout_run.cancelled")
    )
    assert cancelled.data == {
        "reason": "Wrong month: wait for May.",
        "payouts": 2,
        "total_minor": 6001,
    }
    # Balances are untouched, and a new run pays both artists.
    assert [compensation.balance(a.id)[0] for a in artists] == [3000, 3001]
    run, result = service.execute_run(admin, service.create_run(admin))
    assert (run.status, result.paid) == ("finished", 2)
    assert_exactly_once(stripe_emulator)


def test_a_cancelled_run_cannot_be_executed_or_cancelled_again(admin, artist_factory, api_client):
    artist_factory()
    run = service.cancel_run(admin, service.create_run(admin))
    api = api_client(admin)

    executed = api.post(f"/api/v1/payout-runs/{run.id}/execute")
    again = api.post(f"/api/v1/payout-runs/{run.id}/cancel", json={})

    assert executed.status_code == 409
    assert "cancelled" in executed.json["error"]["message"]
    assert again.status_code == 409
    assert again.json["error"]["code"] == "invalid_transition"
    assert db.session.get(PayoutRun, run.id).status == "cancelled"


def test_a_run_executed_or_finished_cannot_be_cancelled(admin, artist_factory, api_client):
    artist_factory()
    run, _ = service.execute_run(admin, service.create_run(admin))
    api = api_client(admin)
    seq = audit_head_seq()

    response = api.post(f"/api/v1/payout-runs/{run.id}/cancel", json={})

    assert response.status_code == 409
    assert "may already have been sent" in response.json["error"]["message"]
    assert {p.status for p in fresh_payouts()} == {"paid"}
    assert audit_head_seq() == seq


def test_a_cancel_reason_over_500_characters_is_422(admin, artist_factory, api_client):
    artist_factory()
    run = service.create_run(admin)
    response = api_client(admin).post(
        f"/api/v1/payout-runs/{run.id}/cancel", json={"reason": "x" * 501}
    )
    assert response.status_code == 422
    assert "reason" in response.json["error"]["details"]
    assert db.session.get(PayoutRun, run.id).status == "preview"
