"""`monitor run` as a process: polls on schedule, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from feedgen import Entry, rss
from feedserver import Feed, FeedServer
from sqlalchemy import func, select

from monitor.database import Database, safe_url
from monitor.models import Feed as FeedRow
from monitor.models import Item


def test_daemon_polls_due_feeds_and_exits_cleanly_on_sigterm(database_url: str, tmp_path: Path,
                                                             feed_server: FeedServer) -> None:
    feed_server.add("/a.xml", Feed(rss([Entry(title=f"Item {i}", link=f"https://n.example/{i}", guid=str(i))
                                        for i in range(4)])))
    config = tmp_path / "monitor.toml"
    config.write_text(f"""
        [http]
        host_min_gap = 0
        [polling]
        tick = "1s"
        startup_spread = 0
        parse_workers = 2
        [[feeds]]
        url = "{feed_server.url('/a.xml')}"
        name = "a"
    """, encoding="utf-8")
    env = {**os.environ, "MONITOR_DATABASE_URL": database_url}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    db = Database(database_url)
    try:
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline and count < 4:
            time.sleep(0.3)
            try:
                with db.session() as session:
                    count = session.scalar(select(func.count()).select_from(Item)) or 0
            except Exception:  # noqa: BLE001 - the daemon may be creating rows; ask again
                continue
        assert count == 4, proc.stderr.read() if proc.poll() is not None else "no items within 30 s"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "monitor running" in err and "stopped" in err
    with db.session() as session:
        feed = session.scalar(select(FeedRow).where(FeedRow.name == "a"))
        assert feed is not None and feed.lease_owner is None and feed.status == "ok"
    db.dispose()


def test_config_feeds_and_opml_feeds_are_registered_and_kept_in_step(database_url: str, tmp_path: Path,
                                                                     monkeypatch) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    opml = tmp_path / "f.opml"
    opml.write_text('<opml version="2.0"><body><outline text="russia">'
                    '<outline type="rss" text="Desk" xmlUrl="https://desk.example/rss"/></outline></body></opml>',
                    encoding="utf-8")
    config = tmp_path / "monitor.toml"
    config.write_text('feeds_opml = ["f.opml"]\n[[feeds]]\nurl = "https://one.example/rss"\nname = "one"\n',
                      encoding="utf-8")
    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    runner = CliRunner()
    import json

    listed = json.loads(runner.invoke(cli, ["--config", str(config), "feeds", "list", "--json"]).stdout)
    assert {(f["name"], tuple(f["tags"])) for f in listed} == {("one", ()), ("Desk", ("russia",))}
    config.write_text('feeds_opml = ["f.opml"]\n', encoding="utf-8")
    listed = json.loads(runner.invoke(cli, ["--config", str(config), "feeds", "list", "--json"]).stdout)
    one = next(f for f in listed if f["name"] == "one")
    assert one["status"] == "disabled" and "no longer listed" in one["disabled_reason"]


def test_database_passwords_never_appear_in_messages() -> None:
    assert "s3cret" not in safe_url("postgresql://monitor:s3cret@db.example/monitor")
    from monitor.errors import SchemaError

    db = Database("postgresql://monitor:s3cret@127.0.0.1:1/monitor", connect_args={"connect_timeout": 1})
    try:
        db.check_schema()
    except SchemaError as exc:
        assert "s3cret" not in str(exc) and "***" in str(exc)
    else:
        raise AssertionError("expected an unreachable database to raise SchemaError")


def test_second_daemon_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    Database(url).upgrade()
    env = {**os.environ, "MONITOR_DATABASE_URL": url}
    config = tmp_path / "monitor.toml"
    config.write_text('[polling]\ntick = "1s"\n', encoding="utf-8")
    first = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (tmp_path / "m.db.lock").exists():
            time.sleep(0.1)
        time.sleep(0.5)
        second = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30)
        assert second.returncode == 1
        assert "SQLite allows one daemon per database" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_daemon_logs_a_subscription_filter_no_watch_answers(database_url: str, tmp_path: Path, caplog) -> None:
    import logging

    from monitor.config import load_settings
    from monitor.daemon import Daemon
    from monitor.match import HitRecorder, load_matcher

    rules = Path(__file__).resolve().parents[1] / "rules"
    config = tmp_path / "monitor.toml"
    subscription = '[[subscriptions]]\nname = "desk"\nemail = ["a@example.org"]\n'
    config.write_text(f'[rules]\npaths = ["{rules}"]\n{subscription}watches = ["russia-hamas-contact"]\n',
                      encoding="utf-8")
    settings = load_settings(str(config))
    db = Database(database_url)
    with caplog.at_level(logging.WARNING, logger="monitor.daemon"):
        daemon = Daemon(db, settings, HitRecorder(load_matcher(settings.rules_paths)), config_path=str(config))
    assert "subscription 'desk': no watch 'russia-hamas-contact' in the rules" in caplog.text
    caplog.clear()
    config.write_text(f'[rules]\npaths = ["{rules}"]\n{subscription}watches = ["russia-hamas-contacts"]\n',
                      encoding="utf-8")
    os.utime(config, (time.time() + 5, time.time() + 5))
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        daemon.reload(False)  # the config file changed: read again, the typo fixed
    assert "configuration reloaded" in caplog.text and "no watch" not in caplog.text
    db.dispose()
