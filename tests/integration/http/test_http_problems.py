"""The error mapping itself, for errors the HTTP tests cannot easily provoke through a request."""

from __future__ import annotations

import msgspec
import pytest
from litestar.exceptions import HTTPException, InternalServerException, ValidationException

from flosspay.adapters.http.problems import to_problem
from flosspay.domain.errors import (
    FieldError,
    IdempotencyConflict,
    IdempotencyInProgress,
    IllegalTransition,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (ValidationFailed([FieldError("amount", "bad")]), 400, "validation-failed"),
        (Unauthenticated("no"), 401, "unauthenticated"),
        (NotFound("none"), 404, "not-found"),
        (IdempotencyConflict("reused"), 409, "idempotency-key-reused"),
        (IdempotencyInProgress("busy"), 409, "request-in-progress"),
        (ServiceUnavailable("down"), 503, "service-unavailable"),
    ],
)
def test_domain_errors(error: Exception, status: int, slug: str) -> None:
    problem, _ = to_problem(error)
    assert (problem.status, problem.type) == (status, f"urn:flosspay:problem:{slug}")


def test_litestar_validation_becomes_field_errors() -> None:
    exc = ValidationException(detail="bad", extra=[{"key": "limit", "message": "Expected `int`", "source": "query"}])
    problem, _ = to_problem(exc)
    assert problem.status == 400
    assert problem.errors is not None
    assert [(e.field, e.message) for e in problem.errors] == [("limit", "Expected `int`")]


def test_msgspec_errors_are_400() -> None:
    try:
        msgspec.json.decode(b"{", type=dict)
    except msgspec.DecodeError as exc:
        problem, _ = to_problem(exc)
    assert problem.status == 400
    assert problem.errors is not None and problem.errors[0].field == "body"


def test_http_errors_keep_status_and_headers() -> None:
    problem, headers = to_problem(HTTPException(status_code=405, headers={"Allow": "GET"}))
    assert (problem.status, problem.title) == (405, "Method Not Allowed")
    assert headers == {"Allow": "GET"}


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("db password=hunter2"),
        InternalServerException("stream consumed at /srv/x.py"),
        IllegalTransition("QUEUED -> COMPLETED"),
        KeyError("internal"),
    ],
)
def test_server_errors_say_nothing_about_internals(error: Exception) -> None:
    problem, headers = to_problem(error)
    assert problem.status == 500
    assert problem.detail == "an unexpected error occurred; it has been logged"
    assert problem.errors is None and headers == {}
