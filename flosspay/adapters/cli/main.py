"""``flosspay``: run the API, the worker or both; manage the database, clients and rails; sign requests.

Every failure is one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flosspay import __version__

log = logging.getLogger("flosspay")


class CliError(Exception):
    """A one-line message for the user; exit status 1."""


def _settings(args: argparse.Namespace | None = None):  # type: ignore[no-untyped-def]
    from flosspay.adapters.config import load_settings

    env = dict(os.environ)
    if args is not None:
        if getattr(args, "port", None) is not None:
            env["FLOSSPAY_PORT"] = str(args.port)
        if getattr(args, "host", None):
            env["FLOSSPAY_HOST"] = args.host
    return load_settings(env)


def _container(settings, start_sandboxes: bool = False, check_schema: bool = True):  # type: ignore[no-untyped-def]
    from flosspay.adapters.container import Container

    if check_schema:
        _require_schema(settings.database.url)
    return Container(settings=settings, start_sandboxes=start_sandboxes)


def _require_free_port(host: str, port: int, flag: str = "--port") -> None:
    """Fail in one line before starting anything if the HTTP port is taken."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror} (choose another with {flag})") from None


def _require_schema(url: str) -> None:
    """Refuse to run against a database whose schema is missing or older than this FlossPay."""
    from flosspay.adapters.persistence.migrate import current, head

    found = current(url)
    if found != head():
        state = "has no FlossPay schema" if found is None else f"is at schema {found}, this FlossPay needs {head()}"
        raise CliError(f"the database {state}; run `flosspay db upgrade` first")


def _logging(settings) -> None:  # type: ignore[no-untyped-def]
    """Every process logs the same way: JSON lines, or a console line on a terminal (adapters/logs.py)."""
    from flosspay.adapters.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)


def _port(text: str) -> int:
    """An argparse type: a TCP port, so ``--port 99999`` is refused as ``--port``, not as a setting."""
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--workers 0`` would serve nothing)."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


# --- commands ---------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from flosspay.adapters.container import secret_box_for
    from flosspay.adapters.persistence.migrate import upgrade

    settings = _settings()
    applied = upgrade(settings.database.url, secret_box_for(settings))
    where = _redact(settings.database.url)
    if not applied:
        print(f"database already up to date ({where})")
        return 0
    for migration in applied:
        print(f"applied {migration}")
    print(f"database upgraded to {applied[-1].split()[0]} ({where}; {len(applied)} migration(s) applied)")
    return 0


def cmd_clients_create(args: argparse.Namespace) -> int:
    from flosspay.application.clients import create_client, rate_limit

    limit = rate_limit(args.rate, args.burst)
    container = _container(_settings())
    client = create_client(args.name, uow_factory=container.uow_factory(), clock=container.clock(), limit=limit)
    if args.json:
        print(json.dumps({"clientId": client.client_id, "secret": client.secret}))
    else:
        print(f"clientId: {client.client_id}\nsecret:   {client.secret}\n(the secret is shown only this once)")
    return 0


def cmd_clients_update(args: argparse.Namespace) -> int:
    from flosspay.application.clients import update_client_limit

    if args.rate is None and args.burst is None:
        raise CliError("nothing to change: give --rate and/or --burst")
    container = _container(_settings())
    client = update_client_limit(args.client_id, rate=args.rate, burst=args.burst, uow_factory=container.uow_factory())
    print(f"{client.client_id}: rate {client.limit.rate:g}/s, burst {client.limit.burst}")
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    from flosspay.application.clients import list_clients

    container = _container(_settings())
    clients = list_clients(uow_factory=container.uow_factory())
    rows = [
        {
            "clientId": c.client_id,
            "name": c.name,
            "active": c.active,
            "createdAt": c.created_at.isoformat(),
            "rate": c.limit.rate,
            "burst": c.limit.burst,
        }
        for c in clients
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            state = "active" if row["active"] else "inactive"
            limit = f"{row['rate']:g}/s burst {row['burst']}"
            print(f"{row['clientId']}  {row['name']}  {state}  {limit}  {row['createdAt']}")
    return 0


def cmd_clients_rotate_secret(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from flosspay.application.clients import rotate_client_secret

    container = _container(_settings())
    overlap = timedelta(hours=args.overlap_hours)
    client = rotate_client_secret(
        args.client_id, uow_factory=container.uow_factory(), clock=container.clock(), overlap=overlap
    )
    until = client.previous_secret_expires_at.isoformat() if client.previous_secret_expires_at else None
    if args.json:
        print(json.dumps({"clientId": client.client_id, "secret": client.secret, "previousSecretValidUntil": until}))
    else:
        old = f"the old secret is accepted until {until}" if until else "the old secret is no longer accepted"
        print(f"clientId: {client.client_id}\nsecret:   {client.secret}\n(shown only this once; {old})")
    return 0


def cmd_clients_disable(args: argparse.Namespace) -> int:
    from flosspay.application.clients import disable_client

    container = _container(_settings())
    client = disable_client(args.client_id, uow_factory=container.uow_factory())
    print(f"client {client.client_id} is disabled (running API processes refuse it within 30 s)")
    return 0


def cmd_secret_key_rotate(args: argparse.Namespace) -> int:
    from flosspay.adapters.cli.secret_key import rotate_secret_key

    settings = _settings()
    _require_schema(settings.database.url)
    print(rotate_secret_key(settings))
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from flosspay.adapters.cli.signing import curl_command, signed_headers

    client_id = args.client_id or os.environ.get("FLOSSPAY_CLIENT_ID")
    secret = args.secret or os.environ.get("FLOSSPAY_CLIENT_SECRET")
    if not client_id or not secret:
        raise CliError("need --client-id and --secret (or FLOSSPAY_CLIENT_ID and FLOSSPAY_CLIENT_SECRET)")
    if args.body_file:
        try:
            body = sys.stdin.buffer.read() if args.body_file == "-" else Path(args.body_file).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read body file: {exc.strerror}: {args.body_file}") from None
    else:
        body = (args.body or "").encode()
    if not args.path.startswith("/"):
        raise CliError("PATH must start with / (for example /api/v1/pay)")
    headers = signed_headers(
        client_id=client_id,
        secret=secret,
        method=args.method,
        path=args.path,
        body=body,
        idempotency_key=args.idempotency_key or "",
        timestamp=args.timestamp,
    )
    if args.format == "curl":
        print(curl_command(args.url, args.method, args.path, headers, body))
    elif args.format == "json":
        print(json.dumps(headers))
    else:
        for name, value in headers.items():
            print(f"{name}: {value}")
    return 0


def _breaker_states(settings: Any, registry: Any) -> dict[str, Any]:
    """Rail name → its breaker view; shared breakers live in Redis, the embedded server's in its process."""
    from flosspay.adapters.breaker_store import RedisBreakerStore
    from flosspay.adapters.clock import SystemClock
    from flosspay.application.breakers import CircuitBreakers
    from flosspay.application.rail_status import breaker_view

    if settings.broker.redis_url is None:
        return {}
    logging.getLogger("flosspay.breaker").setLevel(logging.CRITICAL)  # UNKNOWN in the table says it
    store = RedisBreakerStore(settings.broker.redis_url, settings.broker.namespace)
    try:
        breakers = CircuitBreakers(store, SystemClock(), settings.breakers)
        return {info.name: breaker_view(breakers, info.name) for info in registry.infos if info.enabled}
    finally:
        store.close()


def cmd_rails_list(args: argparse.Namespace) -> int:
    from flosspay.adapters.rails import RailLoader

    settings = _settings()
    logging.getLogger("flosspay.adapters.rails").setLevel(logging.CRITICAL)  # the table says it all
    loader = RailLoader()
    registry = loader.build({k: dict(v) for k, v in settings.rails.per_rail.items()}, settings.rails.enabled)
    breakers = _breaker_states(settings, registry)
    flows = {r.name: sorted(f.value for f in r.flows) for r in registry.all()}
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "distribution": i.distribution,
                        "version": i.version,
                        "enabled": i.enabled,
                        "method": i.method,
                        "flows": flows.get(i.name, []),
                        "breaker": _jsonable(breakers[i.name]) if breakers.get(i.name) else None,
                        "error": i.error,
                    }
                    for i in registry.infos
                ]
            )
        )
        return 0
    if not registry.infos:
        print("no rails installed (pip install flosspay-upi, for example)")
        return 0
    # Without Redis the breakers live inside `flosspay serve`: GET /api/v1/rails shows them.
    print(f"{'NAME':<10} {'METHOD':<8} {'FLOWS':<12} {'BREAKER':<10} {'STATE':<9} {'DISTRIBUTION'} VERSION")
    for info in registry.infos:
        state = "enabled" if info.enabled else ("FAILED" if info.error else "disabled")
        view = breakers.get(info.name)
        breaker = view.state if view is not None else ("in-process" if info.enabled else "-")
        rail_flows = ",".join(flows.get(info.name, [])) or "-"
        line = (
            f"{info.name:<10} {info.method or '-':<8} {rail_flows:<12} {breaker:<10} {state:<9} "
            f"{info.distribution or '-'} {info.version or '-'}"
        )
        print(line + (f"  ({info.error})" if info.error else ""))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flosspay.adapters.cli.serve import serve

    settings = _settings(args)
    _logging(settings)
    _require_free_port(settings.http.host, settings.http.port)
    return serve(settings, _container(settings, start_sandboxes=True, check_schema=False))


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from flosspay.adapters.http.bounded_server import uvicorn_options

    settings = _settings(args)
    _logging(settings)
    if args.port is not None:
        os.environ["FLOSSPAY_PORT"] = str(args.port)
    if args.host:
        os.environ["FLOSSPAY_HOST"] = args.host
    _require_schema(settings.database.url)
    _require_free_port(settings.http.host, settings.http.port)
    workers = args.workers or settings.http.workers
    if workers > 1 and settings.observability.metrics_path:
        _multiprocess_metrics(settings)
    uvicorn.run(
        "flosspay.adapters.asgi:create_asgi_app",
        factory=True,
        host=settings.http.host,
        port=settings.http.port,
        workers=workers,
        log_level="warning",
        log_config=None,  # uvicorn's own format drops timestamp and level in worker processes: ours is used
        access_log=False,
        **uvicorn_options(settings.http, in_process=False),
    )
    return 0


def _multiprocess_metrics(settings) -> None:  # type: ignore[no-untyped-def]
    """Several API processes behind one port: prometheus-client adds up their samples from files in one directory.

    Set before the API processes start (they read it when they import prometheus-client); emptied
    first, so a restart does not add the previous run's counts.
    """
    import shutil

    directory = settings.observability.multiprocess_dir or (settings.data_dir / "metrics" / f"api-{os.getpid()}")
    if directory.exists() and settings.observability.multiprocess_dir is None:
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from flosspay.adapters.cli.sandbox import SandboxError, print_env, run_sandboxes

    settings = _settings()
    logging.getLogger("flosspay.adapters.rails").setLevel(logging.CRITICAL)  # failures are reported below
    try:
        if args.print_env:
            return print_env(settings)
        return run_sandboxes(settings, args.rail, args.host, args.port)
    except SandboxError as exc:
        raise CliError(str(exc)) from None


def cmd_worker(args: argparse.Namespace) -> int:
    from flosspay.adapters.startup import log_startup
    from flosspay.adapters.worker.processes import default_processes, die_with_parent
    from flosspay.adapters.worker.runner import run_worker

    settings = _settings()
    _logging(settings)
    if settings.broker.url is None:
        raise CliError(
            "flosspay worker needs FLOSSPAY_REDIS_URL or FLOSSPAY_BROKER_URL "
            "(the embedded queue lives inside `flosspay serve`)"
        )
    _lower_priority(settings.worker.nice)
    processes = args.processes or settings.worker.processes or default_processes()
    if processes > 1:
        return _worker_processes(args, settings, processes)
    die_with_parent()  # a child of `--processes N`: gone with its supervisor
    container = _container(settings)
    log_startup("worker", settings, container.rails())
    if args.metrics_port is not None:
        from flosspay.adapters.metrics import serve_metrics

        _require_free_port(settings.http.host, args.metrics_port, "--metrics-port")
        serve_metrics(args.metrics_port, settings.http.host)
        log.info("flosspay worker metrics on http://%s:%d/metrics", settings.http.host, args.metrics_port)
    return run_worker(
        container.worker_services(),
        container.broker(),
        args.threads or settings.worker.threads,
        chainer=container.chainer(),
        webhooks=container.webhook_delivery(),
    )


def _lower_priority(nice: int) -> None:
    """Run at niceness ``nice`` (FLOSSPAY_WORKER_NICE): absolute, so the children of ``--processes`` do not
    add theirs to the parent's, and never raised back if the process was started nicer still."""
    if nice > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        log.info("flosspay worker: running at nice %d", nice)


def _worker_processes(args: argparse.Namespace, settings, processes: int) -> int:  # type: ignore[no-untyped-def]
    """The supervising parent of ``flosspay worker --processes N`` (adapters/worker/processes.py)."""
    from flosspay.adapters.worker.processes import Supervisor, child_command, run_supervisor, spawn_child

    _require_schema(settings.database.url)  # fail in one line here, not in a restart loop of children
    env = dict(os.environ)
    on_exit = None
    if args.metrics_port is not None:
        _require_free_port(settings.http.host, args.metrics_port, "--metrics-port")
        on_exit = _worker_metrics(settings, args.metrics_port, env)
    log.info("flosspay worker: %d processes of %s threads", processes, args.threads or settings.worker.threads)
    supervisor = Supervisor(processes, spawn_child(child_command(args.threads), env), on_child_exit=on_exit)
    return run_supervisor(supervisor)


def _worker_metrics(settings, port: int, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """One /metrics for every worker process: they write prometheus-client's multiprocess files, the parent
    serves their sum. Returns the clean-up to call when a child is gone."""
    import shutil

    directory = settings.observability.multiprocess_dir or (settings.data_dir / "metrics" / f"worker-{os.getpid()}")
    if directory.exists() and settings.observability.multiprocess_dir is None:
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    from prometheus_client import multiprocess

    from flosspay.adapters.metrics import serve_multiprocess_metrics

    serve_multiprocess_metrics(port, settings.http.host, str(directory))
    log.info("flosspay worker metrics (all processes) on http://%s:%d/metrics", settings.http.host, port)

    def gone(pid: int) -> None:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]

    return gone


def _jsonable(item: object) -> object:
    import msgspec

    return msgspec.to_builtins(item)


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from flosspay.adapters.logs import redact_url

    return redact_url(url)


# --- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flosspay", description="FlossPay: a self-hostable payments aggregator.")
    parser.add_argument("--version", action="version", version=f"flosspay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    p = add("serve", cmd_serve, "run everything in one process: API, worker, sandbox PSPs (embedded default)")
    p.add_argument("--port", type=_port, help="HTTP port (default FLOSSPAY_PORT or 8080)")
    p.add_argument("--host", help="bind address (default FLOSSPAY_HOST or 127.0.0.1)")
    p = add("api", cmd_api, "run the HTTP API (production; run workers separately)")
    p.add_argument("--port", type=_port, help="HTTP port (default FLOSSPAY_PORT or 8080)")
    p.add_argument("--host", help="bind address (default FLOSSPAY_HOST or 127.0.0.1)")
    p.add_argument("--workers", type=_positive, help="API processes (default FLOSSPAY_API_WORKERS or 1)")
    p = add(
        "worker",
        cmd_worker,
        "run payment workers with the outbox relay (needs FLOSSPAY_REDIS_URL or FLOSSPAY_BROKER_URL)",
    )
    p.add_argument(
        "--processes",
        type=_positive,
        help="worker processes, each with its threads (default FLOSSPAY_WORKER_PROCESSES or one per core)",
    )
    p.add_argument(
        "--threads", type=_positive, help="worker threads per process (default FLOSSPAY_WORKER_THREADS or 8)"
    )
    p.add_argument(
        "--metrics-port", type=_port, help="serve this worker's Prometheus metrics on this port (default: none)"
    )
    p = add(
        "sandbox",
        cmd_sandbox,
        "run the rails' sandbox PSPs as their own process (staging); prints their FLOSSPAY_<RAIL>_PSP_URL and _API_KEY",
    )
    p.add_argument("rail", nargs="?", default="all", help="a rail (upi, card, wallet, …) or all (default)")
    p.add_argument(
        "--port", type=_port, default=0, help="port of the first sandbox, the next ones count up (default 0: any free)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--print-env",
        action="store_true",
        help="print the KEY=VALUE lines of the sandboxes running for this data dir (waits up to 15 s), and exit",
    )

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser(
        "upgrade", help="migrate the database to the latest schema; prints each migration applied"
    ).set_defaults(handler=cmd_db_upgrade)

    clients = sub.add_parser("clients", help="API clients (merchants' credentials)").add_subparsers(
        dest="clients_command", required=True
    )
    p = clients.add_parser("create", help="create a client; prints its id and secret once")
    p.add_argument("name", help='the merchant\'s name, e.g. "Acme Stores"')
    p.add_argument("--json", action="store_true", help='print {"clientId","secret"}')
    p.add_argument("--rate", type=float, default=100.0, help="requests per second (default 100)")
    p.add_argument("--burst", type=int, default=200, help="requests at once (default 200)")
    p.set_defaults(handler=cmd_clients_create)
    p = clients.add_parser("update", help="change a client's rate limit")
    p.add_argument("client_id", help="the client's id (cl_…)")
    p.add_argument("--rate", type=float, help="requests per second")
    p.add_argument("--burst", type=int, help="requests at once")
    p.set_defaults(handler=cmd_clients_update)
    p = clients.add_parser("list", help="list clients (never their secrets)")
    p.add_argument("--json", action="store_true", help="print a JSON array of {clientId,name,active,createdAt}")
    p.set_defaults(handler=cmd_clients_list)
    p = clients.add_parser("rotate-secret", help="issue a new secret; the old one still works for an overlap")
    p.add_argument("client_id", metavar="ID", help="the client's id (cl_…)")
    p.add_argument(
        "--overlap-hours",
        type=float,
        default=24.0,
        help="how long the old secret is still accepted (default 24; 0 ends it now)",
    )
    p.add_argument("--json", action="store_true", help='print {"clientId","secret","previousSecretValidUntil"}')
    p.set_defaults(handler=cmd_clients_rotate_secret)
    p = clients.add_parser("disable", help="refuse every request of a client from now on")
    p.add_argument("client_id", metavar="ID", help="the client's id (cl_…)")
    p.set_defaults(handler=cmd_clients_disable)

    keys = sub.add_parser("secret-key", help="the server's secret key").add_subparsers(
        dest="secret_key_command", required=True
    )
    p = keys.add_parser("rotate", help="seal every client secret under a new key (or FLOSSPAY_SECRET_KEY)")
    p.set_defaults(handler=cmd_secret_key_rotate)

    rails = sub.add_parser("rails", help="rail plugins").add_subparsers(dest="rails_command", required=True)
    p = rails.add_parser("list", help="installed rails, whether enabled, their versions and load errors")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per installed rail")
    p.set_defaults(handler=cmd_rails_list)

    p = add("sign", cmd_sign, "print the authentication headers for a request")
    p.add_argument("method", help="HTTP method, e.g. POST")
    p.add_argument("path", help="path with query string exactly as sent, e.g. /api/v1/pay")
    p.add_argument("--body", help="request body (JSON text)")
    p.add_argument("--body-file", help="read the body from a file ('-' for stdin)")
    p.add_argument("--idempotency-key", "-k", help="the Idempotency-Key header value")
    p.add_argument("--client-id", help="client id (or FLOSSPAY_CLIENT_ID)")
    p.add_argument("--secret", help="client secret (or FLOSSPAY_CLIENT_SECRET)")
    p.add_argument("--timestamp", type=int, help="Unix seconds (default: now)")
    p.add_argument(
        "--format",
        choices=["headers", "curl", "json"],
        default="headers",
        help="headers (default): one per line; curl: a ready command; json: an object",
    )
    p.add_argument("--url", default="http://127.0.0.1:8080", help="base URL for --format curl")

    from flosspay.adapters.cli.dead_letters import add_dead_letter_commands

    add_dead_letter_commands(sub)
    from flosspay.adapters.cli.ledger import add_ledger_commands

    add_ledger_commands(sub)
    from flosspay.adapters.cli.webhooks import add_webhook_commands

    add_webhook_commands(sub)
    from flosspay.adapters.cli.refunds import add_refund_commands

    add_refund_commands(sub)  # issue 13
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"flosspay: error: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: BaseException) -> str:
    """One line for any failure: our own messages as they are, others by type and first line."""
    from flosspay.adapters.config import ConfigError
    from flosspay.domain.errors import DomainError

    if isinstance(exc, CliError | ConfigError):
        return str(exc)
    if isinstance(exc, DomainError):
        errors = getattr(exc, "errors", None)
        if errors:
            return "; ".join(f"{e.field}: {e.message}" for e in errors)
        return exc.detail
    text = " ".join(str(exc).split())
    if "OperationalError" in type(exc).__name__ or "connect" in text.lower():
        return f"cannot reach a required service: {text[:200]}"
    log.debug("unexpected error", exc_info=exc)
    return f"{type(exc).__name__}: {text[:200]}"


if __name__ == "__main__":
    sys.exit(main())
