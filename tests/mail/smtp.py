"""A real SMTP server for tests (aiosmtpd's Controller on a free port) that keeps what it receives, parsed."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """Every message accepted, with its envelope; the handler runs before the server's 250, so a message is here by
    the time the sender's SMTP conversation has returned."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.arrived = threading.Event()  # set by each message (the server runs in its own thread)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        self.arrived.set()
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def wait_for(self, count: int, timeout_s: float = 20.0) -> None:
        """Until ``count`` messages have arrived (bounded: a TimeoutError names how many did)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.inbox.messages) < count:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{len(self.inbox.messages)} of {count} e-mails arrived within {timeout_s} s")
            self.inbox.arrived.clear()
            if len(self.inbox.messages) >= count:
                break
            await asyncio.to_thread(self.inbox.arrived.wait, min(left, 1.0))

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def attachments(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_attachments()]
