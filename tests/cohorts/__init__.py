"""Shared bits for the cohort tests: request bodies and audit look-ups by artist."""

from __future__ import annotations

import copy

import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.db import db as _db

RATE_CARD = {
    "currency": "usd",
    "feedback_hour": 5000,
    "bug_report": {"low": 2000, "medium": 5000, "high": 15000, "critical": 40000},
    "red_team_finding": {"low": 4000, "medium": 10000, "high": 30000, "critical": 80000},
    "approved_output": 0,
    "marketing_use": 50000,
    "monthly_stipend": 25000,
    "minimum_payout": 2500,
}

CLAUSES = [
    {"code": "P1", "title": "No real people", "text": "Do not depict identifiable real people."},
    {"code": "P2", "title": "No confidential features", "text": "Do not show unreleased ones."},
]


def terms_body(**overrides) -> dict:
    """A valid POST /api/v1/terms body (also the keyword arguments of create_terms)."""
    body = {
        "label": "2025-01",
        "body": "# Terms\n\nBe kind to the tool.",
        "clauses": copy.deepcopy(CLAUSES),
        "rate_card": copy.deepcopy(RATE_CARD),
    }
    body.update(overrides)
    return body


def events_since(seq: int) -> list[tuple[str, int | None]]:
    """(action, artist_id) of every audit event after ``seq``, in order."""
    rows = _db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.artist_id)
        .where(AuditEvent.seq > seq)
        .order_by(AuditEvent.seq)
    )
    return [(row.action, row.artist_id) for row in rows]


def last_event(action: str) -> AuditEvent:
    return _db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
    ).first()
