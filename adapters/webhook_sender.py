"""Sends subscription deliveries to webhooks (Slack-compatible ones too) with httpx."""

from __future__ import annotations

import httpx

from application.quarantine import describe
from application.subscriptions.ports import Delivery, DeliveryFailedError

USER_AGENT = "scheduler-notifier"


class WebhookSender:
    """POSTs the signed JSON body; any 2xx answer is the receiver's acknowledgement."""

    def __init__(self, timeout_seconds: float) -> None:
        # No redirects: a 3xx is not an acknowledgement, and the signature names one URL.
        self._client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)

    def send(self, delivery: Delivery) -> None:
        """POST it.

        Raises:
            DeliveryFailedError: no answer in time, or an answer other than 2xx.
        """
        assert delivery.url is not None
        headers = {
            **delivery.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            response = self._client.post(delivery.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryFailedError(f"not delivered: {describe(error)}") from None
        if not response.is_success:
            raise DeliveryFailedError(f"the receiver answered HTTP {response.status_code}")

    def close(self) -> None:
        """Close its connections."""
        self._client.close()
