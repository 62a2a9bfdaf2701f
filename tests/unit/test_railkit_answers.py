"""PspAnswers: what a JSON PSP's {status, code, message, <id>} answers mean, shared by card and wallet."""

from __future__ import annotations

import pytest

from flosspay.railapi import NextAction, NoAnswer, Outcome, PspAnswer, PspAnswers, RailResult, RefundResult, next_action

pytestmark = pytest.mark.unit

ANSWERS = PspAnswers(
    outcomes={"ok": Outcome.COMPLETED, "no": Outcome.DECLINED, "act": Outcome.ACTION_REQUIRED},
    id_field="txId",
    noun="transfer",
    not_found_code="GONE",
    psp="the bank",
    credentials="FLOSSPAY_X_API_KEY",
    refunded="sent back",
)


def test_payment_answers_map_to_results() -> None:
    assert ANSWERS.payment(PspAnswer(200, {"status": "ok", "code": "00", "message": "fine", "txId": "t1"}),
                           on_status_query=False) == RailResult(Outcome.COMPLETED, "00", "fine", "t1")  # fmt: skip
    action = {"type": "redirect", "url": "https://bank.example/p/1"}
    acting = ANSWERS.payment(PspAnswer(200, {"status": "act", "nextAction": action}), on_status_query=True)
    assert acting.next_action == NextAction("redirect", "https://bank.example/p/1")
    unusable = {"status": "act", "nextAction": {"type": "redirect", "url": "javascript:x"}}
    assert ANSWERS.payment(PspAnswer(200, unusable), on_status_query=True).next_action is None
    no_action_when_done = {"status": "ok", "nextAction": action}
    assert ANSWERS.payment(PspAnswer(200, no_action_when_done), on_status_query=True).next_action is None
    assert ANSWERS.payment(PspAnswer(200, {"status": "??"}), on_status_query=False) == RailResult(
        Outcome.UNCERTAIN, "BAD_RESPONSE", "the bank answered an unknown transfer status"
    )
    gone = PspAnswer(404, {"code": "GONE"})
    assert ANSWERS.payment(gone, on_status_query=True) == RailResult(
        Outcome.NOT_FOUND, "NOT_FOUND", "the bank knows no such transfer"
    )
    assert ANSWERS.payment(gone, on_status_query=False).outcome is Outcome.TRANSIENT  # a 404 to execute: not sent
    assert ANSWERS.payment(PspAnswer(401, {}), on_status_query=False).reason is not None
    assert "FLOSSPAY_X_API_KEY" in (ANSWERS.payment(PspAnswer(401, {}), on_status_query=False).reason or "")
    silent = NoAnswer(Outcome.UNCERTAIN, "PSP_TIMEOUT", "timed out")
    assert ANSWERS.payment(silent, on_status_query=False) == silent.result()


def test_refund_answers_map_to_refund_results() -> None:
    assert ANSWERS.refund(PspAnswer(200, {"status": "succeeded"})) == RefundResult(Outcome.COMPLETED, "00", "sent back")
    assert ANSWERS.refund(PspAnswer(200, {"status": "declined", "code": "EXCEEDS"})) == RefundResult(
        Outcome.DECLINED, "EXCEEDS", "the bank refused the refund"
    )
    assert ANSWERS.refund(PspAnswer(200, {"status": "?"})).outcome is Outcome.UNCERTAIN
    assert ANSWERS.refund(PspAnswer(404, {"code": "GONE"})).outcome is Outcome.NOT_FOUND
    assert ANSWERS.refund(PspAnswer(503, {})).outcome is Outcome.TRANSIENT


def test_next_action_reads_only_a_well_formed_redirect() -> None:
    assert next_action({"type": "redirect", "url": "https://a.example/"}) == NextAction(
        "redirect", "https://a.example/"
    )
    for raw in (None, "https://a.example/", {"type": "redirect"}, {"type": "popup", "url": "https://a.example/"}):
        assert next_action(raw) is None
