"""Payouts API."""

from __future__ import annotations

from flask_smorest import Blueprint

from access_program.payouts import models  # noqa: F401  (tables are part of the schema)

blp = Blueprint("payouts_api", __name__, description="Payouts")
