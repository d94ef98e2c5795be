"""The outbox (SPEC §3.13): email queued in the change's transaction, then sent by
`flask outbox send`."""

from __future__ import annotations

import logging
import socket

import pytest
import sqlalchemy as sa

from access_program.outbox.models import OutboxMessage
from access_program.outbox.service import queue_email, queue_many
from tests.factories import UserFactory


def _messages(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.fixture
def no_smtp(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", None)


def test_send_logs_each_message_and_marks_it_sent_once(db, runner, no_smtp, caplog):
    artist = UserFactory(email="artist@example.org")
    queue_email("invitation", "new@example.org", "You are invited", "Open the link.")
    queue_many("pause.started", [(artist.id, artist.email)], "Access paused", "Because.")
    db.session.commit()

    with caplog.at_level(logging.INFO, logger="access_program.outbox.service"):
        first = runner.invoke(args=["outbox", "send"])

    assert first.exit_code == 0, first.output
    assert "Sent 2, failed 0." in first.output
    messages = _messages(db)
    assert all(m.sent_at is not None and m.attempts == 1 for m in messages)
    assert messages[1].user_id == artist.id
    logged = caplog.text
    assert "new@example.org: You are invited" in logged
    assert "artist@example.org: Access paused" in logged

    second = runner.invoke(args=["outbox", "send"])

    assert second.exit_code == 0
    assert "Sent 0, failed 0." in second.output
    assert [m.attempts for m in _messages(db)] == [1, 1]


def test_send_respects_the_limit_oldest_first(db, runner, no_smtp):
    for n in range(3):
        queue_email("test", f"p{n}@example.org", f"Message {n}", "Body")
    db.session.commit()

    result = runner.invoke(args=["outbox", "send", "--limit", "2"])

    assert "Sent 2, failed 0." in result.output
    assert [m.sent_at is not None for m in _messages(db)] == [True, True, False]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_smtp_failure_keeps_the_message_for_the_next_run(db, runner, app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", _closed_port())
    queue_email("invitation", "new@example.org", "You are invited", "Open the link.")
    db.session.commit()

    result = runner.invoke(args=["outbox", "send"])

    assert result.exit_code == 0
    assert "Sent 0, failed 1." in result.output
    (message,) = _messages(db)
    assert message.sent_at is None
    assert message.attempts == 1
    assert message.last_error


def test_messages_queued_in_a_rolled_back_change_are_never_sent(db, runner, no_smtp):
    queue_email("invitation", "ghost@example.org", "Never", "Rolled back.")
    db.session.rollback()

    result = runner.invoke(args=["outbox", "send"])

    assert "Sent 0, failed 0." in result.output
    assert _messages(db) == []


class FakeSMTP:
    """Stands in for smtplib.SMTP: records what would have gone over the wire."""

    sent: list = []

    def __init__(self, host, port, timeout=None):
        self.address = (host, port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def send_message(self, message):
        FakeSMTP.sent.append((self.address, message))


def test_smtp_is_used_when_configured(db, runner, app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example.org")
    monkeypatch.setitem(app.config, "SMTP_PORT", 2525)
    monkeypatch.setattr("access_program.outbox.service.smtplib.SMTP", FakeSMTP)
    monkeypatch.setattr(FakeSMTP, "sent", [])
    queue_email("invitation", "new@example.org", "You are invited", "Open the link.")
    db.session.commit()

    result = runner.invoke(args=["outbox", "send"])

    assert "Sent 1, failed 0." in result.output
    ((address, email),) = FakeSMTP.sent
    assert address == ("mail.example.org", 2525)
    assert (email["To"], email["Subject"]) == ("new@example.org", "You are invited")
    assert email["From"] == app.config["SMTP_FROM"]
    assert "Open the link." in email.get_content()


def test_a_message_that_cannot_be_sent_does_not_stop_the_others(db, runner, app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example.org")
    monkeypatch.setattr("access_program.outbox.service.smtplib.SMTP", FakeSMTP)
    monkeypatch.setattr(FakeSMTP, "sent", [])
    queue_email("test", "a@example.org", "Broken\nBcc: everyone@example.org", "Body")
    queue_email("test", "b@example.org", "Fine", "Body")
    db.session.commit()

    first = runner.invoke(args=["outbox", "send"])
    second = runner.invoke(args=["outbox", "send"])

    assert "Sent 1, failed 1." in first.output
    assert "Sent 0, failed 0." in second.output  # not retried: it can never be sent
    assert [email["To"] for _, email in FakeSMTP.sent] == ["b@example.org"]
    broken, fine = _messages(db)
    assert broken.sent_at is None and "cannot be sent" in broken.last_error
    assert fine.sent_at is not None
