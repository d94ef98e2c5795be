"""One error vocabulary: DomainError subclasses map to HTTP statuses.

Under ``/api`` (and ``/webhooks``) errors are JSON ``{"error": {"code", "message", "details"}}``;
elsewhere they are pages in the site layout.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from access_program.db import db

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ValidationError(DomainError):
    status = 422
    code = "validation_error"


class Gone(DomainError):
    status = 410
    code = "gone"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}

MESSAGES = {
    401: "Authentication required: send a valid bearer token or sign in.",
    404: "Not found.",
    405: "Method not allowed.",
    429: "Too many attempts. Wait a few minutes and try again.",
    500: "Something went wrong on our side. Nothing was changed.",
}


def wants_json() -> bool:
    path = request.path
    if path.startswith("/api/") or path.startswith("/webhooks/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response
    template = (
        f"errors/{status}.html" if status in (403, 404, 410, 429, 500) else "errors/generic.html"
    )
    html = render_template(template, status=status, code=code, message=message, details=details)
    return Response(html, status=status, mimetype="text/html")


def _webargs_details(exc: HTTPException) -> dict:
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if not messages:
        return {}
    # webargs nests messages by location ("json", "query"); flatten one level for clients.
    if isinstance(messages, dict) and len(messages) == 1:
        (only,) = messages.values()
        if isinstance(only, dict):
            return only
    return messages


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        db.session.rollback()
        status = exc.code or 500
        details = _webargs_details(exc)
        if status == 422:
            message = (
                "The request has invalid fields: " + ", ".join(sorted(details))
                if details
                else "Invalid request."
            )
        elif status == 429:
            message = MESSAGES[429]
        else:
            message = MESSAGES.get(status) or exc.description or "Error."
        response = error_response(status, HTTP_CODES.get(status, "error"), message, details)
        if status == 429:
            retry = getattr(exc, "retry_after", None)
            if retry:
                response.headers["Retry-After"] = str(retry)
        return response

    @app.errorhandler(OverflowError)
    @app.errorhandler(sa.exc.DataError)
    def handle_out_of_range(exc: Exception):
        # A value the schemas let through but the database cannot take (a page number beyond
        # 64 bits, an over-long string): the client's doing, so a 422 rather than a 500.
        log.warning("value out of range on %s %s: %s", request.method, request.path, exc)
        db.session.rollback()
        return error_response(
            422, "validation_error", "A value in the request is too large or too long."
        )

    @app.errorhandler(StaleDataError)
    @app.errorhandler(sa.exc.IntegrityError)
    def handle_concurrent_change(exc: Exception):
        # Another request changed the same row first (optimistic version check) or took the
        # same unique slot: the client should reload, not see a 500.
        log.info("concurrent change on %s %s: %s", request.method, request.path, exc)
        db.session.rollback()
        return error_response(
            409, "conflict", "Someone changed this at the same time. Reload and try again."
        )

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return error_response(500, "internal_error", MESSAGES[500])

    @app.errorhandler(RecursionError)
    def handle_recursion(exc: RecursionError):
        # The JSON parser recurses once per nesting level: "[[[[…" a hundred thousand deep is
        # the client's malformed body (400); any other recursion is our bug (500).
        if _json_body_too_deep():
            db.session.rollback()
            return error_response(400, "bad_request", "The JSON body is nested too deeply.")
        return handle_unexpected(exc)


def _json_body_too_deep() -> bool:
    if not request.is_json:
        return False
    try:
        json.loads(request.get_data(cache=True))
    except RecursionError:
        return True
    except ValueError:
        return False
    return False
