"""``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` on every authenticated answer.

The guard leaves its bucket decision in the connection state; the app's one ``before_send`` hook
(``observe.response_headers_hook``) adds these headers to whatever answer leaves, success or problem.
Only ``/api/v1`` requests pass the guard, so only their answers carry them.
"""

from __future__ import annotations

import math

from flosspay.domain.bucket import BucketDecision


def rate_limit_headers(decision: BucketDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset_after)).encode()),
    ]
