"""ASGI entry point for ``flosspay api`` (uvicorn imports it in each worker process)."""

from __future__ import annotations

import logging
import os

from litestar import Litestar

from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container, watch_database_metrics
from flosspay.adapters.http.app import create_app
from flosspay.adapters.logs import configure_logging
from flosspay.adapters.startup import log_startup

logger = logging.getLogger("flosspay.startup")


def create_asgi_app() -> Litestar:
    """Build the app from the environment: one container per API process, each logging as the CLI does."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    container = Container(settings=settings)
    address = f"http://{settings.http.host}:{settings.http.port}"
    log_startup("api", settings, container.rails(), address)
    app = create_app(container.api_services())
    if settings.observability.metrics_path:
        watch_database_metrics(container)

    def listening() -> None:
        logger.info("flosspay api listening on %s (pid %d)", address, os.getpid(), extra={"address": address})

    app.on_startup.append(listening)
    return app
