"""Real servers on loopback for delivery tests: an SMTP server (aiosmtpd) and a webhook receiver."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import TEST_DATABASE_URL


def app_config(tmp_path: Any, **extra: Any) -> dict[str, Any]:
    """The same configuration as the suite's ``app`` fixture, plus ``extra``."""
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "CRM_ARGON2_TIME_COST": 1,
        "CRM_ARGON2_MEMORY_COST": 64,
        **extra,
    }
    if TEST_DATABASE_URL:
        config["CRM_DATABASE_URL"] = TEST_DATABASE_URL
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy (bounded); answers its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- SMTP ------------------------------------------------------------------------------------


class SmtpCatcher:
    """aiosmtpd on 127.0.0.1, keeping every message it receives; can be stopped and restarted."""

    def __init__(self) -> None:
        aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed")
        self.port = free_port()
        self.messages: list[dict[str, Any]] = []
        self._controller_class = aiosmtpd.Controller
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes
        from email.policy import default

        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "subject": str(message["Subject"]), "body": message.get_content()})
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller = self._controller_class(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(name="smtp")
def smtp_server() -> Any:
    catcher = SmtpCatcher()
    catcher.start()
    yield catcher
    catcher.stop()


# -- webhooks --------------------------------------------------------------------------------


@dataclass
class Receipt:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 recording each POST.

    ``status`` is the answer. With ``hold_first``, the first request is held unanswered (``held`` is
    set) until its client goes away (then it counts as ``aborted``) or ``release`` is set; only
    requests answered to a live client count as ``completed``.
    """

    status: int = 200
    hold_first: bool = False
    received: list[Receipt] = field(default_factory=list)
    completed: list[Receipt] = field(default_factory=list)
    aborted: list[Receipt] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    server: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receipt = Receipt(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    receiver.received.append(receipt)
                    hold = receiver.hold_first and len(receiver.received) == 1
                if hold:
                    receiver.held.set()
                    if not receiver._wait_while_client_alive(self.connection):
                        with receiver.lock:
                            receiver.aborted.append(receipt)
                        self.close_connection = True
                        return
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.wfile.flush()
                with receiver.lock:
                    receiver.completed.append(receipt)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def _wait_while_client_alive(self, connection: socket.socket, limit: float = 60.0) -> bool:
        """Hold the request; false as soon as the client closed its end (it was killed)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.release.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                try:
                    if connection.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
        return True

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
