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
    refused a collect request, or an action the rail sent them to (the payment ends DECLINED, not
    FAILED). EXPIRED: the payer never answered in time. TRANSIENT: nothing happened, try again
    (timeouts before sending, 5xx). UNCERTAIN: it may or may not have happened; only a status query
    resolves it. PENDING: waiting for the payer (collect). ACTION_REQUIRED: the customer must act
    (3-D Secure). NOT_FOUND: a status query found no such reference.
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


NEXT_ACTION_TYPES = frozenset({"redirect"})
MAX_NEXT_ACTION_URL = 2048


class NextAction(msgspec.Struct, frozen=True):
    """What the customer must do for an ACTION_REQUIRED payment: ``redirect`` their browser to ``url``.

    Rules: ``type`` is one of ``NEXT_ACTION_TYPES``; ``url`` is an absolute http(s) URL of at most
    2048 characters that holds no secret (the merchant and the customer both see it).
    """

    type: str
    url: str

    def __post_init__(self) -> None:
        if self.type not in NEXT_ACTION_TYPES:
            raise ValueError(f"unknown next action type {self.type!r}; known: {', '.join(sorted(NEXT_ACTION_TYPES))}")
        protocol, sep, rest = self.url.partition("://")
        if not sep or protocol not in ("http", "https") or not rest or len(self.url) > MAX_NEXT_ACTION_URL:
            raise ValueError("a next action's url must be an absolute http(s) URL of at most 2048 characters")
        if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) > 0x7E for ch in self.url):
            raise ValueError("a next action's url must be printable ASCII without spaces")

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "url": self.url}


class RailResult(msgspec.Struct, frozen=True):
    """What a rail call came to. ``code`` is the PSP's own response code (e.g. NPCI ``Z9``).

    ``next_action``: with ACTION_REQUIRED, where to send the customer (stored with the payment and
    shown in its status until it is final); ignored with any other outcome.
    """

    outcome: Outcome
    code: str | None = None
    reason: str | None = None
    rail_reference: str | None = None
    next_action: NextAction | None = None


class RailRequest(msgspec.Struct, frozen=True):
    """A payment as the rail sees it. ``reference`` is FlossPay's payment id: the rail's idempotency key."""

    reference: str
    flow: Flow
    amount: Money
    details: dict[str, Any]
    expires_at: datetime | None = None


class PreparedPayment(msgspec.Struct, frozen=True):
    """A validated request split into what may be stored and what may be shown, and whose money it is.

    ``details``: kept with the payment and handed back in ``RailRequest.details`` (tokens, never a
    PAN or CVV). ``public``: safe fields shown to the merchant (card scheme and last four, provider).

    ``payer_account`` and ``payee_account``: the ledger accounts money leaves and reaches, as
    segments after the rail's own name (``("vpa", "alice@upi")`` is ``upi:vpa:alice@upi``). The rail
    decides them; FlossPay %-encodes each segment. Rules: the same payer gives the same segments on
    every call (a balance is a sum over one name), never a card number or a secret (a token is
    fine). Empty ``payee_account``: the merchant is paid (``merchant:<client id>``); empty
    ``payer_account``: each payment gets its own payer account (``<rail>:payer:<payment id>``).
    """

    details: dict[str, Any]
    public: dict[str, Any]
    payer_account: tuple[str, ...] = ()
    payee_account: tuple[str, ...] = ()


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


# --- refund capabilities (issue 13) -----------------------------------------------------------------
# A rail declares what refunds it takes with optional class attributes, read with these helpers (a
# rail that names neither takes none, so an older rail keeps working unchanged):
#   refunds: ClassVar[bool] = True          ``refund()`` gives back a completed payment in full
#   partial_refunds: ClassVar[bool] = True  and several parts of one, adding up to at most its amount
# They match the rail's conformance ``RailRequirements.refunds`` / ``partial_refunds``. They are not
# members of the ``Rail`` Protocol, so ``isinstance(rail, Rail)`` still holds for a rail without them.


def takes_refunds(rail: object) -> bool:
    """True when the rail declares ``refunds = True``."""
    return getattr(rail, "refunds", False) is True


def takes_partial_refunds(rail: object) -> bool:
    """True when the rail declares both ``refunds`` and ``partial_refunds``."""
    return takes_refunds(rail) and getattr(rail, "partial_refunds", False) is True
