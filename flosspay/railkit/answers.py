"""What a JSON-over-HTTP PSP's answers mean, for the common shape ``{status, code, message, <id>}``.

Card and wallet PSPs (and many others) answer a payment with a ``status`` word, their ``code`` and
``message`` and their own id; an unknown reference with 404 and a ``code``; a refund with
``succeeded`` or ``declined``. ``PspAnswers`` holds the rail's vocabulary (which status word is which
``Outcome``, what the PSP calls its id) and turns answers into results, so a rail keeps only that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flosspay.domain.rail import NextAction, Outcome, RailResult, RefundResult
from flosspay.railkit.failures import http_failure
from flosspay.railkit.refusals import as_refund
from flosspay.railkit.transport import NoAnswer, PspAnswer


@dataclass(frozen=True, slots=True)
class PspAnswers:
    """A PSP's answer vocabulary.

    ``outcomes``: the ``status`` words of a payment and their outcomes; ``id_field``: where the PSP
    puts its own id (``chargeId``); ``noun``: what the PSP calls a payment (in reasons);
    ``not_found_code``: the ``code`` of its 404 for an unknown reference; ``psp``: how reasons name
    it; ``credentials``: the setting to check on 401/403; ``refunded``: the reason of a done refund.
    """

    outcomes: Mapping[str, Outcome]
    id_field: str
    noun: str = "payment"
    not_found_code: str = "not_found"
    psp: str = "the PSP"
    credentials: str | None = None
    refunded: str = "refunded"

    def payment(self, answer: PspAnswer | NoAnswer, *, on_status_query: bool) -> RailResult:
        """A payment's (or status query's) answer as a result; a ``nextAction`` rides along with ACTION_REQUIRED."""
        if isinstance(answer, NoAnswer):
            return answer.result()
        if answer.http_status == 200:
            outcome = self.outcomes.get(str(answer.body.get("status")))
            if outcome is None:
                return RailResult(
                    Outcome.UNCERTAIN, "BAD_RESPONSE", f"{self.psp} answered an unknown {self.noun} status"
                )
            action = next_action(answer.body.get("nextAction")) if outcome is Outcome.ACTION_REQUIRED else None
            return RailResult(outcome, answer.text("code"), answer.text("message"), answer.text(self.id_field), action)
        if answer.http_status == 404 and on_status_query and answer.text("code") == self.not_found_code:
            return RailResult(Outcome.NOT_FOUND, "NOT_FOUND", f"{self.psp} knows no such {self.noun}")
        return http_failure(answer, psp=self.psp, credentials=self.credentials)

    def refund(self, answer: PspAnswer | NoAnswer) -> RefundResult:
        """A refund's answer: ``succeeded`` COMPLETED, ``declined`` DECLINED with the PSP's code."""
        if isinstance(answer, NoAnswer):
            return answer.refund_result()
        code = answer.text("code")
        if answer.http_status == 200:
            if answer.body.get("status") == "succeeded":
                return RefundResult(Outcome.COMPLETED, code or "00", self.refunded)
            if answer.body.get("status") == "declined":
                return RefundResult(Outcome.DECLINED, code, f"{self.psp} refused the refund")
            return RefundResult(Outcome.UNCERTAIN, "BAD_RESPONSE", f"{self.psp} answered an unknown refund status")
        if answer.http_status == 404 and code == self.not_found_code:
            return RefundResult(Outcome.NOT_FOUND, "NOT_FOUND", f"{self.psp} knows no such {self.noun}")
        return as_refund(http_failure(answer, psp=self.psp, credentials=self.credentials))


def next_action(raw: object) -> NextAction | None:
    """A PSP's ``{"type", "url"}`` as a ``NextAction``, or None when absent or unusable (never trusted blindly)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or not isinstance(raw.get("url"), str):
        return None
    try:
        return NextAction(raw["type"], raw["url"])
    except ValueError:
        return None
