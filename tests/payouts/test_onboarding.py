"""Onboarding: an artist sets up payouts through the Stripe emulator, over HTTP with the real
``stripe`` client; the account becomes ready only when Stripe's ``account.updated`` arrives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
import stripe
from flask import Flask

from access_program.audit.models import AuditEvent
from access_program.db import db as db_
from access_program.payouts import gateway
from access_program.payouts.emulator import EmulatorServer
from access_program.payouts.models import PayoutAccount, WebhookEvent
from tests.factories import UserFactory
from tests.helpers import audit_count

from .conftest import WEBHOOK_SECRET, WebhookReceiver

URL = "/api/v1/me/payout-account"


@pytest.fixture
def stripe_app(app: Flask, stripe_emulator: EmulatorServer) -> Iterator[Flask]:
    """The app talking to the emulator (no SDK retries, so failures show at once)."""
    names = ("STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "STRIPE_MAX_RETRIES")
    saved = {name: app.config[name] for name in names}
    app.config.update(
        STRIPE_API_BASE=stripe_emulator.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_MAX_RETRIES=0,
    )
    yield app
    app.config.update(saved)


def accounts_of(db, artist) -> list[PayoutAccount]:
    return list(
        db.session.scalars(sa.select(PayoutAccount).where(PayoutAccount.artist_id == artist.id))
    )


def audit_artists(action: str) -> list[int | None]:
    """The artist of each audit event with this action."""
    return list(
        db_.session.scalars(sa.select(AuditEvent.artist_id).where(AuditEvent.action == action))
    )


def test_an_artist_without_an_account_sees_status_none(db, stripe_app, api_client):
    response = api_client(UserFactory()).get(URL)

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "none",
        "payouts_enabled": False,
        "details_submitted": False,
        "disabled_reason": None,
    }


def test_setting_up_payouts_creates_the_express_account_once_and_reuses_it(
    db, stripe_app, stripe_emulator, stripe_client: stripe.StripeClient, api_client
):
    artist = UserFactory()
    artist_api = api_client(artist)

    first = artist_api.post(URL)
    second = artist_api.post(URL)

    assert first.status_code == second.status_code == 200
    urls = [first.get_json()["onboarding_url"], second.get_json()["onboarding_url"]]
    assert all(url.startswith(f"{stripe_emulator.url}/onboarding/") for url in urls)
    assert urls[0] != urls[1], "each set-up gets a fresh single-use link"
    (account,) = accounts_of(db, artist)
    at_stripe = stripe_client.v1.accounts.retrieve(account.stripe_account_id)
    assert (at_stripe.type, at_stripe.email) == ("express", artist.email)
    assert audit_artists("payout_account.created") == [artist.id]
    assert artist_api.get(URL).get_json()["status"] == "onboarding"


def test_a_crash_between_the_stripe_call_and_the_insert_reuses_the_same_stripe_account(
    db, stripe_app, api_client
):
    artist = UserFactory()
    with stripe_app.app_context():
        # The first attempt reached Stripe, then the process died before storing the account.
        lost = gateway.create_express_account(artist.email, idempotency_key=f"account-{artist.id}")

    response = api_client(artist).post(URL)

    assert response.status_code == 200
    (account,) = accounts_of(db, artist)
    assert account.stripe_account_id == lost.id


def test_completing_the_onboarding_page_readies_the_account_only_once_account_updated_arrives(
    db,
    stripe_app,
    api_client,
    client,
    webhook_receiver: WebhookReceiver,
    http: requests.Session,
):
    artist = UserFactory()
    artist_api = api_client(artist)
    url = artist_api.post(URL).get_json()["onboarding_url"]
    assert http.get(url).status_code == 200  # the emulator's hosted page

    done = http.post(url, allow_redirects=False)

    assert done.status_code == 303
    assert done.headers["Location"] == (
        stripe_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/payouts/setup/return"
    )
    # Coming back proves nothing: still onboarding until Stripe tells us.
    assert artist_api.get(URL).get_json()["status"] == "onboarding"

    (delivery,) = webhook_receiver.wait_for("account.updated")
    response = client.post(
        "/webhooks/stripe",
        data=delivery.body,
        headers={"Stripe-Signature": delivery.signature, "Content-Type": "application/json"},
    )

    assert response.status_code == 200
    assert response.get_json()["outcome"] == "account updated: ready"
    assert artist_api.get(URL).get_json() == {
        "status": "ready",
        "payouts_enabled": True,
        "details_submitted": True,
        "disabled_reason": None,
    }
    (account,) = accounts_of(db, artist)
    assert account.transfers_capability == "active"
    assert account.status_as_of == delivery.event["created"]
    assert audit_artists("payout_account.updated") == [artist.id]
    stored = db.session.scalar(sa.select(WebhookEvent))
    assert (stored.stripe_event_id, stored.account) == (
        delivery.event["id"],
        account.stripe_account_id,
    )


def test_a_stripe_failure_is_a_502_that_changes_nothing_and_a_retry_succeeds(
    db, stripe_app, stripe_emulator, api_client
):
    artist = UserFactory()
    stripe_emulator.emulator.add_faults({"fail_next": 1, "path_prefix": "/v1/accounts"})

    failed = api_client(artist).post(URL)

    assert failed.status_code == 502
    assert failed.get_json()["error"]["code"] == "stripe_error"
    assert accounts_of(db, artist) == []
    assert audit_count("payout_account.created") == 0

    assert api_client(artist).post(URL).status_code == 200
    assert len(accounts_of(db, artist)) == 1


def test_a_failed_account_link_keeps_the_account_created_before_it(
    db, stripe_app, stripe_emulator, api_client
):
    artist = UserFactory()
    stripe_emulator.emulator.add_faults({"fail_next": 1, "path_prefix": "/v1/account_links"})

    assert api_client(artist).post(URL).status_code == 502

    (account,) = accounts_of(db, artist)
    assert api_client(artist).post(URL).status_code == 200
    assert [a.stripe_account_id for a in accounts_of(db, artist)] == [account.stripe_account_id]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("who", ["staff", "admin", "service"])
def test_only_artists_have_a_payout_account(db, stripe_app, api_client, method, who):
    if who == "service":
        caller = api_client(service="tool", scopes=["api"])
    else:
        caller = api_client(UserFactory(**{who: True}))

    response = getattr(caller, method)(URL)

    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(PayoutAccount.id))) == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_without_a_token_it_is_401(db, stripe_app, api_client, method):
    assert getattr(api_client(), method)(URL).status_code == 401
