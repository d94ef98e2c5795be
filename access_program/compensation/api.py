"""Compensation API."""

from __future__ import annotations

from flask_smorest import Blueprint

from access_program.compensation import models  # noqa: F401  (tables are part of the schema)

blp = Blueprint("compensation_api", __name__, description="Compensation")
