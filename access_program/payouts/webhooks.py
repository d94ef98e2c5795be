"""POST /webhooks/stripe: verified, stored once by event id, handled in the same transaction."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stripe_webhooks", __name__)
