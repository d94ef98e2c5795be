"""Fixtures for talking to the Stripe emulator over HTTP with the real ``stripe`` client."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import stripe
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from access_program.payouts.emulator import EmulatorServer

WEBHOOK_SECRET = "whsec_test_payouts"
WEBHOOK_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05  # how often the receiver checks for shutdown


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the receiver got it: the raw body and the headers."""

    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        """The decoded event."""
        return json.loads(self.body)

    @property
    def signature(self) -> str:
        """The ``Stripe-Signature`` header."""
        return self.headers["Stripe-Signature"]


class WebhookReceiver:
    """A tiny threaded HTTP server on loopback that records the webhooks posted to it.

    Set ``fail_next`` to answer the next deliveries with 500 (they are still recorded in
    ``attempts``); only accepted deliveries are in ``deliveries``.
    """

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.attempts = 0
        self.fail_next = 0
        self._changed = threading.Condition()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True
        )

    @property
    def url(self) -> str:
        """The URL to send webhooks to."""
        return f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"

    @Request.application
    def _app(self, request: Request) -> Response:
        delivery = Delivery(request.get_data(), dict(request.headers))
        with self._changed:
            self.attempts += 1
            if self.fail_next:
                self.fail_next -= 1
                return Response("try again", status=500)
            self.deliveries.append(delivery)
            self._changed.notify_all()
        return Response("ok")

    def wait_for(self, event_type: str, count: int = 1) -> list[Delivery]:
        """Wait until ``count`` events of ``event_type`` arrived; return them."""

        def arrived() -> list[Delivery]:
            return [d for d in self.deliveries if d.event["type"] == event_type]

        with self._changed:
            if not self._changed.wait_for(lambda: len(arrived()) >= count, WEBHOOK_WAIT_SECONDS):
                raise AssertionError(f"{count} {event_type} webhook(s) did not arrive in time")
            return arrived()

    def start(self) -> None:
        """Serve from a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running :class:`WebhookReceiver`."""
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def stripe_emulator(webhook_receiver: WebhookReceiver) -> Iterator[EmulatorServer]:
    """A Stripe emulator on a free loopback port, sending its webhooks to ``webhook_receiver``."""
    server = EmulatorServer(webhook_url=webhook_receiver.url, webhook_secret=WEBHOOK_SECRET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_stripe_client(
    stripe_emulator: EmulatorServer,
) -> Iterator[Callable[..., stripe.StripeClient]]:
    """Build ``StripeClient``s for the emulator; their HTTP sessions are closed afterwards.

    Call it as ``make_stripe_client(api_key=..., max_network_retries=..., timeout=...)``.
    """
    sessions: list[requests.Session] = []

    def make(
        api_key: str = "sk_test_x", max_network_retries: int = 0, timeout: float = 10.0
    ) -> stripe.StripeClient:
        session = requests.Session()
        sessions.append(session)
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": stripe_emulator.url},
            http_client=stripe.RequestsClient(timeout=timeout, session=session),
            max_network_retries=max_network_retries,
        )

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def stripe_client(make_stripe_client: Callable[..., stripe.StripeClient]) -> stripe.StripeClient:
    """A ``StripeClient`` for the emulator that does not retry."""
    return make_stripe_client()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A plain HTTP session, for the onboarding page and the ``/_emulator`` controls."""
    with requests.Session() as session:
        yield session
