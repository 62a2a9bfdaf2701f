"""API clients: the merchants' credentials."""

from __future__ import annotations

from datetime import datetime

import msgspec

from flosspay.domain.bucket import BucketLimit


class ApiClient(msgspec.Struct, frozen=True):
    """A merchant's API identity. ``secret`` signs requests and is shown to the merchant only once.

    After a rotation the replaced secret is still accepted until ``previous_secret_expires_at``, so a
    merchant can roll the new one out without a window of refused requests. ``limit``: its token
    bucket (requests per second and burst).
    """

    client_id: str
    name: str
    secret: str
    created_at: datetime
    active: bool = True
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    limit: BucketLimit = BucketLimit()

    def secrets_at(self, now: datetime) -> tuple[str, ...]:
        """The secrets a signature may be made with at ``now``: the current one, then any still-valid old one."""
        if (
            self.previous_secret is not None
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def __repr__(self) -> str:  # never leak the secret through logs or tracebacks
        return (
            f"ApiClient(client_id={self.client_id!r}, name={self.name!r}, active={self.active}, limit={self.limit!r})"
        )
