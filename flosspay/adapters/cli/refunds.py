"""``flosspay refunds list --payment ID|--parked``, ``show ID``, ``requeue ID``: an operator's view of refunds."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from flosspay.adapters.cli.main import CliError


def _container() -> Any:
    from flosspay.adapters.cli import main

    return main._container(main._settings())


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise CliError(f"{what} {raw!r} is not a UUID") from None


def _view(refund: Any, detail: bool = False) -> dict[str, Any]:
    from flosspay.domain.ledger import refund_entry_id
    from flosspay.domain.refund import RefundStatus

    view: dict[str, Any] = {
        "id": str(refund.id),
        "paymentId": str(refund.payment_id),
        "clientId": refund.client_id,
        "amount": refund.amount.format(),
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "reason": refund.reason,
        "createdAt": refund.created_at.isoformat(),
        "updatedAt": refund.updated_at.isoformat(),
        "attempts": len(refund.attempts),
        "failureCode": refund.failure_code,
        "failureReason": refund.failure_reason,
        "parkedReason": refund.parked_reason,
        "ledgerEntryId": str(refund_entry_id(refund.id)) if refund.status is RefundStatus.SUCCEEDED else None,
    }
    if detail:
        view["history"] = [
            {
                "from": h.from_status.value if h.from_status else None,
                "to": h.to_status.value,
                "at": h.at.isoformat(),
                "reason": h.reason,
                "attempt": h.attempt,
            }
            for h in refund.history
        ]
        view["attemptLog"] = [
            {
                "number": a.number,
                "action": a.action,
                "outcome": a.outcome.value,
                "code": a.code,
                "reason": a.reason,
                "startedAt": a.started_at.isoformat(),
                "finishedAt": a.finished_at.isoformat() if a.finished_at else None,
            }
            for a in refund.attempts
        ]
    return view


def cmd_list(args: argparse.Namespace) -> int:
    from flosspay.application.refunds import parked_refunds, refunds_of_payment

    if (args.payment is None) == (not args.parked):
        raise CliError("give --payment ID, or --parked")
    container = _container()
    if args.parked:
        views = [_view(r) for r in parked_refunds(uow_factory=container.uow_factory())]
    else:
        payment_id = _uuid(args.payment, "payment")
        with container.uow_factory()() as uow:
            payment = uow.payments.get(payment_id)
        if payment is None:
            raise CliError(f"no payment {args.payment!r}")
        views = [_view(r) for r in refunds_of_payment(payment_id, uow_factory=container.uow_factory())]
    if args.json:
        print(json.dumps(views))
        return 0
    if not views:
        print("none")
        return 0
    print(f"{'REFUND':<36} {'STATUS':<10} {'AMOUNT':>14} {'CUR':<3}  {'CREATED':<32} REASON")
    for v in views:
        amount = f"{v['amount']:>14} {v['currency']:<3}"
        print(f"{v['id']:<36} {v['status']:<10} {amount}  {v['createdAt']:<32} {v['reason'] or '-'}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from flosspay.application.refunds import find_refund

    refund_id = _uuid(args.id, "refund")
    refund = find_refund(refund_id, uow_factory=_container().uow_factory())
    if refund is None:
        raise CliError(f"no refund {args.id!r} (`flosspay refunds list --payment ID` lists a payment's refunds)")
    view = _view(refund, detail=True)
    if args.json:
        print(json.dumps(view))
        return 0
    for key, value in view.items():
        if key not in ("history", "attemptLog"):
            print(f"{key}: {value if value is not None else '-'}")
    for h in view["history"]:
        print(f"  {h['from'] or '-'} -> {h['to']} at {h['at']}: {h['reason']}")
    for a in view["attemptLog"]:
        code = f" {a['code']}" if a["code"] else ""
        print(f"  attempt {a['number']} {a['action']}: {a['outcome']}{code} ({a['reason'] or '-'}) at {a['startedAt']}")
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    from flosspay.application.refunds import requeue_refund

    refund_id = _uuid(args.id, "refund")
    container = _container()
    done = requeue_refund(refund_id, uow_factory=container.uow_factory(), clock=container.clock())
    print(f"requeued {1 if done else 0} refund(s)")
    return 0


def add_refund_commands(sub: Any) -> None:
    """Register ``flosspay refunds …`` on the top-level parser's subparsers."""
    group = sub.add_parser("refunds", help="refunds of payments: list a payment's, show one")
    commands = group.add_subparsers(dest="refunds_command", required=True, metavar="COMMAND")
    p = commands.add_parser("list", help="a payment's refunds (or the dead-lettered ones), oldest first")
    p.add_argument("--payment", metavar="ID", help="the payment id")
    p.add_argument("--parked", action="store_true", help="refunds parked for an operator (money may have moved)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)
    p = commands.add_parser("show", help="one refund with its history and attempts at the rail")
    p.add_argument("id", help="the refund id")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_show)
    p = commands.add_parser("requeue", help="send a parked refund back (the rail is asked under the same reference)")
    p.add_argument("id", help="the refund id")
    p.set_defaults(handler=cmd_requeue)
