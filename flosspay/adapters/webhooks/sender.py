"""The httpx sender: POST to the checked address, no redirects, a deadline, and a capped read.

Never raises: every failure (refused address, timeout, reset) is a ``SendResult`` with an error.
No secret or payload is ever logged; only ids, status codes and timings.
"""

from __future__ import annotations

import logging
import time

import httpx

from flosspay.adapters.webhooks.resolver import Resolve, UnsafeAddress, checked_address, system_resolve
from flosspay.adapters.webhooks.signing import webhook_headers
from flosspay.domain.webhooks import RESPONSE_LOG_BYTES, DueDelivery, SendResult, WebhookPolicy

logger = logging.getLogger("flosspay.webhooks")

USER_AGENT = "FlossPay-Webhooks/1"


class HttpxSender:
    """Thread-safe: one pooled client shared by the delivery loop's threads."""

    def __init__(self, policy: WebhookPolicy, resolve: Resolve = system_resolve) -> None:
        self.policy = policy
        self.resolve = resolve
        seconds = policy.timeout.total_seconds()
        self.client = httpx.Client(
            timeout=httpx.Timeout(seconds),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would connect to a name, not the checked address
            limits=httpx.Limits(max_connections=max(16, policy.concurrency * 2), max_keepalive_connections=32),
            headers={"user-agent": USER_AGENT},
        )

    def close(self) -> None:
        self.client.close()

    def send(self, due: DueDelivery, timestamp: int) -> SendResult:
        headers = webhook_headers(due, timestamp)
        started = time.monotonic()
        deadline = started + self.policy.timeout.total_seconds()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            address = checked_address(due.url, self.policy.allow_private_urls, self.resolve)
        except UnsafeAddress as exc:
            logger.warning("webhook %s to endpoint %s refused: %s", due.event_id, due.endpoint_id, exc)
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"refused: {exc}"[:255])
        url = httpx.URL(due.url)
        pinned = url.copy_with(host=address)
        host_header = url.netloc.decode("ascii")
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        request = self.client.build_request(
            "POST", pinned, content=due.payload, headers={**headers, "host": host_header}, extensions=extensions
        )
        try:
            response = self.client.send(request, stream=True)
            try:
                head = bytearray()
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if len(head) < RESPONSE_LOG_BYTES:
                        head.extend(chunk[: RESPONSE_LOG_BYTES - len(head)])
                    if read >= self.policy.max_response_bytes or time.monotonic() > deadline:
                        break  # the rest is not needed: the status decides
            finally:
                response.close()
        except httpx.TimeoutException:
            return SendResult(status_code=None, duration_ms=elapsed(), error="timed out")
        except httpx.HTTPError as exc:
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"{type(exc).__name__}"[:255])
        status = response.status_code
        if time.monotonic() > deadline + 0.05:
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"answered {status} after the timeout")
        body = bytes(head).decode("utf-8", errors="replace")
        logger.debug("webhook %s to endpoint %s: %s in %d ms", due.event_id, due.endpoint_id, status, elapsed())
        return SendResult(status_code=status, duration_ms=elapsed(), body_head=body)
