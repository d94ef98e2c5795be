"""Compensation pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compensation", __name__)
