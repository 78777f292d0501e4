"""Several `monitor run` workers on one PostgreSQL: each feed polled by one worker at a time,
once per interval, nothing stored twice; a worker killed with SIGKILL loses nothing."""

from __future__ import annotations

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
INTERVAL = 4.0
LEASE = 5.0
BUCKET = 6.0  # a new entry appears in every feed every BUCKET seconds


def body(n: int) -> bytes:
    bucket = int(time.time() // BUCKET)
    entries = [Entry(title=f"Feed {n} story {b}", link=f"https://outlet.example/{n}/{b}", guid=f"{n}-{b}")
               for b in range(bucket - 3, bucket + 1)]
    return rss(entries, title=f"Outlet {n}")


@pytest.mark.timeout(180)
def test_three_workers_share_feeds_and_survive_a_killed_worker(pg_database: str, tmp_path: Path) -> None:
    db = Database(pg_database)
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE feeds, items, item_keys, item_sources, hits, tombstones RESTART IDENTITY CASCADE"))
    with FeedServer() as server:
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
            paths = []
        """, encoding="utf-8")
        env = {**os.environ, "MONITOR_DATABASE_URL": pg_database}
        subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "feeds", "list", "--json"],
                       env=env, check=True, capture_output=True, timeout=60)
        workers = [subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "--log-level",
                                     "warning", "run"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for _ in range(3)]
        try:
            time.sleep(10)
            killed_at = time.monotonic()  # the server logs request starts on this clock
            workers[0].send_signal(signal.SIGKILL)
            time.sleep(LEASE + INTERVAL + 6)
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

    by_feed: dict[str, list[float]] = defaultdict(list)
    for r in requests:
        by_feed[r.path].append(r.started)
    assert len(by_feed) == FEEDS
    for path, starts in by_feed.items():
        starts.sort()
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        # One worker at a time, once per interval (jitter ±10 %); never two polls at once.
        assert min(gaps) >= INTERVAL * 0.85, (path, gaps)
        # The killed worker's feeds came back within the lease (plus an interval and a tick).
        assert any(s > killed_at + LEASE + 1 for s in starts), (path, starts, killed_at)
    with db.session() as session:
        items = session.scalar(select(func.count()).select_from(Item))
        distinct = session.scalar(select(func.count(func.distinct(Item.guid))))
        sources = session.scalar(select(func.count()).select_from(ItemSource))
        leased = session.scalar(select(func.count()).select_from(Feed).where(Feed.lease_owner.is_not(None)))
        ok = session.scalar(select(func.count()).select_from(Feed).where(Feed.consecutive_failures == 0))
    assert items == distinct == sources and items >= FEEDS * 5
    assert ok == FEEDS
    assert leased <= FEEDS  # only the killed worker's leases may remain, and they have expired
    db.dispose()
