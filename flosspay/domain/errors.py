"""Domain errors: what went wrong, in the domain's words; adapters map them to HTTP or CLI output.

They carry no titles or status codes: the HTTP adapter names each kind (``adapters/http/problems.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One rejected input field, named as the client sent it (e.g. ``senderUpi``, ``card.number``)."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(DomainError):
    """Input broke a rule; ``errors`` names each offending field."""

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(DomainError):
    """No such thing, or not one the caller may see (never reveals another client's data)."""


class Unauthenticated(DomainError):
    """The request's credentials are missing, unknown, stale or wrong."""


class IdempotencyConflict(DomainError):
    """The idempotency key was already used for a different request."""


class IdempotencyInProgress(DomainError):
    """A request with this idempotency key is still being handled."""


class IllegalTransition(DomainError):
    """The state machine refuses this change of status."""


class ConcurrentUpdate(DomainError):
    """Someone else changed the aggregate first (optimistic concurrency)."""


class PaymentBusy(DomainError):
    """Another worker holds a live lease on the payment."""


class ServiceUnavailable(DomainError):
    """A dependency (database, broker) is down; the request may be retried."""


class RateLimited(DomainError):
    """The client sent more requests than its rate allows; ``retry_after``: whole seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after} s")
        self.retry_after = retry_after


class NotRefundable(DomainError):
    """The payment cannot be refunded as asked: not COMPLETED, or its rail does not take such refunds."""

    title = "Not refundable"
