"""The double-entry ledger: journal entries whose postings balance per currency, never changed.

Chart of accounts (docs/ledger.md): the rail names its payer's and payee's accounts (under its
own name, e.g. ``upi:vpa:alice@upi``; see ``PreparedPayment``), one clearing account per rail
(``upi:clearing``) and ``merchant:<client id>`` for rails whose payee is the merchant. A
posting's amount is signed integer minor units: positive flows into the account.
A correction or a reversal is a new entry that references the entry it changes.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote

import msgspec

from flosspay.domain.chain import EntryFacts, HistoryFacts, is_canonical_account
from flosspay.domain.errors import DomainError
from flosspay.domain.money import Money
from flosspay.domain.payment import Payment, PaymentStatus

# Namespace of the ids of payment entries: uuid5(namespace, "payment:<payment id>"), one per payment.
ENTRY_NAMESPACE = uuid.UUID("6f1d7e0c-3b8a-5d4e-9c2f-0a1b2c3d4e5f")


class LedgerError(DomainError):
    """An entry that breaks a ledger rule (unbalanced, empty, wrong reference)."""

    title = "Ledger rule broken"


class EntryKind(enum.StrEnum):
    PAYMENT = "payment"
    REVERSAL = "reversal"
    CORRECTION = "correction"
    REFUND = "refund"


def account(*segments: str) -> str:
    """An account name from its segments; anything outside ``[A-Za-z0-9._~@-]`` is %-encoded."""
    if len(segments) < 2 or not all(segments):
        raise ValueError("an account name has at least two non-empty segments")
    return ":".join(quote(segment, safe="@._~-") for segment in segments)


def is_account_name(name: str) -> bool:
    """Spelled exactly as the chain requires (docs/ledger.md §1): upper-case ``%XX``, nothing needlessly encoded."""
    return is_canonical_account(name)


@functools.lru_cache(maxsize=4096)
def _is_account_name_cached(name: str) -> bool:
    """``is_account_name`` remembered: the same clearing and merchant accounts are in every entry (ADR 0022)."""
    return is_account_name(name)


def clearing_account(rail: str) -> str:
    """Money in transit through ``rail`` (the PSP or network) while a payment settles."""
    return account(rail.lower(), "clearing")


def rail_account(rail: str, segments: tuple[str, ...]) -> str | None:
    """The account a rail named by ``segments`` (after its own name), or None if they make no valid name."""
    if not segments or not all(isinstance(segment, str) and segment for segment in segments):
        return None
    name = account(rail.lower(), *segments)
    return name if is_account_name(name) else None


Unrecordable = tuple[tuple[str, ...], str]
"""A rail's segments that make no storable account, with the account name they would have made."""


def rail_accounts(
    rail: str, payer: tuple[str, ...], payee: tuple[str, ...]
) -> tuple[str | None, str | None, list[Unrecordable]]:
    """The payer and payee accounts a rail named (None where not, or not usable), and the unrecordable ones.

    One pass at intake: each side's name is built and checked once, for both the refusal and the payment.
    """
    payer_name = rail_account(rail, payer)
    payee_name = rail_account(rail, payee)
    found = []
    for segments, name in ((payer, payer_name), (payee, payee_name)):
        if segments and name is None:
            usable = tuple(s if isinstance(s, str) and s else "?" for s in segments)
            found.append((tuple(segments), account(rail.lower() or "?", *usable)))
    return payer_name, payee_name, found


def accounts_for(
    rail: str, client_id: str, payment_id: uuid.UUID, payer_name: str | None, payee_name: str | None
) -> tuple[str, str]:
    """The payer and payee accounts fixed when a payment is accepted, from what ``rail_accounts`` found.

    No (or unusable) payer segments: the payment's own payer account; no payee: the merchant.
    """
    return (
        payer_name or account(rail.lower(), "payer", str(payment_id)),
        payee_name or account("merchant", client_id),
    )


def payment_accounts(
    rail: str, client_id: str, payment_id: uuid.UUID, payer: tuple[str, ...], payee: tuple[str, ...]
) -> tuple[str, str]:
    """The payer and payee accounts fixed when a payment is accepted, from the rail's segments."""
    payer_name, payee_name, _ = rail_accounts(rail, payer, payee)
    return accounts_for(rail, client_id, payment_id, payer_name, payee_name)


def payer_account(payment: Payment) -> str:
    """The account money leaves, as the rail named it when the payment was accepted."""
    return payment.payer_account or account(payment.rail.lower(), "payer", str(payment.id))


def payee_account(payment: Payment) -> str:
    """The account money reaches, as the rail named it when the payment was accepted (else the merchant)."""
    return payment.payee_account or account("merchant", payment.client_id)


def unrecordable_accounts(rail: str, payer: tuple[str, ...], payee: tuple[str, ...]) -> list[Unrecordable]:
    """(segments, account name) of each account a rail named that the ledger could not store.

    Checked at intake, so a payment whose money would move can always be recorded afterwards: a
    rail's segments that make no valid account are refused, never silently replaced.
    """
    return rail_accounts(rail, payer, payee)[2]


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

    def reversal(self, entry_id: uuid.UUID, at: datetime, description: str, refunded: int = 0) -> JournalEntry:
        """The entry that undoes this one: every posting negated, referencing this entry.

        ``refunded``: what refund entries already gave back of this payment entry; the reversal then
        undoes only what is left (docs/ledger.md §5: each posting negated, for the amount left).
        """
        if self.kind is EntryKind.REVERSAL:
            raise LedgerError("a reversal is not reversed; post a correction instead")
        if self.kind is EntryKind.REFUND:
            raise LedgerError("a refund is not reversed; post a correction instead")
        postings = tuple(Posting(p.account, -p.amount) for p in self.postings)
        if refunded:
            whole = self.postings[-1].amount
            if self.kind is not EntryKind.PAYMENT or not 0 < refunded <= whole.minor:
                raise LedgerError(f"refunds of {refunded} do not fit entry {self.id}")
            if refunded == whole.minor:
                raise LedgerError(f"journal entry {self.id} is refunded in full: nothing is left to reverse")
            left = whole.minor - refunded
            postings = tuple(
                Posting(p.account, Money(left if p.amount.minor < 0 else -left, whole.currency)) for p in self.postings
            )
        return JournalEntry(
            id=entry_id,
            kind=EntryKind.REVERSAL,
            posted_at=at,
            description=description,
            postings=postings,
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
        name = posting.account
        if not (_is_account_name_cached(name) if type(name) is str else is_account_name(name)):
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


@functools.lru_cache(maxsize=1024)
def payment_entry_id(payment_id: uuid.UUID) -> uuid.UUID:
    """The id of a payment's one payment entry (deterministic, so posting twice is caught).

    Remembered for the last payments: the completion computes it twice, for the entry and the webhook event."""
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


def refund_entry_id(refund_id: uuid.UUID) -> uuid.UUID:
    """The id of a refund's one journal entry (deterministic, so posting it twice is caught)."""
    return uuid.uuid5(ENTRY_NAMESPACE, f"refund:{refund_id}")


def refund_entry(payment_entry: JournalEntry, refund_id: uuid.UUID, amount: Money, at: datetime) -> JournalEntry:
    """Money given back along the payment's own accounts: payee → rail clearing → payer, for ``amount``.

    References the payment's entry. Only the core's rule is checked here (a refund of a payment entry,
    in its currency, not more than it moved); the running total of a payment's refunds is the
    database's guard and the verifiers' rule.
    """
    if payment_entry.kind is not EntryKind.PAYMENT or payment_entry.payment_id is None:
        raise LedgerError("only a payment entry is refunded")
    moved = payment_entry.postings[-1].amount
    if amount.currency != moved.currency or not 0 < amount.minor <= moved.minor:
        raise LedgerError(f"a refund of {amount.format()} does not fit a payment of {moved.format()}")
    payer, clearing, payee = (
        payment_entry.postings[0].account,
        payment_entry.postings[1].account,
        payment_entry.postings[-1].account,
    )
    return JournalEntry(
        id=refund_entry_id(refund_id),
        kind=EntryKind.REFUND,
        posted_at=at,
        description=f"refund {refund_id}",
        postings=(
            Posting(payee, -amount),
            Posting(clearing, amount),
            Posting(clearing, -amount),
            Posting(payer, amount),
        ),
        payment_id=payment_entry.payment_id,
        ref_entry_id=payment_entry.id,
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
