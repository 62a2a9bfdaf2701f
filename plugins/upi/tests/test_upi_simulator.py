"""The sandbox's UPI network without HTTP: behaviours by VPA, collect timing, exactly-once, refunds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flosspay_upi.simulator import Behaviour, UpiNetwork

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    """Moves only when told, for both the monotonic and the wall clock."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def network(clock: Clock) -> UpiNetwork:
    return UpiNetwork(slow_seconds=3.0, collect_approve_seconds=1.0, monotonic=clock.monotonic, now=clock.now)


def payment(reference: str, payer: str, flow: str = "PAY", **extra: Any) -> dict[str, Any]:
    body = {
        "reference": reference,
        "flow": flow,
        "payer": payer,
        "payee": "merchant@okaxis",
        "amountMinor": 2800,
        "currency": "INR",
        "expiresAt": None,
    }
    return body | extra


def debit_count(network: UpiNetwork, reference: str) -> int:
    return len(network.debits(reference).body["debits"])


@pytest.mark.parametrize(
    ("payer", "behaviour"),
    [
        ("alice@okhdfc", Behaviour.APPROVE),
        ("Insufficient.Funds@okhdfc", Behaviour.INSUFFICIENT),
        ("DEBITFAIL@ybl", Behaviour.DEBIT_FAIL),
        ("wrongpin1@ybl", Behaviour.WRONG_PIN),
        ("risky@ybl", Behaviour.RISK),
        ("timeout@ybl", Behaviour.TIMEOUT),
        ("deemed@ybl", Behaviour.DEEMED),
        ("flaky@ybl", Behaviour.FLAKY),
        ("slowpoke@ybl", Behaviour.SLOW),
        ("decline@ybl", Behaviour.DECLINE),
        ("ignore-me@ybl", Behaviour.IGNORE),
        ("my.risk@ybl", Behaviour.APPROVE),  # a prefix, not anywhere in the name
    ],
)
def test_behaviour_is_chosen_by_the_local_part_prefix(payer: str, behaviour: Behaviour) -> None:
    assert Behaviour.of(payer) is behaviour


@pytest.mark.parametrize(
    ("payer", "code"),
    [
        ("alice@okhdfc", "00"),
        ("insufficient@ok", "Z9"),
        ("debitfail@ok", "U30"),
        ("wrongpin@ok", "ZM"),
        ("risk@ok", "U16"),
    ],
)
def test_pay_answers_and_debits_by_payer(network: UpiNetwork, payer: str, code: str) -> None:
    answer = network.submit(payment("r1", payer))
    assert (answer.status, answer.body["code"]) == (200, code)
    assert network.lookup("r1").body["code"] == code
    assert debit_count(network, "r1") == (1 if code == "00" else 0)


def test_a_repeated_pay_gets_the_same_answer_and_no_second_debit(network: UpiNetwork) -> None:
    first = network.submit(payment("r1", "alice@okhdfc"))
    second = network.submit(payment("r1", "alice@okhdfc"))
    assert first.body == second.body
    assert debit_count(network, "r1") == 1


def test_concurrent_submissions_of_one_reference_debit_once(network: UpiNetwork) -> None:
    barrier = threading.Barrier(16)
    answers: list[str] = []

    def submit() -> None:
        barrier.wait()
        answers.append(network.submit(payment("same", "alice@okhdfc")).body["code"])

    threads = [threading.Thread(target=submit) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == ["00"] * 16
    assert debit_count(network, "same") == 1


def test_a_reference_reused_for_another_payment_is_a_conflict(network: UpiNetwork) -> None:
    network.submit(payment("r1", "alice@okhdfc"))
    answer = network.submit(payment("r1", "alice@okhdfc", amountMinor=9999))
    assert (answer.status, answer.body["code"]) == (409, "U01")
    assert debit_count(network, "r1") == 1


def test_timeout_payer_gets_up_every_time_and_is_never_debited_or_recorded(network: UpiNetwork) -> None:
    codes = [network.submit(payment("r1", "timeout@ok")).body["code"] for _ in range(3)]
    assert codes == ["UP", "UP", "UP"]
    assert network.lookup("r1").status == 404
    assert debit_count(network, "r1") == 0


def test_deemed_payer_is_debited_but_execute_says_rb_and_status_says_00(network: UpiNetwork) -> None:
    assert network.submit(payment("r1", "deemed@ok")).body["code"] == "RB"
    assert network.submit(payment("r1", "deemed@ok")).body["code"] == "RB"
    assert network.lookup("r1").body["code"] == "00"
    assert debit_count(network, "r1") == 1


def test_flaky_payer_fails_twice_with_503_then_succeeds(network: UpiNetwork) -> None:
    statuses = [network.submit(payment("r1", "flaky@ok")).status for _ in range(2)]
    assert statuses == [503, 503]
    assert network.lookup("r1").status == 404
    assert debit_count(network, "r1") == 0
    third = network.submit(payment("r1", "flaky@ok"))
    assert (third.status, third.body["code"]) == (200, "00")
    assert debit_count(network, "r1") == 1


def test_slow_payer_is_debited_before_the_answer_is_delayed(network: UpiNetwork) -> None:
    answer = network.submit(payment("r1", "slow@ok"))
    assert (answer.body["code"], answer.delay_seconds) == ("00", 3.0)
    assert debit_count(network, "r1") == 1
    assert network.submit(payment("r1", "slow@ok")).delay_seconds == 0.0


def test_collect_is_pending_until_the_payer_approves_then_debited_once(network: UpiNetwork, clock: Clock) -> None:
    assert network.submit(payment("c1", "bob@okicici", "COLLECT")).body["code"] == "01"
    clock.elapsed = 0.99
    assert network.lookup("c1").body["code"] == "01"
    assert debit_count(network, "c1") == 0
    clock.elapsed = 1.0
    assert network.lookup("c1").body["code"] == "00"
    assert network.submit(payment("c1", "bob@okicici", "COLLECT")).body["code"] == "00"
    assert network.lookup("c1").body["code"] == "00"
    assert debit_count(network, "c1") == 1


def test_the_debit_record_shows_approved_collects_without_a_status_query(network: UpiNetwork, clock: Clock) -> None:
    network.submit(payment("c1", "bob@okicici", "COLLECT"))
    clock.elapsed = 5
    assert debit_count(network, "c1") == 1


def test_collect_declined_by_the_payer_after_the_delay(network: UpiNetwork, clock: Clock) -> None:
    network.submit(payment("c1", "decline@ok", "COLLECT"))
    assert network.lookup("c1").body["code"] == "01"
    clock.elapsed = 1.5
    assert network.lookup("c1").body["code"] == "ZA"
    assert debit_count(network, "c1") == 0


def test_collect_ignored_by_the_payer_expires_at_expires_at(network: UpiNetwork, clock: Clock) -> None:
    expires = (START + timedelta(seconds=60)).isoformat()
    network.submit(payment("c1", "ignore@ok", "COLLECT", expiresAt=expires))
    clock.elapsed = 59.9
    assert network.lookup("c1").body["code"] == "01"
    clock.elapsed = 60
    assert network.lookup("c1").body["code"] == "U69"
    assert debit_count(network, "c1") == 0


def test_an_ignored_collect_without_expiry_stays_pending(network: UpiNetwork, clock: Clock) -> None:
    network.submit(payment("c1", "ignore@ok", "COLLECT"))
    clock.elapsed = 10_000
    assert network.lookup("c1").body["code"] == "01"


def test_a_collect_that_expires_before_the_payer_answers_is_expired(network: UpiNetwork, clock: Clock) -> None:
    expires = (START + timedelta(seconds=0.5)).isoformat()
    network.submit(payment("c1", "bob@ok", "COLLECT", expiresAt=expires))
    clock.elapsed = 2
    assert network.lookup("c1").body["code"] == "U69"
    assert debit_count(network, "c1") == 0


def test_collect_from_a_payer_without_funds_is_declined_on_approval(network: UpiNetwork, clock: Clock) -> None:
    network.submit(payment("c1", "insufficient@ok", "COLLECT"))
    clock.elapsed = 1
    assert network.lookup("c1").body["code"] == "Z9"


def test_unknown_references_are_not_found(network: UpiNetwork) -> None:
    answer = network.lookup("nobody")
    assert (answer.status, answer.body["code"]) == (404, "U04")


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"flow": "PAY"},
        payment("", "alice@ok"),
        payment("r" * 129, "alice@ok"),
        payment("r1", "alice@ok", flow="REFUND"),
        payment("r1", "not-a-vpa"),
        payment("r1", "alice@ok", payee="x"),
        payment("r1", "alice@ok", amountMinor=0),
        payment("r1", "alice@ok", amountMinor=28.0),
        payment("r1", "alice@ok", amountMinor=True),
        payment("r1", "alice@ok", currency="USD"),
        payment("r1", "alice@ok", expiresAt="tomorrow"),
    ],
)
def test_malformed_payments_are_refused_with_u07(network: UpiNetwork, bad: object) -> None:
    answer = network.submit(bad)
    assert (answer.status, answer.body["code"]) == (400, "U07")
    assert answer.body["error"]


def refund(network: UpiNetwork, refund_reference: str, minor: int, reference: str = "r1") -> dict[str, Any]:
    body = {"refundReference": refund_reference, "reference": reference, "amountMinor": minor, "currency": "INR"}
    return network.refund(body).body


def test_refunds_add_up_to_at_most_the_debit(network: UpiNetwork) -> None:
    network.submit(payment("r1", "alice@okhdfc"))
    assert refund(network, "f1", 2000)["code"] == "00"
    assert refund(network, "f1", 2000)["refundedMinor"] == 2000  # a replay, not a second refund
    assert refund(network, "f2", 801)["code"] == "U02"
    assert refund(network, "f3", 800)["refundedMinor"] == 2800
    assert network.lookup("r1").body["refundedMinor"] == 2800


def test_a_norefund_payer_pays_but_every_refund_is_declined(network: UpiNetwork) -> None:
    network.submit(payment("r1", "norefund.shop@okhdfc"))
    assert network.lookup("r1").body["code"] == "00"
    assert refund(network, "f1", 100)["code"] == "U30"
    assert network.lookup("r1").body["refundedMinor"] == 0 and network.refunds().body == {"refunds": []}


def test_a_slow_payers_refund_is_recorded_at_once_and_answered_late() -> None:
    network = UpiNetwork(slow_seconds=2.5)
    network.submit(payment("r1", "slow.alice@okhdfc"))
    body = {"refundReference": "f1", "reference": "r1", "amountMinor": 100, "currency": "INR"}
    first = network.refund(body)
    assert first.body["code"] == "00" and first.delay_seconds == 2.5
    assert len(network.refunds().body["refunds"]) == 1
    assert network.refund(body).delay_seconds == 0.0  # a repeat answers at once


def test_the_refund_record_lists_each_refund_once(network: UpiNetwork) -> None:
    network.submit(payment("r1", "alice@okhdfc"))
    network.submit(payment("r2", "bob@okhdfc"))
    refund(network, "f1", 100)
    refund(network, "f1", 100)  # a replay
    refund(network, "f2", 200, reference="r2")
    assert [(r["refundReference"], r["amountMinor"]) for r in network.refunds().body["refunds"]] == [
        ("f1", 100),
        ("f2", 200),
    ]
    assert [r["refundReference"] for r in network.refunds("r2").body["refunds"]] == ["f2"]


def test_a_refund_reference_reused_for_another_amount_is_a_conflict(network: UpiNetwork) -> None:
    network.submit(payment("r1", "alice@okhdfc"))
    refund(network, "f1", 100)
    body = {"refundReference": "f1", "reference": "r1", "amountMinor": 200, "currency": "INR"}
    assert network.refund(body).status == 409


def test_nothing_debited_means_nothing_to_refund(network: UpiNetwork) -> None:
    network.submit(payment("r1", "insufficient@ok"))
    assert refund(network, "f1", 100)["code"] == "U10"
    assert (
        network.refund({"refundReference": "f2", "reference": "nobody", "amountMinor": 1, "currency": "INR"}).body[
            "code"
        ]
        == "U04"
    )


def test_reset_forgets_everything(network: UpiNetwork) -> None:
    network.submit(payment("r1", "alice@okhdfc"))
    network.reset()
    assert network.lookup("r1").status == 404
    assert network.debits().body == {"debits": []}
