"""Killing the process mid-poll loses nothing committed and duplicates nothing on the next run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from feedgen import Entry, rss
from feedserver import Feed, FeedServer
from sqlalchemy import func, select

from monitor.poll import poll_once
from monitor.database import Database
from monitor.models import Feed as FeedRow
from monitor.models import Item, ItemSource
from monitor.poll import utcnow
from monitor.registry import add_feed

# Polls every feed in a child process whose storing hook kills it (os._exit, no clean-up)
# inside the transaction of the second feed that brings new items.
CRASHING_POLL = textwrap.dedent("""
    import asyncio, os, sys
    sys.path.insert(0, {tests!r})
    from conftest import make_settings
    from monitor.poll import poll_once
    from monitor.database import Database
    import monitor.poll as poll_module

    stored = []
    original = poll_module.Poller.__init__
    def patched(self, *a, **k):
        original(self, *a, **k)
        def hook(session, ids, now):
            stored.append(ids)
            if len(stored) == 2:
                session.flush()
                os._exit(9)
        self.on_items_stored = hook
    poll_module.Poller.__init__ = patched
    settings = make_settings({url!r})
    asyncio.run(poll_once(Database({url!r}), settings, due_only=False))
""")


def test_crash_mid_poll_loses_nothing_committed_and_duplicates_nothing(database_url: str,
                                                                        feed_server: FeedServer) -> None:
    from conftest import make_settings

    settings = make_settings(database_url)
    db = Database(database_url)
    names = []
    for n in range(4):
        entries = [Entry(title=f"feed {n} story {i}", link=f"https://news.example/{n}/{i}", guid=f"{n}-{i}")
                   for i in range(5)]
        feed_server.add(f"/f{n}.xml", Feed(rss(entries)))
        with db.session() as session:
            names.append(add_feed(session, settings, feed_server.url(f"/f{n}.xml"), now=utcnow(), spread=0).name)

    script = CRASHING_POLL.format(tests=str(Path(__file__).parent), url=database_url)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == 9, child.stderr

    with db.session() as session:
        after_crash = session.scalar(select(func.count()).select_from(Item))
        polled = session.scalar(select(func.count()).select_from(FeedRow).where(FeedRow.last_success_at.is_not(None)))
    # Exactly the first feed's transaction was committed; the second died before its commit.
    assert after_crash == 5 and polled == 1

    # The crashed worker's leases would expire; here the next poll names the feeds explicitly.
    with db.session() as session:
        for row in session.scalars(select(FeedRow)):
            row.lease_owner = row.lease_until = None
    summary = asyncio.run(poll_once(db, settings, due_only=False))
    assert summary.items_new == 15
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 20
        assert session.scalar(select(func.count(func.distinct(Item.guid))).select_from(Item)) == 20
        assert session.scalar(select(func.count()).select_from(ItemSource)) == 20
    db.dispose()
