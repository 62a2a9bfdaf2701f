"""The HTTP API (Litestar): signed requests in, use cases called, RFC 9457 problems out."""

from flosspay.adapters.http.app import create_app
from flosspay.adapters.http.services import ApiServices

__all__ = ["ApiServices", "create_app"]
