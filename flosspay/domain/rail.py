"""The Rail port: what FlossPay asks of a payment rail (UPI, card, wallet, ...).

Rails live in separate distributions and are found through pluggy (see ``flosspay.hookspecs``);
they import these names from ``flosspay.railapi``, never from adapters.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from flosspay.domain.money import Money
from flosspay.domain.payment import Flow


class Outcome(enum.StrEnum):
    """A rail's answer, mapped from its PSP's codes to FlossPay's vocabulary.

    COMPLETED: money moved. DECLINED: refused for good (``code`` says why). PAYER_DECLINED: the payer
    refused a collect request. EXPIRED: the payer never answered in time. TRANSIENT: nothing
    happened, try again (timeouts before sending, 5xx). UNCERTAIN: it may or may not have happened;
    only a status query resolves it. PENDING: waiting for the payer (collect). ACTION_REQUIRED: the
    customer must act (3-D Secure). NOT_FOUND: a status query found no such reference.
    """

    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    PAYER_DECLINED = "PAYER_DECLINED"
    EXPIRED = "EXPIRED"
    TRANSIENT = "TRANSIENT"
    UNCERTAIN = "UNCERTAIN"
    PENDING = "PENDING"
    ACTION_REQUIRED = "ACTION_REQUIRED"
    NOT_FOUND = "NOT_FOUND"


class RailResult(msgspec.Struct, frozen=True):
    """What a rail call came to. ``code`` is the PSP's own response code (e.g. NPCI ``Z9``)."""

    outcome: Outcome
    code: str | None = None
    reason: str | None = None
    rail_reference: str | None = None


class RailRequest(msgspec.Struct, frozen=True):
    """A payment as the rail sees it. ``reference`` is FlossPay's payment id: the rail's idempotency key."""

    reference: str
    flow: Flow
    amount: Money
    details: dict[str, Any]
    expires_at: datetime | None = None


class PreparedPayment(msgspec.Struct, frozen=True):
    """A validated request split into what may be stored and what may be shown.

    ``details``: kept with the payment and handed back in ``RailRequest.details`` (tokens, never a
    PAN or CVV). ``public``: safe fields shown to the merchant (card scheme and last four, provider).
    """

    details: dict[str, Any]
    public: dict[str, Any]


class RefundResult(msgspec.Struct, frozen=True):
    outcome: Outcome
    code: str | None = None
    reason: str | None = None


@runtime_checkable
class Rail(Protocol):
    """A payment rail. Every method may be called from several threads and processes at once.

    Rules every rail keeps (the conformance suite checks them):
    - ``execute`` is idempotent by ``request.reference``: calling it twice never charges twice.
    - ``status`` by reference agrees with what ``execute`` did; unknown reference → NOT_FOUND.
    - Transport failures come back as TRANSIENT (nothing sent) or UNCERTAIN (maybe sent), never raise.
    - No secret, PAN or CVV appears in a result, an exception message, a log line or a repr.
    """

    name: ClassVar[str]
    """Short lower-case identifier (``upi``); also the ``FLOSSPAY_RAILS`` entry."""
    method: ClassVar[str]
    """The payment method it serves in the API (``UPI``)."""
    flows: ClassVar[frozenset[Flow]]
    """Flows it supports; PAY at least."""
    request_type: ClassVar[type[msgspec.Struct]]
    """The msgspec Struct of its own request fields (validated by the API, shown in OpenAPI)."""

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        """Check rail rules (raise ``ValidationFailed`` with field errors) and split storable/public data."""
        ...

    def execute(self, request: RailRequest) -> RailResult:
        """Carry out the payment (or send the collect request) identified by ``request.reference``."""
        ...

    def status(self, request: RailRequest) -> RailResult:
        """The rail's current knowledge of ``request.reference``."""
        ...

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """Return ``amount`` of a completed payment; idempotent by ``refund_reference``."""
        ...


RailSettings = Mapping[str, str]
"""A rail's own settings: ``FLOSSPAY_<NAME>_<KEY>`` variables as ``{"<key>": value}`` (lower-case key)."""
