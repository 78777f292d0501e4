"""The match step wired into storing: hits recorded once per (watch, item), reloads, backtest."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from feedgen import Entry, rss
from feedserver import Feed, FeedServer
from sqlalchemy import func, select

from monitor.cli import cli
from monitor.database import Database
from monitor.match import HitRecorder, RuleReloader, load_matcher
from monitor.models import Hit, Item
from monitor.poll import PollSummary, poll_once, utcnow
from monitor.registry import add_feed

RULES = """
actors:
  - id: russia
    name: Russia
    kind: state
    aliases: [Russia, Russian, Moscow, Kremlin, Россия~]
  - id: hamas
    name: Hamas
    kind: organisation
    aliases: [Hamas, Хамас~]
watches:
  - id: contacts
    title: Russia–Hamas contacts
    priority: high
    query: '@russia AND @hamas'
    examples:
      match: ["Hamas delegation in Moscow"]
      no_match: ["Moscow, Idaho news"]
  - id: kremlin
    title: Kremlin mentions
    priority: low
    query: 'Kremlin'
"""
NOW = datetime.now(timezone.utc)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "rules.yaml").write_text(RULES, encoding="utf-8")
    return d


def story(i: int, title: str, summary: str = "") -> Entry:
    return Entry(title=title, link=f"https://news.example/{i}", guid=str(i), summary=summary, published=NOW)


def poll(db: Database, settings, recorder: HitRecorder) -> PollSummary:
    return asyncio.run(poll_once(db, settings, due_only=False, on_items_stored=recorder))


def hits(db: Database) -> list[tuple[str, str, bool]]:
    with db.session() as session:
        return sorted(tuple(r) for r in session.execute(select(Hit.watch_id, Item.title, Hit.alertable)
                                      .join(Item, Item.id == Hit.item_id)).all())


def test_each_watch_hits_an_item_once_and_backlog_is_not_alertable(db, settings, feed_server: FeedServer,
                                                                   rules_dir: Path) -> None:
    recorder = HitRecorder(load_matcher([rules_dir]))
    route = feed_server.add("/a.xml", Feed(rss([story(1, "Hamas officials visit Moscow"),
                                                story(2, "Weather in Idaho")])))
    with db.session() as session:
        add_feed(session, settings, feed_server.url("/a.xml"), now=utcnow(), spread=0)
    first = poll(db, settings, recorder)
    assert first.hits == 1 and hits(db) == [("contacts", "Hamas officials visit Moscow", False)]

    route.update(rss([story(3, "Kremlin receives Hamas delegation", "Talks with Russian diplomats."),
                      story(1, "Hamas officials visit Moscow"), story(2, "Weather in Idaho")]))
    second = poll(db, settings, recorder)
    assert second.hits == 2
    assert hits(db) == [("contacts", "Hamas officials visit Moscow", False),
                        ("contacts", "Kremlin receives Hamas delegation", True),
                        ("kremlin", "Kremlin receives Hamas delegation", True)]
    with db.session() as session:
        hit = session.scalar(select(Hit).where(Hit.watch_id == "contacts", Hit.alertable.is_(True)))
        assert hit is not None and hit.priority == "high" and hit.priority_rank == 2
        spans = {(t["field"], t["text"], t["start"], t["end"]) for t in hit.terms}
        assert ("title", "Hamas", 17, 22) in spans and ("title", "Kremlin", 0, 7) in spans


def test_updated_item_does_not_hit_the_same_watch_again_but_can_hit_another(db, settings, feed_server: FeedServer,
                                                                             rules_dir: Path) -> None:
    recorder = HitRecorder(load_matcher([rules_dir]))
    route = feed_server.add("/a.xml", Feed(rss([story(1, "Hamas officials visit Moscow")])))
    with db.session() as session:
        add_feed(session, settings, feed_server.url("/a.xml"), now=utcnow(), spread=0)
    poll(db, settings, recorder)
    route.update(rss([story(1, "Hamas officials visit Moscow", "The Kremlin confirmed the talks.")]))
    summary = poll(db, settings, recorder)
    assert (summary.items_updated, summary.hits) == (1, 1)
    assert [w for w, _, _ in hits(db)] == ["contacts", "kremlin"]
    route.update(rss([story(1, "Hamas officials visit Moscow", "The Kremlin confirmed the talks again.")]))
    assert poll(db, settings, recorder).hits == 0
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 2


def test_hits_are_committed_with_their_items(db, settings, feed_server: FeedServer, rules_dir: Path) -> None:
    class Exploding(HitRecorder):
        def __call__(self, session, item_ids, now):  # type: ignore[no-untyped-def]
            super().__call__(session, item_ids, now)
            raise RuntimeError("matcher crashed")

    feed_server.add("/a.xml", Feed(rss([story(1, "Hamas officials visit Moscow")])))
    with db.session() as session:
        add_feed(session, settings, feed_server.url("/a.xml"), now=utcnow(), spread=0)
    summary = poll(db, settings, Exploding(load_matcher([rules_dir])))
    assert summary.errors == 1
    with db.session() as session:  # neither the item nor its hit: the next poll does both
        assert session.scalar(select(func.count()).select_from(Item)) == 0
        assert session.scalar(select(func.count()).select_from(Hit)) == 0
    assert poll(db, settings, HitRecorder(load_matcher([rules_dir]))).hits == 1


def test_reload_with_a_broken_file_keeps_the_last_good_rules(rules_dir: Path, caplog) -> None:
    recorder = HitRecorder(load_matcher([rules_dir]))
    good = recorder.matcher
    reloader = RuleReloader([rules_dir], recorder)
    assert not reloader.check()
    path = rules_dir / "rules.yaml"
    path.write_text(RULES.replace("query: 'Kremlin'", "query: 'Kremlin AND'"), encoding="utf-8")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    with caplog.at_level(logging.ERROR):
        assert not reloader.check()
    assert recorder.matcher is good and reloader.failures == 1
    assert f"{path}:" in caplog.text and "keeping the last good rules" in caplog.text
    path.write_text(RULES.replace("query: 'Kremlin'", "query: 'Kremlin OR Putin'"), encoding="utf-8")
    os.utime(path, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
    assert reloader.check() and recorder.matcher is not good and reloader.last_error is None


def test_backtest_shows_matches_without_recording(database_url: str, tmp_path: Path, rules_dir: Path,
                                                  feed_server: FeedServer, monkeypatch) -> None:
    from conftest import make_settings

    settings = make_settings(database_url)
    db = Database(database_url)
    feed_server.add("/a.xml", Feed(rss([story(1, "Kremlin hosts Hamas leaders"), story(2, "Idaho weather")])))
    with db.session() as session:
        add_feed(session, settings, feed_server.url("/a.xml"), now=utcnow(), spread=0, name="a")
    asyncio.run(poll_once(db, settings, due_only=False))  # stored without rules: no hits
    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    runner = CliRunner()
    out = runner.invoke(cli, ["rules", "backtest", "--rules", str(rules_dir), "--since", "1d", "--json"]).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted((h["watch"], h["title"]) for h in lines) == [("contacts", "Kremlin hosts Hamas leaders"),
                                                               ("kremlin", "Kremlin hosts Hamas leaders")]
    table = runner.invoke(cli, ["rules", "backtest", "--rules", str(rules_dir), "--watch", "contacts"]).stdout
    assert "Russia–Hamas contacts [contacts, high]: 1" in table and "nothing recorded" in table
    typo = runner.invoke(cli, ["rules", "backtest", "--rules", str(rules_dir), "--watch", "contact"])
    assert typo.exit_code != 0 and "no watch 'contact'" in str(typo.exception)
    assert "did you mean 'contacts'?" in str(typo.exception)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 0
    db.dispose()


def test_poll_refuses_to_store_items_it_cannot_match(database_url: str, tmp_path: Path, rules_dir: Path) -> None:
    (rules_dir / "broken.yaml").write_text("watches:\n  - id: x\n    query: 'a AND'\n", encoding="utf-8")
    config = tmp_path / "monitor.toml"
    config.write_text(f'[rules]\npaths = ["{rules_dir}"]\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "poll", "--once"],
                                env={"MONITOR_DATABASE_URL": database_url})
    from monitor.errors import RuleError

    assert isinstance(result.exception, RuleError) and result.exception.exit_code == 2
    assert f"{rules_dir / 'broken.yaml'}:3:" in str(result.exception)
    with Database(database_url).session() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0


def test_reload_keeps_the_last_good_rules_when_every_rule_file_is_gone(rules_dir: Path, caplog) -> None:
    recorder = HitRecorder(load_matcher([rules_dir]))
    good = recorder.matcher
    reloader = RuleReloader([rules_dir], recorder)
    moved = rules_dir.parent / "rules.yaml.away"
    (rules_dir / "rules.yaml").rename(moved)  # a deploy half-way through
    with caplog.at_level(logging.ERROR):
        assert not reloader.check()
    assert recorder.matcher is good and reloader.failures == 1
    assert "holds no rule files now" in caplog.text and "keeping the last good rules" in caplog.text
    # Putting a file back that has no watches is how to run without any: that takes effect.
    (rules_dir / "none.yaml").write_text("watches: []\n", encoding="utf-8")
    assert reloader.check() and recorder.matcher is not good and reloader.last_error is None
    assert recorder.rules is not None and recorder.rules.watches == ()


def test_only_rule_files_count_as_rules_as_the_loader_reads_them(tmp_path: Path) -> None:
    from monitor.match import rule_files_present, rule_files_signature

    rules = tmp_path / "rules"
    (rules / "drafts.yaml").mkdir(parents=True)  # a directory, not a file
    (rules / "notes.yhtml").write_text("x", encoding="utf-8")
    assert not rule_files_present([rules]) and rule_files_signature([rules]) == ()
    assert load_matcher([rules]) is None  # no files: "stored, not matched", not a rule error
    (rules / "w.yml").write_text(RULES, encoding="utf-8")
    assert rule_files_present([rules]) and [Path(f).name for f, _m, _s in rule_files_signature([rules])] == ["w.yml"]
