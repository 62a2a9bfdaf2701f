"""``flosspay dead-letters list|show|requeue``: what FlossPay gave up on, and the operator's way back.

Three kinds, listed together: parked payments and parked refunds (FlossPay's own dead letters, kept
with the payment or refund in
the database, e.g. an outcome that could not be recorded) and the broker's dead messages (Dramatiq's
``.XQ``). Requeueing either is idempotent: a second requeue finds nothing and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from flosspay.adapters.cli.main import CliError


def _container() -> Any:
    from flosspay.adapters.cli import main

    return main._container(main._settings())


def _parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _payment_view(payment: Any) -> dict[str, Any]:
    return {
        "kind": "payment",
        "paymentId": str(payment.id),
        "status": payment.status.value,
        "rail": payment.rail,
        "amount": payment.amount.format(),
        "attempts": len(payment.attempts),
        "parkedAt": payment.parked_at.isoformat() if payment.parked_at else None,
        "lastError": payment.parked_reason,
    }


def _refund_view(refund: Any) -> dict[str, Any]:
    return {
        "kind": "refund",
        "refundId": str(refund.id),
        "paymentId": str(refund.payment_id),
        "status": refund.status.value,
        "amount": refund.amount.format(),
        "attempts": len(refund.attempts),
        "parkedAt": refund.parked_at.isoformat() if refund.parked_at else None,
        "lastError": refund.parked_reason,
    }


def _letter_view(letter: Any) -> dict[str, Any]:
    return {
        "kind": "message",
        "id": letter.id,
        "paymentId": letter.payment_id,
        "retries": letter.retries,
        "diedAt": letter.died_at.isoformat() if letter.died_at else None,
        "lastError": letter.error,
    }


def _broker_letters(container: Any) -> list[Any]:
    from flosspay.adapters.worker import dead_letters

    return list(dead_letters.list_dead_letters(container.broker()))


def cmd_list(args: argparse.Namespace) -> int:
    from flosspay.application.dead_letters import parked_payments

    container = _container()
    from flosspay.application.refunds import parked_refunds

    views = [_payment_view(p) for p in parked_payments(uow_factory=container.uow_factory())]
    views += [_refund_view(r) for r in parked_refunds(uow_factory=container.uow_factory())]
    views += [_letter_view(letter) for letter in _broker_letters(container)]
    if args.json:
        print(json.dumps(views))
        return 0
    if not views:
        print("none")
        return 0
    print(f"{'KIND':<8} {'PAYMENT':<36} {'STATUS':<11} {'ATTEMPTS':>8}  {'SINCE':<32} LAST ERROR")
    for v in views:
        attempts = v["retries"] + 1 if v["kind"] == "message" else v["attempts"]
        since = v.get("parkedAt") or v.get("diedAt") or "-"
        status = v.get("status", "-")
        print(f"{v['kind']:<8} {v['paymentId'] or '-':<36} {status:<11} {attempts:>8}  {since:<32} {v['lastError']}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    container = _container()
    payment_id = _parse_id(args.id)
    if payment_id is not None:
        with container.uow_factory()() as uow:
            payment = uow.payments.get(payment_id)
        if payment is not None and payment.is_parked:
            view = _payment_view(payment) | {
                "attemptLog": [
                    {
                        "number": a.number,
                        "action": a.action,
                        "outcome": a.outcome.value,
                        "code": a.code,
                        "reason": a.reason,
                        "startedAt": a.started_at.isoformat(),
                        "finishedAt": a.finished_at.isoformat() if a.finished_at else None,
                    }
                    for a in payment.attempts
                ]
            }
            return _print_view(view, args.json)
    if payment_id is not None:
        from flosspay.application.refunds import find_refund

        refund = find_refund(payment_id, uow_factory=container.uow_factory())
        if refund is not None and refund.is_parked:
            return _print_view(_refund_view(refund), args.json)
    for letter in _broker_letters(container):
        if args.id in (letter.id, letter.message_id, letter.payment_id):
            return _print_view(_letter_view(letter), args.json)
    raise CliError(f"no dead letter {args.id!r} (`flosspay dead-letters list` shows them)")


def _print_view(view: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(view))
        return 0
    for key, value in view.items():
        if key != "attemptLog":
            print(f"{key}: {value}")
    for a in view.get("attemptLog", []):
        code = f" {a['code']}" if a["code"] else ""
        print(f"  attempt {a['number']} {a['action']}: {a['outcome']}{code} ({a['reason'] or '-'}) at {a['startedAt']}")
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    from flosspay.adapters.worker import dead_letters
    from flosspay.application.dead_letters import requeue_parked
    from flosspay.application.refunds import parked_refunds, requeue_refund

    if args.all == (args.id is not None):
        raise CliError("give one dead letter's ID, or --all")
    container = _container()
    payment_id = None if args.all else _parse_id(args.id)
    parked = refunds = 0
    uow_factory, clock = container.uow_factory(), container.clock()
    if args.all or payment_id is not None:
        parked = requeue_parked(uow_factory=uow_factory, clock=clock, payment_id=payment_id)
    if args.all:
        ids = [r.id for r in parked_refunds(uow_factory=uow_factory)]
        refunds = sum(requeue_refund(rid, uow_factory=uow_factory, clock=clock) for rid in ids)
    elif payment_id is not None:
        refunds = int(requeue_refund(payment_id, uow_factory=uow_factory, clock=clock))
    messages = dead_letters.requeue_dead_letters(container.broker(), None if args.all else args.id)
    print(f"requeued {parked} payment(s), {refunds} refund(s) and {messages} message(s)")
    return 0


def add_dead_letter_commands(sub: Any) -> None:
    """Register ``flosspay dead-letters …`` on the top-level parser's subparsers."""
    group = sub.add_parser("dead-letters", help="payments and messages FlossPay gave up on: list, show, requeue")
    commands = group.add_subparsers(dest="dead_letters_command", required=True, metavar="COMMAND")
    p = commands.add_parser("list", help="parked payments and dead broker messages, oldest first")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)
    p = commands.add_parser("show", help="one dead letter: the payment, its attempts and the last error")
    p.add_argument("id", help="a payment id (or a broker message id)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_show)
    p = commands.add_parser("requeue", help="send a dead letter (or --all) back; a second requeue changes nothing")
    p.add_argument("id", nargs="?", help="a payment id or a broker message id")
    p.add_argument("--all", action="store_true", help="every dead letter")
    p.set_defaults(handler=cmd_requeue)
