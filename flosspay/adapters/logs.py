"""Process logging: one event per line, the same format from every FlossPay process.

JSON lines (one object per event) when stderr is not a terminal, a readable console line when
it is; ``FLOSSPAY_LOG_FORMAT=json|console`` forces one. The request id and payment id being
handled are kept in context variables, so every line written while handling them names them
without each call passing them along. Only the standard library: a formatter is all it takes.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("flosspay_request_id", default=None)
payment_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("flosspay_payment_id", default=None)

FORMATS = ("auto", "json", "console")
NOISY = ("alembic", "httpx", "httpcore", "urllib3", "dramatiq", "pika")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is printed.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def redact_url(url: str | None) -> str:
    """A database or broker URL fit to print: the password, if any, replaced by ``***``."""
    if not url:
        return "-"
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if not password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@contextlib.contextmanager
def bound(*, request_id: str | None = None, payment_id: str | None = None) -> Iterator[None]:
    """Within the block, log lines carry these ids (None leaves the current value alone)."""
    tokens: list[tuple[contextvars.ContextVar[str | None], contextvars.Token[str | None]]] = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if payment_id is not None:
        tokens.append((payment_id_var, payment_id_var.set(payment_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    request_id, payment_id = request_id_var.get(), payment_id_var.get()
    if request_id:
        fields["request_id"] = request_id
    if payment_id:
        fields["payment_id"] = payment_id
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """``{"ts","level","logger","event","pid",…context and extra fields…}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "pid": record.process,
        }
        event.update(_fields(record))
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``2026-12-01 15:00:00,123 INFO flosspay.worker: message  payment_id=… request_id=…``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = _fields(record)
        if extra:
            first, newline, rest = line.partition("\n")
            line = first + "  " + " ".join(f"{k}={v}" for k, v in extra.items()) + newline + rest
        return line


def resolve_format(wanted: str, stream: TextIO) -> str:
    if wanted in ("json", "console"):
        return wanted
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Replace the root handlers with one line-per-event handler on stderr (idempotent)."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if resolve_format(fmt, out) == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn's own loggers print through ours, not their own formatter.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True


def configure_from_env(env: Mapping[str, str] | None = None) -> None:
    """For processes started without the CLI (uvicorn's API workers): the same format, from the environment."""
    env = os.environ if env is None else env
    configure_logging(env.get("FLOSSPAY_LOG_LEVEL") or "INFO", env.get("FLOSSPAY_LOG_FORMAT") or "auto")
