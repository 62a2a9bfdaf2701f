"""``flosspay serve``: the embedded all-in-one (API + in-process worker + sandbox PSPs).

A newcomer gets a working FlossPay with nothing but Python: SQLite in the data dir, an in-process
queue, the rails' sandboxes on loopback, and a demo client whose signed curl example is printed.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from flosspay.adapters.cli.signing import curl_command, signed_headers
from flosspay.adapters.config import Settings
from flosspay.adapters.private_files import ensure_private_dir, replace_private_file
from flosspay.application.clients import create_client
from flosspay.application.refund_relay import recover_stalled_refunds
from flosspay.application.relay import recover_stalled
from flosspay.domain.clients import ApiClient


def demo_client(container: Any, settings: Settings) -> ApiClient:
    """The data dir's demo client: created on first run, its credentials kept in demo-client.json (0600)."""
    path = settings.data_dir / "demo-client.json"
    if path.exists():
        data = json.loads(path.read_text())
        with container.uow_factory()() as uow:
            client: ApiClient | None = uow.clients.get(str(data["clientId"]))
        if client is not None:
            return client
    client = create_client("demo", uow_factory=container.uow_factory(), clock=container.clock())
    replace_private_file(path, json.dumps({"clientId": client.client_id, "secret": client.secret}).encode())
    return client


def banner(settings: Settings, client: ApiClient, rails: list[str], port: int) -> str:
    base = f"http://{settings.http.host}:{port}"
    body = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00", "note": "first payment"}
    raw = json.dumps(body, separators=(",", ":")).encode()
    key = f"demo-{uuid.uuid4().hex[:12]}"
    headers = signed_headers(
        client_id=client.client_id,
        secret=client.secret,
        method="POST",
        path="/api/v1/pay",
        body=raw,
        idempotency_key=key,
    )
    creds = settings.data_dir / "demo-client.json"
    read_secret = f"python3 -c \"import json;print(json.load(open('{creds}'))['secret'])\""
    return "\n".join(
        [
            "",
            f"FlossPay is running at {base}  (rails: {', '.join(rails) or 'none'})",
            f"  API docs:    {base}/swagger-ui.html",
            f"  Data:        {settings.data_dir}",
            f"  Demo client: {client.client_id}  (secret in {creds})",
            "",
            "Pay ₹28.00 now (this signed example is valid for 5 minutes):",
            f"  {curl_command(base, 'POST', '/api/v1/pay', headers, raw)}",
            "",
            "Sign your own requests (see README):",
            f"  export FLOSSPAY_CLIENT_ID={client.client_id}",
            f"  export FLOSSPAY_CLIENT_SECRET=$({read_secret})",
            f'  eval "$(.venv/bin/flosspay sign GET /api/v1/transaction/<id>/status --format curl --url {base})"',
            "",
        ]
    )


def serve(settings: Settings, container: Any) -> int:
    import uvicorn

    from flosspay.adapters.http.app import create_app
    from flosspay.adapters.http.bounded_server import uvicorn_options
    from flosspay.adapters.persistence.migrate import upgrade
    from flosspay.adapters.worker.runner import EmbeddedWorker

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its shutdown, which would skip stopping the worker below."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:  # print the example only once it can be answered
                print(banner(settings, client, registry.methods(), settings.http.port), flush=True)

    ensure_private_dir(settings.data_dir)
    upgrade(settings.database.url, container.secret_box())
    registry = container.rails()
    for info in registry.infos:
        if info.error:
            print(f"rail {info.name} not started: {info.error}")
    client = demo_client(container, settings)
    if settings.observability.metrics_path:
        from flosspay.adapters.container import watch_database_metrics

        watch_database_metrics(container)
    if settings.broker.url is None:
        # The in-process queue starts empty: whatever was unfinished when we last stopped goes again.
        recover_stalled(uow_factory=container.uow_factory(), clock=container.clock(), idle_after=timedelta(0))
        recover_stalled_refunds(uow_factory=container.uow_factory(), clock=container.clock(), idle_after=timedelta(0))
    worker = EmbeddedWorker(
        container.worker_services(),
        container.broker(),
        threads=settings.worker.threads,
        chainer=container.chainer(),
        webhooks=container.webhook_delivery(),
    )
    worker.start()
    try:
        config = uvicorn.Config(
            create_app(container.api_services()),
            host=settings.http.host,
            port=settings.http.port,
            log_level="warning",
            access_log=False,
            **uvicorn_options(settings.http, in_process=True),
        )
        Server(config).run()
    finally:
        worker.stop()
        container.rail_loader().stop_sandboxes()
    return 0
