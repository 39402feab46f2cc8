"""Wires the notifier of `[alerting]`: senders, its book, its lease, its thread."""

from __future__ import annotations

import logging
import threading

from adapters.smtp_sender import SmtpSender, SmtpServer
from adapters.subscription_book import SqlSubscriptionBook
from adapters.webhook_sender import WebhookSender
from application.subscriptions.notifier import Notifier
from application.subscriptions.ports import NotifierPolicy
from entrypoints.bootstrap import Container, projection_lease
from entrypoints.settings import AlertingSettings

logger = logging.getLogger(__name__)

LEASE_NAME = "notifier"  # one notifier per deployment: an advisory lock on PostgreSQL


def smtp_server(alerting: AlertingSettings) -> SmtpServer | None:
    """The SMTP server `[alerting]` names, or None."""
    if alerting.smtp_host is None:
        return None
    return SmtpServer(
        host=alerting.smtp_host,
        port=alerting.smtp_port,
        sender=alerting.smtp_from,
        username=alerting.smtp_username,
        password=alerting.smtp_password,
        starttls=alerting.smtp_starttls,
        timeout_seconds=alerting.timeout_seconds,
    )


def make_notifier(container: Container, webhooks: WebhookSender) -> Notifier:
    """The notifier of this process, over its log, read tables and secret box."""
    alerting = container.settings.alerting
    outcomes = container.metrics.subscription_deliveries
    return Notifier(
        container.app,
        SqlSubscriptionBook(container.database),
        {"url": webhooks, "email": SmtpSender(smtp_server(alerting))},
        container.app.secrets,
        container.clock,
        policy=NotifierPolicy(
            retry_base_seconds=alerting.retry_base_seconds,
            retry_max_seconds=alerting.retry_max_seconds,
            poll_interval_seconds=alerting.poll_interval_seconds,
        ),
        wakeup=container.log_wakeup,
        lease=projection_lease(container.session, LEASE_NAME),
        on_outcome=lambda target, outcome: outcomes.labels(target=target, outcome=outcome).inc(),
        is_outage=container.database.is_outage,
    )


def start_notifier(container: Container) -> None:
    """Run the notifier in a thread of this process, unless `[alerting]` turns it off."""
    if not container.settings.alerting.notifier_enabled:
        logger.info("notifier off ([alerting] notifier_enabled = false)")
        return
    webhooks = WebhookSender(container.settings.alerting.timeout_seconds)
    notifier = make_notifier(container, webhooks)

    def run(stop: threading.Event) -> None:
        try:
            notifier.run_forever(stop)
        finally:
            webhooks.close()

    container.start_thread("notifier", run, container.stop)
