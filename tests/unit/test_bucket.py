"""Token bucket (GCRA) rules with explicit times."""

import pytest

from flosspay.domain.bucket import BucketLimit, take

pytestmark = pytest.mark.unit


def run(limit: BucketLimit, times: list[float]) -> list[bool]:
    tat = None
    allowed = []
    for now in times:
        new_tat, decision = take(tat, now, limit)
        tat = new_tat if new_tat is not None else tat
        allowed.append(decision.allowed)
    return allowed


def test_a_full_bucket_allows_burst_requests_at_once_then_refuses():
    limit = BucketLimit(rate=1, burst=3)
    assert run(limit, [0, 0, 0, 0]) == [True, True, True, False]


def test_remaining_counts_down_and_reset_says_when_full():
    limit = BucketLimit(rate=2, burst=3)
    tat, d1 = take(None, 10.0, limit)
    assert d1.allowed and d1.remaining == 2 and d1.limit == 3 and d1.reset_after == pytest.approx(0.5)
    tat, d2 = take(tat, 10.0, limit)
    tat, d3 = take(tat, 10.0, limit)
    assert (d2.remaining, d3.remaining) == (1, 0) and d3.reset_after == pytest.approx(1.5)
    same, d4 = take(tat, 10.0, limit)
    assert same is None and not d4.allowed and d4.remaining == 0
    assert d4.retry_after == pytest.approx(0.5) and d4.reset_after == pytest.approx(1.5)


def test_tokens_refill_at_the_rate():
    limit = BucketLimit(rate=10, burst=1)
    assert run(limit, [0, 0.05, 0.1, 0.15, 0.2]) == [True, False, True, False, True]


def test_an_idle_client_never_banks_more_than_burst():
    limit = BucketLimit(rate=1, burst=2)
    assert run(limit, [0, 1000, 1000, 1000]) == [True, True, True, False]


def test_sustained_rate_is_held_over_time():
    limit = BucketLimit(rate=100, burst=200)
    times = [i / 1000 for i in range(3000)]  # 1000 requests/s for 3 s
    allowed = sum(run(limit, times))
    assert 200 + 300 - 2 <= allowed <= 200 + 300 + 2


@pytest.mark.parametrize("rate,burst", [(0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0)])
def test_bad_limits_are_refused(rate, burst):
    with pytest.raises(ValueError):
        BucketLimit(rate=rate, burst=burst)
