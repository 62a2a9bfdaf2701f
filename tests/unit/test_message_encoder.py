"""Dramatiq messages encoded by msgspec are Dramatiq's own JSON (ADR 0025): old and new workers share queues."""

from __future__ import annotations

import uuid

import pytest
from dramatiq import Message
from dramatiq.encoder import JSONEncoder
from dramatiq.errors import DecodeError

from flosspay.adapters.worker.encoder import MsgspecEncoder


def _message() -> Message[object]:
    return Message(
        queue_name="flosspay-payments",
        actor_name="process_payment",
        args=(str(uuid.uuid4()),),
        kwargs={"request_id": "req_0123"},
        options={"redis_message_id": str(uuid.uuid4()), "retries": 2, "eta": 1796173487962},
    )


def test_the_bytes_are_dramatiqs_json() -> None:
    data = _message().asdict()
    assert MsgspecEncoder().encode(data) == JSONEncoder().encode(data)


def test_each_decodes_the_others_messages() -> None:
    data = _message().asdict()
    assert MsgspecEncoder().decode(JSONEncoder().encode(data)) == JSONEncoder().decode(JSONEncoder().encode(data))
    assert JSONEncoder().decode(MsgspecEncoder().encode(data)) == MsgspecEncoder().decode(JSONEncoder().encode(data))
    unicode = {"kwargs": {"note": "café ₹"}}
    assert MsgspecEncoder().decode(JSONEncoder().encode(unicode)) == unicode


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
def test_garbage_is_dramatiqs_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        MsgspecEncoder().decode(raw)
