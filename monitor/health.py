"""An optional HTTP listener for probes and Prometheus: /healthz, /readyz and /metrics.

It runs on its own threads (stdlib ThreadingHTTPServer), not on the daemon's event loop, for
two reasons: readiness checks are blocking calls (a database round trip, a schema check) that
must not stall polling; and when the event loop itself hangs, /readyz can still answer and say
so ("no scheduler heartbeat for 95 s") instead of going silent. It binds 127.0.0.1 unless told
otherwise: the answers are not secret, but nothing here is meant for the open network.

Usage from the daemon::

    from monitor.health import Check, HealthServer
    from monitor.metrics import METRICS

    def checks() -> list[Check]:
        return [Check("database", db.ping), Check("schema", db.check_schema),
                Check("scheduler", watchdog.check), Check("outbox", outbox_is_fresh)]

    server = HealthServer("127.0.0.1", 9464, checks=checks, metrics=METRICS)  # the defaults
    server.start()          # raises ConfigError if the port cannot be bound
    ...
    server.stop()

A check passes when its callable returns (a returned string is shown as its detail) and fails
when it raises: a MonitorError's message is the reason as written, any other exception is
reported as "TypeName: message". Checks run in parallel and each gets ``check_timeout``
seconds; one that takes longer fails as "timed out", so /readyz always answers in bounded time.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from monitor.errors import ConfigError, MonitorError
from monitor.metrics import CONTENT_TYPE, Metrics

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
DEFAULT_CHECK_TIMEOUT = 5.0
# A hung check keeps its worker thread until it returns (threads cannot be killed); capping
# the pool caps the threads that hung dependencies can pin, and later checks then time out.
CHECK_WORKERS = 8
REASON_LIMIT = 300


@dataclass(frozen=True)
class Check:
    """A named readiness probe: ``probe()`` returns (optionally a detail string) or raises."""

    name: str
    probe: Callable[[], object]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


class HealthServer:
    """Serves /healthz, /readyz and /metrics from a background thread.

    ``port`` 0 picks a free port; read the bound one from :attr:`port` after :meth:`start`.
    ``checks`` is called on each /readyz request, so the set of checks may change over time.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, checks: Callable[[], list[Check]], metrics: Metrics,
                 check_timeout: float = DEFAULT_CHECK_TIMEOUT) -> None:
        self.host = host
        self.requested_port = port
        self.checks = checks
        self.metrics = metrics
        self.check_timeout = check_timeout
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def port(self) -> int:
        """The bound port (raises RuntimeError before start())."""
        if self._server is None:
            raise RuntimeError("HealthServer is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the running listener, e.g. http://127.0.0.1:9464."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and start serving in a daemon thread.

        Raises ConfigError when the address cannot be bound (port taken, bad host), naming the
        address, so the operator can pick another in the configuration.
        """
        if self._server is not None:
            return
        handler = type("Handler", (_Handler,), {"health": self})
        server_class = _IPv6Server if ":" in self.host else ThreadingHTTPServer
        try:
            self._server = server_class((self.host, self.requested_port), handler)
        except OSError as exc:
            raise ConfigError(f"health listener: cannot listen on {self.host}:{self.requested_port} "
                              f"({exc.strerror or exc}); choose another address or port") from None
        self._server.daemon_threads = True
        self._pool = ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="readyz")
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)
        self._thread.start()
        logger.info("health and metrics listener on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket; hung checks are abandoned, not waited for."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._server = self._thread = self._pool = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_checks(self) -> list[CheckResult]:
        """Run every check in parallel; the whole call takes at most about ``check_timeout``."""
        try:
            checks = list(self.checks())
        except Exception as exc:  # noqa: BLE001 (a broken check list is a failed check, not a 500)
            return [CheckResult("checks", False, _reason(exc), 0.0)]
        pool = self._pool
        if pool is None:
            raise RuntimeError("HealthServer is not started")
        started = time.monotonic()
        deadline = started + self.check_timeout
        futures = [(check, pool.submit(_timed, check.probe)) for check in checks]
        return [_result(check, future, deadline, started) for check, future in futures]


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _timed(probe: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    value = probe()
    return value, time.monotonic() - started


def _reason(exc: BaseException) -> str:
    # Our own errors are written for operators; anything else needs its type to make sense.
    # Driver errors run to several lines (SQLAlchemy appends the SQL and a link): the first
    # line says what failed, and a probe's answer should stay one line per check.
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else exc.__class__.__name__
    if len(text) > REASON_LIMIT:
        text = text[:REASON_LIMIT - 1] + "…"
    return text if isinstance(exc, MonitorError) else f"{exc.__class__.__name__}: {text}"


def _result(check: Check, future: Future[tuple[object, float]], deadline: float, started: float) -> CheckResult:
    try:
        value, seconds = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        future.cancel()
        elapsed = time.monotonic() - started
        return CheckResult(check.name, False, f"timed out after {elapsed:.1f} s", round(elapsed, 3))
    except Exception as exc:  # noqa: BLE001 (whatever a check raises is its failure reason)
        return CheckResult(check.name, False, _reason(exc), round(time.monotonic() - started, 3))
    detail = value if isinstance(value, str) else ""
    return CheckResult(check.name, True, detail, round(seconds, 3))


class _Handler(BaseHTTPRequestHandler):
    health: HealthServer  # set on the per-server subclass
    server_version = "monitor"
    sys_version = ""
    timeout = 10  # seconds a client may idle mid-request before its thread is freed

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/readyz":
                self._readyz()
            elif path == "/metrics":
                self._send(HTTPStatus.OK, self.health.metrics.render(), CONTENT_TYPE)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the prober gave up; nothing to answer

    def _readyz(self) -> None:
        results = self.health.run_checks()
        failing = [f"{r.name}: {r.detail}" for r in results if not r.ok]
        body: dict[str, Any] = {"status": "not ready" if failing else "ready",
                                "checks": [asdict(r) for r in results]}
        if failing:
            body["failing"] = failing
            logger.warning("not ready: %s", "; ".join(failing))
        status = HTTPStatus.SERVICE_UNAVAILABLE if failing else HTTPStatus.OK
        self._send(status, json.dumps(body, indent=2).encode() + b"\n", "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes arrive every few seconds: keep them out of the journal unless debugging.
        logger.debug("%s %s", self.address_string(), format % args)
