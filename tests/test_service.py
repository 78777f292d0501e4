"""`monitor run` as systemd runs it: sd_notify, watchdog, health and metrics, SIGHUP reloads,
SIGTERM during a poll and during a send, /readyz when the database goes away; and retention."""

from __future__ import annotations

import os
import select as selectmodule
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from feedgen import Entry, rss
from feedserver import Drip, Feed, FeedServer
from sqlalchemy import func, select

from monitor.database import Database
from monitor.models import Delivery, Hit, Item, Tombstone

RULES = """
actors:
  - id: hamas
    name: Hamas
    aliases: [Hamas]
watches:
  - id: hamas
    title: Hamas
    priority: high
    query: '@hamas'
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A `monitor run` subprocess with its own notify socket, config and health port."""

    def __init__(self, tmp: Path, database_url: str, feeds: list[str], *, extra: str = "",
                 watchdog_usec: int | None = None) -> None:
        self.tmp = tmp
        self.rules = tmp / "rules"
        self.rules.mkdir(exist_ok=True)
        (self.rules / "watch.yaml").write_text(RULES, encoding="utf-8")
        self.port = free_port()
        feed_blocks = "".join(f'[[feeds]]\nurl = "{u}"\nname = "f{i}"\n' for i, u in enumerate(feeds))
        self.config = tmp / "monitor.toml"
        self.config.write_text(f"""
[http]
host_min_gap = 0
timeout = "30s"
[polling]
tick = "0.5s"
startup_spread = 0
parse_workers = 1
[rules]
paths = ["{self.rules}"]
[health]
listen = "127.0.0.1:{self.port}"
{extra}
{feed_blocks}""", encoding="utf-8")
        self.notify_path = tmp / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        env = {**os.environ, "MONITOR_DATABASE_URL": database_url, "NOTIFY_SOCKET": str(self.notify_path)}
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log = open(tmp / "daemon.log", "w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(self.config), "run"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.messages: list[str] = []

    def read_notifications(self, until: str, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = selectmodule.select([self.notify], [], [], 0.2)
            if ready:
                self.messages += self.notify.recv(4096).decode().splitlines()
                if any(m.startswith(until) for m in self.messages):
                    return self.messages
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"no {until} within {timeout} s; got {self.messages}; log:\n{self.output()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        self.log.flush()
        return (self.tmp / "daemon.log").read_text(encoding="utf-8")

    def stop(self, timeout: float = 40) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        self.log.close()


def count(url: str, model) -> int:  # type: ignore[no-untyped-def]
    db = Database(url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0
    finally:
        db.dispose()


def wait_for(predicate, timeout: float = 30, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the daemon may still be starting
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    Database(url).upgrade()
    return url


def test_notify_watchdog_health_metrics_and_sighup_with_a_broken_rule(tmp_path: Path, sqlite_url: str,
                                                                      feed_server: FeedServer) -> None:
    feed_server.add("/a.xml", Feed(rss([Entry(title="Hamas statement", link="https://n.example/1", guid="1")])))
    daemon = Daemon(tmp_path, sqlite_url, [feed_server.url("/a.xml")], watchdog_usec=1_000_000)
    try:
        messages = daemon.read_notifications("READY=1")
        assert any(m.startswith("STATUS=") for m in messages)
        daemon.read_notifications("WATCHDOG=1")
        assert httpx.get(daemon.url("/healthz"), timeout=5).status_code == 200
        ready = httpx.get(daemon.url("/readyz"), timeout=10)
        assert ready.status_code == 200, ready.text
        metrics = wait_for(lambda: (t := httpx.get(daemon.url("/metrics"), timeout=5).text)
                           and 'monitor_hits_total{priority="high"} 1.0' in t and t, what="metrics after a poll")
        assert 'monitor_feed_polls_total{outcome="ok"}' in metrics and "monitor_rules_loaded_watches 1.0" in metrics

        broken = daemon.rules / "watch.yaml"
        broken.write_text(RULES.replace("query: '@hamas'", "query: '@hamas AND'"), encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "rule reload failed" in daemon.output(), what="the reload failure in the log")
        assert f"{broken}:10:23: expected a term" in daemon.output()
        text = wait_for(lambda: (t := httpx.get(daemon.url("/metrics"), timeout=5).text)
                        and "monitor_rule_reload_failures_total 1.0" in t and t, what="reload failure metric")
        assert "monitor_rules_loaded_watches 1.0" in text  # the last good rules are still in force
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=40) == 0
        messages = daemon.messages + _drain(daemon)
        assert messages.index("READY=1") < messages.index("WATCHDOG=1") < messages.index("STOPPING=1")
    finally:
        daemon.close()


def _drain(self: Daemon) -> list[str]:
    out = []
    try:
        self.notify.setblocking(False)
        while True:
            out += self.notify.recv(4096).decode().splitlines()
    except (BlockingIOError, OSError):
        return out


def test_stopping_is_notified_and_sigterm_during_a_poll_exits_cleanly(tmp_path: Path, sqlite_url: str,
                                                                       feed_server: FeedServer) -> None:
    feed_server.add("/slow.xml", Drip(b"<rss>", interval=0.5, count=200))
    feed_server.add("/ok.xml", Feed(rss([Entry(title="Quick one", link="https://n.example/q", guid="q")])))
    daemon = Daemon(tmp_path, sqlite_url, [feed_server.url("/slow.xml"), feed_server.url("/ok.xml")])
    try:
        daemon.read_notifications("READY=1")
        wait_for(lambda: feed_server.requests_to("/slow.xml"), what="the slow poll to start")
        wait_for(lambda: count(sqlite_url, Item), what="the quick feed stored")
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.proc.wait(timeout=40)
        assert code == 0 and time.monotonic() - started < 30
        messages = daemon.messages + _drain(daemon)
        assert "STOPPING=1" in messages
    finally:
        daemon.close()
    db = Database(sqlite_url)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 1
    db.dispose()


class TcpProxy:
    """127.0.0.1:port → target, which the test can cut and restore: a database going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: socket.socket | None = None
        self.conns: list[socket.socket] = []

    def start(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(32)
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.server:
            self.server.close()
            self.server = None
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns = []


def test_readyz_goes_503_when_the_database_stops_and_200_when_it_returns(tmp_path: Path, pg_database: str) -> None:
    from conftest import truncate_all
    from sqlalchemy.engine import make_url

    truncate_all(pg_database)  # other tests' overdue deliveries would (rightly) keep it unready
    url = make_url(pg_database)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    daemon = Daemon(tmp_path, proxied, [])
    try:
        daemon.read_notifications("READY=1")
        assert wait_for(lambda: httpx.get(daemon.url("/readyz"), timeout=10).status_code == 200, what="ready")
        proxy.stop()
        down = wait_for(lambda: (r := httpx.get(daemon.url("/readyz"), timeout=15)).status_code == 503 and r,
                        what="503 with the database gone")
        assert "database" in down.text
        proxy.start()
        assert wait_for(lambda: httpx.get(daemon.url("/readyz"), timeout=15).status_code == 200, what="ready again")
        assert daemon.stop() == 0
    finally:
        daemon.close()
        proxy.stop()


def test_sigterm_during_a_send_leaves_the_delivery_pending(tmp_path: Path, sqlite_url: str) -> None:
    from smtpserver import silent_port

    from test_outbox import add_hits

    db = Database(sqlite_url)
    from monitor.poll import utcnow

    now = utcnow()
    add_hits(db, 1, at=now - timedelta(minutes=1))
    with silent_port() as port:
        extra = f"""
[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
timeout = "4s"
[[subscriptions]]
name = "analysts"
email = ["a@example.org"]
cadence = "immediate"
debounce = "0s"
"""
        from monitor.models import SubscriptionState

        with db.session() as session:
            session.add(SubscriptionState(subscription="analysts", first_start=now - timedelta(hours=1),
                                          last_window_end=None))
        daemon = Daemon(tmp_path, sqlite_url, [], extra=extra)
        try:
            daemon.read_notifications("READY=1")
            wait_for(lambda: count(sqlite_url, Delivery), what="a delivery queued")
            time.sleep(0.5)  # the sender is now waiting on the silent server
            assert daemon.stop() == 0
        finally:
            daemon.close()
    with db.session() as session:
        delivery = session.scalar(select(Delivery))
        assert delivery.status == "pending" and delivery.sent_at is None
    db.dispose()


def test_prune_keeps_hits_still_owed_to_a_digest_and_tombstones_the_rest(sqlite_url: str) -> None:
    from test_outbox import add_hits

    from monitor.config import settings_from_dict
    from monitor.models import SubscriptionState
    from monitor.poll import utcnow
    from monitor.retention import prune

    db = Database(sqlite_url)
    now = utcnow()
    old = now - timedelta(days=200)
    with db.session() as session:
        session.add(SubscriptionState(subscription="analysts", first_start=old - timedelta(days=1),
                                      last_window_end=None))
    add_hits(db, 2, at=old, prefix="owed")                 # alertable, never sent: must stay
    add_hits(db, 3, at=old, alertable=False, prefix="old")  # backlog: nobody is owed these
    settings = settings_from_dict({"subscriptions": [{"name": "analysts", "email": ["a@example.org"],
                                                      "cadence": "daily 08:00"}]})
    with db.session() as session:
        result = prune(session, settings, older_than=180 * 86400, now=now)
    assert (result.items, result.kept_for_digests) == (3, 2) and result.tombstones > 0
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 2
        assert session.scalar(select(func.count()).select_from(Tombstone)) == result.tombstones
    db.dispose()
