"""ASGI entry point for ``flosspay api`` (uvicorn imports it in each worker process)."""

from __future__ import annotations

from litestar import Litestar

from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container
from flosspay.adapters.http.app import create_app


def create_asgi_app() -> Litestar:
    """Build the app from the environment: one container per API process."""
    container = Container(settings=load_settings())
    return create_app(container.api_services())
