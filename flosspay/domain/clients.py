"""API clients: the merchants' credentials."""

from __future__ import annotations

from datetime import datetime

import msgspec

from flosspay.domain.bucket import BucketLimit


class ApiClient(msgspec.Struct, frozen=True):
    """A merchant's API identity. ``secret`` signs requests and is shown to the merchant only once.
    ``limit``: its token bucket (requests per second and burst)."""

    client_id: str
    name: str
    secret: str
    created_at: datetime
    active: bool = True
    limit: BucketLimit = BucketLimit()

    def __repr__(self) -> str:  # never leak the secret through logs or tracebacks
        return (
            f"ApiClient(client_id={self.client_id!r}, name={self.name!r}, active={self.active}, limit={self.limit!r})"
        )
