"""Tests of the access domain: grants, revocations, pauses and the access decision.

``setup_committed_before_requests`` is imported (autouse) by the modules that make HTTP calls on
the per-test ``db`` fixture. That fixture runs the app's session inside a savepoint; when a request
is refused, the error handler rolls the session back, and without this the rollback would also wipe
the test's own setup made since the last commit (the token, the artist, ...). Committing the setup
when each request starts matches production, where preconditions were committed long before.
"""

from __future__ import annotations

import pytest
from flask import request_started


@pytest.fixture(autouse=True)
def setup_committed_before_requests(app, db):
    def settle(sender, **extra):
        db.session.commit()

    request_started.connect(settle, app)
    yield
    request_started.disconnect(settle, app)
