"""Payouts pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("payouts", __name__)
