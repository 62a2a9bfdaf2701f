"""``flosspay ledger …``: verify the chain (live or an export), export it, checkpoint, keys, balances,
and put mistakes right with a reversal or a correction (new entries; nothing is ever changed).

``verify --file`` reads no settings and opens no database: an auditor runs it on an export with
nothing but the installed package (or ``python -m flosspay.ledger_verify``).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flosspay import ledger_verify
from flosspay.adapters.cli.main import CliError as LedgerCliError

if TYPE_CHECKING:
    from flosspay.domain.ledger import JournalEntry, Posting


def _container() -> Any:
    """The composition root, once the database is known to have the current schema."""
    from flosspay.adapters.cli import main

    return main._container(main._settings())


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        if args.file is not None:
            return ledger_verify.run(args.file, args, sys.stdout, sys.stderr)
        if args.start is not None:
            raise LedgerCliError("--from verifies a partial export: give it with --file PART")
        return _verify_database(args)
    except ledger_verify.UsageError as exc:
        raise LedgerCliError(str(exc)) from None


def _verify_database(args: argparse.Namespace) -> int:
    from flosspay.adapters.ledger_signing import verify_signature
    from flosspay.application.ledger_audit import verify_database
    from flosspay.ledger_verify import describe

    keys = [ledger_verify.parse_public_key(k) for k in args.public_key]
    expected = dict(ledger_verify.parse_expected_head(e) for e in args.expect)
    container = _container()
    signer = container.ledger_signer()
    if signer is not None and not keys:
        keys = [signer.public_key]  # the operator's own key: every checkpoint must carry it
    expected.update(ledger_verify.parse_signed_head(h, keys, verify_signature) for h in args.head)
    report = verify_database(
        uow_factory=container.uow_factory(),
        clock=container.clock(),
        check_signature=verify_signature,
        trusted_keys=keys,
        expected_heads=expected,
        progress=None if args.quiet else ledger_verify.progress_printer(sys.stderr),
        chain_first=not args.no_chain,
        signer=signer,
    )
    print(describe(report))
    unfinished_ok = _report_unfinished(container, args.stuck_after)
    return 0 if report.ok and unfinished_ok else 1


def _report_unfinished(container: Any, stuck_after_seconds: float | None) -> bool:
    """Payments no FlossPay path is still carrying: stuck ones, and parked ones waiting for an operator.

    A payment debited but never recorded would leave the ledger itself consistent; this is what
    keeps it from hiding behind "ledger OK".
    """
    from datetime import timedelta

    from flosspay.application.dead_letters import count_parked, count_parked_refunds, stuck_after, stuck_payments

    settings = container.settings()
    if stuck_after_seconds is not None:
        untouched_for = timedelta(seconds=stuck_after_seconds)
    else:
        untouched_for = stuck_after(settings.processing, timedelta(milliseconds=settings.worker.max_backoff_ms))
    uow_factory = container.uow_factory()
    stuck = stuck_payments(uow_factory=uow_factory, clock=container.clock(), untouched_for=untouched_for)
    parked = count_parked(uow_factory=uow_factory)
    parked_refunds = count_parked_refunds(uow_factory=uow_factory)
    for payment in stuck[:20]:
        print(f"STUCK: payment {payment.id} is {payment.status} and unchanged since {payment.updated_at.isoformat()}")
    if stuck:
        print(f"{len(stuck)} payment(s) not final {untouched_for} after their last change: nothing is carrying them")
    if parked:
        print(f"{parked} payment(s) dead-lettered, waiting for an operator: flosspay dead-letters list")
    if parked_refunds:
        print(f"{parked_refunds} refund(s) dead-lettered, waiting for an operator: flosspay dead-letters list")
    return not stuck and not parked and not parked_refunds


def cmd_export(args: argparse.Namespace) -> int:
    from flosspay.application.ledger_audit import export_lines, export_since
    from flosspay.domain.ledger import LedgerError

    if args.upto is not None and args.since is None:
        raise LedgerCliError("--upto goes with --since")
    container = _container()
    if args.since is not None:
        if args.since < 0:
            raise LedgerCliError("--since wants a sequence number of 0 or more")
        import itertools

        part = export_since(args.since, uow_factory=container.uow_factory(), clock=container.clock(), upto=args.upto)
        try:
            first = next(part)  # the state is taken first: an unverifiable chain fails before anything is written
        except LedgerError as exc:
            raise LedgerCliError(str(exc)) from None
        lines: Iterator[bytes] = itertools.chain([first], part)
    else:
        lines = export_lines(uow_factory=container.uow_factory(), clock=container.clock())
    count = 0
    if args.file == "-":
        out = sys.stdout.buffer
        for line in lines:
            out.write(line)
            count += 1
        out.flush()
    else:
        path = Path(args.file)
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("wb") as handle:
                for line in lines:
                    handle.write(line)
                    count += 1
            partial.replace(path)  # a reader never sees half an export under the final name
        except OSError as exc:
            raise LedgerCliError(f"cannot write {path}: {exc.strerror}") from None
        print(f"exported the chain to {path} ({max(count - 2, 0)} records and checkpoints)", file=sys.stderr)
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from flosspay.application.ledger_chain import checkpoint_now
    from flosspay.application.ledger_head import checkpoint_view

    container = _container()
    checkpoint = checkpoint_now(
        uow_factory=container.uow_factory(), clock=container.clock(), signer=container.ledger_signer()
    )
    view = checkpoint_view(checkpoint)
    if args.json:
        import msgspec

        print(msgspec.json.encode(view).decode())
    else:
        signed = f"signed by {view.public_key}" if view.signature else "unsigned (no FLOSSPAY_LEDGER_SIGNING_KEY)"
        print(f"checkpoint at seq {view.seq}: {view.hash} ({signed})")
    return 0


def cmd_head(args: argparse.Namespace) -> int:
    import msgspec

    from flosspay.application.ledger_chain import chain_all
    from flosspay.application.ledger_head import ledger_head

    container = _container()
    signer = container.ledger_signer() if args.signed else None
    if args.signed and signer is None:
        raise LedgerCliError("--signed needs the operator's key: set FLOSSPAY_LEDGER_SIGNING_KEY")
    chain_all(uow_factory=container.uow_factory(), clock=container.clock(), policy=container.chain_policy())
    head = ledger_head(uow_factory=container.uow_factory())
    if signer is not None:
        from flosspay.application.ledger_audit import state_at
        from flosspay.domain.chain import Checkpoint, head_message, signed_head_line
        from flosspay.domain.ledger import LedgerError
        from flosspay.ledger_verify.snapshot import state_digest

        try:
            _, lines = state_at(head.seq, uow_factory=container.uow_factory(), clock=container.clock())
        except LedgerError as exc:
            raise LedgerCliError(f"not signing: {exc}") from None
        state = state_digest(lines)
        at = container.clock().now()
        digest = bytes.fromhex(head.hash)
        signature = signer.sign(head_message(head.seq, digest, at, state))
        statement = Checkpoint(head.seq, digest, at, signer.public_key, signature)
        print(signed_head_line(statement, state).decode(), end="")
        return 0
    print(msgspec.json.encode(head).decode() if args.json else f"{head.seq}:{head.hash}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from flosspay.adapters.ledger_signing import SigningKeyError, generate_key_file

    try:
        public = generate_key_file(Path(args.file))
    except SigningKeyError as exc:
        raise LedgerCliError(str(exc)) from None
    print(f"wrote an Ed25519 private key to {args.file} (keep it secret; set FLOSSPAY_LEDGER_SIGNING_KEY to it)")
    print(f"public key (publish it for auditors): {public.hex()}")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    from flosspay.domain.money import CURRENCY_EXPONENTS, Money

    as_of = None
    if args.as_of:
        try:
            as_of = datetime.fromisoformat(args.as_of)
        except ValueError:
            raise LedgerCliError(f"--as-of wants an ISO 8601 time, got {args.as_of!r}") from None
        if as_of.tzinfo is None:
            raise LedgerCliError("--as-of needs a time zone, e.g. 2026-01-31T23:59:59Z")
    container = _container()
    with container.uow_factory()() as uow:
        totals = uow.ledger.balance(args.account, as_of)
    if args.json:
        print(json.dumps({"account": args.account, "balances": totals}))
        return 0
    if not totals:
        print(f"{args.account}: no postings")
    for currency, minor in sorted(totals.items()):
        shown = Money(minor, currency).format() if currency in CURRENCY_EXPONENTS else f"{minor} (minor units)"
        print(f"{args.account}: {shown} {currency}")
    return 0


def _entry_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise LedgerCliError(f"ENTRY_ID must be a journal entry id (a UUID), got {text!r}") from None


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    from flosspay.domain.chain import format_time

    return {
        "id": str(entry.id),
        "kind": entry.kind.value,
        "postedAt": format_time(entry.posted_at),
        "paymentId": str(entry.payment_id) if entry.payment_id else None,
        "refEntryId": str(entry.ref_entry_id) if entry.ref_entry_id else None,
        "description": entry.description,
        "postings": [
            {
                "account": p.account,
                "amount": p.amount.format(),
                "currency": p.amount.currency,
                "minor": p.amount.minor,
            }
            for p in entry.postings
        ],
    }


def _print_entry(entry: JournalEntry, as_json: bool, referencing: list[JournalEntry] | None = None) -> None:
    shown = _entry_json(entry)
    if as_json:
        if referencing is not None:
            shown["referencedBy"] = [{"id": str(e.id), "kind": e.kind.value} for e in referencing]
        print(json.dumps(shown))
        return
    about = f"payment {shown['paymentId']}" if shown["paymentId"] else "no payment"
    if shown["refEntryId"]:
        about += f", {entry.kind.value} of entry {shown['refEntryId']}"
    print(f"entry {shown['id']} ({entry.kind.value}, posted {shown['postedAt']}; {about})")
    print(f"  {entry.description}")
    width = max(len(p["account"]) for p in shown["postings"])
    for posting in shown["postings"]:
        print(f"  {posting['account']:<{width}}  {posting['amount']:>14} {posting['currency']}")
    for other in referencing or []:
        done = {"reversal": "reversed", "refund": "refunded"}.get(other.kind.value, "corrected")
        print(f"  {done} by entry {other.id}")


def cmd_entry(args: argparse.Namespace) -> int:
    entry_id = _entry_id(args.entry_id)
    container = _container()
    with container.uow_factory()() as uow:
        entry = uow.ledger.get(entry_id)
        referencing = uow.ledger.entries_referencing(entry_id) if entry is not None else []
    if entry is None:
        raise LedgerCliError(f"no journal entry {entry_id}")
    _print_entry(entry, args.json, referencing)
    return 0


def cmd_reverse(args: argparse.Namespace) -> int:
    from flosspay.application.ledger_corrections import reverse_entry

    entry_id = _entry_id(args.entry_id)
    container = _container()
    reversal = reverse_entry(entry_id, args.reason, uow_factory=container.uow_factory(), clock=container.clock())
    if not args.json:
        print(f"posted a reversal of entry {entry_id}:")
    _print_entry(reversal, args.json)
    return 0


def _postings(given: list[list[str]]) -> list[Posting]:
    """``--posting ACCOUNT AMOUNT CURRENCY`` → postings; amounts are signed decimals in major units."""
    from flosspay.domain.chain import canonical_account
    from flosspay.domain.ledger import Posting
    from flosspay.domain.money import parse_currency, parse_money

    postings = []
    for given_account, amount, currency in given:
        field = f"--posting {given_account}"
        account = canonical_account(given_account)  # %c3%a9 -> %C3%A9, %41 -> A (docs/ledger.md §1)
        if account is None:
            raise LedgerCliError(
                f"{field}: not an account name (segments joined by ':', each of A-Z a-z 0-9 . _ ~ @ - or %XX)"
            )
        negative = amount.startswith("-")
        digits = amount[1:] if negative else amount
        if digits and not digits.strip("0."):
            raise LedgerCliError(f"{field}: a posting moves a non-zero amount, got {amount!r}")
        money = parse_money(digits, parse_currency(currency, field), field=field)
        postings.append(Posting(account, -money if negative else money))
    return postings


def cmd_correct(args: argparse.Namespace) -> int:
    from flosspay.application.ledger_corrections import correct_entry

    entry_id = _entry_id(args.entry_id)
    postings = _postings(args.posting)
    container = _container()
    correction = correct_entry(
        entry_id, args.reason, postings, uow_factory=container.uow_factory(), clock=container.clock()
    )
    if not args.json:
        print(f"posted a correction of entry {entry_id}:")
    _print_entry(correction, args.json)
    return 0


def add_ledger_commands(sub: Any) -> None:
    """Register ``flosspay ledger …`` on the top-level parser's subparsers."""
    ledger = sub.add_parser("ledger", help="the verifiable ledger: verify, export, checkpoint")
    commands = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "verify",
        help="re-hash the whole chain and check balances and status paths; exit 1 at the first bad record",
        description="Verify the live database (default) or an export (--file, needs no database or settings).",
    )
    p.add_argument("--file", type=Path, help="verify this export instead of the database ('-' for stdin)")
    p.add_argument("--no-chain", action="store_true", help="do not chain pending records before verifying")
    p.add_argument(
        "--stuck-after",
        type=float,
        metavar="SECONDS",
        help="report unfinished payments unchanged this long (default: twice every attempt's lease, backoff, sweep)",
    )
    ledger_verify.add_arguments(p)
    p.set_defaults(handler=cmd_verify)

    p = commands.add_parser("export", help="write the chain as JSON Lines (verify it with `verify --file`)")
    p.add_argument("file", help="output file ('-' for stdout)")
    p.add_argument(
        "--since",
        type=int,
        metavar="SEQ",
        help="only the records after SEQ, with the verifier's state there (verify it with `--from HEAD`)",
    )
    p.add_argument(
        "--upto",
        type=int,
        metavar="SEQ",
        help="with --since: end at SEQ (a signed head's), so `verify --head` checks its state at the end",
    )
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("checkpoint", help="record (and sign) a checkpoint of the chain head now")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_checkpoint)

    p = commands.add_parser("head", help="print the chain head as SEQ:HASH (--signed: a signed statement of it)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--signed",
        action="store_true",
        help="print a head statement signed with FLOSSPAY_LEDGER_SIGNING_KEY, naming the verified state there "
        "(for `verify --file F --head FILE`, and `verify --file PART --from FILE` of `export --since SEQ`)",
    )
    p.set_defaults(handler=cmd_head)

    p = commands.add_parser("keygen", help="create an Ed25519 key for signing checkpoints")
    p.add_argument("file", help="where to write the private key (PEM, mode 0600)")
    p.set_defaults(handler=cmd_keygen)

    p = commands.add_parser("balance", help="an account's balance per currency, derived from the entries")
    p.add_argument("account", help="e.g. upi:vpa:alice@upi, upi:clearing, merchant:cl_…")
    p.add_argument("--as-of", help="only entries posted at or before this time (ISO 8601 with zone)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_balance)

    p = commands.add_parser(
        "entry", help="show a journal entry, its postings and what reverses, corrects or refunds it"
    )
    p.add_argument("entry_id", metavar="ENTRY_ID", help="a journal entry id (a completed payment's ledgerEntryId)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_entry)

    p = commands.add_parser(
        "reverse",
        help="post the reversal of an entry (every posting negated); an entry is reversed at most once",
        description="Undo a journal entry by a new entry that negates each of its postings and references it. "
        "A payment refunded in part is reversed for what its refunds left, and no refund is accepted after it; "
        "it is refused while a refund of the payment is pending or processing.",
    )
    p.add_argument("entry_id", metavar="ENTRY_ID", help="a journal entry id (a completed payment's ledgerEntryId)")
    p.add_argument("--reason", required=True, help="why (recorded as the reversal's description)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_reverse)

    p = commands.add_parser(
        "correct",
        help="post a balanced correction that references an entry (a fee taken afterwards, say)",
        description="Adjust a journal entry by a new balanced entry that references it.",
    )
    p.add_argument("entry_id", metavar="ENTRY_ID", help="a journal entry id (a completed payment's ledgerEntryId)")
    p.add_argument(
        "--posting",
        nargs=3,
        action="append",
        required=True,
        metavar=("ACCOUNT", "AMOUNT", "CURRENCY"),
        help="one line of the entry, e.g. --posting merchant:cl_x -1.50 INR (repeat; they must balance)",
    )
    p.add_argument("--reason", required=True, help="why (recorded as the correction's description)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_correct)
