"""A rail never raises from ``execute``, ``status`` or ``refund``: ``never_raises`` makes any slip an outcome.

A bug or a surprise in a rail must not escape into FlossPay's worker as an exception, and must not
be taken for a decline either: the PSP may already have acted, so the answer is UNCERTAIN
``RAIL_ERROR`` and FlossPay asks ``status`` before trying again. The reason and the log line name
the exception's class only: its text may hold a URL, a header or a card number.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flosspay.domain.rail import Outcome, RailResult, RefundResult

P = ParamSpec("P")
R = TypeVar("R", RailResult, RefundResult)


def never_raises(result_type: type[R], *, rail: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a rail method so that an exception becomes ``result_type(UNCERTAIN, "RAIL_ERROR", …)``.

    ``@never_raises(RailResult, rail="card")`` on ``execute`` and ``status``,
    ``@never_raises(RefundResult, rail="card")`` on ``refund``.
    """

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        log = logging.getLogger(method.__module__)

        @functools.wraps(method)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                log.warning("%s rail: %s failed (%s); answered UNCERTAIN", rail, method.__name__, type(exc).__name__)
                return result_type(Outcome.UNCERTAIN, "RAIL_ERROR", f"{rail} rail error ({type(exc).__name__})")

        return guarded

    return decorate
