"""``flosspay webhooks …``: an operator manages a client's endpoints, reads the delivery log, redelivers.

The same use cases as the HTTP API, acting for the client named by ``--client``; output is the API's
JSON, so scripts can rely on one shape.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from flosspay.adapters.http import webhook_views as views
from flosspay.application import webhook_endpoints as uc


def _context(client_id: str) -> uc.WebhookContext:
    from flosspay.adapters.cli import main

    container = main._container(main._settings())
    with container.uow_factory()() as uow:
        if uow.clients.get(client_id) is None:
            raise main.CliError(f"no client {client_id!r} (see `flosspay clients list`)")
    context: uc.WebhookContext = container.webhook_context()
    return context


def _keyed(args: argparse.Namespace) -> uc.KeyedRequest:
    # Each CLI run is a request of its own: a fresh key (and fingerprint) every time.
    key = f"cli-{uuid.uuid4().hex}"
    return uc.KeyedRequest(args.client, key, key)


def _print(body: bytes) -> None:
    print(json.dumps(json.loads(body), indent=2))


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if getattr(args, "url", None) is not None:
        data["url"] = args.url
    if getattr(args, "events", None):
        data["events"] = [e.strip() for e in args.events.split(",") if e.strip()]
    if getattr(args, "description", None) is not None:
        data["description"] = args.description
    if getattr(args, "enable", False):
        data["enabled"] = True
    if getattr(args, "disable", False):
        data["enabled"] = False
    return data


def cmd_create(args: argparse.Namespace) -> int:
    result = uc.create_endpoint(_keyed(args), _fields(args), _context(args.client))
    _print(result.answer.body)
    print("(the secret is shown only this once)", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    _print(views.endpoints_body(uc.list_endpoints(args.client, _context(args.client))))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    _print(views.endpoint_body(uc.get_endpoint(args.client, args.endpoint_id, _context(args.client))))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    _print(views.endpoint_body(uc.update_endpoint(args.client, args.endpoint_id, _fields(args), _context(args.client))))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    uc.delete_endpoint(args.client, args.endpoint_id, _context(args.client))
    print(f"deleted {args.endpoint_id}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    _print(uc.rotate_secret(_keyed(args), args.endpoint_id, _context(args.client)).answer.body)
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    _print(views.events_body(uc.list_events(args.client, args.payment, _context(args.client))))
    return 0


def cmd_attempts(args: argparse.Namespace) -> int:
    _print(views.attempts_body(uc.event_attempts(args.client, args.event_id, _context(args.client))))
    return 0


def cmd_redeliver(args: argparse.Namespace) -> int:
    _print(uc.redeliver_event(_keyed(args), args.event_id, _context(args.client)).answer.body)
    return 0


def add_webhook_commands(sub: Any) -> None:
    """Register ``flosspay webhooks …`` on the main parser's subcommands."""
    webhooks = sub.add_parser("webhooks", help="webhook endpoints, the delivery log, redelivery")
    commands = webhooks.add_subparsers(dest="webhooks_command", required=True)

    def client(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--client", required=True, help="the client (merchant) id the endpoints belong to")
        return p

    endpoints = commands.add_parser("endpoints", help="a client's webhook endpoints")
    ep = endpoints.add_subparsers(dest="endpoints_command", required=True)
    p = client(ep.add_parser("create", help="register an endpoint; prints its secret once"))
    p.add_argument("url", help="where to send events (https unless FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS)")
    p.add_argument("--events", help="comma-separated event types (default: all)")
    p.add_argument("--description", help="a note for yourself (up to 200 characters)")
    p.set_defaults(handler=cmd_create)
    client(ep.add_parser("list", help="list endpoints (never their secrets)")).set_defaults(handler=cmd_list)
    p = client(ep.add_parser("show", help="one endpoint"))
    p.add_argument("endpoint_id", help="the endpoint's id")
    p.set_defaults(handler=cmd_show)
    p = client(ep.add_parser("update", help="change url, events, description, or enable/disable"))
    p.add_argument("endpoint_id", help="the endpoint's id")
    p.add_argument("--url", help="a new URL")
    p.add_argument("--events", help="comma-separated event types (replaces the list)")
    p.add_argument("--description", help="a note for yourself (up to 200 characters)")
    toggle = p.add_mutually_exclusive_group()
    toggle.add_argument("--enable", action="store_true", help="send events to it again")
    toggle.add_argument("--disable", action="store_true", help="stop sending events to it")
    p.set_defaults(handler=cmd_update)
    p = client(ep.add_parser("delete", help="delete an endpoint"))
    p.add_argument("endpoint_id", help="the endpoint's id")
    p.set_defaults(handler=cmd_delete)
    p = client(ep.add_parser("rotate-secret", help="new secret; the old one signs too during the overlap"))
    p.add_argument("endpoint_id", help="the endpoint's id")
    p.set_defaults(handler=cmd_rotate)

    p = client(commands.add_parser("events", help="the delivery log: events with their deliveries"))
    p.add_argument("--payment", help="only this payment's events")
    p.set_defaults(handler=cmd_events)
    p = client(commands.add_parser("attempts", help="every attempt of one event"))
    p.add_argument("event_id", help="the event's id (msg_…)")
    p.set_defaults(handler=cmd_attempts)
    p = client(commands.add_parser("redeliver", help="send an event again to every subscribed endpoint"))
    p.add_argument("event_id", help="the event's id (msg_…)")
    p.set_defaults(handler=cmd_redeliver)
