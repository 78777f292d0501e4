"""A stand-in for Slack's incoming webhooks on 127.0.0.1: records POSTs, answers as scripted.

Usage::

    with SlackServer() as slack:
        slack.script(Reply(), Reply(429, "rate_limited", {"Retry-After": "7"}), Reply(500, "oops"))
        ...  # send_slack(slack.url, payloads)
        slack.requests   # every POST, in order, with the reply it got
        slack.posted     # the JSON bodies answered 2xx: what the channel would show

After the script runs out every POST gets 200 "ok", like Slack. A POST to any path other than
the webhook's answers 404 "no_service", as Slack does for a removed webhook. `Reply(delay=s)`
answers late (for client timeouts) and `Reply(drop=True)` reads the request and closes the
connection without a word. Handler threads are daemons and waits end on `stop()`, so slow
replies never hold up the end of a test.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

WEBHOOK_PATH = "/services/T0TEST000/B0TEST000/s3cretWebhookTokenWxyz"


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: str = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class RecordedPost:
    """One POST as the server saw it, and what it answered (None: dropped or too late)."""

    path: str
    headers: Mapping[str, str]  # lower-case names
    body: Any                   # the decoded JSON
    status: int | None


class SlackServer:
    """Context manager running the stand-in in a thread; `url` is the (secret) webhook URL."""

    def __init__(self, path: str = WEBHOOK_PATH) -> None:
        self.path = path
        self.requests: list[RecordedPost] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.path}"

    @property
    def posted(self) -> list[Any]:
        """Bodies Slack accepted (2xx), in order: what reached the channel."""
        with self._lock:
            return [r.body for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next POSTs, in order."""
        with self._lock:
            self._script.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, path: str) -> Reply:
        if path != self.path:
            return Reply(404, "no_service")
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _record(self, post: RecordedPost) -> None:
        with self._lock:
            self.requests.append(post)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server._next_reply(self.path)
                body = json.loads(raw) if raw else None
                if reply.drop or (reply.delay and server._stopping.wait(reply.delay)):
                    server._record(RecordedPost(self.path, headers, body, None))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                server._record(RecordedPost(self.path, headers, body, reply.status))
                data = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (a timeout test)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
