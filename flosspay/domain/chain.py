"""The hash chain over payment history and journal entries: canonical bytes, links, export lines.

Standard library only, and no import from the rest of FlossPay: this module and
the ``flosspay.ledger_verify`` package are the reference implementation of the format specified in
docs/ledger.md, and the offline verifier runs them with nothing else installed.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

GENESIS = bytes(32)
"""The "previous hash" of record 1: 32 zero bytes."""

EXPORT_FORMAT = "flosspay-ledger-export"
EXPORT_VERSION = 2
"""Version 2 chains checkpoints (each names the digest of the one before it); version 1 still verifies."""
EXPORT_VERSIONS = (1, 2)
CHECKPOINT_TAG = "flosspay-checkpoint"

HISTORY = "history"
ENTRY = "entry"
REFUND_HISTORY = "refund_history"

# The payment state machine: every legal (from, to) step per flow, ``None`` the creation of the payment.
# The one source: flosspay.domain.payment builds its enum-typed table from it, the verifier checks chains
# against it, and docs/ledger.md §2 shows it as a table (tests/unit/test_chain.py compares the three).
TRANSITIONS: dict[str, frozenset[tuple[str | None, str]]] = {
    "PAY": frozenset(
        {
            (None, "QUEUED"),
            ("QUEUED", "PROCESSING"),
            ("PROCESSING", "ACTION_REQUIRED"),
            ("ACTION_REQUIRED", "PROCESSING"),
            ("PROCESSING", "COMPLETED"),
            ("PROCESSING", "FAILED"),
            ("PROCESSING", "DECLINED"),
            ("PROCESSING", "EXPIRED"),
        }
    ),
    "COLLECT": frozenset(
        {
            (None, "REQUESTED"),
            ("REQUESTED", "PROCESSING"),
            ("PROCESSING", "COMPLETED"),
            ("PROCESSING", "FAILED"),
            ("PROCESSING", "DECLINED"),
            ("PROCESSING", "EXPIRED"),
        }
    ),
}
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "DECLINED", "EXPIRED"})
"""Nothing follows one of these in a payment's history."""

# A refund's own state machine (docs/ledger.md §2), the one source for the refunds code and the verifier.
# PENDING -> FAILED: a refund given up before the rail was asked (the payment was reversed meanwhile, say).
REFUND_TRANSITIONS: frozenset[tuple[str | None, str]] = frozenset(
    {
        (None, "PENDING"),
        ("PENDING", "PROCESSING"),
        ("PENDING", "FAILED"),
        ("PROCESSING", "SUCCEEDED"),
        ("PROCESSING", "FAILED"),
    }
)
REFUND_FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED"})
"""Nothing follows one of these in a refund's history; SUCCEEDED is followed by the refund's entry."""

PAYMENT_ENTRY_NAMESPACE = uuid.UUID("6f1d7e0c-3b8a-5d4e-9c2f-0a1b2c3d4e5f")
"""A payment's one payment entry has id ``uuid5(PAYMENT_ENTRY_NAMESPACE, "payment:<payment id>")``;
a refund's one refund entry has id ``uuid5(PAYMENT_ENTRY_NAMESPACE, "refund:<refund id>")``."""

MAX_ACCOUNT_LENGTH = 255

# ISO 4217 alphabetic codes (the current list, plus codes withdrawn since 2018 that old exports may hold).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
    MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR
    SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD
    USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU
    XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 (a list literal of 180 codes is harder to read)
)

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~@-")
_HEX_UPPER = frozenset(b"0123456789ABCDEF")


def account_segment(text: str) -> str:
    """One segment of an account name: ``A-Z a-z 0-9 . _ ~ @ -`` kept, every other UTF-8 byte as ``%XX``."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def canonical_account(name: str) -> str | None:
    """``name`` in its one canonical spelling (upper-case ``%XX``, nothing encoded that may stay), or None.

    None when it is not an account name at all: fewer than two segments, an empty segment, a byte
    that must be encoded written raw, a ``%`` not followed by two hex digits, or over 255 characters.
    """
    segments = name.split(":")
    if len(segments) < 2:
        return None
    out = []
    for segment in segments:
        raw = bytearray()
        i, data = 0, segment.encode(errors="surrogatepass")
        while i < len(data):
            b = data[i]
            if b == 0x25:  # %
                digits = data[i + 1 : i + 3]
                if len(digits) != 2 or not all(d in b"0123456789ABCDEFabcdef" for d in digits):
                    return None
                raw.append(int(digits, 16))
                i += 3
            elif b in _UNRESERVED:
                raw.append(b)
                i += 1
            else:
                return None
        if not raw:
            return None
        try:
            out.append(account_segment(raw.decode()))
        except UnicodeDecodeError:
            return None
    result = ":".join(out)
    return result if len(result) <= MAX_ACCOUNT_LENGTH else None


def is_canonical_account(name: str) -> bool:
    """``name`` is an account name spelled exactly as docs/ledger.md requires."""
    return canonical_account(name) == name


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False).encode


def canonical(values: list[object]) -> bytes:
    """UTF-8 JSON with no whitespace; strings escaped as RFC 8785 does (only ``"``, ``\\`` and C0 controls).

    Only arrays, strings, integers and null ever reach here, which is the subset the spec allows.
    """
    return _dumps(values).encode()


def canonical_value(value: object) -> bytes:
    """One value as it appears inside a canonical record (a token of the array)."""
    return _dumps(value).encode()


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always six fractional digits; naive times are refused."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"refusing a naive datetime {moment!r} in the chain")
    # The UTC wall time without astimezone(): one subtraction, none at all in UTC (the common case); the
    # %-format is a third faster than the f-string of the same fields (the chainer formats every record).
    u = moment - offset if offset else moment
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        u.year,
        u.month,
        u.day,
        u.hour,
        u.minute,
        u.second,
        u.microsecond,
    )


def parse_time(text: str) -> datetime:
    """The inverse of ``format_time`` (strict)."""
    if len(text) != 27 or not text.endswith("Z"):
        raise ValueError(f"not a chain timestamp: {text!r}")
    return datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


_quote = json.encoder.encode_basestring
"""How the canonical encoder writes a string (``canonical`` is ``ensure_ascii=False``): the records' fast
path below writes each token with it, so its bytes are the encoder's (tests/unit/test_chain.py checks)."""


def link_hash(prev: bytes, record: bytes) -> bytes:
    """SHA-256(previous hash ‖ canonical record): the whole chaining rule."""
    return hashlib.sha256(prev + record).digest()


def _uuid_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class HistoryFacts:
    """One row of a payment's status history plus the payment's fixed facts, as chained."""

    kind: ClassVar[str] = HISTORY

    payment_id: uuid.UUID
    index: int
    from_status: str | None
    to_status: str
    attempt: int | None
    at: datetime
    flow: str
    currency: str
    amount: int
    client_id: str
    rail: str
    reason: str

    def values(self, seq: int) -> list[object]:
        """The record as the array docs/ledger.md §1 specifies; ``record`` is its canonical bytes."""
        return [
            seq,
            HISTORY,
            str(self.payment_id),
            self.index,
            self.from_status,
            self.to_status,
            self.attempt,
            format_time(self.at),
            self.flow,
            self.currency,
            self.amount,
            self.client_id,
            self.rail,
            self.reason,
        ]

    def record(self, seq: int) -> bytes:
        """``canonical(self.values(seq))``, written directly when every number is a plain int (the chainer
        runs this for every record; the general encoder costs twice as much)."""
        attempt = self.attempt
        plain = type(seq) is int and type(self.index) is int and type(self.amount) is int
        if plain and (attempt is None or type(attempt) is int):
            try:
                return (
                    f'[{seq},"{HISTORY}",{_quote(str(self.payment_id))},{self.index},'
                    f"{'null' if self.from_status is None else _quote(self.from_status)},"
                    f"{_quote(self.to_status)},{'null' if attempt is None else attempt},"
                    f'"{format_time(self.at)}",{_quote(self.flow)},{_quote(self.currency)},{self.amount},'
                    f"{_quote(self.client_id)},{_quote(self.rail)},{_quote(self.reason)}]"
                ).encode()
            except TypeError:  # a value that is not a string where one belongs: as the encoder says
                pass
        return canonical(self.values(seq))


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """One journal entry with its postings ``(account, currency, signed minor amount)``, as chained."""

    kind: ClassVar[str] = ENTRY

    entry_id: uuid.UUID
    entry_kind: str
    payment_id: uuid.UUID | None
    ref_entry_id: uuid.UUID | None
    posted_at: datetime
    postings: tuple[tuple[str, str, int], ...]
    description: str

    def values(self, seq: int) -> list[object]:
        """The record as the array docs/ledger.md §1 specifies; ``record`` is its canonical bytes."""
        return [
            seq,
            ENTRY,
            str(self.entry_id),
            self.entry_kind,
            _uuid_or_none(self.payment_id),
            _uuid_or_none(self.ref_entry_id),
            format_time(self.posted_at),
            [list(p) for p in self.postings],
            self.description,
        ]

    def record(self, seq: int) -> bytes:
        """``canonical(self.values(seq))``, written directly when every number is a plain int."""
        if type(seq) is int:
            try:
                postings = []
                for account, currency, amount in self.postings:
                    if type(amount) is not int:
                        raise TypeError(amount)
                    postings.append(f"[{_quote(account)},{_quote(currency)},{amount}]")
                payment_id, ref_entry_id = self.payment_id, self.ref_entry_id
                return (
                    f'[{seq},"{ENTRY}",{_quote(str(self.entry_id))},{_quote(self.entry_kind)},'
                    f"{'null' if payment_id is None else _quote(str(payment_id))},"
                    f"{'null' if ref_entry_id is None else _quote(str(ref_entry_id))},"
                    f'"{format_time(self.posted_at)}",[{",".join(postings)}],{_quote(self.description)}]'
                ).encode()
            except (TypeError, ValueError):  # not three values, or not a string or int where one belongs
                pass
        return canonical(self.values(seq))


@dataclass(frozen=True, slots=True)
class RefundHistoryFacts:
    """One row of a refund's status history plus the refund's fixed facts, as chained."""

    kind: ClassVar[str] = REFUND_HISTORY

    refund_id: uuid.UUID
    index: int
    from_status: str | None
    to_status: str
    attempt: int | None
    at: datetime
    payment_id: uuid.UUID
    currency: str
    amount: int
    client_id: str
    reason: str

    def values(self, seq: int) -> list[object]:
        """The record as the array docs/ledger.md §1 specifies; ``record`` is its canonical bytes."""
        return [
            seq,
            REFUND_HISTORY,
            str(self.refund_id),
            self.index,
            self.from_status,
            self.to_status,
            self.attempt,
            format_time(self.at),
            str(self.payment_id),
            self.currency,
            self.amount,
            self.client_id,
            self.reason,
        ]

    def record(self, seq: int) -> bytes:
        """``canonical(self.values(seq))``, written directly when every number is a plain int."""
        attempt = self.attempt
        plain = type(seq) is int and type(self.index) is int and type(self.amount) is int
        if plain and (attempt is None or type(attempt) is int):
            try:
                return (
                    f'[{seq},"{REFUND_HISTORY}",{_quote(str(self.refund_id))},{self.index},'
                    f"{'null' if self.from_status is None else _quote(self.from_status)},"
                    f"{_quote(self.to_status)},{'null' if attempt is None else attempt},"
                    f'"{format_time(self.at)}",{_quote(str(self.payment_id))},{_quote(self.currency)},'
                    f"{self.amount},{_quote(self.client_id)},{_quote(self.reason)}]"
                ).encode()
            except TypeError:
                pass
        return canonical(self.values(seq))


Facts = HistoryFacts | EntryFacts | RefundHistoryFacts


@dataclass(frozen=True, slots=True)
class Pending:
    """A committed record not chained yet; ``source_pos`` orders it (see the chain repository)."""

    facts: Facts
    source_pos: int


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One row of the chain: which record sits at ``seq`` and the hashes that bind it."""

    seq: int
    kind: str
    payment_id: uuid.UUID | None
    history_index: int | None
    entry_id: uuid.UUID | None
    source_pos: int
    prev_hash: bytes
    hash: bytes
    refund_id: uuid.UUID | None = None
    """Set for a refund history link (``history_index`` is then the row's index in the refund's history)."""

    @classmethod
    def make(cls, seq: int, prev_hash: bytes, pending: Pending) -> ChainLink:
        facts = pending.facts
        digest = link_hash(prev_hash, facts.record(seq))
        if isinstance(facts, HistoryFacts):
            return cls(seq, HISTORY, facts.payment_id, facts.index, None, pending.source_pos, prev_hash, digest)
        if isinstance(facts, RefundHistoryFacts):
            return cls(
                seq, REFUND_HISTORY, None, facts.index, None, pending.source_pos, prev_hash, digest, facts.refund_id
            )
        return cls(seq, ENTRY, facts.payment_id, None, facts.entry_id, pending.source_pos, prev_hash, digest)


def link_all(head_seq: int, head_hash: bytes, pending: list[Pending]) -> list[ChainLink]:
    """Chain ``pending`` after the head, in the given order."""
    links: list[ChainLink] = []
    prev = head_hash
    for offset, item in enumerate(pending, start=1):
        link = ChainLink.make(head_seq + offset, prev, item)
        links.append(link)
        prev = link.hash
    return links


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The newest link (seq 0 and GENESIS for an empty chain)."""

    seq: int
    hash: bytes
    chained_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The head hash at ``seq`` as published by the operator; ``signature`` is Ed25519 by ``key``."""

    seq: int
    hash: bytes
    at: datetime
    key: bytes | None = None
    signature: bytes | None = None
    prev: bytes | None = None
    """The digest of the checkpoint before this one (GENESIS for the first); None for a checkpoint made
    before format version 2, which names none (docs/ledger.md §3)."""

    def message(self) -> bytes:
        """The exact bytes that are signed."""
        return checkpoint_message(self.seq, self.hash, self.at, self.prev)

    def digest(self) -> bytes:
        """What the next checkpoint names as its ``prev``: SHA-256 of this one's message."""
        return hashlib.sha256(self.message()).digest()


def checkpoint_message(seq: int, digest: bytes, at: datetime, prev: bytes | None = None) -> bytes:
    """``["flosspay-checkpoint",seq,hash,at]``, and the previous checkpoint's digest last from version 2."""
    values: list[object] = [CHECKPOINT_TAG, seq, digest.hex(), format_time(at)]
    if prev is not None:
        values.append(prev.hex())
    return canonical(values)


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    """A link read back with its record recomputed from the source rows (None if they are gone)."""

    link: ChainLink
    facts: Facts | None
    problem: str | None = None


# --- export lines (JSON Lines) ---------------------------------------------------------------------


def header_line(exported_at: datetime, version: int = EXPORT_VERSION) -> bytes:
    return (
        canonical_object(
            {
                "format": EXPORT_FORMAT,
                "version": version,
                "genesis": GENESIS.hex(),
                "exportedAt": format_time(exported_at),
            }
        )
        + b"\n"
    )


def record_line(seq: int, stored_hash: bytes, record: bytes | None, problem: str | None = None) -> bytes:
    """``{"hash":…,"record":…}``: the record's canonical bytes verbatim, so a verifier can hash the slice.

    A line that carries a ``problem`` (the exporter found the source row missing, say) starts
    with it, so it never looks like the plain form.
    """
    if problem is None and record is not None:
        return b'{"hash":"' + stored_hash.hex().encode() + b'","record":' + record + b"}\n"
    body = b"null" if record is None else record
    return (
        b'{"problem":'
        + canonical_value(problem or "record missing")
        + b',"seq":%d,"hash":"' % seq
        + stored_hash.hex().encode()
        + b'","record":'
        + body
        + b"}\n"
    )


def checkpoint_line(checkpoint: Checkpoint, version: int = EXPORT_VERSION) -> bytes:
    """A checkpoint line; from version 2 with ``prev`` (null for a checkpoint made before version 2)."""
    body: dict[str, object] = {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash.hex(),
        "at": format_time(checkpoint.at),
    }
    if version >= 2:
        body["prev"] = checkpoint.prev.hex() if checkpoint.prev is not None else None
    elif checkpoint.prev is not None:
        raise ValueError("a chained checkpoint has no version-1 form")
    body["key"] = checkpoint.key.hex() if checkpoint.key is not None else None
    body["signature"] = checkpoint.signature.hex() if checkpoint.signature is not None else None
    return canonical_object({"checkpoint": body}) + b"\n"


HEAD_FORMAT = "flosspay-ledger-head"
HEAD_TAG = "flosspay-head"


def head_message(seq: int, digest: bytes, at: datetime, state: bytes) -> bytes:
    """What a head statement with a state digest signs: ``["flosspay-head",seq,hash,at,state]``."""
    return canonical([HEAD_TAG, seq, digest.hex(), format_time(at), state.hex()])


def signed_head_line(statement: Checkpoint, state: bytes | None = None) -> bytes:
    """``flosspay ledger head --signed``: the head at a moment, signed as a checkpoint is (docs/ledger.md §3).

    ``publicKey`` is the signer's raw Ed25519 public key in hex, which is also its id (spelt as the
    API and the CLI spell it; readers accept the first spelling, ``key``, too).
    """
    if statement.key is None or statement.signature is None:
        raise ValueError("a head statement is signed")
    body: dict[str, object] = {
        "format": HEAD_FORMAT,
        "seq": statement.seq,
        "hash": statement.hash.hex(),
        "at": format_time(statement.at),
    }
    if state is not None:
        body["state"] = state.hex()  # signed with head_message(); without it, as a checkpoint is
    body |= {"publicKey": statement.key.hex(), "signature": statement.signature.hex()}
    return canonical_object(body) + b"\n"


def partial_header_line(exported_at: datetime, since_seq: int, since_hash: bytes) -> bytes:
    """The header of ``export --since``: the records after ``since_seq``, the state there first."""
    return (
        canonical_object(
            {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "genesis": GENESIS.hex(),
                "exportedAt": format_time(exported_at),
                "since": {"seq": since_seq, "hash": since_hash.hex()},
            }
        )
        + b"\n"
    )


def end_line(seq: int, digest: bytes) -> bytes:
    return canonical_object({"end": {"seq": seq, "hash": digest.hex()}}) + b"\n"


def canonical_object(value: dict[str, object]) -> bytes:
    """Export framing (not hashed): compact JSON in the given key order."""
    return _dumps(value).encode()
