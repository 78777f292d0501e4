"""Serve the demo feeds (or any directory of files) over HTTP on 127.0.0.1 for `monitor demo`.

The demo polls through the real fetcher, so the server behaves like a polite publisher:
correct Content-Type, ETag and Last-Modified, and 304 Not Modified on conditional requests.
Files are read on every request, so editing a file while the server runs looks to a poller
like the publisher updating its feed. Standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import mimetypes
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote, unquote, urlsplit

from monitor.errors import MonitorError

logger = logging.getLogger(__name__)

#: File name endings that `DemoServer.urls` and `demo_feed_files` treat as feeds.
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")

# Only the head of a file is sniffed; feed roots and XML declarations come first.
_SNIFF_BYTES = 4096
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)")
_XML_ENCODING = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_META_CHARSET = re.compile(r"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.IGNORECASE)
_ROOT_TYPES = {
    "rss": "application/rss+xml",
    "feed": "application/atom+xml",
    "rdf:rdf": "application/rdf+xml",
    "rdf": "application/rdf+xml",
    "html": "text/html",
}


def demo_feeds_directory() -> Path:
    """Return the directory holding the packaged demo feeds.

    Raises MonitorError when the package is not installed as plain files (e.g. run from a
    zip), because the server needs real paths to stat and read.
    """
    root = importlib.resources.files("monitor.demo") / "feeds"
    if not isinstance(root, Path) or not root.is_dir():
        raise MonitorError(
            f"demo feeds not found as files at {root}; reinstall monitor as a regular "
            "(not zipped) package")
    return root


def demo_feed_files() -> list[Path]:
    """Return the packaged demo feed files, sorted by name.

    Raises MonitorError when the packaged data cannot be found (see `demo_feeds_directory`).
    """
    return sorted(p for p in demo_feeds_directory().iterdir()
                  if p.is_file() and p.suffix.lower() in FEED_SUFFIXES)


def content_type_for(filename: str, body: bytes) -> str:
    """Return the Content-Type a careful publisher would send for `body`.

    Feed files are sniffed rather than trusted by name, because every demo feed ends in
    ``.xml`` while its root says what it is: ``<rss>`` → application/rss+xml, ``<feed>`` →
    application/atom+xml, ``<rdf:RDF>`` → application/rdf+xml, ``<html>`` → text/html
    (the "feed" that is really an error page), anything else → application/xml. The charset
    repeats the file's own XML declaration (or HTML meta charset), defaulting to utf-8, so
    the header never contradicts the body. Other files fall back to `mimetypes`.
    """
    if not filename.lower().endswith(FEED_SUFFIXES):
        guessed, _ = mimetypes.guess_type(filename)
        if guessed is None:
            return "application/octet-stream"
        return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed
    # latin-1 never fails and keeps ASCII markup intact in every ASCII-compatible encoding.
    head = _COMMENT.sub("", body[:_SNIFF_BYTES].decode("latin-1"))
    head_without_decls = re.sub(r"<[?!][^>]*>", "", head)
    root = _FIRST_ELEMENT.search(head_without_decls)
    mime = _ROOT_TYPES.get(root.group(1).lower(), "application/xml") if root else "application/xml"
    declared = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    charset = declared.group(1).lower() if declared else "utf-8"
    return f"{mime}; charset={charset}"


def _etag_for(body: bytes) -> str:
    """Return a strong ETag derived from the content, so it changes exactly when the bytes do."""
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Return True when an If-None-Match header matches `etag` (weak comparison, RFC 9110)."""
    candidates = [c.strip() for c in if_none_match.split(",")]
    bare = etag.removeprefix("W/")
    return any(c == "*" or c.removeprefix("W/") == bare for c in candidates)


def _not_modified_since(if_modified_since: str, modified: datetime) -> bool:
    """Return True when the file has not changed since the client's date; bad dates mean False."""
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified <= since


@dataclass(frozen=True)
class ServedRequest:
    """One answered request, kept so the demo can show what a second poll cost (304s)."""

    method: str
    path: str
    status: int


class _Handler(BaseHTTPRequestHandler):
    """Answers GET and HEAD for files directly inside the server's directory."""

    protocol_version = "HTTP/1.1"
    server_version = "monitor-demo/0.1"
    # An idle keep-alive connection is dropped after this long; stop() also cuts them at once.
    timeout = 5
    server: _Server

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        # The demo prints its own narrative; per-request lines go to logging, not stderr.
        logger.debug("%s - %s", self.address_string(), format % args)

    def _serve(self, *, send_body: bool) -> None:
        path = self.server.owner.resolve(self.path)
        if path is None:
            self._answer(HTTPStatus.NOT_FOUND, b"not found\n", {"Content-Type": "text/plain; charset=utf-8"},
                         send_body=send_body)
            return
        body = path.read_bytes()
        modified = datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)
        validators = {"ETag": _etag_for(body),
                      "Last-Modified": format_datetime(modified, usegmt=True)}
        # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_none_match is not None:
            unchanged = _etag_matches(if_none_match, validators["ETag"])
        else:
            unchanged = if_modified_since is not None and _not_modified_since(if_modified_since, modified)
        if unchanged:
            self._answer(HTTPStatus.NOT_MODIFIED, b"", validators, send_body=False)
            return
        headers = {"Content-Type": content_type_for(path.name, body), **validators}
        self._answer(HTTPStatus.OK, body, headers, send_body=send_body)

    def _answer(self, status: HTTPStatus, body: bytes, headers: Mapping[str, str], *,
                send_body: bool) -> None:
        # Recorded before answering, so a client that has its response also sees the record.
        self.server.owner.record(ServedRequest(self.command, self.path, int(status)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so they can be cut on stop."""

    daemon_threads = True

    def __init__(self, owner: DemoServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every open connection so idle keep-alive handler threads end now."""
        with self._connections_lock:
            open_now = list(self._connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client or the handler


class DemoServer:
    """Serve the files of one directory at ``http://127.0.0.1:PORT/<file name>``.

    Usage::

        with DemoServer() as server:          # the packaged demo feeds
            for name, url in server.urls().items():
                ...                           # poll url

    The port is chosen by the OS (port 0) unless given. Only regular, non-hidden files
    directly inside the directory are served; anything else is a 404. `requests` lists what
    was answered, in order.
    """

    def __init__(self, directory: Path | str | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.directory = Path(directory) if directory is not None else demo_feeds_directory()
        if not self.directory.is_dir():
            raise MonitorError(f"{self.directory}: not a directory; cannot serve demo feeds from it")
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[ServedRequest] = []
        self._log_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and start serving in a daemon thread; return self."""
        if self._server is not None:
            return self
        self._server = _Server(self, self._address)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="monitor-demo-server", daemon=True)
        self._thread.start()
        logger.debug("demo server for %s listening on %s", self.directory, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and release the port. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT``. Raises RuntimeError when the server is not started."""
        if self._server is None:
            raise RuntimeError("DemoServer is not running; use it as a context manager or call start()")
        return f"http://{self._address[0]}:{self._server.server_port}"

    def url_for(self, filename: str) -> str:
        """Return the URL serving `filename` from the directory.

        Raises FileNotFoundError when the directory holds no such file, so a typo in the demo
        fails loudly instead of polling a 404.
        """
        if self._file(filename) is None:
            raise FileNotFoundError(f"{self.directory / filename}: no such file to serve")
        return f"{self.base_url}/{quote(filename)}"

    def urls(self) -> dict[str, str]:
        """Return file name → URL for every feed file in the directory (see FEED_SUFFIXES), sorted."""
        names = sorted(p.name for p in self.directory.iterdir()
                       if p.suffix.lower() in FEED_SUFFIXES and self._file(p.name) is not None)
        return {name: f"{self.base_url}/{quote(name)}" for name in names}

    # -- used by the handler -------------------------------------------------------------------

    @property
    def requests(self) -> list[ServedRequest]:
        """Return a copy of the answered requests, oldest first."""
        with self._log_lock:
            return list(self._log)

    def record(self, served: ServedRequest) -> None:
        """Append one answered request to `requests` (called from handler threads)."""
        with self._log_lock:
            self._log.append(served)

    def resolve(self, request_target: str) -> Path | None:
        """Return the file a request target names, or None when it names nothing servable."""
        name = unquote(urlsplit(request_target).path).lstrip("/")
        return self._file(name)

    def _file(self, name: str) -> Path | None:
        # One flat directory: no sub-paths, no dot-files, nothing outside it (no "..").
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = self.directory / name
        return path if path.is_file() else None
