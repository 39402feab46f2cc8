"""Sends subscription deliveries as email through the `[alerting]` SMTP server (smtplib)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import orjson

from application.quarantine import describe
from application.subscriptions.ports import Delivery, DeliveryFailedError


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send mail."""

    host: str
    port: int
    sender: str  # the From address
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0


class SmtpSender:
    """One message per delivery; the server accepting it is the acknowledgement."""

    def __init__(self, server: SmtpServer | None) -> None:
        self._server = server

    def send(self, delivery: Delivery) -> None:
        """Send it as mail.

        Raises:
            DeliveryFailedError: no server configured, or the server refused or did not answer.
        """
        server = self._server
        if server is None:
            raise DeliveryFailedError("no [alerting] smtp_host is configured")
        try:
            with smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds) as smtp:
                if server.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if server.username:
                    smtp.login(server.username, server.password or "")
                smtp.send_message(message(delivery, server.sender))
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryFailedError(f"not sent: {describe(error)}") from None


def message(delivery: Delivery, sender: str) -> EmailMessage:
    """The mail of a delivery: the JSON body, its headers, a Message-ID receivers dedupe on."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(delivery.email)
    mail["Subject"] = delivery.subject
    mail["Message-ID"] = f"<{delivery.delivery_id}@scheduler>"
    for name, value in delivery.headers.items():
        mail[name] = value
    # The last line is the signed JSON exactly as signed, so a reader can verify it.
    text = str(orjson.loads(delivery.body).get("text", ""))
    mail.set_content(f"{text}\n\n{delivery.body.decode()}\n")
    return mail
