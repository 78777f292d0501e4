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
from sqlalchemy import func, select

from monitor.config import Settings, Subscription, settings_from_dict
from monitor.database import Database
from monitor.demo import DEMO_NOW
from monitor.demo.server import DemoServer, demo_feed_files
from monitor.errors import MonitorError
from monitor.match import HitRecorder, load_matcher, shipped_rules_dir
from monitor.digest import DigestRequest, build_digest, render_email
from monitor.models import Feed, Hit, Item
from monitor.outbox import health_notes, pending_hits, watch_catalogue
from monitor.rules import RuleSet
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
        served = directory / "feeds"
        try:
            served.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MonitorError(f"cannot use {directory} for the demo: {exc.strerror or exc}; "
                               "give --keep a directory you can write to") from None
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
        echo(render_feed_health(db))
        echo("")
        html_path = (keep or Path(tempfile.mkdtemp(prefix="monitor-demo-digest-"))) / "digest.html"
        echo(render_demo_digest(db, loaded[0] if loaded else None, html_path))
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


DEMO_SUBSCRIPTION = Subscription(name="demo analysts", email=("analyst@demo.example",), cadence="daily 08:00",
                                 timezone="Europe/London")


def render_demo_digest(db: Database, rules: RuleSet | None, html_path: Path) -> str:
    """The digest an analyst subscribed to every watch would get for the demo's second poll."""
    with db.session() as session:
        backlog_hits = session.scalar(select(func.count()).select_from(Hit).where(Hit.alertable.is_(False))) or 0
        entries = pending_hits(session, DEMO_SUBSCRIPTION, watch_catalogue(rules), since=EARLIER, until=DEMO_NOW)
        notes = health_notes(session, DEMO_NOW)
    header = (f"Digest of the demo run ({len(entries)} alertable hits; {backlog_hits} hits on first-poll "
              "backlog are recorded but never alerted on)")
    if not entries:
        return header + "\nnothing to send"
    digest = build_digest(DigestRequest(subscription=DEMO_SUBSCRIPTION.name, period_start=EARLIER,
                                        period_end=DEMO_NOW, timezone=DEMO_SUBSCRIPTION.timezone,
                                        hits=tuple(entries), health=notes))
    rendered = render_email(digest, list_name="demo")
    html_path.write_text(rendered.html, encoding="utf-8")
    return "\n".join([header, "=" * len(header), f"Subject: {rendered.subject}", "", rendered.text.rstrip(), "",
                      f"HTML digest written to {html_path}"])


def render_feed_health(db: Database) -> str:
    with db.session() as session:
        listing = list_feeds(session)
    rows = [(e.feed.name, e.feed.status, e.items, e.feed.last_error or "") for e in listing]
    return "Feed health\n" + render_table(["FEED", "STATUS", "ITEMS", "LAST ERROR"], rows, max_width=90)
