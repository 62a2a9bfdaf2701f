"""UpiRail against a real sandbox PSP over loopback HTTP: every behaviour, exactly-once, refunds."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flosspay_upi.rail import UpiRail
from upi_helpers import APPROVE_SECONDS, debits_of, upi_request

from flosspay.railapi import Flow, Money, Outcome, RailResult, RefundResult

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("payer", "outcome", "code", "debits"),
    [
        ("alice@okhdfc", Outcome.COMPLETED, "00", 1),
        ("insufficient@okhdfc", Outcome.DECLINED, "Z9", 0),
        ("debitfail@okhdfc", Outcome.DECLINED, "U30", 0),
        ("wrongpin@okhdfc", Outcome.DECLINED, "ZM", 0),
        ("risk@okhdfc", Outcome.DECLINED, "U16", 0),
        ("TIMEOUT@okhdfc", Outcome.TRANSIENT, "UP", 0),
        ("deemed@okhdfc", Outcome.UNCERTAIN, "RB", 1),
    ],
)
def test_pay_behaviours_map_to_outcomes(
    rail: UpiRail, psp_url: str, payer: str, outcome: Outcome, code: str, debits: int
) -> None:
    request = upi_request(payer)
    result = rail.execute(request)
    assert (result.outcome, result.code) == (outcome, code)
    assert result.reason
    assert len(debits_of(psp_url, request.reference)) == debits


@pytest.mark.parametrize(
    ("payer", "outcome", "code"),
    [
        ("alice@okhdfc", Outcome.COMPLETED, "00"),
        ("insufficient@okhdfc", Outcome.DECLINED, "Z9"),
        ("debitfail@okhdfc", Outcome.DECLINED, "U30"),
        ("wrongpin@okhdfc", Outcome.DECLINED, "ZM"),
        ("risk@okhdfc", Outcome.DECLINED, "U16"),
        ("timeout@okhdfc", Outcome.NOT_FOUND, "U04"),  # nothing happened, so nothing is known
        ("deemed@okhdfc", Outcome.COMPLETED, "00"),  # the deemed debit did happen
    ],
)
def test_status_agrees_with_what_execute_did(rail: UpiRail, payer: str, outcome: Outcome, code: str) -> None:
    request = upi_request(payer)
    executed = rail.execute(request)
    status = rail.status(request)
    assert (status.outcome, status.code) == (outcome, code)
    if executed.rail_reference is not None:
        assert status.rail_reference == executed.rail_reference


def test_a_completed_payment_carries_the_psp_reference(rail: UpiRail) -> None:
    result = rail.execute(upi_request("alice@okhdfc"))
    assert result.rail_reference is not None
    assert len(result.rail_reference) == 12
    assert result.rail_reference.isdigit()


def test_executing_one_reference_twice_debits_once(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("alice@okhdfc", minor=12_345)
    first = rail.execute(request)
    second = rail.execute(request)
    assert first == second
    assert first.outcome is Outcome.COMPLETED
    debits = debits_of(psp_url, request.reference)
    assert [(d["reference"], d["amountMinor"], d["payer"]) for d in debits] == [
        (request.reference, 12_345, "alice@okhdfc")
    ]


def test_concurrent_executes_from_many_threads_debit_once(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("alice@okhdfc")
    barrier = threading.Barrier(8)
    results: list[RailResult] = []

    def execute() -> None:
        barrier.wait()
        results.append(rail.execute(request))

    threads = [threading.Thread(target=execute) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.outcome for r in results} == {Outcome.COMPLETED}
    assert len(debits_of(psp_url, request.reference)) == 1


def test_status_of_an_unknown_reference_is_not_found(rail: UpiRail) -> None:
    result = rail.status(upi_request("alice@okhdfc"))
    assert (result.outcome, result.code) == (Outcome.NOT_FOUND, "U04")


def test_deemed_is_uncertain_until_the_status_query_finds_the_debit(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("deemed@okhdfc")
    assert rail.execute(request).outcome is Outcome.UNCERTAIN
    assert rail.execute(request).outcome is Outcome.UNCERTAIN
    assert rail.status(request).outcome is Outcome.COMPLETED
    assert len(debits_of(psp_url, request.reference)) == 1


def test_flaky_psp_is_transient_twice_then_completes(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("flaky@okhdfc")
    first, second = rail.execute(request), rail.execute(request)
    assert [(first.outcome, first.code), (second.outcome, second.code)] == [(Outcome.TRANSIENT, "HTTP_503")] * 2
    assert rail.status(request).outcome is Outcome.NOT_FOUND
    assert debits_of(psp_url, request.reference) == []
    assert rail.execute(request).outcome is Outcome.COMPLETED
    assert rail.status(request).outcome is Outcome.COMPLETED
    assert len(debits_of(psp_url, request.reference)) == 1


def test_the_timeout_payer_stays_transient(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("timeout@okhdfc")
    assert [rail.execute(request).outcome for _ in range(3)] == [Outcome.TRANSIENT] * 3
    assert debits_of(psp_url, request.reference) == []


def test_a_collect_is_pending_then_completed_with_one_debit(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("bob@okicici", flow=Flow.COLLECT, expires_at=datetime.now(UTC) + timedelta(minutes=30))
    assert rail.execute(request).outcome is Outcome.PENDING
    assert rail.status(request).outcome is Outcome.PENDING
    assert debits_of(psp_url, request.reference) == []
    time.sleep(APPROVE_SECONDS + 0.05)
    assert (rail.status(request).outcome, rail.status(request).code) == (Outcome.COMPLETED, "00")
    assert rail.execute(request).outcome is Outcome.COMPLETED
    assert len(debits_of(psp_url, request.reference)) == 1


def test_a_collect_the_payer_declines_is_payer_declined(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("decline@okicici", flow=Flow.COLLECT)
    assert rail.execute(request).outcome is Outcome.PENDING
    time.sleep(APPROVE_SECONDS + 0.05)
    result = rail.status(request)
    assert (result.outcome, result.code) == (Outcome.PAYER_DECLINED, "ZA")
    assert debits_of(psp_url, request.reference) == []


def test_a_collect_the_payer_ignores_expires_at_its_deadline(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("ignore@okicici", flow=Flow.COLLECT, expires_at=datetime.now(UTC) + timedelta(seconds=0.4))
    assert rail.execute(request).outcome is Outcome.PENDING
    time.sleep(APPROVE_SECONDS + 0.05)
    assert rail.status(request).outcome is Outcome.PENDING  # the payer answers nothing, ever
    time.sleep(0.3)
    result = rail.status(request)
    assert (result.outcome, result.code) == (Outcome.EXPIRED, "U69")
    assert debits_of(psp_url, request.reference) == []


def test_a_collect_from_an_account_without_funds_is_declined(rail: UpiRail) -> None:
    request = upi_request("insufficient@okicici", flow=Flow.COLLECT)
    assert rail.execute(request).outcome is Outcome.PENDING
    time.sleep(APPROVE_SECONDS + 0.05)
    assert (rail.status(request).outcome, rail.status(request).code) == (Outcome.DECLINED, "Z9")


def test_the_slow_payer_completes_with_a_patient_client(rail: UpiRail, psp_url: str) -> None:
    request = upi_request("slow@okhdfc")
    assert rail.execute(request).outcome is Outcome.COMPLETED
    assert len(debits_of(psp_url, request.reference)) == 1


def test_refunds_up_to_the_debit_succeed_and_beyond_it_are_declined(rail: UpiRail) -> None:
    request = upi_request("alice@okhdfc", minor=10_000)
    rail.execute(request)
    assert rail.refund(request, Money(6_000, "INR"), "ref-1") == RefundResult(Outcome.COMPLETED, "00", "approved")
    assert rail.refund(request, Money(6_000, "INR"), "ref-1").outcome is Outcome.COMPLETED  # replay
    over = rail.refund(request, Money(4_001, "INR"), "ref-2")
    assert (over.outcome, over.code) == (Outcome.DECLINED, "U02")
    assert rail.refund(request, Money(4_000, "INR"), "ref-3").outcome is Outcome.COMPLETED


def test_a_refund_larger_than_the_payment_is_declined_without_asking_the_psp(rail: UpiRail) -> None:
    request = upi_request("alice@okhdfc", minor=10_000)
    rail.execute(request)
    result = rail.refund(request, Money(10_001, "INR"), "ref-big")
    assert (result.outcome, result.code) == (Outcome.DECLINED, "REFUND_EXCEEDS_PAYMENT")
    assert rail.refund(request, Money(10_000, "INR"), "ref-all").outcome is Outcome.COMPLETED


@pytest.mark.parametrize(
    ("amount", "refund_reference", "code"),
    [
        (Money(0, "INR"), "ref", "INVALID_AMOUNT"),
        (Money(100, "USD"), "ref", "CURRENCY_MISMATCH"),
        (Money(100, "INR"), "", "INVALID_REFERENCE"),
    ],
)
def test_malformed_refunds_are_declined(rail: UpiRail, amount: Money, refund_reference: str, code: str) -> None:
    result = rail.refund(upi_request("alice@okhdfc"), amount, refund_reference)
    assert (result.outcome, result.code) == (Outcome.DECLINED, code)


def test_refunding_what_was_never_debited_is_declined_or_not_found(rail: UpiRail) -> None:
    declined = upi_request("insufficient@okhdfc")
    rail.execute(declined)
    nothing_debited = rail.refund(declined, Money(100, "INR"), "r-x")
    assert (nothing_debited.outcome, nothing_debited.code) == (Outcome.DECLINED, "U10")
    unknown = rail.refund(upi_request("alice@okhdfc"), Money(100, "INR"), "r-y")
    assert (unknown.outcome, unknown.code) == (Outcome.NOT_FOUND, "U04")


def test_a_reference_reused_for_a_different_payment_is_declined(rail: UpiRail, psp_url: str) -> None:
    first = upi_request("alice@okhdfc", minor=100)
    rail.execute(first)
    clash = upi_request("alice@okhdfc", minor=200, reference=first.reference)
    result = rail.execute(clash)
    assert (result.outcome, result.code) == (Outcome.DECLINED, "U01")
    assert len(debits_of(psp_url, first.reference)) == 1


def test_stored_details_the_psp_refuses_are_declined_not_raised(rail: UpiRail) -> None:
    bad_vpa = rail.execute(upi_request("not a vpa"))
    assert (bad_vpa.outcome, bad_vpa.code) == (Outcome.DECLINED, "U07")
    request = upi_request("alice@okhdfc")
    missing = rail.execute(type(request)(request.reference, request.flow, request.amount, {}))
    assert (missing.outcome, missing.code) == (Outcome.DECLINED, "INVALID_DETAILS")
