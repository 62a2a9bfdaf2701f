import threading
import uuid
from decimal import Decimal

import msgspec
import pytest

from flosspay.adapters.http.fields import convert_fields
from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.http.views import status_body
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy
from flosspay.application.status import get_status
from flosspay.domain.errors import IdempotencyConflict, NotFound, ValidationFailed
from flosspay.domain.idempotency import Answer
from flosspay.domain.outbox import TOPIC_PROCESS
from flosspay.domain.payment import Flow, PaymentStatus
from tests.fakes import FakeClock, FakeFields, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit


@pytest.fixture
def env():
    return FakeUnitOfWorkFactory(), FakeRailRegistry(FakeRail()), FakeClock(), IntakePolicy()


def upi(sender="alice@upi", receiver="bob@upi"):
    return {"senderUpi": sender, "receiverUpi": receiver}


def pay(env, key="k1", fp="fp1", client="c1", amount=Decimal("28.00"), sender="alice@upi", receiver="bob@upi"):
    uow, rails, clock, policy = env
    intent = PaymentIntent(client, key, fp, "UPI", Flow.PAY, amount, "INR", upi(sender, receiver))
    return accept_payment(intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, **HTTP_INTAKE)


def collect(env, minutes=None):
    uow, rails, clock, policy = env
    intent = PaymentIntent("c1", "k", "fp", "UPI", Flow.COLLECT, 5, "INR", upi(), expires_in_minutes=minutes)
    return accept_payment(intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, **HTTP_INTAKE)


def status_of(client, pid, uow):
    state = get_status(client, pid, uow_factory=uow)
    return msgspec.json.decode(status_body(state.payment, state.ledger_entry_id))


def test_accepts_and_writes_everything_in_one_commit(env):
    result = pay(env)
    store = env[0].store
    body = msgspec.json.decode(result.answer.body)
    assert result.answer.status == 200 and not result.replayed
    assert body["status"] == "QUEUED" and body["amount"] == "28.00" and body["currency"] == "INR"
    assert body["method"] == "UPI" and body["createdAt"] == "2026-01-01T12:00:00Z" and body["message"]
    pid = uuid.UUID(body["id"])
    assert store.commits == 1
    assert store.payments[pid].amount.minor == 2800
    assert store.payments[pid].details == {"senderUpi": "alice@upi", "receiverUpi": "bob@upi"}
    assert [m.topic for m in store.outbox] == [TOPIC_PROCESS] and store.outbox[0].payment_id == pid
    record = store.idempotency[("c1", "k1")]
    assert record.response_body == result.answer.body and record.payment_id == str(pid)
    assert record.expires_at - record.created_at == IntakePolicy().idempotency_ttl


def test_same_key_same_request_replays_without_second_payment(env):
    first = pay(env)
    second = pay(env)
    assert second.replayed and second.answer == first.answer and second.answer.status == 200
    assert len(env[0].store.payments) == 1 and len(env[0].store.outbox) == 1


def test_same_key_different_request_conflicts(env):
    pay(env)
    with pytest.raises(IdempotencyConflict):
        pay(env, fp="other")
    assert len(env[0].store.payments) == 1


def test_keys_are_scoped_per_client(env):
    pay(env, client="c1")
    pay(env, client="c2")
    assert len(env[0].store.payments) == 2


def test_expired_key_can_be_reused(env):
    pay(env)
    env[2].advance(24 * 3600 + 1)
    result = pay(env, fp="new")
    assert not result.replayed and len(env[0].store.payments) == 2


def test_rejected_request_stores_nothing_so_key_can_be_reused(env):
    with pytest.raises(ValidationFailed):
        pay(env, sender="bob@upi")
    assert env[0].store.idempotency == {} and env[0].store.commits == 0
    assert not pay(env).replayed


def test_collects_all_field_errors(env):
    uow, rails, clock, policy = env
    intent = PaymentIntent(
        "c1",
        "k",
        "fp",
        "UPI",
        Flow.PAY,
        Decimal("0"),
        "INR",
        {"senderUpi": "a@upi", "receiverUpi": "A@UPI"},
        note="n" * 256,
    )
    with pytest.raises(ValidationFailed) as err:
        accept_payment(intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, **HTTP_INTAKE)
    assert {e.field for e in err.value.errors} == {"amount", "note"}


def test_rail_rules_apply_when_amount_valid(env):
    with pytest.raises(ValidationFailed) as err:
        pay(env, sender="a@upi", receiver="A@upi")
    assert [e.field for e in err.value.errors] == ["receiverUpi"]


def test_unknown_method_names_enabled_ones(env):
    uow, rails, clock, policy = env
    intent = PaymentIntent("c1", "k", "fp", "CHEQUE", Flow.PAY, 1, "INR", {})
    with pytest.raises(ValidationFailed, match="enabled: UPI"):
        accept_payment(intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, **HTTP_INTAKE)
    with pytest.raises(ValidationFailed, match="enabled: none"):
        accept_payment(intent, uow_factory=uow, rails=FakeRailRegistry(), clock=clock, policy=policy, **HTTP_INTAKE)


def test_unsupported_flow(env):
    class PayOnly(FakeRail):
        flows = frozenset({Flow.PAY})

    uow, _, clock, policy = env
    intent = PaymentIntent(
        "c1", "k", "fp", "UPI", Flow.COLLECT, 1, "INR", {"senderUpi": "a@upi", "receiverUpi": "b@upi"}
    )
    with pytest.raises(ValidationFailed, match="does not support collect"):
        accept_payment(
            intent, uow_factory=uow, rails=FakeRailRegistry(PayOnly()), clock=clock, policy=policy, **HTTP_INTAKE
        )


def test_collect_is_requested_with_expiry(env):
    result = collect(env, 10)
    body = msgspec.json.decode(result.answer.body)
    assert result.answer.status == 202 and body["status"] == "REQUESTED"
    assert body["expiresAt"] == "2026-01-01T12:10:00Z"


def test_collect_default_expiry_is_thirty_minutes(env):
    body = msgspec.json.decode(collect(env).answer.body)
    assert body["expiresAt"] == "2026-01-01T12:30:00Z"


@pytest.mark.parametrize("minutes", [0, -1, 64801])
def test_collect_expiry_bounds(env, minutes):
    with pytest.raises(ValidationFailed) as err:
        collect(env, minutes)
    assert err.value.errors[0].field == "expiresInMinutes"


@pytest.mark.parametrize("minutes", [1, 64800])
def test_collect_expiry_edges_accepted(env, minutes):
    assert collect(env, minutes).answer.status == 202


def test_the_core_stores_and_replays_what_the_injected_renderer_produced(env):
    """The answer's bytes are the adapter's: the core keeps them for the key and replays them unread."""
    uow, rails, clock, policy = env
    seen = []

    def render(payment):
        seen.append(payment.id)
        return Answer(299, b"payment " + str(payment.id).encode())

    def decode(fields, type_):
        return msgspec.convert(fields, type_)

    intent = PaymentIntent("c1", "k", "fp", "UPI", Flow.PAY, 5, "INR", upi())
    first = accept_payment(
        intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, decode=decode, render=render
    )
    again = accept_payment(
        intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, decode=decode, render=render
    )
    assert first.answer == Answer(299, b"payment " + str(seen[0]).encode()) and not first.replayed
    assert again.replayed and again.answer == first.answer and again.payment_id == first.payment_id == str(seen[0])
    record = uow.store.idempotency[("c1", "k")]
    assert (record.response_status, record.response_body) == (299, first.answer.body)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"senderUpi": "a@upi"}, "receiverUpi", "is required"),
        ({"senderUpi": "a@upi", "receiverUpi": 5}, "receiverUpi", "Expected `str`"),
        ({"senderUpi": "a@upi", "receiverUpi": "b@upi", "x": 1}, "x", "is not a known field"),
    ],
)
def test_convert_fields_names_the_field(fields, field, message):
    with pytest.raises(ValidationFailed) as err:
        convert_fields(fields, FakeFields)
    assert err.value.errors[0].field == field and message in err.value.errors[0].message


def test_convert_fields_prefix():
    class Card(msgspec.Struct, forbid_unknown_fields=True):
        number: str

    class Outer(msgspec.Struct, forbid_unknown_fields=True):
        card: Card

    with pytest.raises(ValidationFailed) as err:
        convert_fields({"card": {"number": 4}}, Outer)
    assert err.value.errors[0].field == "card.number"


def test_fifty_parallel_requests_one_payment(env):
    results, errors = [], []

    def go():
        try:
            results.append(pay(env))
        except Exception as exc:  # pragma: no cover - a failure shows in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(env[0].store.payments) == 1
    assert len({r.answer.body for r in results}) == 1 and sum(not r.replayed for r in results) == 1


def test_status_visible_to_owner_only(env):
    body = msgspec.json.decode(pay(env).answer.body)
    status = status_of("c1", body["id"], env[0])
    assert status["status"] == "QUEUED" and status["id"] == body["id"]
    assert status["history"] == [
        {"from": None, "to": "QUEUED", "at": "2026-01-01T12:00:00Z", "reason": "accepted", "attempt": None}
    ]
    assert status["attempts"] == [] and "failureCode" not in status
    for client, pid in (("c2", body["id"]), ("c1", str(uuid.uuid4())), ("c1", "not-a-uuid")):
        with pytest.raises(NotFound):
            get_status(client, pid, uow_factory=env[0])


def test_status_shows_failure(env):
    body = msgspec.json.decode(pay(env).answer.body)
    stored = env[0].store.payments[uuid.UUID(body["id"])]
    stored.claim("w", env[2].now(), env[2].now())
    stored.fail("Z9", "insufficient funds", env[2].now(), 1)
    status = status_of("c1", body["id"], env[0])
    assert (status["status"], status["failureCode"], status["failureReason"]) == (
        PaymentStatus.FAILED,
        "Z9",
        "insufficient funds",
    )


def test_each_rail_account_is_built_and_checked_once_per_payment(env, monkeypatch):
    """ADR 0024's addendum: the refusal check and the payment's accounts share one pass (was four checks)."""
    from flosspay.domain import ledger

    checked = []
    real = ledger.is_account_name
    monkeypatch.setattr(ledger, "is_account_name", lambda name: checked.append(name) or real(name))
    body = msgspec.json.decode(pay(env, sender="Carol@upi", receiver="dave@upi").answer.body)
    assert checked == ["upi:vpa:carol@upi", "upi:vpa:dave@upi"]
    made = env[0].store.payments[uuid.UUID(body["id"])]
    assert (made.payer_account, made.payee_account) == ("upi:vpa:carol@upi", "upi:vpa:dave@upi")
