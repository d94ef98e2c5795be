"""Small assertions shared by the tests."""

from __future__ import annotations

import re

import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.db import db as _db


def audit_count(action: str | None = None) -> int:
    query = sa.select(sa.func.count(AuditEvent.seq))
    if action:
        query = query.where(AuditEvent.action == action)
    return _db.session.scalar(query)


def audit_actions_since(seq: int) -> list[str]:
    return list(
        _db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        )
    )


def audit_head_seq() -> int:
    return _db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
