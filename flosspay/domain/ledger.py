"""The double-entry ledger: journal entries whose postings balance per currency, never changed.

Chart of accounts (docs/ledger.md): rail-qualified names such as ``upi:vpa:alice@upi``, one
clearing account per rail (``upi:clearing``) and ``merchant:<client id>`` for rails whose payee is
the merchant. A posting's amount is signed integer minor units: positive flows into the account.
A correction or a reversal is a new entry that references the entry it changes.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec

from flosspay.domain.chain import EntryFacts, HistoryFacts
from flosspay.domain.errors import DomainError
from flosspay.domain.money import Money
from flosspay.domain.payment import Payment, PaymentStatus

# Namespace of the ids of payment entries: uuid5(namespace, "payment:<payment id>"), one per payment.
ENTRY_NAMESPACE = uuid.UUID("6f1d7e0c-3b8a-5d4e-9c2f-0a1b2c3d4e5f")

MAX_ACCOUNT_LENGTH = 255
_ACCOUNT = re.compile(r"[A-Za-z0-9._~@%-]+(?::[A-Za-z0-9._~@%-]+)+")


class LedgerError(DomainError):
    """An entry that breaks a ledger rule (unbalanced, empty, wrong reference)."""

    title = "Ledger rule broken"


class EntryKind(enum.StrEnum):
    PAYMENT = "payment"
    REVERSAL = "reversal"
    CORRECTION = "correction"


def account(*segments: str) -> str:
    """An account name from its segments; anything outside ``[A-Za-z0-9._~@-]`` is %-encoded."""
    if len(segments) < 2 or not all(segments):
        raise ValueError("an account name has at least two non-empty segments")
    return ":".join(quote(segment, safe="@._~-") for segment in segments)


def is_account_name(name: str) -> bool:
    return len(name) <= MAX_ACCOUNT_LENGTH and _ACCOUNT.fullmatch(name) is not None


def clearing_account(rail: str) -> str:
    """Money in transit through ``rail`` (the PSP or network) while a payment settles."""
    return account(rail.lower(), "clearing")


def payer_account(payment: Payment) -> str:
    """The account money leaves: the rail's own name for the payer, from the stored details."""
    return _payer(payment)[1]


def payee_account(payment: Payment) -> str:
    """The account money reaches: the receiving VPA for UPI, else the merchant (API client)."""
    return _payee(payment)[1]


def unrecordable_accounts(payment: Payment) -> list[tuple[str | None, str]]:
    """(detail key it comes from, account name) of each of the payment's accounts the ledger cannot store.

    Checked at intake, so a payment whose money would move can always be recorded afterwards.
    """
    return [pair for pair in (_payer(payment), _payee(payment)) if not is_account_name(pair[1])]


def _payer(payment: Payment) -> tuple[str | None, str]:
    details: dict[str, Any] = payment.details
    rail = payment.rail.lower()
    sender = details.get("senderUpi")
    if isinstance(sender, str) and sender:
        return "senderUpi", account(rail, "vpa", sender.lower())
    token = details.get("pan_token")
    if isinstance(token, str) and token:
        return "pan_token", account(rail, "token", token)
    provider, wallet_id = details.get("provider"), details.get("wallet_id")
    if isinstance(provider, str) and provider and isinstance(wallet_id, str) and wallet_id:
        return "wallet_id", account(rail, provider.lower(), wallet_id)
    return None, account(rail, "payer", str(payment.id))


def _payee(payment: Payment) -> tuple[str | None, str]:
    receiver = payment.details.get("receiverUpi")
    if isinstance(receiver, str) and receiver:
        return "receiverUpi", account(payment.rail.lower(), "vpa", receiver.lower())
    return None, account("merchant", payment.client_id)


class Posting(msgspec.Struct, frozen=True):
    """``amount`` signed: positive flows into ``account``, negative flows out."""

    account: str
    amount: Money


class JournalEntry(msgspec.Struct, frozen=True):
    """One balanced movement of money. ``ref_entry_id``: the entry a reversal/correction changes."""

    id: uuid.UUID
    kind: EntryKind
    posted_at: datetime
    description: str
    postings: tuple[Posting, ...]
    payment_id: uuid.UUID | None = None
    ref_entry_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        check_entry(self)

    def reversal(self, entry_id: uuid.UUID, at: datetime, description: str) -> JournalEntry:
        """The entry that undoes this one: every posting negated, referencing this entry."""
        if self.kind is EntryKind.REVERSAL:
            raise LedgerError("a reversal is not reversed; post a correction instead")
        return JournalEntry(
            id=entry_id,
            kind=EntryKind.REVERSAL,
            posted_at=at,
            description=description,
            postings=tuple(Posting(p.account, -p.amount) for p in self.postings),
            payment_id=self.payment_id,
            ref_entry_id=self.id,
        )

    def correction(
        self, entry_id: uuid.UUID, at: datetime, description: str, postings: Iterable[Posting]
    ) -> JournalEntry:
        """A further balanced entry that adjusts this one (for example a fee taken afterwards)."""
        return JournalEntry(
            id=entry_id,
            kind=EntryKind.CORRECTION,
            posted_at=at,
            description=description,
            postings=tuple(postings),
            payment_id=self.payment_id,
            ref_entry_id=self.id,
        )

    def facts(self) -> EntryFacts:
        """What the hash chain records of this entry."""
        return EntryFacts(
            entry_id=self.id,
            entry_kind=self.kind.value,
            payment_id=self.payment_id,
            ref_entry_id=self.ref_entry_id,
            posted_at=self.posted_at,
            postings=tuple((p.account, p.amount.currency, p.amount.minor) for p in self.postings),
            description=self.description,
        )


def check_entry(entry: JournalEntry) -> None:
    """Raise ``LedgerError`` unless the entry is well-formed and balances to zero per currency."""
    if len(entry.postings) < 2:
        raise LedgerError("an entry needs at least two postings")
    totals: dict[str, int] = {}
    for posting in entry.postings:
        if not is_account_name(posting.account):
            raise LedgerError(f"malformed account name {posting.account!r}")
        if posting.amount.minor == 0:
            raise LedgerError(f"a posting to {posting.account} moves nothing")
        totals[posting.amount.currency] = totals.get(posting.amount.currency, 0) + posting.amount.minor
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise LedgerError(f"postings do not balance: {unbalanced}")
    if entry.kind is EntryKind.PAYMENT and (entry.payment_id is None or entry.ref_entry_id is not None):
        raise LedgerError("a payment entry names its payment and references no other entry")
    if entry.kind is not EntryKind.PAYMENT and entry.ref_entry_id is None:
        raise LedgerError(f"a {entry.kind.value} references the entry it changes")


def payment_entry_id(payment_id: uuid.UUID) -> uuid.UUID:
    """The id of a payment's one payment entry (deterministic, so posting twice is caught)."""
    return uuid.uuid5(ENTRY_NAMESPACE, f"payment:{payment_id}")


def completed_payment_entry(payment: Payment, at: datetime) -> JournalEntry:
    """Payer → rail clearing → payee, for the payment's amount."""
    if payment.status is not PaymentStatus.COMPLETED:
        raise LedgerError(f"only a COMPLETED payment is posted, not a {payment.status} one")
    amount = payment.amount
    clearing = clearing_account(payment.rail)
    return JournalEntry(
        id=payment_entry_id(payment.id),
        kind=EntryKind.PAYMENT,
        posted_at=at,
        description=f"{payment.method} {payment.flow.value.lower()} payment completed",
        postings=(
            Posting(payer_account(payment), -amount),
            Posting(clearing, amount),
            Posting(clearing, -amount),
            Posting(payee_account(payment), amount),
        ),
        payment_id=payment.id,
    )


def balance(entries: Iterable[JournalEntry], account_name: str, as_of: datetime | None = None) -> dict[str, int]:
    """An account's balance per currency from entries (those posted at or before ``as_of``)."""
    totals: dict[str, int] = {}
    for entry in entries:
        if as_of is not None and entry.posted_at > as_of:
            continue
        for posting in entry.postings:
            if posting.account == account_name:
                currency = posting.amount.currency
                totals[currency] = totals.get(currency, 0) + posting.amount.minor
    return totals


def history_facts(payment: Payment, index: int) -> HistoryFacts:
    """What the hash chain records of row ``index`` of a payment's history."""
    change = payment.history[index]
    return HistoryFacts(
        payment_id=payment.id,
        index=index,
        from_status=change.from_status.value if change.from_status is not None else None,
        to_status=change.to_status.value,
        attempt=change.attempt,
        at=change.at,
        flow=payment.flow.value,
        currency=payment.amount.currency,
        amount=payment.amount.minor,
        client_id=payment.client_id,
        rail=payment.rail,
        reason=change.reason,
    )
