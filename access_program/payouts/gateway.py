"""The one place that talks to Stripe (or the emulator, which speaks the same HTTP API).

Never called inside an open database transaction: callers commit first (STYLE §9).
"""

from __future__ import annotations

from typing import Any

import stripe
from flask import current_app


def client() -> stripe.StripeClient:
    """A StripeClient from the configuration: key, API base, timeout and SDK retries."""
    config = current_app.config
    options: dict[str, Any] = {
        "max_network_retries": config["STRIPE_MAX_RETRIES"],
        "http_client": stripe.RequestsClient(timeout=config["STRIPE_TIMEOUT"]),
    }
    if config.get("STRIPE_API_BASE"):
        options["base_addresses"] = {"api": config["STRIPE_API_BASE"]}
    return stripe.StripeClient(config["STRIPE_SECRET_KEY"], **options)


def create_express_account(email: str, *, idempotency_key: str) -> stripe.Account:
    return client().v1.accounts.create(
        params={
            "type": "express",
            "email": email,
            "capabilities": {"transfers": {"requested": True}},
        },
        options={"idempotency_key": idempotency_key},
    )


def retrieve_account(account_id: str) -> stripe.Account:
    return client().v1.accounts.retrieve(account_id)


def create_account_link(
    account_id: str, *, refresh_url: str, return_url: str
) -> stripe.AccountLink:
    return client().v1.account_links.create(
        params={
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        }
    )


def create_transfer(
    *,
    amount: int,
    currency: str,
    destination: str,
    transfer_group: str,
    idempotency_key: str,
    metadata: dict[str, str],
) -> stripe.Transfer:
    return client().v1.transfers.create(
        params={
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )


def transfers_in_group(transfer_group: str) -> list[stripe.Transfer]:
    """Reconciliation: the transfers Stripe holds for one payout's group."""
    page = client().v1.transfers.list(params={"transfer_group": transfer_group, "limit": 10})
    return list(page.data)


def construct_event(payload: bytes, signature: str) -> stripe.Event:
    """Verify a webhook's signature on the raw body; raises stripe.SignatureVerificationError."""
    return stripe.Webhook.construct_event(
        payload, signature, current_app.config["STRIPE_WEBHOOK_SECRET"]
    )
