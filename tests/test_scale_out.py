"""Several `monitor run` workers on one PostgreSQL: each feed polled by one worker at a time,
once per interval, nothing stored twice; a worker killed with SIGKILL loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from feedgen import Entry, rss
from feedserver import FeedServer, Generated
from sqlalchemy import func, select

from monitor.database import Database
from monitor.models import Feed, Item, ItemSource

FEEDS = 300
INTERVAL = 6.0
LEASE = 8.0
BUCKET = 6.0  # a new entry appears in every feed every BUCKET seconds


def body(n: int) -> bytes:
    bucket = int(time.time() // BUCKET)
    entries = [Entry(title=f"Feed {n} story {b}", link=f"https://outlet.example/{n}/{b}", guid=f"{n}-{b}")
               for b in range(bucket - 3, bucket + 1)]
    return rss(entries, title=f"Outlet {n}")


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.25)


def _all_polled_after(requests, moment: float) -> bool:
    return len({r.path for r in requests if r.started > moment}) == FEEDS


RULES = """
watches:
  - id: stories
    title: Every story
    priority: high
    query: 'story'
"""


@pytest.mark.timeout(240)
def test_three_workers_share_feeds_and_survive_a_killed_worker(pg_database: str, tmp_path: Path) -> None:
    from conftest import truncate_all
    from slackserver import SlackServer

    truncate_all(pg_database)
    db = Database(pg_database)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stories.yaml").write_text(RULES, encoding="utf-8")
    with FeedServer() as server, SlackServer() as slack:
        server.add("/feeds/{n}.xml", Generated(body))
        opml = tmp_path / "feeds.opml"
        opml.write_text('<opml version="2.0"><body>' + "".join(
            f'<outline type="rss" text="f{n}" xmlUrl="{server.url(f"/feeds/{n}.xml")}"/>' for n in range(FEEDS))
            + "</body></opml>", encoding="utf-8")
        config = tmp_path / "monitor.toml"
        config.write_text(f"""
            feeds_opml = ["{opml}"]
            [http]
            host_min_gap = 0
            per_host = 20
            [polling]
            tick = "0.5s"
            min_interval = "{INTERVAL}s"
            default_interval = "{INTERVAL}s"
            max_interval = "{INTERVAL}s"
            startup_spread = "2s"
            lease = "{LEASE}s"
            parse_workers = 1
            [rules]
            paths = ["{rules}"]
            [[subscriptions]]
            name = "desk"
            slack_webhook_env = "SCALE_SLACK_WEBHOOK"
            cadence = "immediate"
            debounce = "1s"
        """, encoding="utf-8")
        env = {**os.environ, "MONITOR_DATABASE_URL": pg_database, "SCALE_SLACK_WEBHOOK": slack.url}
        subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "feeds", "list", "--json"],
                       env=env, check=True, capture_output=True, timeout=60)
        launched = time.monotonic()
        workers = [subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "--log-level",
                                     "warning", "run"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for _ in range(3)]
        try:
            # Kill once every feed has been polled and the workers have run for 10 s: on a
            # loaded machine three interpreters take seconds just to start.
            _wait_for(lambda: len({r.path for r in server.requests}) == FEEDS, 45, "first polls")
            time.sleep(max(0.0, 10 - (time.monotonic() - launched)))
            killed_at = time.monotonic()  # the server logs request starts on this clock
            workers[0].send_signal(signal.SIGKILL)
            # Every feed polled again once the killed worker's leases expired (plus a tick),
            # then one more interval, so the survivors' polls after the takeover are seen too.
            _wait_for(lambda: _all_polled_after(server.requests, killed_at + LEASE + 1), 75,
                      "polls after the killed worker's leases expired")
            time.sleep(INTERVAL)
            for w in workers[1:]:
                w.send_signal(signal.SIGTERM)
            for w in workers[1:]:
                _, err = w.communicate(timeout=40)
                assert w.returncode == 0, err
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
        requests = server.requests
        posts = [p for p in slack.requests if p.status == 200]

    by_feed: dict[str, list[float]] = defaultdict(list)
    for r in requests:
        by_feed[r.path].append(r.started)
    assert len(by_feed) == FEEDS
    for path, starts in by_feed.items():
        starts.sort()
        # One worker at a time, once per interval (jitter ±10 %); never two polls at once.
        # Except across the kill: the killed worker may have leased the feed a while before
        # its request went out (fetches queue behind `per_host`), and the lease runs from the
        # claim, so the takeover can come sooner than an interval after that request, whose
        # result was never stored.
        gaps = [b - a for a, b in zip(starts, starts[1:]) if not a < killed_at < b]
        assert min(gaps, default=INTERVAL) >= INTERVAL * 0.85, (
            path, gaps, [round(s - killed_at, 2) for s in starts])
        # The killed worker's feeds came back within the lease (plus an interval and a tick).
        assert any(s > killed_at + LEASE + 1 for s in starts), (path, starts, killed_at)
    from monitor.models import Delivery, Digest, DigestHit, Hit

    with db.session() as session:
        hits = session.scalar(select(func.count()).select_from(Hit))
        alertable = session.scalar(select(func.count()).select_from(Hit).where(Hit.alertable))
        digests = session.scalar(select(func.count()).select_from(Digest))
        windows = session.scalar(select(func.count(func.distinct(Digest.window_end))))
        in_digests = session.scalar(select(func.count()).select_from(DigestHit))
        distinct_in_digests = session.scalar(select(func.count(func.distinct(DigestHit.hit_id))))
        delivery_rows = list(session.scalars(select(Delivery)))
        deliveries = len(delivery_rows)
        expected_posts = sum(len(d.content["payloads"]) for d in delivery_rows if d.status == "sent")
        unsent_posts = max((len(d.content["payloads"]) for d in delivery_rows if d.status != "sent"), default=0)
        items = session.scalar(select(func.count()).select_from(Item))
        distinct = session.scalar(select(func.count(func.distinct(Item.guid))))
        sources = session.scalar(select(func.count()).select_from(ItemSource))
        leased = session.scalar(select(func.count()).select_from(Feed).where(Feed.lease_owner.is_not(None)))
        ok = session.scalar(select(func.count()).select_from(Feed).where(Feed.consecutive_failures == 0))
    assert items == distinct == sources and items >= FEEDS * 5
    # Every item hit the one watch exactly once; digests were built once per window, each hit
    # went into at most one digest, and each digest was posted to Slack once (a delivery the
    # killed worker had claimed waits for its claim to expire: pending, not lost, not doubled).
    assert hits == items and alertable > 0
    assert digests == windows == deliveries and digests > 0
    assert in_digests == distinct_in_digests <= alertable
    assert expected_posts <= len(posts) <= expected_posts + unsent_posts
    assert len({json.dumps(p.body, sort_keys=True) for p in posts}) == len(posts)
    assert ok == FEEDS
    assert leased <= FEEDS  # only the killed worker's leases may remain, and they have expired
    db.dispose()
