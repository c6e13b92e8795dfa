"""A real SMTP server on loopback (aiosmtpd) that keeps what it is sent, and the app's mail
pointed at it: the mail tests read what really went over SMTP."""

import email
import email.policy
import re
import socket

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address):
        """The plain-text bodies of the messages sent to `address`."""
        return [
            message.get_body(("plain",)).get_content()
            for _sender, recipients, message in self.messages
            if address in recipients
        ]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def link_in(body, path_start):
    return re.search(rf"https?://\S+{re.escape(path_start)}\S+", body).group(0)


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server on loopback, and the app's mail sent to it over SMTP."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
        }
    }
    settings.DEFAULT_FROM_EMAIL = "Banana Studio <studio@example.com>"
    try:
        yield inbox
    finally:
        controller.stop()
