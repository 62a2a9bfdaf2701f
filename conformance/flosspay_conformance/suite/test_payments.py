"""``execute``: completes, declines and fails transiently as the PSP says, and never charges twice."""

from __future__ import annotations

import threading

from flosspay.railapi import Outcome, RailResult
from flosspay_conformance.driver import RailDriver
from flosspay_conformance.requirements import RailRequirements

THREADS = 6


def test_valid_payment_completes(rail_driver: RailDriver) -> None:
    result = rail_driver.execute(rail_driver.request("valid"))
    assert result.outcome is Outcome.COMPLETED, f"the valid scenario must complete, got {result}"


def test_executing_one_reference_twice_charges_once(rail_driver: RailDriver) -> None:
    request = rail_driver.request("valid")
    first = rail_driver.execute(request)
    second = rail_driver.execute(request)
    assert first.outcome is Outcome.COMPLETED
    assert second.outcome is Outcome.COMPLETED, "a repeated execute must report the first one's result"
    if first.rail_reference and second.rail_reference:
        assert first.rail_reference == second.rail_reference, "one reference, one PSP transaction"
    assert rail_driver.charged(request) == request.amount.minor, "the payer must be charged exactly once"


def test_concurrent_executes_of_one_reference_charge_once(rail_driver: RailDriver) -> None:
    request = rail_driver.request("valid")
    barrier = threading.Barrier(THREADS)
    answers: list[RailResult | Exception] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            answer: RailResult | Exception = rail_driver.rail.execute(request)
        except Exception as exc:
            answer = exc
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == THREADS, "every concurrent execute must return"
    raised = [type(a).__name__ for a in answers if isinstance(a, Exception)]
    assert not raised, f"execute raised {raised} under concurrency"
    outcomes = {a.outcome for a in answers if isinstance(a, RailResult)}
    assert outcomes <= {Outcome.COMPLETED, Outcome.UNCERTAIN}, f"concurrent duplicates answered {outcomes}"
    assert rail_driver.charged(request) == request.amount.minor, "concurrent duplicates must charge once"


def test_declined_payment_is_declined_with_a_code(rail_driver: RailDriver) -> None:
    request = rail_driver.request("declined")
    result = rail_driver.execute(request)
    assert result.outcome is Outcome.DECLINED, f"the declined scenario must be DECLINED, got {result}"
    assert result.code, "a decline carries the PSP's code (why it was refused)"
    again = rail_driver.execute(request)
    assert (again.outcome, again.code) == (result.outcome, result.code), "a repeat must give the same answer"
    charged = rail_driver.scenarios.charged_minor(rail_driver.psp_url, request)
    assert charged in (None, 0), "a declined payment moves no money"


def test_transient_failure_is_reported_as_transient(rail_driver: RailDriver) -> None:
    request = rail_driver.request("transient")
    result = rail_driver.execute(request)
    assert result.outcome is Outcome.TRANSIENT, f"the transient scenario must be TRANSIENT, got {result}"
    charged = rail_driver.scenarios.charged_minor(rail_driver.psp_url, request)
    assert charged in (None, 0), "TRANSIENT means nothing happened: no money may have moved"


def test_every_answer_is_an_outcome_member(rail_driver: RailDriver, rail_requirements: RailRequirements) -> None:
    request = rail_driver.request("valid")
    answers = [rail_driver.execute(request), rail_driver.execute(request)]
    if rail_requirements.status_query:
        answers += [rail_driver.status(request), rail_driver.status(rail_driver.request("valid"))]
    assert all(type(a.outcome) is Outcome for a in answers)
