"""`monitor demo`: the whole pipeline offline on the bundled feeds, in seconds.

Serves the demo feeds on 127.0.0.1, polls them through the real fetcher into a fresh SQLite
database with the clock set to the demo's date, and prints what was stored and each feed's
health.
"""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from monitor.config import Settings, settings_from_dict
from monitor.database import Database
from monitor.demo import DEMO_NOW
from monitor.demo.server import DemoServer
from monitor.models import Feed, Item
from monitor.poll import PollSummary, poll_once
from monitor.registry import add_feed, list_feeds
from monitor.tables import render_table


def demo_settings(database_url: str) -> Settings:
    # Every demo feed lives on one loopback host: the per-host politeness gap that protects
    # real publishers would only make the demo slow, so it is off here (and only here).
    return settings_from_dict({
        "database": {"url": database_url},
        "http": {"per_host": 8, "host_min_gap": 0, "timeout": "10s"},
        "polling": {"startup_spread": 0, "parse_workers": 1, "max_item_age": "30d"},
    })


def run_demo(keep: Path | None, *, echo: Callable[[str], None]) -> PollSummary:
    with ExitStack() as stack:
        directory = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="monitor-demo-")))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "demo.db"
        path.unlink(missing_ok=True)
        settings = demo_settings(f"sqlite:///{path}")
        db = Database(settings.database_url)
        stack.callback(db.dispose)
        db.upgrade()
        server = stack.enter_context(DemoServer())
        with db.session() as session:
            for filename, url in server.urls().items():
                add_feed(session, settings, url, now=DEMO_NOW, name=Path(filename).stem, spread=0)
        echo(f"serving {len(server.urls())} demo feeds on {server.base_url}; database {path}")
        summary = asyncio.run(poll_once(db, settings, due_only=False, clock=lambda: DEMO_NOW))
        echo(f"polled {summary.feeds} feeds in {summary.seconds:.2f} s: {summary.items_new} items stored, "
             f"{summary.items_duplicate} duplicates folded, {summary.errors} feed errors\n")
        echo(render_stored_items(db))
        echo("")
        echo(render_feed_health(db))
        if keep:
            echo(f"\ndatabase kept: {path}")
        return summary


def render_stored_items(db: Database) -> str:
    with db.session() as session:
        names = dict(session.execute(select(Feed.id, Feed.name)).all())
        items = list(session.scalars(select(Item).order_by(Item.published_at.desc())))
    rows = [(i.published_at.strftime("%Y-%m-%d %H:%M"), names.get(i.feed_id), i.language or "-", i.title)
            for i in items]
    return "Stored items\n" + render_table(["PUBLISHED (UTC)", "FEED", "LANG", "TITLE"], rows, max_width=80)


def render_feed_health(db: Database) -> str:
    with db.session() as session:
        listing = list_feeds(session)
    rows = [(e.feed.name, e.feed.status, e.items, e.feed.last_error or "") for e in listing]
    return "Feed health\n" + render_table(["FEED", "STATUS", "ITEMS", "LAST ERROR"], rows, max_width=90)
