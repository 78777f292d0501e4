"""The command line as a user types it: tables for people, JSON for programs, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from feedgen import Entry, rss
from feedserver import Feed, FeedServer, Status

from monitor.cli import cli
from monitor.database import Database
from monitor.errors import ConfigError, MonitorError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "monitor.toml"
    config.write_text('[http]\nhost_min_gap = 0\nper_host = 8\ntimeout = "5s"\n'
                      '[polling]\nstartup_spread = 0\nparse_workers = 1\n', encoding="utf-8")
    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.stdout

    return invoke


def feeds(server: FeedServer, n: int = 2) -> list[str]:
    urls = []
    for k in range(n):
        server.add(f"/f{k}.xml", Feed(rss([Entry(title=f"Story {k}-{i}", link=f"https://news.example/{k}/{i}",
                                                 guid=f"{k}-{i}") for i in range(3)], title=f"Outlet {k}")))
        urls.append(server.url(f"/f{k}.xml"))
    return urls


def test_add_list_poll_and_items_round_trip(run, feed_server: FeedServer) -> None:
    a, b = feeds(feed_server)
    assert "added news-a" in run("feeds", "add", a, "--name", "news-a", "--tag", "world", "--interval", "15m")
    run("feeds", "add", b)
    listed = json.loads(run("feeds", "list", "--json"))
    assert {f["name"] for f in listed} == {"news-a", "127.0.0.1/f1"}
    first = next(f for f in listed if f["name"] == "news-a")
    assert first["tags"] == ["world"] and first["interval_seconds"] == 900 and first["status"] == "new"

    summary = json.loads(run("poll", "--once", "--all", "--json"))
    assert {k: summary[k] for k in ("feeds", "fetched", "not_modified", "errors", "items_new", "items_duplicate")} \
        == {"feeds": 2, "fetched": 2, "not_modified": 0, "errors": 0, "items_new": 6, "items_duplicate": 0}
    assert summary["seconds"] >= 0

    table = run("feeds", "list")
    assert table.splitlines()[0].split() == ["NAME", "URL", "STATUS", "LAST", "SUCCESS", "LAST", "ERROR",
                                             "NEXT", "POLL", "ITEMS"]
    assert "news-a" in table and " ok " in table

    items = json.loads(run("items", "list", "--feed", "news-a", "--json"))
    assert sorted(i["title"] for i in items) == ["Story 0-0", "Story 0-1", "Story 0-2"]
    assert all(i["backlog"] for i in items)
    assert "Story 1-2" in run("items", "list", "--since", "1h")


def test_poll_once_polls_only_due_feeds_and_one_named_feed(run, feed_server: FeedServer) -> None:
    a, _ = feeds(feed_server)
    run("feeds", "add", a, "--name", "a")
    run("feeds", "add", _, "--name", "b")
    assert json.loads(run("poll", "--once", "--json"))["feeds"] == 2  # new feeds are due at once
    assert json.loads(run("poll", "--once", "--json"))["feeds"] == 0
    assert json.loads(run("poll", "--once", "--feed", "a", "--json"))["not_modified"] + \
        json.loads(run("poll", "--once", "--feed", "a", "--json"))["unchanged"] >= 1


def test_failing_feed_shows_its_error_in_the_list(run, feed_server: FeedServer) -> None:
    feed_server.add("/down.xml", Status(500))
    run("feeds", "add", feed_server.url("/down.xml"), "--name", "down")
    run("poll", "--once")
    row = json.loads(run("feeds", "list", "--json"))[0]
    assert row["status"] == "failing" and row["last_error"].startswith("HTTP 500") and row["consecutive_failures"] == 1
    assert "HTTP 500" in run("feeds", "list")


def test_remove_and_duplicate_add_give_clear_errors(run, feed_server: FeedServer) -> None:
    a, _ = feeds(feed_server)
    run("feeds", "add", a, "--name", "a")
    with pytest.raises(Exception, match="already monitored"):
        run("feeds", "add", a)
    assert "removed a" in run("feeds", "remove", "a")
    with pytest.raises(Exception, match="no feed named or at 'a'"):
        run("feeds", "remove", "a")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://[::1/feed", "is not a valid URL (Invalid IPv6 URL)"),
    ("https://news.example:70000/rss", "is not a valid URL (Port out of range"),
    ("https://news.example:rss/feed", "is not a valid URL (Port could not be cast"),
    ("https://news exa.mple/rss", "has a space or control character in its address"),
    ("https://news.example/rss\x00", "has a space or control character in its address"),
    ("ftp://news.example/rss", "is not an http:// or https:// URL"),
])
def test_add_refuses_a_url_that_could_never_be_fetched(run, url: str, reason: str) -> None:
    with pytest.raises(MonitorError) as caught:
        run("feeds", "add", url)
    assert str(caught.value).startswith(f"{url!r} {reason}")
    assert json.loads(run("feeds", "list", "--json")) == []


@pytest.mark.parametrize("interval", ["0s", "30s"])
def test_add_refuses_a_fixed_interval_under_a_minute(run, interval: str) -> None:
    out = run("feeds", "add", "https://news.example/rss", "--interval", interval, code=2)
    assert out == ""  # the usage error goes to stderr, and nothing is added
    assert json.loads(run("feeds", "list", "--json")) == []
    run("feeds", "add", "https://news.example/rss", "--interval", "1m")
    [feed] = json.loads(run("feeds", "list", "--json"))
    assert feed["interval_seconds"] == 60


def test_export_to_a_missing_directory_is_an_error_not_a_traceback(run, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "feeds.opml"
    with pytest.raises(MonitorError, match=r"cannot write .*feeds\.opml: No such file or directory"):
        run("feeds", "export", "-o", str(target))
    assert not target.parent.exists()


def test_opml_import_then_export_round_trips(run, tmp_path: Path) -> None:
    opml = tmp_path / "in.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>
      <outline text="russia"><outline type="rss" text="Desk one" xmlUrl="https://one.example/rss"/>
      <outline type="rss" text="Desk two" xmlUrl="https://two.example/rss"/></outline>
      <outline type="rss" text="Loose" xmlUrl="https://three.example/feed"/></body></opml>""", encoding="utf-8")
    assert "imported 3 feeds" in run("feeds", "import", str(opml))
    assert "imported 0 feeds" in run("feeds", "import", str(opml))
    exported = run("feeds", "export")
    for url in ("https://one.example/rss", "https://two.example/rss", "https://three.example/feed"):
        assert url in exported
    out = tmp_path / "out.opml"
    run("feeds", "export", "-o", str(out))
    from monitor.opml import parse_opml

    back = {f.url: f for f in parse_opml(out.read_bytes())}
    assert back["https://one.example/rss"].tags == ("russia",) and back["https://one.example/rss"].name == "Desk one"


def test_feeds_check_shows_entries_without_storing(run, feed_server: FeedServer, database_url: str) -> None:
    a, _ = feeds(feed_server)
    report = json.loads(run("feeds", "check", a, "--json"))
    assert report["ok"] and report["feed"]["title"] == "Outlet 0" and len(report["items"]) == 3
    assert "Story 0-1" in run("feeds", "check", a)
    assert json.loads(run("items", "list", "--json")) == []
    feed_server.add("/page", Feed(b"<html><body>hello</body></html>", content_type="text/html"))
    assert "not a feed" in run("feeds", "check", feed_server.url("/page"), code=1)


def test_prune_dry_run_counts_and_removes_nothing(run, feed_server: FeedServer) -> None:
    run("feeds", "add", feeds(feed_server, 1)[0])
    run("poll", "--once", "--all")
    assert run("db", "prune", "--older-than", "0s", "--dry-run").startswith("would prune 3 items")
    assert len(json.loads(run("items", "list", "--json"))) == 3
    assert run("db", "prune", "--older-than", "0s").startswith("pruned 3 items")
    assert json.loads(run("items", "list", "--json")) == []


def test_upgrade_keeps_tombstones_under_their_new_column(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from sqlalchemy import select, text

    from monitor.models import Tombstone

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade("0003")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO tombstones (key_hash, pruned_at) "
                          "VALUES ('k', '2026-01-02 03:04:05.000000')"))
    db.upgrade()
    with db.session() as session:
        assert session.scalar(select(Tombstone.seen_at)) == datetime(2026, 1, 2, 3, 4, 5,
                                                                     tzinfo=timezone.utc)
    db.dispose()


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    env = {**os.environ, "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    proc = subprocess.run([sys.executable, "-m", "monitor", "feeds", "list"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("has no monitor schema yet: run `monitor db upgrade` first")
    up = subprocess.run([sys.executable, "-m", "monitor", "db", "upgrade"], capture_output=True, text=True,
                        env=env, cwd=tmp_path, timeout=60)
    assert up.returncode == 0 and "empty → " in up.stdout
    assert Database(env["MONITOR_DATABASE_URL"]).current_revision() is not None


def test_an_older_schema_is_refused_with_the_next_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    db.upgrade("0001")
    from monitor.database import alembic_config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if head == "0001":
        pytest.skip("only one migration so far")
    from monitor.errors import SchemaError

    with pytest.raises(SchemaError, match="run `monitor db upgrade`"):
        db.check_schema()


def test_invalid_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "monitor.toml"
    bad.write_text('[polling]\ntick = "often"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "monitor", "--config", str(bad), "feeds", "list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}: polling.tick: expected a duration like 15m, 2h or 7d, got 'often'"


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://root@127.0.0.1/test", "database URL mysql://root@127.0.0.1/test is for mysql; "
                                    "monitor stores its data in SQLite or PostgreSQL"),
    ("sqlite:///{blocker}/monitor.db", "cannot create {blocker} for the SQLite database"),
    ("not a url", "database URL <unparsable database URL> is not a valid SQLAlchemy URL"),
])
def test_a_database_url_monitor_cannot_use_is_a_config_error(tmp_path: Path, url: str, message: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MONITOR_DATABASE_URL", url.format(blocker=blocker))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert isinstance(result.exception, ConfigError), result.output
    assert str(result.exception).startswith(message.format(blocker=blocker))
    assert result.exception.exit_code == 2


def test_demo_with_a_keep_path_it_cannot_create_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(cli, ["demo", "--keep", str(blocker / "demo")])
    assert isinstance(result.exception, MonitorError), result.output
    assert str(result.exception).startswith(f"cannot use {blocker / 'demo'} for the demo: ")
    assert "give --keep a directory you can write to" in str(result.exception)


def test_demo_runs_offline_and_shows_items_and_feed_health(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "monitor", "demo", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Stored items" in out and "Feed health" in out and "Digest of the demo run" in out
    assert "first poll: 0 items" not in out and "second poll: 0 new" not in out
    stored, digest = out.split("Digest of the demo run", 1)
    # Distractors are stored but never reach the digest; a new dossier story does.
    for distractor in ("Tirana", "Bahamas", "Idaho", "Tristan", "Лавровый"):
        assert distractor in stored and distractor not in digest
    assert "Russia readies evacuation flights" in digest and "Subject: [demo] " in digest
    html = Path(digest.split("HTML digest written to ", 1)[1].split()[0])
    assert html.exists() and "Russia readies evacuation flights" in html.read_text(encoding="utf-8")
    health = stored.split("Feed health", 1)[1]
    assert "meridian-daily    failing" in health and "not a feed" in health
    assert "malformed but usable" in health
