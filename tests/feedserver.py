"""A real HTTP/1.1 server on 127.0.0.1 for tests: routes with canned behaviours and a request log.

Usage::

    with FeedServer() as server:
        feed = server.add("/feed.xml", Feed(b"<rss/>", etag='"v1"'))
        server.add("/old.xml", Redirect("/feed.xml", status=301))
        server.add("/feeds/{n}.xml", Generated(lambda n: f"<rss>{n}</rss>".encode()))
        ...  # fetch server.url("/old.xml")
        feed.update(b"<rss>new</rss>", etag='"v2"')   # simulate the publisher changing it
        assert server.requests[-1].headers["user-agent"].startswith("monitor/")

Routes: `Feed` (static body, ETag/Last-Modified with 304s, optional gzip/deflate/br encoding,
optional delay), `Redirect`, `Status` (404/410/429/500/503..., with headers such as
Retry-After), `Hang` (never answers), `Drip` (a few bytes at a time), `Huge` (streams more
than any cap, generated on the fly), `Generated` (a "{n}" path template, body from a callable,
ETag from the body). A wrong-charset feed is just
``Feed(cp1251_bytes, content_type="application/rss+xml; charset=utf-8")``.

Handler threads are daemons and every open connection is shut down on `stop()`, so hanging
or streaming routes never delay the end of a test. Tests live without an ``__init__.py``, so
import this module as ``from feedserver import FeedServer, Feed, ...``.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, Self, TypeVar

import brotli  # type: ignore[import-untyped]

RSS_TYPE = "application/rss+xml; charset=utf-8"


def http_date(when: datetime) -> str:
    """Return `when` as an HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``); naive means UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return format_datetime(when.astimezone(UTC), usegmt=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str                   # as sent, query string included
    headers: Mapping[str, str]  # lower-case names
    started: float              # time.monotonic() once the request head had been read


class Route:
    """A behaviour for one path. Subclasses implement `respond`."""

    def respond(self, exchange: Exchange) -> None:
        raise NotImplementedError


class Exchange:
    """What a route sees: the request, the means to answer, and whether the server is stopping."""

    def __init__(self, handler: _Handler, match: re.Match[str] | None) -> None:
        self._handler = handler
        self.match = match
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.stopping: threading.Event = handler.server.owner._stopping

    def send_head(self, status: int, headers: Mapping[str, str], *, close: bool = False) -> None:
        """Send the status line and headers; `close` ends the connection after the body."""
        handler = self._handler
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.flush()

    def write(self, data: bytes) -> None:
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def send(self, status: int, headers: Mapping[str, str] | None = None,
             body: bytes = b"") -> None:
        """Send a complete response with a Content-Length (none for 304, which has no body)."""
        all_headers = dict(headers or {})
        if status != 304:
            all_headers["Content-Length"] = str(len(body))
        self.send_head(status, all_headers)
        if body and status != 304:
            self.write(body)

    def drop(self) -> None:
        """Close this connection without sending anything."""
        self._handler.close_connection = True

    def hold(self) -> None:
        """Keep this connection silent until the server stops."""
        self._handler.close_connection = True
        self.stopping.wait()


def _not_modified(headers: Mapping[str, str], etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if etag is None:
            return False
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False


def _encode(body: bytes, encoding: str | None) -> bytes:
    if encoding is None:
        return body
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        # Quality 11 (the default) takes seconds on the big bodies of the size-cap tests.
        compressed: bytes = brotli.compress(body, quality=5)
        return compressed
    raise ValueError(f"unknown encoding {encoding!r}")


class Feed(Route):
    """A static body. Answers 304 to a matching If-None-Match / If-Modified-Since.

    `encoding` compresses the body once and labels it with Content-Encoding; `delay` waits
    that long before answering (for concurrency tests); `headers` are added as given
    (e.g. ``{"Cache-Control": "max-age=600"}``). `update` swaps the body at runtime.
    """

    def __init__(self, body: bytes, *, content_type: str = RSS_TYPE, etag: str | None = None,
                 last_modified: str | None = None,
                 encoding: Literal["gzip", "deflate", "br"] | None = None,
                 headers: Mapping[str, str] | None = None, delay: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.content_type = content_type
        self.encoding = encoding
        self.extra_headers = dict(headers or {})
        self.delay = delay
        self.update(body, etag=etag, last_modified=last_modified)

    def update(self, body: bytes, *, etag: str | None = None,
               last_modified: str | None = None) -> None:
        """Replace body and validators (as if the publisher changed the feed)."""
        encoded = _encode(body, self.encoding)
        with self._lock:
            self.body, self.encoded, self.etag, self.last_modified = (
                body, encoded, etag, last_modified)

    def respond(self, exchange: Exchange) -> None:
        if self.delay and exchange.stopping.wait(self.delay):
            return
        with self._lock:
            encoded, etag, last_modified = self.encoded, self.etag, self.last_modified
        headers = {"Content-Type": self.content_type, **self.extra_headers}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        if _not_modified(exchange.headers, etag, last_modified):
            exchange.send(304, headers)
            return
        if self.encoding:
            headers["Content-Encoding"] = self.encoding
        exchange.send(200, headers, encoded)


class Redirect(Route):
    """Redirects to `location` (a path on this server or an absolute URL) with `status`."""

    def __init__(self, location: str, status: Literal[301, 302, 303, 307, 308] = 301) -> None:
        self.location = location
        self.status = status

    def respond(self, exchange: Exchange) -> None:
        exchange.send(self.status, {"Location": self.location})


class Status(Route):
    """A fixed status with optional headers (e.g. ``{"Retry-After": "120"}``) and body."""

    def __init__(self, status: int, headers: Mapping[str, str] | None = None,
                 body: bytes = b"") -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.body = body

    def respond(self, exchange: Exchange) -> None:
        exchange.send(self.status, self.headers, self.body)


class Hang(Route):
    """Accepts the request and never answers (until the server stops)."""

    def respond(self, exchange: Exchange) -> None:
        exchange.hold()


class Drop(Route):
    """Reads the request and closes the connection without a word, its first `times` times,
    as a server does that times a kept-alive connection out just as the client reuses it;
    then answers as `then` does."""

    def __init__(self, then: Route, times: int = 1) -> None:
        self.then = then
        self.times = times
        self._lock = threading.Lock()

    def respond(self, exchange: Exchange) -> None:
        with self._lock:
            drop = self.times > 0
            self.times -= 1
        if drop:
            exchange.drop()
        else:
            self.then.respond(exchange)


class Drip(Route):
    """Sends a 200, then `chunk` every `interval` seconds, `count` times (length announced)."""

    def __init__(self, chunk: bytes = b"<rss>", interval: float = 0.2, count: int = 100) -> None:
        self.chunk = chunk
        self.interval = interval
        self.count = count

    def respond(self, exchange: Exchange) -> None:
        exchange.send_head(200, {"Content-Type": RSS_TYPE,
                                 "Content-Length": str(len(self.chunk) * self.count)}, close=True)
        for _ in range(self.count):
            exchange.write(self.chunk)
            if exchange.stopping.wait(self.interval):
                return


class Huge(Route):
    """Streams `size` bytes generated on the fly, 64 KiB at a time, never held in memory.

    `content_length` announces the size up front (for the early-rejection path); without it
    the body is delimited by closing the connection. `sent` counts bytes actually written,
    so a test can show that the client stopped reading early.
    """

    _BLOCK = b"<item><title>filler</title></item>\n" * 1872  # about 64 KiB

    def __init__(self, size: int = 1 << 30, *, content_length: bool = False) -> None:
        self.size = size
        self.content_length = content_length
        self.sent = 0

    def respond(self, exchange: Exchange) -> None:
        headers = {"Content-Type": RSS_TYPE}
        if self.content_length:
            headers["Content-Length"] = str(self.size)
        exchange.send_head(200, headers, close=True)
        left = self.size
        while left > 0 and not exchange.stopping.is_set():
            block = self._BLOCK[:left]
            exchange.write(block)
            self.sent += len(block)
            left -= len(block)


class Generated(Route):
    """For a template path like "/feeds/{n}.xml": body ``make(n)``, ETag from its hash, 304s."""

    def __init__(self, make: Callable[[int], bytes], *, content_type: str = RSS_TYPE) -> None:
        self.make = make
        self.content_type = content_type

    def respond(self, exchange: Exchange) -> None:
        assert exchange.match is not None, "Generated needs a path template with {n}"
        body = self.make(int(exchange.match.group(1)))
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"Content-Type": self.content_type, "ETag": etag}
        if _not_modified(exchange.headers, etag, None):
            exchange.send(304, headers)
        else:
            exchange.send(200, headers, body)


RouteT = TypeVar("RouteT", bound=Route)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real feed servers do
    timeout = 5  # idle keep-alive connections give up instead of lingering
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._begin(RecordedRequest(self.command, self.path,
                                     {k.lower(): v for k, v in self.headers.items()},
                                     time.monotonic()))
        try:
            route, match = owner._resolve(self.path.split("?", 1)[0])
            exchange = Exchange(self, match)
            if route is None:
                exchange.send(404, {"Content-Type": "text/plain"}, b"no such route\n")
            else:
                route.respond(exchange)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            # The client gave up (size cap, deadline) or stop() shut the socket: expected.
            self.close_connection = True
        finally:
            owner._end()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log is `FeedServer.requests`; stderr noise helps nobody


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        self.owner._track(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        self.owner._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # a client hanging up mid-response is routine here


class FeedServer:
    """The loopback server. Start with ``with FeedServer() as server`` (or `start`/`stop`).

    Thread-safe: routes may be added and the log read while requests are being served.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._templates: list[tuple[re.Pattern[str], Route]] = []
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Self:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02},
                                        name="feedserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: release hanging routes, shut every open connection, close the port."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- routes and URLs ---------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of `path` on this server."""
        return self.base_url + path

    def add(self, path: str, route: RouteT) -> RouteT:
        """Serve `route` at `path` (replacing any previous one) and return it.

        A path containing ``{n}`` is a template: ``{n}`` matches digits, available to the
        route as ``exchange.match.group(1)`` (see `Generated`).
        """
        with self._lock:
            if "{n}" in path:
                before, after = path.split("{n}", 1)
                pattern = re.compile(re.escape(before) + r"(\d+)" + re.escape(after))
                self._templates = [(p, r) for p, r in self._templates
                                   if p.pattern != pattern.pattern]
                self._templates.append((pattern, route))
            else:
                self._routes[path] = route
        return route

    def reset(self) -> None:
        """Forget logged requests and concurrency counts (routes stay)."""
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight

    # -- what was seen -----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Logged requests whose path (query excluded) is `path`."""
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was handling at once since start or `reset`."""
        with self._lock:
            return self._max_in_flight

    # -- used by the handler -----------------------------------------------------------
    def _resolve(self, path: str) -> tuple[Route | None, re.Match[str] | None]:
        with self._lock:
            route = self._routes.get(path)
            if route is not None:
                return route, None
            for pattern, template_route in self._templates:
                match = pattern.fullmatch(path)
                if match:
                    return template_route, match
        return None, None

    def _begin(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
