"""The log format every process shares: one JSON object per line, or a console line on a terminal."""

from __future__ import annotations

import io
import json
import logging

import pytest

from flosspay.adapters.logs import bound, configure_logging, redact_url, resolve_format

pytestmark = pytest.mark.unit


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_and_the_ids_bound_while_handling() -> None:
    out = io.StringIO()
    configure_logging("INFO", "auto", out)
    log = logging.getLogger("flosspay.test")
    with bound(request_id="req-1", payment_id="pay-1"):
        log.info("payment %s: done", "pay-1", extra={"rail": "upi"})
    log.warning("after\nthe block")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "payment pay-1: done" and first["level"] == "info" and first["logger"] == "flosspay.test"
    assert (first["request_id"], first["payment_id"], first["rail"]) == ("req-1", "pay-1", "upi")
    assert first["ts"].endswith("+00:00") and isinstance(first["pid"], int)
    assert "request_id" not in second and second["event"] == "after\nthe block"  # still one line


def test_a_terminal_gets_console_lines_and_json_can_be_forced() -> None:
    assert resolve_format("auto", Tty()) == "console" and resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Tty()) == "json"
    out = Tty()
    configure_logging("INFO", "auto", out)
    with bound(payment_id="pay-9"):
        logging.getLogger("flosspay.test").info("hello")
    line = out.getvalue().strip()
    assert " INFO flosspay.test: hello" in line and line.endswith("payment_id=pay-9")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://flosspay:s3cret@db:5432/flosspay", "postgresql+psycopg://flosspay:***@db:5432/flosspay"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        (None, "-"),
    ],
)
def test_urls_are_shown_without_their_password(url: str | None, shown: str) -> None:
    assert redact_url(url) == shown
