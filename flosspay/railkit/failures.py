"""What a PSP's HTTP error status means for a payment: refused for good, not taken, or maybe acted upon.

The policy suits a PSP that answers JSON with a ``code`` and uses HTTP statuses as REST APIs do. A
rail whose PSP documents other meanings (say, "every 5xx means nothing was done") keeps its own.
"""

from __future__ import annotations

from flosspay.domain.rail import Outcome, RailResult
from flosspay.railkit.transport import PspAnswer

REFUSED = frozenset({400, 409, 422})
"""The PSP understood the request and refuses it for good: DECLINED with the PSP's code."""
CREDENTIALS_REFUSED = frozenset({401, 403})
"""The rail's credentials were refused: nothing was done, and the operator has to fix the key."""
NOT_TAKEN = frozenset({404, 429, 503})
"""A wrong URL, a rate limit, a busy PSP: nothing was done, so trying again is safe."""


def http_failure(answer: PspAnswer, *, psp: str = "the PSP", credentials: str | None = None) -> RailResult:
    """The outcome of an answer that is not the PSP's success: DECLINED, TRANSIENT, or else UNCERTAIN.

    ``psp`` names the other side in reasons ("the provider"); ``credentials`` names the setting that
    holds the API key (``FLOSSPAY_CARD_API_KEY``), so an operator reading a 401 knows what to fix.
    Any status the policy cannot vouch for (500, 502, 504, a redirect...) is UNCERTAIN: the PSP may
    have acted, and FlossPay asks ``status`` before trying again.
    """
    status = answer.http_status
    if status in REFUSED:
        code = answer.text("code") or f"HTTP_{status}"
        return RailResult(Outcome.DECLINED, code, f"{psp} refused the request (HTTP {status})")
    if status in CREDENTIALS_REFUSED:
        where = f" ({credentials})" if credentials else ""
        return RailResult(Outcome.TRANSIENT, "PSP_AUTH", f"{psp} refused the rail's credentials{where}")
    if status in NOT_TAKEN:
        return RailResult(Outcome.TRANSIENT, f"HTTP_{status}", f"{psp} did not take the request (HTTP {status})")
    return RailResult(Outcome.UNCERTAIN, f"HTTP_{status}", f"{psp} failed (HTTP {status}); it may have acted")
