"""A local Stripe-compatible HTTP server (the "Stripe emulator").

Development, the demo and the tests reach it with the real ``stripe`` client over HTTP, exactly as
production reaches Stripe: only the API base address and the keys change. It covers what the app
uses of Stripe Connect (Express accounts, account links, transfers and their reversals, the
platform balance) and behaves as Stripe API v1 does where the app depends on it:

* requests are form-encoded with bracket nesting and authenticated with a secret key (HTTP Basic
  user or ``Bearer``); responses are Stripe-shaped JSON objects, lists and errors, each with a
  ``Request-Id`` header;
* ``Idempotency-Key`` works as on Stripe: the first response is saved once the endpoint starts
  executing (errors included) and replayed for the same key and parameters, with
  ``Idempotent-Replayed: true``; other parameters give an ``idempotency_error`` (400) and a key
  whose first request still runs gives ``idempotency_key_in_use`` (409). Parameter validation
  errors are not saved, as on Stripe, because the endpoint never began executing;
* events are recorded and, when a webhook URL is set, POSTed to it from a background thread,
  signed as Stripe signs them (``Stripe-Signature: t=...,v1=...``) and retried a few times.

Test controls under ``/_emulator`` (JSON, no authentication) inject faults (fail the next requests,
delay them, drop the connection after a transfer is made), simulate onboarding completion and
reversals, set the balance, reset the state and expose the transfer and event logs. The same
operations are methods of :class:`StripeEmulator`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import logging
import re
import secrets
import socket
import string
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import click
import stripe
from flask import Flask, redirect, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

API_VERSION: str = stripe.api_version
DEFAULT_PORT = 12111
DEFAULT_BALANCE = 10_000_000_00
DEFAULT_CURRENCY = "usd"
DEFAULT_WEBHOOK_SECRET = "whsec_stripe_emulator"
ACCOUNT_LINK_TTL_SECONDS = 300
IDEMPOTENCY_KEY_MAX_LENGTH = 255
LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500
MAX_FAULT_DELAY_SECONDS = 60.0
WEBHOOK_ATTEMPTS = 5
WEBHOOK_FIRST_BACKOFF_SECONDS = 0.25
WEBHOOK_TIMEOUT_SECONDS = 5.0
SHUTDOWN_POLL_SECONDS = 0.05

_ID_ALPHABET = string.ascii_letters + string.digits
_PARAM_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PARAM_INDEX = re.compile(r"\[([^\[\]]*)\]")
_CURRENCY = re.compile(r"^[a-z]{3}$")
_COUNTRY_CURRENCIES = {
    "AT": "eur",
    "AU": "aud",
    "BE": "eur",
    "CA": "cad",
    "CH": "chf",
    "DE": "eur",
    "DK": "dkk",
    "ES": "eur",
    "FI": "eur",
    "FR": "eur",
    "GB": "gbp",
    "IE": "eur",
    "IT": "eur",
    "JP": "jpy",
    "NL": "eur",
    "NO": "nok",
    "NZ": "nzd",
    "PT": "eur",
    "SE": "sek",
    "SG": "sgd",
    "US": "usd",
}
_CAPABILITIES = ("card_payments", "transfers")
_BUSINESS_TYPES = ("company", "government_entity", "individual", "non_profit")
_ONBOARDING_REQUIREMENTS = (
    "business_profile.product_description",
    "business_profile.url",
    "external_account",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
)
# Webhooks go straight to their endpoint (a local app), never through an HTTP proxy.
_WEBHOOK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_FAULT_FIELDS = frozenset(
    {
        "fail_next",
        "status",
        "delay_next",
        "delay_seconds",
        "path_prefix",
        "drop_after_transfer_next",
    }
)


def _new_id(prefix: str, length: int = 24) -> str:
    """Return a random Stripe-style id such as ``tr_3PgXa...``."""
    return f"{prefix}_{''.join(secrets.choice(_ID_ALPHABET) for _ in range(length))}"


def _now() -> int:
    """Return the current time in Unix seconds, as Stripe's ``created`` fields carry it."""
    return int(time.time())


def _dump(body: Any) -> bytes:
    """Serialize a response or webhook body the way Stripe lays it out (indented JSON)."""
    return json.dumps(body, indent=2).encode()


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Return a ``Stripe-Signature`` header value for ``payload`` signed with ``secret``.

    ``v1`` is HMAC-SHA256 over ``f"{t}.{payload}"``, which ``stripe.Webhook.construct_event``
    verifies.
    """
    signed_at = _now() if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={digest.hexdigest()}"


class ApiError(Exception):
    """A Stripe-shaped error response.

    ``saved`` is False for errors found before the endpoint starts executing (parameter
    validation): Stripe does not save those for the idempotency key, so a retry runs afresh.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type
        self.saved = saved

    def body(self) -> JSON:
        """Return the JSON body: ``{"error": {"type", "message", "code"?, "param"?}}``."""
        error: JSON = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def _invalid(message: str, param: str | None, code: str | None = None) -> ApiError:
    """Return a parameter validation error (400, not saved for the idempotency key)."""
    return ApiError(400, message, code=code, param=param, saved=False)


def _missing(kind: str, object_id: str, param: str, status: int = 404) -> ApiError:
    """Return Stripe's ``resource_missing`` error for an unknown id."""
    return ApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def parse_params(pairs: Iterable[tuple[str, str]]) -> JSON:
    """Parse form pairs with bracket nesting (``metadata[k]=v``, ``expand[0]=x``) into a tree.

    Keys are kept in a nested dict; a level whose keys are all indices becomes a list.
    """
    root: JSON = {}
    for name, value in pairs:
        match = _PARAM_NAME.match(name)
        if match is None:
            raise _invalid(f"Invalid parameter name: {name}", name)
        *parents, leaf = [match.group(1), *_PARAM_INDEX.findall(match.group(2))]
        node = root
        for part in parents:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                raise _invalid(f"Invalid parameter: {name} mixes a value and a hash", name)
            node = child
        leaf = leaf or str(len(node))
        if leaf in node:
            raise _invalid(f"Invalid parameter: {name} is given more than once", name)
        node[leaf] = value
    return _listify(root)


def _listify(node: JSON) -> JSON:
    """Turn the index-keyed levels of a parsed parameter tree into lists."""
    result: JSON = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = _listify(value)
            if value and sorted(value) == sorted(str(index) for index in range(len(value))):
                value = [value[str(index)] for index in range(len(value))]
        result[key] = value
    return result


class Params:
    """One request's parsed parameters, read with Stripe's validation rules and messages."""

    def __init__(self, values: JSON, allowed: frozenset[str]) -> None:
        for name in sorted(values):
            if name not in allowed:
                raise _invalid(
                    f"Received unknown parameter: {name}", name, code="parameter_unknown"
                )
        self.values = values

    def given(self, name: str) -> bool:
        """Tell whether ``name`` was sent with a value (an empty string means unset)."""
        return self.values.get(name) not in (None, "")

    def required_string(self, name: str) -> str:
        """Return a string parameter that must be present."""
        if not self.given(name):
            raise _invalid(f"Missing required param: {name}.", name, code="parameter_missing")
        value = self.values[name]
        if not isinstance(value, str):
            raise _invalid(f"Invalid string: {value!r}", name)
        return value

    def string(self, name: str) -> str | None:
        """Return an optional string parameter."""
        return self.required_string(name) if self.given(name) else None

    def required_integer(self, name: str, *, maximum: int | None = None) -> int:
        """Return a positive integer parameter (at most ``maximum``) that must be present."""
        value = self.required_string(name)
        if not re.fullmatch(r"-?\d+", value):
            raise _invalid(f"Invalid integer: {value}", name, code="parameter_invalid_integer")
        number = int(value)
        if number < 1 or (maximum is not None and number > maximum):
            bound = f"between 1 and {maximum}" if maximum else "at least 1"
            raise _invalid(
                f"Invalid integer: {value}. {name} must be {bound}.",
                name,
                code="parameter_invalid_integer",
            )
        return number

    def integer(self, name: str, *, maximum: int | None = None) -> int | None:
        """Return an optional positive integer parameter."""
        return self.required_integer(name, maximum=maximum) if self.given(name) else None

    def currency(self, name: str) -> str:
        """Return a required three-letter currency code, lowercased as Stripe stores it."""
        value = self.required_string(name).lower()
        if not _CURRENCY.match(value):
            raise _invalid(f"Invalid currency: {value}.", name)
        return value

    def metadata(self) -> dict[str, str]:
        """Return the ``metadata`` string map (empty values are dropped, as on Stripe)."""
        if not self.given("metadata"):
            return {}
        value = self.values["metadata"]
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _invalid("Invalid hash: metadata must map keys to strings.", "metadata")
        if len(value) > METADATA_MAX_KEYS:
            raise _invalid(f"Metadata can have up to {METADATA_MAX_KEYS} keys.", "metadata")
        for key, item in value.items():
            if len(key) > METADATA_KEY_MAX_LENGTH or len(item) > METADATA_VALUE_MAX_LENGTH:
                raise _invalid(
                    f"Metadata keys are at most {METADATA_KEY_MAX_LENGTH} characters and values"
                    f" at most {METADATA_VALUE_MAX_LENGTH}.",
                    f"metadata[{key}]",
                )
        return {key: item for key, item in value.items() if item != ""}


@dataclass
class Call:
    """One API request as a handler sees it."""

    params: Params
    args: dict[str, str]
    request_id: str
    idempotency_key: str | None
    base_url: str


@dataclass(frozen=True)
class _Endpoint:
    """An API route: method, URL rule, handler, allowed parameters, whether drop faults apply."""

    method: str
    rule: str
    handler: Callable[[StripeEmulator, Call], JSON]
    params: frozenset[str] = frozenset()
    droppable: bool = False


@dataclass
class _IdempotencyRecord:
    """The first request made with an idempotency key and, once it finished, its response."""

    method: str
    path: str
    params: JSON
    request_id: str
    response: tuple[int, bytes] | None = None


@dataclass
class Fault:
    """An injected fault: fail, delay or (after a transfer is made) drop the next requests."""

    kind: Literal["fail", "delay", "drop"]
    remaining: int
    path_prefix: str = "/v1"
    status: int = 500
    delay_seconds: float = 0.0

    def describe(self) -> JSON:
        """Return the fault as JSON for the control API."""
        description: JSON = {"kind": self.kind, "remaining": self.remaining}
        if self.kind == "fail":
            description.update(path_prefix=self.path_prefix, status=self.status)
        elif self.kind == "delay":
            description.update(path_prefix=self.path_prefix, delay_seconds=self.delay_seconds)
        return description


def parse_faults(spec: Any) -> list[Fault]:
    """Validate a fault specification (the JSON body of ``POST /_emulator/faults``).

    ``{"fail_next": N, "status": 500, "path_prefix": "/v1/transfers"}`` fails the next N matching
    API requests without executing them; ``{"delay_seconds": S, "delay_next": N}`` sleeps S
    seconds before executing each of the next N (default 1); ``{"drop_after_transfer_next": N}``
    closes the connection without a response after each of the next N transfers is created.
    """
    if not isinstance(spec, Mapping):
        raise ApiError(400, "Send the faults as a JSON object.")
    unknown = sorted(set(spec) - _FAULT_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown fault field: {unknown[0]}", param=unknown[0])
    prefix = spec.get("path_prefix", "/v1")
    if not isinstance(prefix, str) or not prefix.startswith("/v1"):
        raise ApiError(400, "path_prefix must be a string starting with /v1.", param="path_prefix")
    if "status" in spec and "fail_next" not in spec:
        raise ApiError(400, "status applies to fail_next only.", param="status")
    faults: list[Fault] = []
    if "fail_next" in spec:
        status = spec.get("status", 500)
        if not _is_int(status) or not 400 <= status <= 599:
            raise ApiError(400, "status must be an HTTP error status (400-599).", param="status")
        faults.append(Fault("fail", _count(spec, "fail_next"), prefix, status=status))
    if "delay_seconds" in spec or "delay_next" in spec:
        seconds = spec.get("delay_seconds")
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not 0 < seconds <= MAX_FAULT_DELAY_SECONDS
        ):
            raise ApiError(
                400,
                f"delay_seconds must be a number in (0, {MAX_FAULT_DELAY_SECONDS:g}].",
                param="delay_seconds",
            )
        count = _count(spec, "delay_next") if "delay_next" in spec else 1
        faults.append(Fault("delay", count, prefix, delay_seconds=float(seconds)))
    if "drop_after_transfer_next" in spec:
        faults.append(Fault("drop", _count(spec, "drop_after_transfer_next")))
    if not faults:
        raise ApiError(
            400, "Give fail_next, delay_seconds (with delay_next) or drop_after_transfer_next."
        )
    return faults


def _is_int(value: Any) -> bool:
    """Tell whether a JSON value is an integer (and not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _count(spec: Mapping[str, Any], name: str) -> int:
    """Return a positive integer count from a fault specification."""
    value = spec[name]
    if not _is_int(value) or value < 1:
        raise ApiError(400, f"{name} must be a positive integer.", param=name)
    return value


def _json_response(
    status: int, body: bytes, request_id: str, headers: Mapping[str, str] | None = None
) -> Response:
    """Return an API response with Stripe's headers."""
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = API_VERSION
    response.headers.update(headers or {})
    return response


def _list_object(data: list[JSON], has_more: bool, url: str) -> JSON:
    """Return a Stripe list object."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


class StripeEmulator:
    """The emulator's in-memory state and behaviour, shared by its routes; thread-safe.

    The public methods are the test controls, also served under ``/_emulator``. They take the
    lock themselves and send the webhooks of the events they cause.
    """

    def __init__(
        self,
        webhook_url: str | None,
        webhook_secret: str,
        api_key: str | None = None,
        initial_balance: int = DEFAULT_BALANCE,
    ) -> None:
        if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must be an http(s) URL, not {webhook_url!r}")
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.initial_balance = initial_balance
        self._lock = threading.Lock()
        self._accounts: dict[str, JSON] = {}
        self._links: dict[str, JSON] = {}
        self._transfers: dict[str, JSON] = {}
        self._transfer_keys: dict[str, str | None] = {}
        self._events: dict[str, JSON] = {}
        self._outbox: list[tuple[str, str, bytes]] = []
        self._idempotency: dict[tuple[str, str], _IdempotencyRecord] = {}
        self._faults: list[Fault] = []
        self._balance: dict[str, int] = {}
        self.reset()

    # Test controls ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, event, idempotency key and fault; restore the initial balance."""
        with self._lock:
            for store in (
                self._accounts,
                self._links,
                self._transfers,
                self._transfer_keys,
                self._events,
                self._idempotency,
            ):
                store.clear()
            self._outbox.clear()
            self._faults.clear()
            self._balance = {DEFAULT_CURRENCY: self.initial_balance}

    def add_faults(self, spec: Mapping[str, Any]) -> list[JSON]:
        """Add the faults described by ``spec`` (see :func:`parse_faults`); return all faults."""
        faults = parse_faults(spec)
        with self._lock:
            self._faults.extend(faults)
            return [fault.describe() for fault in self._faults]

    def faults(self) -> list[JSON]:
        """Return the faults still pending."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def transfer_log(self) -> list[JSON]:
        """Return every transfer made, oldest first, each with its ``idempotency_key``."""
        with self._lock:
            return [
                {**copy.deepcopy(transfer), "idempotency_key": self._transfer_keys[transfer_id]}
                for transfer_id, transfer in self._transfers.items()
            ]

    def events(self) -> list[JSON]:
        """Return every event, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._events.values()))

    def complete_onboarding(self, account_id: str) -> JSON:
        """Finish an account's onboarding as the hosted page does; send ``account.updated``."""
        with self._lock:
            account = self._complete_onboarding(account_id)
        self._send_webhooks()
        return account

    def reverse_transfer(self, transfer_id: str, amount: int | None = None) -> JSON:
        """Reverse a transfer (all that remains by default); send ``transfer.reversed``."""
        if amount is not None and (not _is_int(amount) or amount < 1):
            raise ApiError(400, "amount must be a positive integer.", param="amount")
        with self._lock:
            reversal = self._reverse(transfer_id, amount, {}, None, None)
        self._send_webhooks()
        return reversal

    def set_balance(self, amount: int, currency: str = DEFAULT_CURRENCY) -> JSON:
        """Set the platform's available balance in ``currency``; return the balance object."""
        if not _is_int(amount) or amount < 0:
            raise ApiError(400, "amount must be a non-negative integer.", param="amount")
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise ApiError(400, "currency must be a lowercase ISO code.", param="currency")
        with self._lock:
            self._balance[currency] = amount
            return self._balance_object()

    # The API pipeline ------------------------------------------------------------------------

    def handle(self, endpoint: _Endpoint, **args: str) -> Response:
        """Serve one API request: faults, authentication, idempotency, then the handler."""
        request_id = _new_id("req", 14)
        try:
            return self._handle(endpoint, args, request_id)
        except ApiError as error:
            return _json_response(error.status, _dump(error.body()), request_id)

    def _handle(self, endpoint: _Endpoint, args: dict[str, str], request_id: str) -> Response:
        fault = self._take_fault("fail", request.path)
        if fault is not None:
            raise ApiError(
                fault.status,
                "An unknown error occurred (injected by the Stripe emulator).",
                error_type="api_error",
            )
        api_key = self._authenticate()
        form = request.form if request.method == "POST" else request.args
        values = parse_params(form.items(multi=True))
        key = self._idempotency_key()
        headers = {} if key is None else {"Idempotency-Key": key}
        scope = (api_key, key or "")
        with self._lock:
            if key is not None:
                record = self._idempotency.get(scope)
                if record is not None:
                    return self._replay(record, key, values, request_id)
                self._idempotency[scope] = _IdempotencyRecord(
                    request.method, request.path, values, request_id
                )
        saved: tuple[int, bytes] | None = None
        try:
            delay = self._take_fault("delay", request.path)
            if delay is not None:
                time.sleep(delay.delay_seconds)
            status, body, keep = self._execute(endpoint, values, args, request_id, key)
            if keep:
                saved = (status, body)
        finally:
            if key is not None:
                self._finish_idempotent(scope, saved)
        self._send_webhooks()
        if endpoint.droppable and status == 200 and self._take_fault("drop", request.path):
            _drop_connection()
        return _json_response(status, body, request_id, headers)

    def _execute(
        self,
        endpoint: _Endpoint,
        values: JSON,
        args: dict[str, str],
        request_id: str,
        key: str | None,
    ) -> tuple[int, bytes, bool]:
        """Run a handler under the lock; return status, body and whether to save the result."""
        with self._lock:
            try:
                call = Call(
                    Params(values, endpoint.params), args, request_id, key, request.host_url
                )
                return 200, _dump(endpoint.handler(self, call)), True
            except ApiError as error:
                return error.status, _dump(error.body()), error.saved

    def _authenticate(self) -> str:
        """Return the request's secret key, or raise Stripe's 401 error."""
        auth = request.authorization
        key = None
        if auth is not None:
            key = auth.username if auth.type == "basic" else auth.token
        if not key:
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the"
                " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
                " YOUR_SECRET_KEY').",
            )
        accepted = key == self.api_key if self.api_key else key.startswith("sk_test_")
        if not accepted:
            shown = f"{key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"
            raise ApiError(401, f"Invalid API Key provided: {shown}")
        return key

    def _idempotency_key(self) -> str | None:
        """Return the POST request's ``Idempotency-Key`` (GET requests ignore it, as Stripe)."""
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return None
        if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
            raise _invalid(
                f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
                None,
            )
        return key

    def _replay(
        self, record: _IdempotencyRecord, key: str, values: JSON, request_id: str
    ) -> Response:
        """Answer a request whose idempotency key was seen before (caller holds the lock)."""
        if record.response is None:
            raise ApiError(
                409,
                "There is currently another in-progress request using this idempotency key"
                " (that probably means you submitted twice, and the other request is still"
                f" going through): {key}. Please try again later.",
                code="idempotency_key_in_use",
            )
        if (record.method, record.path, record.params) != (request.method, request.path, values):
            raise ApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they"
                f" were first used with. Try using a key other than '{key}' if you meant to"
                " execute a different request.",
                error_type="idempotency_error",
            )
        status, body = record.response
        headers = {
            "Idempotency-Key": key,
            "Idempotent-Replayed": "true",
            "Original-Request": record.request_id,
        }
        return _json_response(status, body, request_id, headers)

    def _finish_idempotent(self, scope: tuple[str, str], saved: tuple[int, bytes] | None) -> None:
        """Save the key's first response, or forget the key when the endpoint did not run."""
        with self._lock:
            record = self._idempotency.get(scope)
            if saved is None:
                self._idempotency.pop(scope, None)
            elif record is not None:
                record.response = saved

    def _take_fault(self, kind: str, path: str) -> Fault | None:
        """Consume one pending fault of ``kind`` that matches ``path``, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # API handlers (called with the lock held) ------------------------------------------------

    def create_account(self, call: Call) -> JSON:
        """``POST /v1/accounts``: create an Express connected account, not yet onboarded."""
        params = call.params
        account_type = params.required_string("type")
        if account_type != "express":
            raise _invalid(
                f"Invalid type: {account_type}. The Stripe emulator models Express accounts only.",
                "type",
            )
        country = (params.string("country") or "US").upper()
        if country not in _COUNTRY_CURRENCIES:
            raise _invalid(f"Country '{country}' is unknown or not supported.", "country")
        business_type = params.string("business_type")
        if business_type is not None and business_type not in _BUSINESS_TYPES:
            raise _invalid(f"Invalid business_type: {business_type}", "business_type")
        requested = self._requested_capabilities(params.values.get("capabilities"))
        email = params.string("email")
        metadata = params.metadata()
        account_id = _new_id("acct", 16)
        account = {
            "business_profile": {
                "annual_revenue": {"amount": None, "currency": None, "fiscal_year_end": None},
                "estimated_worker_count": None,
                "mcc": None,
                "minority_owned_business_designation": None,
                "name": None,
                "product_description": None,
                "support_address": dict.fromkeys(
                    ("city", "country", "line1", "line2", "postal_code", "state")
                ),
                "support_email": None,
                "support_phone": None,
                "support_url": None,
                "url": None,
            },
            "business_type": business_type,
            "capabilities": dict.fromkeys(requested, "inactive"),
            "charges_enabled": False,
            "controller": {"type": "application"},
            "country": country,
            "created": _now(),
            "default_currency": _COUNTRY_CURRENCIES[country],
            "details_submitted": False,
            "email": email,
            "external_accounts": _list_object(
                [], False, f"/v1/accounts/{account_id}/external_accounts"
            ),
            "future_requirements": _requirements([], None),
            "id": account_id,
            "metadata": metadata,
            "object": "account",
            "payouts_enabled": False,
            "requirements": _requirements(list(_ONBOARDING_REQUIREMENTS), "requirements.past_due"),
            "settings": _account_settings(),
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "type": "express",
        }
        self._accounts[account_id] = account
        return account

    @staticmethod
    def _requested_capabilities(value: Any) -> list[str]:
        """Validate ``capabilities[<name>][requested]=true``; Express needs at least one."""
        if value is None or value == "":
            raise _invalid(
                "Missing required param: capabilities. Express accounts must request a"
                " capability, such as capabilities[transfers][requested]=true.",
                "capabilities",
                code="parameter_missing",
            )
        if not isinstance(value, dict):
            raise _invalid("Invalid hash", "capabilities")
        requested: list[str] = []
        for name, options in value.items():
            param = f"capabilities[{name}]"
            if name not in _CAPABILITIES:
                raise _invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")
            flag = options.get("requested") if isinstance(options, dict) else None
            if flag not in ("true", "false"):
                raise _invalid(f"Invalid boolean: {flag}", f"{param}[requested]")
            if flag == "true":
                requested.append(name)
        if not requested:
            raise _invalid("Express accounts must request at least one capability.", "capabilities")
        return requested

    def retrieve_account(self, call: Call) -> JSON:
        """``GET /v1/accounts/<id>``."""
        return self._account(call.args["account_id"])

    def _account(self, account_id: str) -> JSON:
        account = self._accounts.get(account_id)
        if account is None:
            raise _missing("account", account_id, "account")
        return account

    def create_account_link(self, call: Call) -> JSON:
        """``POST /v1/account_links``: a single-use link to the emulator's onboarding page."""
        params = call.params
        account_id = params.required_string("account")
        refresh_url = params.required_string("refresh_url")
        return_url = params.required_string("return_url")
        link_type = params.required_string("type")
        if link_type not in ("account_onboarding", "account_update"):
            raise _invalid(
                f"Invalid type: must be one of account_onboarding or account_update, not"
                f" {link_type}.",
                "type",
            )
        if account_id not in self._accounts:
            raise _missing("account", account_id, "account", status=400)
        link_id = _new_id("link")
        created = _now()
        link = {
            "created": created,
            "expires_at": created + ACCOUNT_LINK_TTL_SECONDS,
            "object": "account_link",
            "url": f"{call.base_url}onboarding/{link_id}",
        }
        self._links[link_id] = {
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "visited": False,
            "used": False,
            "link": link,
        }
        return link

    def create_transfer(self, call: Call) -> JSON:
        """``POST /v1/transfers``: move money from the platform balance to a connected account."""
        params = call.params
        amount = params.required_integer("amount")
        currency = params.currency("currency")
        destination = params.required_string("destination")
        transfer_group = params.string("transfer_group")
        description = params.string("description")
        metadata = params.metadata()
        account = self._accounts.get(destination)
        if account is None:
            raise _missing("destination", destination, "destination", status=400)
        if account["capabilities"].get("transfers") != "active":
            raise ApiError(
                400,
                "Your destination account needs to have at least one of the following"
                " capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        if self._balance.get(currency, 0) < amount:
            raise ApiError(
                400,
                "You have insufficient available funds in your Stripe account. Try adding funds"
                " directly to your available balance by creating Charges using the"
                " 4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
                code="balance_insufficient",
            )
        self._balance[currency] -= amount
        transfer_id = _new_id("tr")
        transfer = {
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": _new_id("txn"),
            "created": _now(),
            "currency": currency,
            "description": description,
            "destination": destination,
            "destination_payment": _new_id("py", 14),
            "id": transfer_id,
            "livemode": False,
            "metadata": metadata,
            "object": "transfer",
            "reversals": _list_object([], False, f"/v1/transfers/{transfer_id}/reversals"),
            "reversed": False,
            "source_transaction": None,
            "source_type": "card",
            "transfer_group": transfer_group,
        }
        self._transfers[transfer_id] = transfer
        self._transfer_keys[transfer_id] = call.idempotency_key
        self._emit(
            "transfer.created", transfer, request_id=call.request_id, key=call.idempotency_key
        )
        return transfer

    def retrieve_transfer(self, call: Call) -> JSON:
        """``GET /v1/transfers/<id>``."""
        return self._transfer(call.args["transfer_id"])

    def _transfer(self, transfer_id: str) -> JSON:
        transfer = self._transfers.get(transfer_id)
        if transfer is None:
            raise _missing("transfer", transfer_id, "id")
        return transfer

    def list_transfers(self, call: Call) -> JSON:
        """``GET /v1/transfers``: newest first, filtered by destination and transfer_group."""
        params = call.params
        destination = params.string("destination")
        group = params.string("transfer_group")
        transfers = [
            transfer
            for transfer in reversed(self._transfers.values())
            if destination in (None, transfer["destination"])
            and group in (None, transfer["transfer_group"])
        ]
        return _page(transfers, params, "transfer", "/v1/transfers")

    def create_reversal(self, call: Call) -> JSON:
        """``POST /v1/transfers/<id>/reversals``: reverse all or part of what remains."""
        amount = call.params.integer("amount")
        metadata = call.params.metadata()
        return self._reverse(
            call.args["transfer_id"], amount, metadata, call.request_id, call.idempotency_key
        )

    def retrieve_balance(self, call: Call) -> JSON:
        """``GET /v1/balance``."""
        return self._balance_object()

    # State changes shared by the API and the test controls (lock held) -----------------------

    def _reverse(
        self,
        transfer_id: str,
        amount: int | None,
        metadata: dict[str, str],
        request_id: str | None,
        key: str | None,
    ) -> JSON:
        transfer = self._transfer(transfer_id)
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining == 0:
            raise ApiError(400, f"Transfer {transfer_id} has already been fully reversed.")
        if amount is None:
            amount = remaining
        elif amount > remaining:
            raise ApiError(
                400,
                f"Reversal amount ({amount}) is greater than the amount remaining on the"
                f" transfer ({remaining}).",
                param="amount",
            )
        previous = {
            "amount_reversed": transfer["amount_reversed"],
            "reversed": transfer["reversed"],
        }
        reversal = {
            "amount": amount,
            "balance_transaction": _new_id("txn"),
            "created": _now(),
            "currency": transfer["currency"],
            "destination_payment_refund": _new_id("pyr", 14),
            "id": _new_id("trr"),
            "metadata": metadata,
            "object": "transfer_reversal",
            "source_refund": None,
            "transfer": transfer_id,
        }
        transfer["reversals"]["data"].insert(0, reversal)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        currency = transfer["currency"]
        self._balance[currency] = self._balance.get(currency, 0) + amount
        self._emit("transfer.reversed", transfer, previous=previous, request_id=request_id, key=key)
        return reversal

    def _complete_onboarding(self, account_id: str) -> JSON:
        account = self._account(account_id)
        done = {
            "charges_enabled": True,
            "details_submitted": True,
            "payouts_enabled": True,
        }
        previous: JSON = {
            name: account[name] for name, value in done.items() if account[name] != value
        }
        inactive = {
            name: status for name, status in account["capabilities"].items() if status != "active"
        }
        if inactive:
            previous["capabilities"] = inactive
        requirements = account["requirements"]
        if requirements["currently_due"] or requirements["disabled_reason"]:
            previous["requirements"] = {
                name: requirements[name]
                for name in ("currently_due", "disabled_reason", "eventually_due", "past_due")
            }
        if not previous:
            return account
        account.update(done)
        account["capabilities"] = dict.fromkeys(account["capabilities"], "active")
        account["requirements"] = _requirements([], None)
        account["tos_acceptance"].update(date=_now(), ip="127.0.0.1")
        self._emit("account.updated", account, previous=previous, account=account_id)
        return account

    def _balance_object(self) -> JSON:
        currencies = sorted(self._balance)
        return {
            "available": [
                {
                    "amount": self._balance[c],
                    "currency": c,
                    "source_types": {"card": self._balance[c]},
                }
                for c in currencies
            ],
            "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
            "livemode": False,
            "object": "balance",
            "pending": [
                {"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies
            ],
        }

    # Onboarding page -------------------------------------------------------------------------

    def show_onboarding(self, link_id: str) -> Response:
        """``GET /onboarding/<id>``: the hosted onboarding page; a link opens only once."""
        with self._lock:
            link = self._live_link(link_id)
            if link is None:
                return redirect(self._links[link_id]["refresh_url"], code=303)
            link["visited"] = True
            account = self._accounts[link["account"]]
            page = _ONBOARDING_PAGE.format(
                account=escape(account["id"]),
                email=escape(account["email"] or "no email"),
                refresh_url=escape(link["refresh_url"]),
            )
        return Response(page, mimetype="text/html")

    def submit_onboarding(self, link_id: str) -> Response:
        """``POST /onboarding/<id>``: complete onboarding, send the webhook, go to return_url."""
        with self._lock:
            link = self._live_link(link_id, allow_visited=True)
            if link is None:
                return redirect(self._links[link_id]["refresh_url"], code=303)
            link["used"] = True
            self._complete_onboarding(link["account"])
        self._send_webhooks()
        return redirect(link["return_url"], code=303)

    def _live_link(self, link_id: str, allow_visited: bool = False) -> JSON | None:
        """Return a usable link, ``None`` for a used or expired one; raise for an unknown one."""
        link = self._links.get(link_id)
        if link is None:
            raise _missing("account link", link_id, "id")
        expired = _now() > link["link"]["expires_at"]
        if expired or link["used"] or (link["visited"] and not allow_visited):
            return None
        return link

    # Webhooks --------------------------------------------------------------------------------

    def _emit(
        self,
        event_type: str,
        obj: JSON,
        *,
        previous: JSON | None = None,
        account: str | None = None,
        request_id: str | None = None,
        key: str | None = None,
    ) -> None:
        """Record an event with a snapshot of ``obj`` and queue its webhook (lock held)."""
        data: JSON = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event: JSON = {
            "api_version": API_VERSION,
            "created": _now(),
            "data": data,
            "id": _new_id("evt"),
            "livemode": False,
            "object": "event",
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {"id": request_id, "idempotency_key": key},
            "type": event_type,
        }
        if account is not None:
            event["account"] = account
        self._events[event["id"]] = event
        if self.webhook_url:
            self._outbox.append((self.webhook_url, event["id"], _dump(event)))

    def _send_webhooks(self) -> None:
        """Start delivering the queued events, each from its own background thread."""
        with self._lock:
            outbox, self._outbox = self._outbox, []
        for url, event_id, payload in outbox:
            threading.Thread(
                target=self._deliver,
                args=(url, event_id, payload),
                name=f"stripe-emulator-webhook-{event_id}",
                daemon=True,
            ).start()

    def _deliver(self, url: str, event_id: str, payload: bytes) -> None:
        """POST one event to ``url`` until it answers 2xx, with a doubling backoff."""
        backoff = WEBHOOK_FIRST_BACKOFF_SECONDS
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            if self._post_webhook(url, payload):
                with self._lock:
                    if event_id in self._events:
                        self._events[event_id]["pending_webhooks"] = 0
                return
            if attempt < WEBHOOK_ATTEMPTS:
                time.sleep(backoff)
                backoff *= 2
        logger.warning("Gave up delivering %s after %d attempts", event_id, WEBHOOK_ATTEMPTS)

    def _post_webhook(self, url: str, payload: bytes) -> bool:
        """Send one signed delivery attempt; return whether the endpoint accepted it."""
        delivery = urllib.request.Request(
            url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(payload, self.webhook_secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with _WEBHOOK_OPENER.open(delivery, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                return 200 <= response.status < 300
        except urllib.error.HTTPError as error:
            error.close()
            logger.info("Webhook endpoint answered %s", error.code)
        except (OSError, http.client.HTTPException) as error:
            logger.info("Webhook delivery failed: %s", error)
        return False


def _requirements(due: list[str], disabled_reason: str | None) -> JSON:
    """Return an account ``requirements`` hash with ``due`` currently and eventually due."""
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _account_settings() -> JSON:
    """Return the default ``settings`` hash of a new account."""
    return {
        "bacs_debit_payments": {"display_name": None, "service_user_number": None},
        "branding": dict.fromkeys(("icon", "logo", "primary_color", "secondary_color")),
        "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
        "card_payments": {
            "decline_on": {"avs_failure": True, "cvc_failure": True},
            "statement_descriptor_prefix": None,
            "statement_descriptor_prefix_kana": None,
            "statement_descriptor_prefix_kanji": None,
        },
        "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
        "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
        "payments": dict.fromkeys(
            (
                "statement_descriptor",
                "statement_descriptor_kana",
                "statement_descriptor_kanji",
                "statement_descriptor_prefix_kana",
                "statement_descriptor_prefix_kanji",
            )
        ),
        "payouts": {
            "debit_negative_balances": True,
            "schedule": {"delay_days": 2, "interval": "daily"},
            "statement_descriptor": None,
        },
        "sepa_debit_payments": {},
    }


def _page(items: list[JSON], params: Params, kind: str, url: str) -> JSON:
    """Return one page of ``items`` (newest first) as Stripe pages lists."""
    limit = params.integer("limit", maximum=LIST_MAX_LIMIT) or LIST_DEFAULT_LIMIT
    starting_after = params.string("starting_after")
    ending_before = params.string("ending_before")
    if starting_after and ending_before:
        raise _invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            "ending_before",
        )
    ids = [item["id"] for item in items]
    if starting_after is not None:
        if starting_after not in ids:
            raise _missing(kind, starting_after, "starting_after", status=400)
        start = ids.index(starting_after) + 1
        return _list_object(items[start : start + limit], len(items) > start + limit, url)
    if ending_before is not None:
        if ending_before not in ids:
            raise _missing(kind, ending_before, "ending_before", status=400)
        end = ids.index(ending_before)
        return _list_object(items[max(end - limit, 0) : end], end > limit, url)
    return _list_object(items[:limit], len(items) > limit, url)


def _drop_connection() -> None:
    """Shut the request's socket so that the client gets no response at all."""
    connection = request.environ.get("werkzeug.socket")
    if connection is None:
        raise RuntimeError("Dropping a connection needs the werkzeug development server.")
    connection.shutdown(socket.SHUT_RDWR)


_ONBOARDING_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Stripe emulator: Express onboarding</title></head>
<body>
<h1>Express onboarding</h1>
<p>Stripe emulator: account <code>{account}</code> ({email}).</p>
<form method="post"><button type="submit">Complete onboarding</button></form>
<p><a href="{refresh_url}">Leave without finishing</a></p>
</body>
</html>
"""

_ENDPOINTS = (
    _Endpoint(
        "POST",
        "/v1/accounts",
        StripeEmulator.create_account,
        frozenset({"business_type", "capabilities", "country", "email", "metadata", "type"}),
    ),
    _Endpoint("GET", "/v1/accounts/<account_id>", StripeEmulator.retrieve_account),
    _Endpoint(
        "POST",
        "/v1/account_links",
        StripeEmulator.create_account_link,
        frozenset({"account", "refresh_url", "return_url", "type"}),
    ),
    _Endpoint(
        "POST",
        "/v1/transfers",
        StripeEmulator.create_transfer,
        frozenset(
            {"amount", "currency", "description", "destination", "metadata", "transfer_group"}
        ),
        droppable=True,
    ),
    _Endpoint(
        "GET",
        "/v1/transfers",
        StripeEmulator.list_transfers,
        frozenset({"destination", "ending_before", "limit", "starting_after", "transfer_group"}),
    ),
    _Endpoint("GET", "/v1/transfers/<transfer_id>", StripeEmulator.retrieve_transfer),
    _Endpoint(
        "POST",
        "/v1/transfers/<transfer_id>/reversals",
        StripeEmulator.create_reversal,
        frozenset({"amount", "metadata"}),
    ),
    _Endpoint("GET", "/v1/balance", StripeEmulator.retrieve_balance),
)


def create_emulator_app(
    webhook_url: str | None,
    webhook_secret: str,
    api_key: str | None = None,
    initial_balance: int = DEFAULT_BALANCE,
) -> Flask:
    """Build the emulator's Flask app (its state: ``app.extensions["stripe_emulator"]``).

    ``api_key``, when given, is the only secret key accepted; otherwise any ``sk_test_`` key is.
    """
    emulator = StripeEmulator(webhook_url, webhook_secret, api_key, initial_balance)
    app = Flask(__name__)
    app.extensions["stripe_emulator"] = emulator

    for endpoint in _ENDPOINTS:
        app.add_url_rule(
            endpoint.rule,
            endpoint=endpoint.handler.__name__,
            view_func=partial(emulator.handle, endpoint),
            methods=[endpoint.method],
        )

    @app.get("/onboarding/<link_id>")
    def onboarding_page(link_id: str) -> Response:
        return emulator.show_onboarding(link_id)

    @app.post("/onboarding/<link_id>")
    def onboarding_submit(link_id: str) -> Response:
        return emulator.submit_onboarding(link_id)

    @app.post("/_emulator/faults")
    def add_faults() -> JSON:
        return {"faults": emulator.add_faults(_control_body())}

    @app.get("/_emulator/faults")
    def list_faults() -> JSON:
        return {"faults": emulator.faults()}

    @app.post("/_emulator/reset")
    def reset() -> JSON:
        emulator.reset()
        return {"reset": True}

    @app.get("/_emulator/transfers")
    def transfer_log() -> list[JSON]:
        return emulator.transfer_log()

    @app.get("/_emulator/events")
    def events() -> list[JSON]:
        return emulator.events()

    @app.post("/_emulator/accounts/<account_id>/complete-onboarding")
    def complete_onboarding(account_id: str) -> JSON:
        return emulator.complete_onboarding(account_id)

    @app.post("/_emulator/transfers/<transfer_id>/reverse")
    def reverse_transfer(transfer_id: str) -> JSON:
        return emulator.reverse_transfer(transfer_id, _control_body().get("amount"))

    @app.post("/_emulator/balance")
    def set_balance() -> JSON:
        body = _control_body()
        return emulator.set_balance(body.get("amount"), body.get("currency", DEFAULT_CURRENCY))

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return _json_response(error.status, _dump(error.body()), _new_id("req", 14))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | HTTPException:
        if error.code not in (404, 405):
            return error
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return api_error(ApiError(404, message))

    @app.after_request
    def add_request_id(response: Response) -> Response:
        response.headers.setdefault("Request-Id", _new_id("req", 14))
        return response

    return app


def _control_body() -> JSON:
    """Return a control request's JSON object body (``{}`` when empty)."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "Send a JSON object body.")
    return body


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging through this module's logger instead of ``werkzeug``'s."""

    def log(self, kind: str, message: str, *args: Any) -> None:
        """Log a request line or an error."""
        level = logging.ERROR if kind == "error" else logging.INFO
        logger.log(level, "%s - %s", self.address_string(), message % args)


def _make_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded werkzeug server for ``app`` (port 0 picks a free port)."""
    return make_server(host, port, app, threaded=True, request_handler=_RequestHandler)


class EmulatorServer:
    """Run the emulator on loopback in a background thread (``start``/``stop``, or ``with``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        api_key: str | None = None,
        initial_balance: int = DEFAULT_BALANCE,
    ) -> None:
        self.host = host
        self.webhook_secret = webhook_secret
        self.app = create_emulator_app(webhook_url, webhook_secret, api_key, initial_balance)
        self.emulator: StripeEmulator = self.app.extensions["stripe_emulator"]
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._server is None:
            raise RuntimeError("The emulator server is not running.")
        return self._server.server_port

    @property
    def url(self) -> str:
        """The API base address, e.g. ``http://127.0.0.1:12111``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Bind the port and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("The emulator server is already running.")
        self._server = _make_server(self.app, self.host, self._requested_port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(SHUTDOWN_POLL_SECONDS,),
            name="stripe-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    port: int,
    webhook_url: str | None,
    webhook_secret: str,
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
) -> None:
    """Run the emulator in the foreground until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = _make_server(create_emulator_app(webhook_url, webhook_secret, api_key), host, port)
    logger.info(
        "Stripe emulator on http://%s:%d (webhooks: %s)",
        host,
        server.server_port,
        webhook_url or "not sent",
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command("stripe-emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port to bind.")
@click.option("--webhook-url", default=None, help="Where to POST signed events (none if unset).")
@click.option(
    "--webhook-secret",
    default=DEFAULT_WEBHOOK_SECRET,
    show_default=True,
    help="Secret used to sign webhooks.",
)
@click.option("--api-key", default=None, help="The only secret key to accept (default: sk_test_*).")
def stripe_emulator_command(
    host: str, port: int, webhook_url: str | None, webhook_secret: str, api_key: str | None
) -> None:
    """Run the local Stripe-compatible server (the Stripe emulator)."""
    serve(port, webhook_url, webhook_secret, host=host, api_key=api_key)
