"""Artists' Stripe Express accounts: onboarding, and the status that account.updated keeps.

Readiness comes only from Stripe's ``account.updated`` webhooks (see ``payouts.webhooks``): the
artist coming back through the account link's return URL proves nothing. Stripe is never called
inside an open transaction (STYLE §9): onboarding commits what the request did before each call,
and creating the account twice is harmless because the idempotency key is fixed per artist.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
import stripe
from flask import current_app

from access_program import audit
from access_program.accounts.models import User
from access_program.db import db
from access_program.errors import DomainError, Forbidden
from access_program.payouts import gateway
from access_program.payouts.models import PayoutAccount

#: The app's own pages the account link sends the artist back to.
SETUP_RETURN_PATH = "/payouts/setup/return"
SETUP_REFRESH_PATH = "/payouts/setup/refresh"


class AccountStatus(StrEnum):
    #: No Stripe account yet.
    NONE = "none"
    #: An account exists, but Stripe has not (or no longer) enabled payouts to it.
    ONBOARDING = "onboarding"
    #: Stripe says payouts are enabled and the transfers capability is active.
    READY = "ready"


class StripeUnavailable(DomainError):
    """Stripe (or the emulator) refused or could not be reached: nothing was changed here."""

    status = 502
    code = "stripe_error"


def account_idempotency_key(artist: User) -> str:
    """One key per artist, so a retried or concurrent creation returns the same account."""
    return f"account-{artist.id}"


def onboarding_urls() -> tuple[str, str]:
    """(refresh_url, return_url): absolute URLs of the app's own setup pages."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return base + SETUP_REFRESH_PATH, base + SETUP_RETURN_PATH


def get_payout_account(artist: User) -> PayoutAccount | None:
    return db.session.scalar(sa.select(PayoutAccount).where(PayoutAccount.artist_id == artist.id))


def account_status(account: PayoutAccount | None) -> AccountStatus:
    if account is None:
        return AccountStatus.NONE
    return AccountStatus.READY if account.is_ready else AccountStatus.ONBOARDING


def _require_artist(artist: User) -> None:
    if not artist.is_artist:
        raise Forbidden("Only artists set up payouts: staff and admin accounts are not paid.")


def _stripe_call(what: str, call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
        current_app.logger.warning("Stripe refused to %s: %s", what, message)
        raise StripeUnavailable(
            f"Stripe could not {what} just now ({message}). Nothing was changed; try again."
        ) from exc


def _save_account(artist: User, stripe_account_id: str) -> PayoutAccount:
    """Insert the artist's account once; a concurrent request that inserted first wins."""
    account = PayoutAccount(artist_id=artist.id, stripe_account_id=stripe_account_id)
    try:
        with db.session.begin_nested():
            db.session.add(account)
    except sa.exc.IntegrityError:
        existing = get_payout_account(artist)
        if existing is None:
            raise
        return existing
    audit.record(
        artist.actor,
        "payout_account.created",
        "payout_account",
        account.id,
        artist_id=artist.id,
        data={"stripe_account_id": stripe_account_id},
    )
    return account


def ensure_payout_account(artist: User) -> PayoutAccount:
    """The artist's Express account, created at Stripe once. Audit: payout_account.created.

    Commits twice (payouts own their units of work, STYLE §9): before the Stripe call, so that
    no lock of this request (the token's last use, say) is held while Stripe answers, and after
    the insert, so that the account is durable before the next call. A crash between the call
    and the insert is harmless: the same idempotency key returns the same account next time.
    """
    _require_artist(artist)
    account = get_payout_account(artist)
    if account is not None:
        return account
    email, key = artist.email, account_idempotency_key(artist)
    db.session.commit()
    created = _stripe_call(
        "create your payout account", gateway.create_express_account, email, idempotency_key=key
    )
    account = _save_account(artist, created.id)
    db.session.commit()
    return account


def start_onboarding(artist: User, *, refresh_url: str, return_url: str) -> str:
    """Create the artist's Express account (once) and a fresh account link; return its URL.

    Audit: payout_account.created (first time only). The account is not ready until Stripe's
    account.updated says so.
    """
    account = ensure_payout_account(artist)
    stripe_account_id = account.stripe_account_id
    # Nothing of this request is left uncommitted: the link is made outside any transaction.
    db.session.commit()
    link = _stripe_call(
        "start onboarding",
        gateway.create_account_link,
        stripe_account_id,
        refresh_url=refresh_url,
        return_url=return_url,
    )
    return link.url
