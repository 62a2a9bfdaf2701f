"""The one place where errors become RFC 9457 ``application/problem+json`` answers.

Every failure, expected or not, leaves the API through ``problem_handler``, so no input can ever
produce a stack trace or an internal message in a response.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, InternalServerException, ValidationException
from litestar.types import ExceptionHandlersMap

from flosspay.domain.errors import (
    DomainError,
    FieldError,
    IdempotencyConflict,
    IdempotencyInProgress,
    NotFound,
    NotRefundable,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:flosspay:problem:"

logger = logging.getLogger("flosspay.http")


class FieldProblem(msgspec.Struct, frozen=True):
    """One rejected input, named as the client sent it."""

    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem document; ``errors`` only for validation failures."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


# Domain errors the API expects, with their status and problem type (most specific first).
_DOMAIN: list[tuple[type[DomainError], int, str]] = [
    (ValidationFailed, 400, "validation-failed"),
    (Unauthenticated, 401, "unauthenticated"),
    (NotFound, 404, "not-found"),
    (IdempotencyConflict, 409, "idempotency-key-reused"),
    (IdempotencyInProgress, 409, "request-in-progress"),
    (NotRefundable, 409, "not-refundable"),
    (RateLimited, 429, "rate-limited"),
    (ServiceUnavailable, 503, "service-unavailable"),
]

# The problem ``title`` of each problem type (the domain's errors carry no HTTP words).
_TITLES: dict[str, str] = {
    "validation-failed": "Validation failed",
    "unauthenticated": "Unauthorized",
    "not-found": "Not found",
    "idempotency-key-reused": "Idempotency key reused",
    "request-in-progress": "Request in progress",
    "rate-limited": "Too many requests",
    "service-unavailable": "Service unavailable",
}

# What the idempotency errors say over HTTP, where the key is the ``Idempotency-Key`` header.
_DETAILS: dict[str, str] = {
    "idempotency-key-reused": "this Idempotency-Key was already used for a different request; use a new key",
    "request-in-progress": "a request with this Idempotency-Key is in progress; retry shortly",
}

# Retry-After (seconds) for answers the client should simply try again later.
_RETRY_AFTER: dict[str, str] = {"request-in-progress": "1", "service-unavailable": "5"}

# What to say for Litestar's own HTTP errors whose detail is just the status phrase.
_HTTP_DETAILS: dict[int, str] = {
    404: "no such resource",
    405: "this method is not allowed on this resource",
    413: "the request body is too large",
}

_INTERNAL_DETAIL = "an unexpected error occurred; it has been logged"


def _slug(status: int) -> str:
    return _phrase(status).lower().replace(" ", "-").replace("'", "")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _field_problems(errors: list[FieldError]) -> list[FieldProblem]:
    return [FieldProblem(e.field, e.message) for e in errors]


def _from_litestar_validation(exc: ValidationException) -> list[FieldProblem]:
    """Litestar's own request validation (path/query/header parameters) as field errors."""
    extra: Any = exc.extra
    items = extra if isinstance(extra, list) else [extra] if isinstance(extra, dict) else []
    found = [
        FieldProblem(str(item.get("key") or "request"), str(item.get("message") or "is invalid"))
        for item in items
        if isinstance(item, dict)
    ]
    return found or [FieldProblem("request", "is invalid")]


def to_problem(exc: BaseException) -> tuple[Problem, dict[str, str]]:
    """The problem document and extra headers for any exception."""
    for kind, status, slug in _DOMAIN:
        if isinstance(exc, kind):
            errors = _field_problems(exc.errors) if isinstance(exc, ValidationFailed) else None
            headers = {"Retry-After": _RETRY_AFTER[slug]} if slug in _RETRY_AFTER else {}
            if isinstance(exc, RateLimited):
                headers = {"Retry-After": str(exc.retry_after)}
            title = _TITLES.get(slug) or getattr(exc, "title", None) or _phrase(status)
            detail = _DETAILS.get(slug, exc.detail)
            return Problem(PROBLEM_TYPE_PREFIX + slug, title, status, detail, errors), headers
    if isinstance(exc, ValidationException):
        problems = _from_litestar_validation(exc)
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        return Problem(PROBLEM_TYPE_PREFIX + "validation-failed", "Validation failed", 400, detail, problems), {}
    if isinstance(exc, (msgspec.ValidationError, msgspec.DecodeError)):
        problems = [FieldProblem("body", str(exc))]
        return Problem(PROBLEM_TYPE_PREFIX + "validation-failed", "Validation failed", 400, str(exc), problems), {}
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 600:
        status = exc.status_code
        phrase = _phrase(status)
        if status >= 500:  # a server-side detail may describe internals
            return Problem(PROBLEM_TYPE_PREFIX + _slug(status), phrase, status, _INTERNAL_DETAIL), {}
        detail = exc.detail if exc.detail and exc.detail != phrase else _HTTP_DETAILS.get(status, phrase.lower())
        return Problem(PROBLEM_TYPE_PREFIX + _slug(status), phrase, status, detail), dict(exc.headers or {})
    return Problem(PROBLEM_TYPE_PREFIX + "internal-error", "Internal Server Error", 500, _INTERNAL_DETAIL), {}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers or {},
    )


# Litestar's words when the client hangs up before its body is complete (it raises a 500 for it).
_DISCONNECTED = "client disconnected prematurely"


def client_disconnected(exc: BaseException) -> bool:
    """The client closed the connection mid-body: its problem, not the server's."""
    return isinstance(exc, InternalServerException) and exc.detail == _DISCONNECTED


def problem_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar exception handler for everything; unexpected errors are logged, never shown.

    A client that disconnects mid-body is one WARNING line without a traceback (and no ERROR), so
    nobody can flood the error log without credentials.
    """
    if client_disconnected(exc):
        logger.warning("client disconnected before sending the whole body of %s %s", request.method, request.url.path)
        problem = Problem(PROBLEM_TYPE_PREFIX + "bad-request", "Bad Request", 400, "the request body is incomplete")
        return problem_response(problem)
    problem, headers = to_problem(exc)
    if problem.status >= 500 and not isinstance(exc, ServiceUnavailable):
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    elif isinstance(exc, ServiceUnavailable):
        logger.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc.detail)
    return problem_response(problem, headers)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {Exception: problem_handler}
