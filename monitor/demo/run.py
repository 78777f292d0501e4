"""`monitor demo`: the whole pipeline offline on the bundled feeds, in seconds.

The publishers are simulated in two rounds so the demo shows what an analyst would see:
first the feeds as they stood two days before the demo's date (a first poll: stored as
backlog, matched but never alerted on), then the feeds as they stand at `DEMO_NOW`, whose new
stories are matched and alertable. Everything runs through the real fetcher, parser, store and
matcher against a fresh SQLite database, with the clock set to the demo's dates.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable

from lxml import etree
from sqlalchemy import select

from monitor.config import Settings, settings_from_dict
from monitor.database import Database
from monitor.demo import DEMO_NOW
from monitor.demo.server import DemoServer, demo_feed_files
from monitor.match import HitRecorder, load_matcher, shipped_rules_dir
from monitor.models import Feed, Hit, Item
from monitor.poll import PollSummary, poll_once
from monitor.registry import add_feed, list_feeds
from monitor.tables import render_table

EARLIER = DEMO_NOW - timedelta(days=2)
_DATE_TAGS = ("pubDate", "published", "updated", "date")


def demo_settings(database_url: str, rules: Path) -> Settings:
    # Every demo feed lives on one loopback host: the per-host politeness gap that protects
    # real publishers would only make the demo slow, so it is off here (and only here).
    return settings_from_dict({
        "database": {"url": database_url},
        "http": {"per_host": 8, "host_min_gap": 0, "timeout": "10s"},
        "polling": {"startup_spread": 0, "parse_workers": 1, "max_item_age": "30d"},
        "rules": {"paths": [str(rules)]},
    })


def write_snapshot(source: Path, target: Path, *, as_of: datetime) -> None:
    """Copy a feed file without the entries published after `as_of` (files lxml cannot read — the
    malformed and the bozo feed — are copied whole)."""
    try:
        tree = etree.parse(str(source), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        shutil.copy(source, target)
        return
    for entry in list(tree.iter("{*}item", "{*}entry", "item", "entry")):
        when = _entry_date(entry)
        if when is not None and when > as_of:
            entry.getparent().remove(entry)
    tree.write(str(target), encoding=tree.docinfo.encoding or "utf-8", xml_declaration=True)


def _entry_date(entry: etree._Element) -> datetime | None:
    # Our own demo files carry well-formed dates: RFC 822 in RSS, ISO 8601 in Atom and RDF.
    for child in entry:
        if isinstance(child.tag, str) and etree.QName(child).localname in _DATE_TAGS and child.text:
            text = child.text.strip()
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                when = parsedate_to_datetime(text)
            return when.astimezone(timezone.utc)
    return None


def run_demo(keep: Path | None, *, echo: Callable[[str], None]) -> PollSummary:
    with ExitStack() as stack:
        directory = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="monitor-demo-")))
        directory.mkdir(parents=True, exist_ok=True)
        served = directory / "feeds"
        served.mkdir(exist_ok=True)
        path = directory / "demo.db"
        path.unlink(missing_ok=True)
        settings = demo_settings(f"sqlite:///{path}", shipped_rules_dir())
        loaded = load_matcher(settings.rules_paths)
        recorder = HitRecorder(loaded)
        db = Database(settings.database_url)
        stack.callback(db.dispose)
        db.upgrade()

        for source in demo_feed_files():
            write_snapshot(source, served / source.name, as_of=EARLIER)
        server = stack.enter_context(DemoServer(served))
        with db.session() as session:
            for filename, url in server.urls().items():
                add_feed(session, settings, url, now=EARLIER, name=Path(filename).stem, spread=0)
        rules_note = f"{len(loaded[0].watches)} watches from {shipped_rules_dir()}" if loaded else "no rules"
        echo(f"serving {len(server.urls())} demo feeds on {server.base_url}; {rules_note}; database {path}")

        first = asyncio.run(poll_once(db, settings, due_only=False, clock=lambda: EARLIER, on_items_stored=recorder))
        echo(f"{EARLIER:%Y-%m-%d %H:%M} UTC, first poll: {first.items_new} items stored as backlog "
             f"(matched, never alerted), {first.errors} feed errors")
        for source in demo_feed_files():
            shutil.copy(source, served / source.name)
        second = asyncio.run(poll_once(db, settings, due_only=False, clock=lambda: DEMO_NOW, on_items_stored=recorder))
        echo(f"{DEMO_NOW:%Y-%m-%d %H:%M} UTC, second poll: {second.items_new} new items, "
             f"{second.items_duplicate} already stored or folded duplicates, {second.hits} alertable hits, "
             f"{second.errors} feed errors\n")
        echo(render_stored_items(db))
        echo("")
        echo(render_hits(db, loaded[0].watches if loaded else ()))
        echo("")
        echo(render_feed_health(db))
        if keep:
            echo(f"\ndatabase kept: {path}")
        return second


def render_stored_items(db: Database) -> str:
    with db.session() as session:
        names = dict(session.execute(select(Feed.id, Feed.name)).all())
        items = list(session.scalars(select(Item).order_by(Item.published_at.desc())))
    rows = [(i.published_at.strftime("%Y-%m-%d %H:%M"), names.get(i.feed_id), i.language or "-",
             "backlog" if i.is_backlog else "new", i.title) for i in items]
    return "Stored items\n" + render_table(["PUBLISHED (UTC)", "FEED", "LANG", "SEEN AS", "TITLE"], rows,
                                           max_width=80)


def render_hits(db: Database, watches: tuple = ()) -> str:  # type: ignore[type-arg]
    titles = {w.id: w.title for w in watches}
    with db.session() as session:
        rows = session.execute(select(Hit, Item.title).join(Item, Item.id == Hit.item_id)
                               .order_by(Hit.priority_rank.desc(), Hit.watch_id, Item.published_at.desc())).all()
    lines = [f"Hits ({sum(1 for h, _ in rows if h.alertable)} alertable, "
             f"{sum(1 for h, _ in rows if not h.alertable)} on backlog items)"]
    current = None
    for hit, title in rows:
        if hit.watch_id != current:
            current = hit.watch_id
            lines.append(f"  {titles.get(current, current)} [{hit.priority}]")
        names = list(dict.fromkeys(t["text"] for t in hit.terms))
        terms = ", ".join(names[:6]) + (f" (+{len(names) - 6})" if len(names) > 6 else "")
        mark = "*" if hit.alertable else " "
        lines.append(f"    {mark} {title}  — {terms}")
    lines.append("  (* alertable: new since the first poll)")
    return "\n".join(lines)


def render_feed_health(db: Database) -> str:
    with db.session() as session:
        listing = list_feeds(session)
    rows = [(e.feed.name, e.feed.status, e.items, e.feed.last_error or "") for e in listing]
    return "Feed health\n" + render_table(["FEED", "STATUS", "ITEMS", "LAST ERROR"], rows, max_width=90)
