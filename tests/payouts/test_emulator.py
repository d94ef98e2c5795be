"""The Stripe emulator, driven over HTTP by the real ``stripe`` client (no mocks, no patching)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from click.testing import CliRunner

from access_program.payouts.emulator import (
    DEFAULT_BALANCE,
    EmulatorServer,
    parse_params,
    stripe_emulator_command,
)

from .conftest import WebhookReceiver

FIXTURES = Path(os.environ.get("STRIPE_FIXTURES", "/work/shared/stripe-fixtures.json"))
RETURN_URL = "http://app.test/payouts/stripe/return"
REFRESH_URL = "http://app.test/payouts/stripe/refresh"

ClientFactory = Callable[..., stripe.StripeClient]


def _create_account(client: stripe.StripeClient) -> Any:
    return client.v1.accounts.create(
        params={
            "type": "express",
            "email": "artist@example.com",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"artist_id": "7"},
        }
    )


def _ready_account(client: stripe.StripeClient, emulator: EmulatorServer) -> str:
    """Create an account and finish its onboarding through the test control."""
    account_id = _create_account(client).id
    emulator.emulator.complete_onboarding(account_id)
    return account_id


def _transfer_params(destination: str, amount: int = 1500, group: str = "run-1") -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "usd",
        "destination": destination,
        "transfer_group": group,
        "metadata": {"payout_id": "42"},
    }


def _header(obj: Any, name: str) -> str | None:
    """Return a header of the HTTP response that produced a stripe object."""
    return obj.last_response.headers.get(name)


def test_onboarding_page_readies_the_account_and_sends_a_signed_account_updated(
    stripe_client: stripe.StripeClient,
    stripe_emulator: EmulatorServer,
    webhook_receiver: WebhookReceiver,
    http: requests.Session,
) -> None:
    account = _create_account(stripe_client)
    assert account.id.startswith("acct_")
    assert (account.type, account.email, account.country) == ("express", "artist@example.com", "US")
    assert not account.payouts_enabled and not account.details_submitted
    assert account.capabilities.transfers == "inactive"
    assert account.requirements.currently_due
    link = stripe_client.v1.account_links.create(
        params={
            "account": account.id,
            "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL,
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link"
    assert link.expires_at > link.created
    assert link.url.startswith(f"{stripe_emulator.url}/onboarding/")

    page = http.get(link.url)
    assert page.status_code == 200
    assert "Complete onboarding" in page.text
    assert account.id in page.text
    done = http.post(link.url, allow_redirects=False)
    assert done.status_code == 303
    assert done.headers["Location"] == RETURN_URL

    (delivery,) = webhook_receiver.wait_for("account.updated")
    event = stripe.Webhook.construct_event(
        delivery.body, delivery.signature, stripe_emulator.webhook_secret
    )
    assert event.type == "account.updated"
    assert event.id.startswith("evt_")
    assert event.account == account.id
    updated = event.data.object
    assert updated.id == account.id
    assert updated.payouts_enabled and updated.charges_enabled and updated.details_submitted
    assert updated.capabilities.transfers == "active"
    assert updated.requirements.currently_due == []
    assert updated.requirements.disabled_reason is None
    previous = event.data.previous_attributes
    assert previous.payouts_enabled is False
    assert previous.capabilities.transfers == "inactive"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_wrong")

    retrieved = stripe_client.v1.accounts.retrieve(account.id)
    assert retrieved.payouts_enabled
    assert retrieved.capabilities.transfers == "active"


def test_account_links_are_single_use(
    stripe_client: stripe.StripeClient, http: requests.Session
) -> None:
    account = _create_account(stripe_client)
    params = {
        "account": account.id,
        "refresh_url": REFRESH_URL,
        "return_url": RETURN_URL,
        "type": "account_onboarding",
    }
    link = stripe_client.v1.account_links.create(params=params)
    assert http.get(link.url).status_code == 200
    revisit = http.get(link.url, allow_redirects=False)
    assert (revisit.status_code, revisit.headers["Location"]) == (303, REFRESH_URL)
    assert http.post(link.url, allow_redirects=False).headers["Location"] == RETURN_URL
    again = http.post(link.url, allow_redirects=False)
    assert (again.status_code, again.headers["Location"]) == (303, REFRESH_URL)

    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.account_links.create(params={**params, "account": "acct_missing"})
    assert (missing.value.code, missing.value.param) == ("resource_missing", "account")


def test_transfers_are_created_retrieved_and_listed_by_transfer_group(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    first = stripe_client.v1.transfers.create(params=_transfer_params(destination, 1000))
    second = stripe_client.v1.transfers.create(params=_transfer_params(destination, 2000))
    other = stripe_client.v1.transfers.create(params=_transfer_params(destination, 3000, "run-2"))

    assert first.id.startswith("tr_")
    assert first.balance_transaction.startswith("txn_")
    assert first.destination_payment.startswith("py_")
    assert (first.amount, first.currency, first.destination) == (1000, "usd", destination)
    assert (first.amount_reversed, first.reversed, first.livemode) == (0, False, False)
    assert first.metadata.to_dict() == {"payout_id": "42"}
    assert _header(first, "request-id").startswith("req_")
    retrieved = stripe_client.v1.transfers.retrieve(first.id)
    assert (retrieved.id, retrieved.transfer_group) == (first.id, "run-1")

    run_1 = stripe_client.v1.transfers.list(params={"transfer_group": "run-1"})
    assert [t.id for t in run_1.data] == [second.id, first.id]
    assert run_1.url == "/v1/transfers" and not run_1.has_more
    page = stripe_client.v1.transfers.list(params={"destination": destination, "limit": 2})
    assert [t.id for t in page.data] == [other.id, second.id] and page.has_more
    rest = stripe_client.v1.transfers.list(params={"limit": 2, "starting_after": second.id})
    assert [t.id for t in rest.data] == [first.id] and not rest.has_more
    before = stripe_client.v1.transfers.list(params={"limit": 1, "ending_before": first.id})
    assert [t.id for t in before.data] == [second.id] and before.has_more
    paged = stripe_client.v1.transfers.list(params={"limit": 1}).auto_paging_iter()
    assert [t.id for t in paged] == [other.id, second.id, first.id]

    balance = stripe_client.v1.balance.retrieve()
    assert balance.available[0].currency == "usd"
    assert balance.available[0].amount == DEFAULT_BALANCE - 6000


def test_an_idempotent_retry_replays_the_first_transfer(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    options: Any = {"idempotency_key": "payout-42"}
    first = stripe_client.v1.transfers.create(params=_transfer_params(destination), options=options)
    again = stripe_client.v1.transfers.create(params=_transfer_params(destination), options=options)

    assert again.id == first.id
    assert _header(first, "idempotent-replayed") is None
    assert _header(again, "idempotent-replayed") == "true"
    assert _header(again, "original-request") == _header(first, "request-id")
    assert _header(again, "request-id") != _header(first, "request-id")
    log = stripe_emulator.emulator.transfer_log()
    assert [(t["id"], t["idempotency_key"]) for t in log] == [(first.id, "payout-42")]


def test_reusing_a_key_with_other_parameters_or_path_is_an_idempotency_error(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    options: Any = {"idempotency_key": "payout-43"}
    stripe_client.v1.transfers.create(params=_transfer_params(destination, 500), options=options)

    with pytest.raises(stripe.IdempotencyError) as other_params:
        stripe_client.v1.transfers.create(
            params=_transfer_params(destination, 501), options=options
        )
    assert other_params.value.http_status == 400
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.accounts.create(
            params={"type": "express", "capabilities": {"transfers": {"requested": True}}},
            options=options,
        )
    assert len(stripe_emulator.emulator.transfer_log()) == 1


def test_idempotency_keys_are_scoped_per_api_key(
    make_stripe_client: ClientFactory, stripe_emulator: EmulatorServer
) -> None:
    first_client = make_stripe_client("sk_test_first")
    second_client = make_stripe_client("sk_test_second")
    destination = _ready_account(first_client, stripe_emulator)
    options: Any = {"idempotency_key": "shared-key"}
    one = first_client.v1.transfers.create(params=_transfer_params(destination), options=options)
    two = second_client.v1.transfers.create(params=_transfer_params(destination), options=options)
    assert one.id != two.id
    assert len(stripe_emulator.emulator.transfer_log()) == 2


def test_parameter_errors_are_not_saved_for_the_key(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    options: Any = {"idempotency_key": "payout-44"}
    incomplete = {k: v for k, v in _transfer_params(destination).items() if k != "amount"}
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.transfers.create(params=incomplete, options=options)
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "amount")
    assert missing.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.v1.transfers.create(
            params={**_transfer_params(destination), "colour": "blue"}, options=options
        )
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "colour")

    transfer = stripe_client.v1.transfers.create(
        params=_transfer_params(destination), options=options
    )
    assert _header(transfer, "idempotent-replayed") is None
    assert len(stripe_emulator.emulator.transfer_log()) == 1


def test_balance_insufficient_is_saved_and_replayed_for_the_key(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer, http: requests.Session
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    low = http.post(f"{stripe_emulator.url}/_emulator/balance", json={"amount": 999})
    assert low.json()["available"][0]["amount"] == 999
    options: Any = {"idempotency_key": "payout-45"}
    with pytest.raises(stripe.InvalidRequestError) as first:
        stripe_client.v1.transfers.create(
            params=_transfer_params(destination, 1000), options=options
        )
    assert (first.value.http_status, first.value.code) == (400, "balance_insufficient")

    stripe_emulator.emulator.set_balance(5000)
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        stripe_client.v1.transfers.create(
            params=_transfer_params(destination, 1000), options=options
        )
    assert replayed.value.code == "balance_insufficient"
    assert replayed.value.headers["idempotent-replayed"] == "true"
    assert stripe_emulator.emulator.transfer_log() == []

    paid = stripe_client.v1.transfers.create(params=_transfer_params(destination, 1000))
    assert paid.amount == 1000
    assert stripe_client.v1.balance.retrieve().available[0].amount == 4000


def test_an_injected_500_is_retried_by_the_client(
    make_stripe_client: ClientFactory, stripe_emulator: EmulatorServer, http: requests.Session
) -> None:
    client = make_stripe_client(max_network_retries=2)
    destination = _ready_account(client, stripe_emulator)
    faults = http.post(
        f"{stripe_emulator.url}/_emulator/faults",
        json={"fail_next": 2, "status": 500, "path_prefix": "/v1/transfers"},
    )
    assert faults.json() == {
        "faults": [{"kind": "fail", "remaining": 2, "path_prefix": "/v1/transfers", "status": 500}]
    }

    transfer = client.v1.transfers.create(params=_transfer_params(destination))

    assert [t["id"] for t in stripe_emulator.emulator.transfer_log()] == [transfer.id]
    assert stripe_emulator.emulator.faults() == []


def test_an_injected_500_without_retries_raises_and_creates_nothing(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    stripe_emulator.emulator.add_faults({"fail_next": 1})
    with pytest.raises(stripe.APIError) as failed:
        stripe_client.v1.transfers.create(params=_transfer_params(destination))
    assert failed.value.http_status == 500
    assert failed.value.error.type == "api_error"
    assert stripe_emulator.emulator.transfer_log() == []


def test_a_dropped_connection_is_resumed_with_the_same_key(
    make_stripe_client: ClientFactory, stripe_emulator: EmulatorServer
) -> None:
    client = make_stripe_client()
    destination = _ready_account(client, stripe_emulator)
    stripe_emulator.emulator.add_faults({"drop_after_transfer_next": 1})
    options: Any = {"idempotency_key": "payout-46"}
    with pytest.raises(stripe.APIConnectionError):
        client.v1.transfers.create(params=_transfer_params(destination), options=options)
    (made,) = stripe_emulator.emulator.transfer_log()
    assert made["idempotency_key"] == "payout-46"

    resumed = client.v1.transfers.create(params=_transfer_params(destination), options=options)
    assert resumed.id == made["id"]
    assert _header(resumed, "idempotent-replayed") == "true"

    retrying = make_stripe_client(max_network_retries=2)
    stripe_emulator.emulator.add_faults({"drop_after_transfer_next": 1})
    transparent = retrying.v1.transfers.create(params=_transfer_params(destination, 700))
    assert _header(transparent, "idempotent-replayed") == "true"
    log = stripe_emulator.emulator.transfer_log()
    assert [t["id"] for t in log] == [made["id"], transparent.id]


def test_a_delay_past_the_client_timeout_is_in_flight_then_replayed(
    make_stripe_client: ClientFactory, stripe_emulator: EmulatorServer
) -> None:
    impatient = make_stripe_client(timeout=0.3)
    destination = _ready_account(impatient, stripe_emulator)
    stripe_emulator.emulator.add_faults(
        {"delay_seconds": 1.5, "delay_next": 1, "path_prefix": "/v1/transfers"}
    )
    options: Any = {"idempotency_key": "payout-47"}
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.transfers.create(params=_transfer_params(destination), options=options)

    with pytest.raises(stripe.APIError) as in_flight:
        make_stripe_client().v1.transfers.create(
            params=_transfer_params(destination), options=options
        )
    assert in_flight.value.http_status == 409
    assert in_flight.value.error.code == "idempotency_key_in_use"

    patient = make_stripe_client(max_network_retries=5)
    transfer = patient.v1.transfers.create(params=_transfer_params(destination), options=options)
    assert _header(transfer, "idempotent-replayed") == "true"
    assert [t["id"] for t in stripe_emulator.emulator.transfer_log()] == [transfer.id]


def test_concurrent_requests_with_one_key_make_one_transfer(
    make_stripe_client: ClientFactory, stripe_emulator: EmulatorServer
) -> None:
    client = make_stripe_client(max_network_retries=5)
    destination = _ready_account(client, stripe_emulator)
    stripe_emulator.emulator.add_faults({"delay_seconds": 0.3})
    ids: list[str] = []

    def pay() -> None:
        transfer = client.v1.transfers.create(
            params=_transfer_params(destination), options={"idempotency_key": "payout-48"}
        )
        ids.append(transfer.id)

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert len(stripe_emulator.emulator.transfer_log()) == 1


def test_reversals_mark_the_transfer_and_send_transfer_reversed(
    stripe_client: stripe.StripeClient,
    stripe_emulator: EmulatorServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    transfer = stripe_client.v1.transfers.create(params=_transfer_params(destination, 1000))
    partial = stripe_client.v1.transfers.reversals.create(transfer.id, params={"amount": 400})
    assert partial.id.startswith("trr_")
    assert (partial.object, partial.amount, partial.transfer) == (
        "transfer_reversal",
        400,
        transfer.id,
    )
    after_partial = stripe_client.v1.transfers.retrieve(transfer.id)
    assert (after_partial.amount_reversed, after_partial.reversed) == (400, False)

    rest = stripe_client.v1.transfers.reversals.create(transfer.id)
    assert rest.amount == 600
    reversed_transfer = stripe_client.v1.transfers.retrieve(transfer.id)
    assert (reversed_transfer.amount_reversed, reversed_transfer.reversed) == (1000, True)
    assert [r.id for r in reversed_transfer.reversals.data] == [rest.id, partial.id]
    with pytest.raises(stripe.InvalidRequestError, match="fully reversed"):
        stripe_client.v1.transfers.reversals.create(transfer.id)

    deliveries = webhook_receiver.wait_for("transfer.reversed", count=2)
    events = sorted(
        (
            stripe.Webhook.construct_event(d.body, d.signature, stripe_emulator.webhook_secret)
            for d in deliveries
        ),
        key=lambda event: event.data.object.amount_reversed,
    )
    assert [e.data.object.amount_reversed for e in events] == [400, 1000]
    assert events[1].data.object.reversed is True
    assert events[1].data.previous_attributes.to_dict() == {
        "amount_reversed": 400,
        "reversed": False,
    }
    assert stripe_client.v1.balance.retrieve().available[0].amount == DEFAULT_BALANCE


def test_controls_reverse_a_transfer_and_complete_onboarding_over_http(
    stripe_client: stripe.StripeClient,
    stripe_emulator: EmulatorServer,
    webhook_receiver: WebhookReceiver,
    http: requests.Session,
) -> None:
    account = _create_account(stripe_client)
    onboarded = http.post(
        f"{stripe_emulator.url}/_emulator/accounts/{account.id}/complete-onboarding"
    )
    assert onboarded.status_code == 200 and onboarded.json()["payouts_enabled"] is True
    webhook_receiver.wait_for("account.updated")
    transfer = stripe_client.v1.transfers.create(params=_transfer_params(account.id, 800))

    reversal = http.post(
        f"{stripe_emulator.url}/_emulator/transfers/{transfer.id}/reverse", json={"amount": 300}
    )
    assert reversal.status_code == 200
    assert (reversal.json()["amount"], reversal.json()["transfer"]) == (300, transfer.id)
    (delivery,) = webhook_receiver.wait_for("transfer.reversed")
    assert delivery.event["data"]["object"]["amount_reversed"] == 300
    assert delivery.event["request"] == {"id": None, "idempotency_key": None}
    too_much = http.post(
        f"{stripe_emulator.url}/_emulator/transfers/{transfer.id}/reverse", json={"amount": 501}
    )
    assert too_much.status_code == 400 and too_much.json()["error"]["param"] == "amount"

    log = http.get(f"{stripe_emulator.url}/_emulator/transfers").json()
    assert [(t["id"], t["amount_reversed"]) for t in log] == [(transfer.id, 300)]
    events = http.get(f"{stripe_emulator.url}/_emulator/events").json()
    assert [e["type"] for e in events] == [
        "account.updated",
        "transfer.created",
        "transfer.reversed",
    ]
    unknown = http.post(f"{stripe_emulator.url}/_emulator/accounts/acct_nope/complete-onboarding")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "resource_missing"


def test_unknown_ids_are_resource_missing(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as transfer:
        stripe_client.v1.transfers.retrieve("tr_missing")
    assert (transfer.value.http_status, transfer.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as account:
        stripe_client.v1.accounts.retrieve("acct_missing")
    assert (account.value.http_status, account.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as reversal:
        stripe_client.v1.transfers.reversals.create("tr_missing")
    assert reversal.value.http_status == 404


def test_bad_or_missing_api_keys_are_refused(
    make_stripe_client: ClientFactory, stripe_emulator: EmulatorServer, http: requests.Session
) -> None:
    with pytest.raises(stripe.AuthenticationError):
        make_stripe_client("sk_live_nope").v1.balance.retrieve()
    anonymous = http.get(f"{stripe_emulator.url}/v1/balance")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "invalid_request_error"
    basic = http.get(f"{stripe_emulator.url}/v1/balance", auth=("sk_test_basic", ""))
    assert basic.status_code == 200 and basic.json()["object"] == "balance"

    with EmulatorServer(api_key="sk_test_only") as strict:
        only = http.get(f"{strict.url}/v1/balance", headers={"Authorization": "Bearer sk_test_x"})
        assert only.status_code == 401
        good = http.get(f"{strict.url}/v1/balance", auth=("sk_test_only", ""))
        assert good.status_code == 200


def test_transfers_need_an_existing_ready_destination(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.v1.transfers.create(params=_transfer_params("acct_missing"))
    assert (unknown.value.code, unknown.value.param) == ("resource_missing", "destination")
    pending = _create_account(stripe_client).id
    with pytest.raises(stripe.InvalidRequestError) as not_ready:
        stripe_client.v1.transfers.create(params=_transfer_params(pending))
    assert not_ready.value.code == "insufficient_capabilities_for_transfer"
    assert not_ready.value.param == "destination"


def test_express_accounts_must_request_a_capability(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.accounts.create(params={"type": "express"})
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "capabilities")


def test_every_response_carries_a_request_id(
    stripe_emulator: EmulatorServer, http: requests.Session
) -> None:
    responses = [
        http.get(f"{stripe_emulator.url}/v1/balance"),
        http.get(f"{stripe_emulator.url}/v1/nothing-here", auth=("sk_test_x", "")),
        http.get(f"{stripe_emulator.url}/_emulator/faults"),
        http.post(f"{stripe_emulator.url}/_emulator/reset"),
    ]
    assert [r.status_code for r in responses] == [401, 404, 200, 200]
    assert all(r.headers["Request-Id"].startswith("req_") for r in responses)
    assert responses[1].json()["error"]["message"].startswith("Unrecognized request URL")


def test_webhooks_are_retried_until_accepted(
    stripe_client: stripe.StripeClient,
    stripe_emulator: EmulatorServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.fail_next = 2
    account = _create_account(stripe_client)
    stripe_emulator.emulator.complete_onboarding(account.id)

    (delivery,) = webhook_receiver.wait_for("account.updated")
    assert webhook_receiver.attempts == 3
    stripe.Webhook.construct_event(
        delivery.body, delivery.signature, stripe_emulator.webhook_secret
    )
    deadline = time.monotonic() + 5
    while stripe_emulator.emulator.events()[0]["pending_webhooks"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stripe_emulator.emulator.events()[0]["pending_webhooks"] == 0


def test_reset_forgets_everything(
    stripe_client: stripe.StripeClient, stripe_emulator: EmulatorServer
) -> None:
    destination = _ready_account(stripe_client, stripe_emulator)
    stripe_client.v1.transfers.create(params=_transfer_params(destination))
    stripe_emulator.emulator.add_faults({"fail_next": 3})
    stripe_emulator.emulator.reset()
    assert stripe_emulator.emulator.transfer_log() == []
    assert stripe_emulator.emulator.events() == []
    assert stripe_emulator.emulator.faults() == []
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.accounts.retrieve(destination)
    assert stripe_client.v1.balance.retrieve().available[0].amount == DEFAULT_BALANCE


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"fail_next": 0},
        {"fail_next": 1, "status": 200},
        {"status": 500},
        {"delay_next": 1},
        {"delay_seconds": -1},
        {"fail_next": 1, "path_prefix": "/_emulator"},
        {"explode": True},
    ],
)
def test_fault_specifications_are_validated(
    stripe_emulator: EmulatorServer, http: requests.Session, spec: dict[str, Any]
) -> None:
    response = http.post(f"{stripe_emulator.url}/_emulator/faults", json=spec)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_parse_params_nests_brackets_into_hashes_and_lists() -> None:
    pairs = [
        ("amount", "100"),
        ("metadata[payout_id]", "42"),
        ("capabilities[transfers][requested]", "true"),
        ("expand[0]", "destination"),
        ("expand[1]", "balance_transaction"),
    ]
    assert parse_params(pairs) == {
        "amount": "100",
        "metadata": {"payout_id": "42"},
        "capabilities": {"transfers": {"requested": "true"}},
        "expand": ["destination", "balance_transaction"],
    }


def test_the_cli_command_takes_port_and_webhook_options() -> None:
    result = CliRunner().invoke(stripe_emulator_command, ["--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--webhook-url" in result.output
    assert "--webhook-secret" in result.output


def _kind(value: Any) -> str:
    """Name a JSON value's kind (booleans apart from numbers)."""
    kinds = (("boolean", bool), ("number", int | float), ("string", str), ("hash", dict))
    return next((kind for kind, type_ in kinds if isinstance(value, type_)), "array")


MAPS = frozenset({"capabilities", "metadata"})


def _assert_same_shape(expected: Any, actual: Any, path: str, maps: frozenset[str] = MAPS) -> None:
    """Same keys and kinds of values as Stripe's fixture; null matches any kind (nullable).

    Hashes under a key in ``maps`` are open maps (capabilities, metadata): their keys may differ.
    """
    if expected is None or actual is None:
        return
    assert _kind(actual) == _kind(expected), f"{path}: {actual!r} vs {expected!r}"
    if isinstance(expected, dict) and path.rpartition(".")[2] not in maps:
        assert sorted(actual) == sorted(expected), path
        for key, value in expected.items():
            _assert_same_shape(value, actual[key], f"{path}.{key}", maps)
    elif isinstance(expected, list) and expected and actual:
        _assert_same_shape(expected[0], actual[0], f"{path}[0]", maps)


def test_objects_have_the_keys_and_kinds_of_stripes_fixtures(
    stripe_client: stripe.StripeClient,
    stripe_emulator: EmulatorServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    if not FIXTURES.exists():
        pytest.skip(f"{FIXTURES} is absent")
    fixtures = json.loads(FIXTURES.read_text())
    account = _create_account(stripe_client)
    link = stripe_client.v1.account_links.create(
        params={
            "account": account.id,
            "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL,
            "type": "account_onboarding",
        }
    )
    stripe_emulator.emulator.complete_onboarding(account.id)
    ready = stripe_client.v1.accounts.retrieve(account.id)
    transfer = stripe_client.v1.transfers.create(params=_transfer_params(account.id))
    reversal = stripe_client.v1.transfers.reversals.create(transfer.id, params={"amount": 1})
    balance = stripe_client.v1.balance.retrieve()
    (created,) = webhook_receiver.wait_for("transfer.created")
    (updated,) = webhook_receiver.wait_for("account.updated")

    for name, obj in [
        ("account", account),
        ("account", ready),
        ("account_link", link),
        ("transfer", transfer),
        ("transfer_reversal", reversal),
        ("balance", balance),
    ]:
        _assert_same_shape(fixtures[name], obj.last_response.data, name)
    # The fixture event carries a plan: compare the envelope, then the object with its own kind.
    _assert_same_shape(fixtures["event"], created.event, "event", MAPS | {"object"})
    _assert_same_shape(fixtures["transfer"], created.event["data"]["object"], "transfer")
    connect_event = dict(updated.event)
    assert connect_event.pop("account") == account.id
    assert sorted(connect_event["data"]) == ["object", "previous_attributes"]
    _assert_same_shape(fixtures["event"], connect_event, "event", MAPS | {"data"})
    _assert_same_shape(fixtures["account"], connect_event["data"]["object"], "account")
