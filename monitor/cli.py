"""The `monitor` command line: one click group; each area adds its commands here.

Output is a readable table for people and --json for programs; errors are one line on
stderr and a non-zero exit code (2 for configuration and schema problems).
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from monitor.config import (
    FIXED_INTERVAL_TOO_SHORT,
    MIN_FIXED_INTERVAL,
    Settings,
    Subscription,
    load_settings,
)
from monitor.database import Database, safe_url
from monitor.durations import format_duration, parse_duration
from monitor.errors import MonitorError
from monitor.logs import configure_logging
from monitor.match import PRIORITY_RANK, HitRecorder
from monitor.models import Feed, Item
from monitor.poll import PollSummary
from monitor.rules import RuleSet
from monitor.rules.commands import match_command, rules_group
from monitor.rules.derive import derive_command
from monitor.tables import render_table

logger = logging.getLogger(__name__)


@dataclass
class AppContext:
    config_path: str | None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def matcher(self) -> HitRecorder:
        """The compiled watch rules as the storing hook; RuleError (exit 2) if a file is invalid."""
        from monitor.match import load_matcher

        return HitRecorder(load_matcher(self.settings.rules_paths))

    def database(self, *, check: bool = True, sync: bool = True) -> Database:
        """Open the database; refuse an old schema; bring config and OPML feeds in."""
        db = Database(self.settings.database_url)
        if check:
            db.check_schema()
        if sync:
            from monitor.registry import sync_configured_feeds

            sync_configured_feeds(db, self.settings)
        return db


def utcnow() -> datetime:
    from monitor.poll import utcnow as now

    return now()


def duration_option(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def write_output(path: Path, text: str) -> None:
    """Write a command's output file, or fail with a message instead of a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MonitorError(f"cannot write {path}: {exc.strerror or exc}; check that its "
                           "directory exists and is writable") from None


def show_progress() -> bool:
    return sys.stderr.isatty()


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def fmt_time(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "-"
    if now is not None:
        delta = (value - now).total_seconds()
        return f"in {format_duration(delta)}" if delta >= 0 else f"{format_duration(-delta)} ago"
    return value.strftime("%Y-%m-%d %H:%M")


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (default: $MONITOR_CONFIG, else ./monitor.toml, else built-in defaults).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]))
@click.version_option(package_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str, log_format: str) -> None:
    """Media-monitoring alert daemon: polls news feeds, stores every item once."""
    configure_logging(log_level, log_format)
    ctx.obj = AppContext(config_path)


# -- db --------------------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(app: AppContext) -> None:
    """Apply all pending migrations."""
    database = Database(app.settings.database_url)
    before = database.current_revision()
    database.upgrade()
    after = database.current_revision()
    click.echo(f"{safe_url(database.url)}: schema {before or 'empty'} → {after}" if before != after
               else f"{safe_url(database.url)}: schema already at {after}")


@db.command("status")
@click.pass_obj
def db_status(app: AppContext) -> None:
    """Show the schema revision; exit 2 if migrations are pending."""
    database = Database(app.settings.database_url)
    database.check_schema()
    click.echo(f"{safe_url(database.url)}: schema current ({database.current_revision()})")


@db.command("prune")
@click.option("--older-than", default="180d", show_default=True, help="Remove items first seen before this.")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@click.pass_obj
def db_prune(app: AppContext, older_than: str, dry_run: bool) -> None:
    """Remove old items and hits, keeping tombstones and hits still owed to a digest."""
    from monitor.retention import prune

    with app.database(sync=False).session() as session:
        result = prune(session, app.settings, older_than=duration_option(older_than) or 0, now=utcnow())
        if dry_run:
            session.rollback()  # the counts are those of the real run; none of it is kept
    verb = "would prune" if dry_run else "pruned"
    click.echo(f"{verb} {result.items} items ({result.kept_for_digests} kept: hits still owed to a "
               f"digest), {result.digests} old digests, {result.old_tombstones} expired tombstones")


# -- feeds -----------------------------------------------------------------------------------

@cli.group()
def feeds() -> None:
    """Add, remove, list, import and check feeds."""


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="Short unique name (default: derived from the URL).")
@click.option("--tag", "tags", multiple=True, help="Tag the feed (repeatable).")
@click.option("--interval", help="Fixed poll interval, e.g. 15m (default: adaptive).")
@click.pass_obj
def feeds_add(app: AppContext, url: str, name: str | None, tags: tuple[str, ...], interval: str | None) -> None:
    """Monitor the feed at URL."""
    from monitor.registry import add_feed

    seconds = duration_option(interval)
    if seconds is not None and seconds < MIN_FIXED_INTERVAL:
        raise click.BadParameter(FIXED_INTERVAL_TOO_SHORT, param_hint="'--interval'")
    database = app.database()
    with database.session() as session:
        feed = add_feed(session, app.settings, url, now=utcnow(), name=name, tags=tags,
                        interval=seconds, spread=0)
        click.echo(f"added {feed.name}: {feed.url}")


@feeds.command("remove")
@click.argument("name_or_url")
@click.pass_obj
def feeds_remove(app: AppContext, name_or_url: str) -> None:
    """Stop monitoring a feed (its stored items are kept)."""
    from monitor.registry import remove_feed

    with app.database().session() as session:
        feed = remove_feed(session, name_or_url)
        if feed.origin == "config":
            click.echo(f"note: {feed.name} is listed in the configuration; remove it there too or it comes back",
                       err=True)
        click.echo(f"removed {feed.name}: {feed.url}")


@feeds.command("enable")
@click.argument("name_or_url")
@click.pass_obj
def feeds_enable(app: AppContext, name_or_url: str) -> None:
    """Re-enable a disabled feed (e.g. after HTTP 410) and poll it at the next tick."""
    from monitor.registry import enable_feed

    with app.database().session() as session:
        feed = enable_feed(session, name_or_url, now=utcnow())
        click.echo(f"enabled {feed.name}")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
@click.pass_obj
def feeds_list(app: AppContext, as_json: bool) -> None:
    """Feeds with their health: status, last success, last error, next poll, items."""
    from monitor.registry import list_feeds

    now = utcnow()
    with app.database().session() as session:
        listing = list_feeds(session)
    if as_json:
        echo_json([feed_json(entry.feed, entry.items) for entry in listing])
        return
    if not listing:
        click.echo("no feeds yet: `monitor feeds add URL` or `monitor feeds import FILE.opml`")
        return
    rows = [(e.feed.name, e.feed.url, e.feed.status, fmt_time(e.feed.last_success_at, now),
             e.feed.disabled_reason or e.feed.last_error,
             "-" if not e.feed.enabled else fmt_time(e.feed.next_poll_at, now), e.items) for e in listing]
    click.echo(render_table(["NAME", "URL", "STATUS", "LAST SUCCESS", "LAST ERROR", "NEXT POLL", "ITEMS"], rows,
                            max_width=48))


def feed_json(feed: Feed, items: int) -> dict[str, Any]:
    return {"name": feed.name, "url": feed.url, "tags": feed.tags, "status": feed.status,
            "enabled": feed.enabled, "disabled_reason": feed.disabled_reason, "title": feed.title,
            "interval_seconds": feed.interval, "next_poll_at": feed.next_poll_at,
            "last_success_at": feed.last_success_at, "last_error_at": feed.last_error_at,
            "last_error": feed.last_error, "last_status": feed.last_status,
            "consecutive_failures": feed.consecutive_failures, "items": items}


@feeds.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Add this tag to every imported feed.")
@click.pass_obj
def feeds_import(app: AppContext, opml_file: Path, tags: tuple[str, ...]) -> None:
    """Import feeds from an OPML file (feeds already monitored are skipped)."""
    from tqdm import tqdm

    from monitor.opml import parse_opml
    from monitor.registry import FeedExists, add_feed

    entries = parse_opml(opml_file.read_bytes(), source=str(opml_file))
    database = app.database()
    added = skipped = 0
    now = utcnow()
    with database.session() as session:
        for entry in tqdm(entries, desc="importing", unit="feed", disable=not show_progress(), leave=False):
            try:
                with session.begin_nested():
                    add_feed(session, app.settings, entry.url, now=now, name=entry.name,
                             tags=[*entry.tags, *tags], origin="opml")
                added += 1
            except FeedExists:
                skipped += 1
            except MonitorError as exc:
                click.echo(f"{opml_file}: skipped {entry.url}: {exc}", err=True)
                skipped += 1
    click.echo(f"imported {added} feeds from {opml_file} ({skipped} skipped: already monitored or invalid)")


@feeds.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout.")
@click.pass_obj
def feeds_export(app: AppContext, output: Path | None) -> None:
    """Export every feed as OPML (tags become folders)."""
    from monitor.opml import OpmlFeed, render_opml

    with app.database().session() as session:
        rows = list(session.scalars(select(Feed).order_by(Feed.name)))
    text = render_opml([OpmlFeed(url=f.url, name=f.name, site_url=f.site_url, tags=tuple(f.tags)) for f in rows])
    if output:
        write_output(output, text)
        click.echo(f"wrote {len(rows)} feeds to {output}", err=True)
    else:
        click.echo(text, nl=False)


@feeds.command("check")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def feeds_check(app: AppContext, url: str, as_json: bool) -> None:
    """Fetch and parse one feed and show what would be stored, without storing anything."""
    from monitor.feedcheck import check_feed

    report = asyncio.run(check_feed(app.settings, url))
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(report.render())
    if not report.ok:
        sys.exit(1)


# -- poll and run ----------------------------------------------------------------------------

@cli.command("poll")
@click.option("--once", is_flag=True, required=True, help="Poll due feeds once and exit.")
@click.option("--feed", "feed_names", multiple=True, help="Only this feed (name or URL; repeatable), due or not.")
@click.option("--all", "all_feeds", is_flag=True, help="Poll every enabled feed, due or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def poll(app: AppContext, once: bool, feed_names: tuple[str, ...], all_feeds: bool, as_json: bool) -> None:
    """Poll feeds once and exit."""
    recorder = app.matcher()
    database = app.database()
    summary = asyncio.run(poll_with_progress(database, app.settings, names=feed_names, due_only=not all_feeds,
                                             on_items_stored=recorder))
    if as_json:
        echo_json(summary.as_dict())
    else:
        click.echo(f"polled {summary.feeds} feeds in {summary.seconds:.1f} s: {summary.fetched} fetched, "
                   f"{summary.not_modified} not modified, {summary.unchanged} unchanged, {summary.errors} errors; "
                   f"{summary.items_new} new items, {summary.items_duplicate} already stored, "
                   f"{summary.items_updated} updated; {summary.hits} hits")


async def poll_with_progress(database: Database, settings: Settings, *, names: tuple[str, ...] = (),
                             due_only: bool = True, on_items_stored: HitRecorder | None = None) -> PollSummary:
    from tqdm import tqdm

    from monitor.poll import poll_once

    with tqdm(desc="polling", unit="feed", disable=not show_progress(), leave=False) as bar:
        def started(total: int) -> None:
            bar.reset(total=total)
        return await poll_once(database, settings, names=names, due_only=due_only,
                               on_claimed=started, on_feed_done=lambda _t: bar.update(),
                               on_items_stored=on_items_stored)


@cli.command("run")
@click.pass_obj
def run(app: AppContext) -> None:
    """Run the daemon: poll due feeds on schedule until SIGTERM/SIGINT."""
    from monitor.daemon import Daemon

    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    database = app.database()
    lock = database.single_instance_lock()  # an open file: the lock lasts while it is open
    try:
        recorder = app.matcher()
        asyncio.run(Daemon(database, app.settings, recorder, config_path=app.config_path).run())
    finally:
        if lock is not None:
            lock.close()


# -- items -----------------------------------------------------------------------------------

@cli.group()
def items() -> None:
    """Stored items."""


@items.command("list")
@click.option("--since", default="1d", show_default=True, help="First seen within this long, e.g. 6h, 7d.")
@click.option("--feed", "feed_name", help="Only items this feed carried (name or URL).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def items_list(app: AppContext, since: str, feed_name: str | None, limit: int, as_json: bool) -> None:
    """Items stored recently, newest first."""
    from monitor.models import ItemSource
    from monitor.registry import find_feed

    cutoff = utcnow() - timedelta(seconds=duration_option(since) or 0)
    with app.database(sync=False).session() as session:
        query = select(Item).where(Item.first_seen_at >= cutoff)
        if feed_name:
            feed = find_feed(session, feed_name)
            query = query.join(ItemSource, ItemSource.item_id == Item.id).where(ItemSource.feed_id == feed.id)
        rows = list(session.scalars(query.order_by(Item.published_at.desc(), Item.id.desc()).limit(limit)))
        feed_names = dict(session.execute(select(Feed.id, Feed.name)).all())
    if as_json:
        echo_json([item_json(i, feed_names.get(i.feed_id)) for i in rows])
        return
    click.echo(render_table(["PUBLISHED", "FEED", "TITLE", "FLAGS"],
                            [(fmt_time(i.published_at), feed_names.get(i.feed_id), i.title, item_flags(i))
                             for i in rows], max_width=70))


def item_flags(item: Item) -> str:
    return ",".join(f for f, on in (("backlog", item.is_backlog), ("stale", item.is_stale),
                                    ("updated", item.updated_at is not None)) if on)


def item_json(item: Item, feed_name: str | None) -> dict[str, Any]:
    return {"id": item.id, "feed": feed_name, "guid": item.guid, "url": item.url,
            "canonical_url": item.canonical_url, "title": item.title, "summary": item.summary_text,
            "content": item.content_text, "author": item.author, "tags": item.tags, "language": item.language,
            "published_at": item.published_at, "first_seen_at": item.first_seen_at,
            "updated_at": item.updated_at, "backlog": item.is_backlog, "stale": item.is_stale}


# -- rules -----------------------------------------------------------------------------------

cli.add_command(rules_group)
cli.add_command(match_command)
rules_group.add_command(derive_command)


def _unknown_watch(watch_id: str, known: list[str]) -> str:
    close = difflib.get_close_matches(watch_id, sorted(known), n=3)
    hint = f"did you mean {' or '.join(map(repr, close))}?" if close else \
        "a watch's id is the `id:` of its entry under `watches:` in the rule files"
    return f"no watch {watch_id!r} among the {len(known)} watches of the rules; {hint}"


@rules_group.command("backtest")
@click.option("--since", default="30d", show_default=True, help="Items first seen within this long.")
@click.option("--watch", "watch_id", help="Only this watch.")
@click.option("--rules", "rules_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Rule files or directories (default: rules.paths from the configuration).")
@click.option("--show", default=20, show_default=True, type=click.IntRange(0), help="Items listed per watch.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per hit.")
@click.pass_obj
def rules_backtest(app: AppContext, since: str, watch_id: str | None, rules_paths: tuple[Path, ...],
                   show: int, as_json: bool) -> None:
    """Run the rules over stored items and show what would have matched (records nothing)."""
    from monitor.backtest import backtest
    from monitor.match import load_matcher
    from monitor.rules import compile_rules, load_rules

    if rules_paths:
        rules = load_rules(rules_paths)
        matcher = compile_rules(rules)
    else:
        loaded = load_matcher(app.settings.rules_paths)
        if loaded is None:
            raise MonitorError("no rule files found: pass --rules PATH or set rules.paths in the configuration")
        rules, matcher = loaded
    if watch_id and watch_id not in {w.id for w in rules.watches}:
        raise MonitorError(_unknown_watch(watch_id, [w.id for w in rules.watches]))
    cutoff = utcnow() - timedelta(seconds=duration_option(since) or 0)
    by_watch: dict[str, list[Any]] = {}
    with app.database(sync=False).session() as session:
        for hit in backtest(session, matcher, since=cutoff, watch=watch_id):
            if as_json:
                click.echo(json.dumps(hit.as_dict(), ensure_ascii=False))
            else:
                by_watch.setdefault(hit.watch, []).append(hit)
    if as_json:
        return
    titles = {w.id: w for w in rules.watches}
    click.echo(f"backtest since {fmt_time(cutoff)} UTC: {sum(map(len, by_watch.values()))} hits "
               f"in {len(by_watch)} watches (nothing recorded)")
    order = sorted(by_watch, key=lambda w: (-PRIORITY_RANK.get(titles[w].priority, 1), w))
    for wid in order:
        hits = by_watch[wid]
        click.echo(f"\n{titles[wid].title} [{wid}, {titles[wid].priority}]: {len(hits)}")
        rows = [(fmt_time(h.published_at), h.feed, h.title, ", ".join(dict.fromkeys(t.term for t in h.terms)))
                for h in hits[:show]]
        if rows:
            click.echo(render_table(["PUBLISHED", "FEED", "TITLE", "TERMS"], rows, max_width=60))
        if len(hits) > show:
            click.echo(f"… and {len(hits) - show} more (--show N, or --json for all)")


# -- digests and deliveries -----------------------------------------------------------------

@cli.group("digest")
def digest_group() -> None:
    """Preview and send digests."""


def _subscription(app: AppContext, name: str) -> Subscription:
    sub = next((s for s in app.settings.subscriptions if s.name == name), None)
    if sub is None:
        known = ", ".join(s.name for s in app.settings.subscriptions) or "none configured"
        raise MonitorError(f"no subscription named {name!r} ({known}); see [[subscriptions]] in the configuration")
    return sub


def _rules_or_none(app: AppContext) -> RuleSet | None:
    from monitor.match import load_matcher

    loaded = load_matcher(app.settings.rules_paths)
    return loaded[0] if loaded else None


@digest_group.command("preview")
@click.argument("subscription")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the HTML.")
@click.option("--since", help="Cover hits from this long ago (default: since the subscription's last digest).")
@click.pass_obj
def digest_preview(app: AppContext, subscription: str, html_file: Path | None, since: str | None) -> None:
    """Render the next digest of SUBSCRIPTION as it stands now, without sending or recording it."""
    from monitor.digest.build import build_digest
    from monitor.digest.email import render_email
    from monitor.digest.model import DigestRequest
    from monitor.models import SubscriptionState
    from monitor.outbox import health_notes, pending_hits, watch_catalogue

    sub = _subscription(app, subscription)
    catalogue = watch_catalogue(_rules_or_none(app))
    now = utcnow()
    database = app.database(sync=False)
    with database.sessions() as session:  # read-only: never committed
        state = session.get(SubscriptionState, sub.name)
        start = now - timedelta(seconds=duration_option(since) or 0) if since else \
            (state.last_window_end or state.first_start) if state else now - timedelta(days=1)
        entries = pending_hits(session, sub, catalogue, since=start, until=now)
        notes = health_notes(session, now)
    if not entries:
        click.echo(f"nothing to send for {sub.name} since {fmt_time(start)} UTC")
        return
    digest = build_digest(DigestRequest(subscription=sub.name, period_start=start, period_end=now,
                                        timezone=sub.timezone, hits=tuple(entries), health=notes,
                                        cap_per_watch=sub.cap_per_watch))
    rendered = render_email(digest, list_name=f"{sub.name}.monitor")
    click.echo(f"Subject: {rendered.subject}\n")
    click.echo(rendered.text)
    if html_file:
        write_output(html_file, rendered.html)
        click.echo(f"\nHTML written to {html_file}", err=True)


@digest_group.command("send")
@click.argument("subscription")
@click.option("--now", "now_flag", is_flag=True, required=True, help="Build a digest of everything pending now.")
@click.pass_obj
def digest_send(app: AppContext, subscription: str, now_flag: bool) -> None:
    """Build SUBSCRIPTION's digest of everything pending now and send it (outside its cadence)."""
    from monitor.outbox import build_due_digests, send_due_deliveries
    from monitor.poll import worker_identity

    sub = _subscription(app, subscription)
    database = app.database(sync=False)
    built = build_due_digests(database, app.settings, _rules_or_none(app), now=utcnow(), only=sub.name, force=True)
    if not built:
        click.echo(f"nothing pending for {sub.name}: no digest built")
        return
    counts = asyncio.run(send_due_deliveries(database, app.settings, owner=worker_identity(), now=utcnow()))
    click.echo(f"digest {built[0][0]} built for {sub.name}; deliveries: {counts['sent']} sent, "
               f"{counts['retry']} to retry, {counts['failed']} failed (`monitor deliveries list`)")
    if counts["failed"] or counts["retry"]:
        sys.exit(1)


@cli.group("deliveries")
def deliveries_group() -> None:
    """The delivery outbox."""


@deliveries_group.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), help="Only deliveries in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def deliveries_list(app: AppContext, status: str | None, limit: int, as_json: bool) -> None:
    """Recent deliveries: channel, target, status, attempts, next attempt, last error."""
    from monitor.models import Delivery, Digest

    now = utcnow()
    with app.database(sync=False).session() as session:
        query = (select(Delivery, Digest.subject).join(Digest, Digest.id == Delivery.digest_id)
                 .order_by(Delivery.id.desc()).limit(limit))
        if status:
            query = query.where(Delivery.status == status)
        rows = session.execute(query).all()
    if as_json:
        echo_json([{"id": d.id, "digest": d.digest_id, "subscription": d.subscription, "channel": d.channel,
                    "target": d.target, "status": d.status, "attempts": d.attempts,
                    "next_attempt_at": d.next_attempt_at, "sent_at": d.sent_at, "last_error": d.last_error,
                    "message_id": d.message_id, "subject": subject} for d, subject in rows])
        return
    click.echo(render_table(
        ["ID", "SUBSCRIPTION", "CHANNEL", "TARGET", "STATUS", "ATTEMPTS", "NEXT", "LAST ERROR", "SUBJECT"],
        [(d.id, d.subscription, d.channel, d.target, d.status, d.attempts,
          fmt_time(d.next_attempt_at, now) if d.status == "pending" else "-", d.last_error, subject)
         for d, subject in rows], max_width=50))


# -- service ---------------------------------------------------------------------------------

@cli.command("doctor")
@click.pass_obj
def doctor(app: AppContext) -> None:
    """Check configuration, database, rules, SMTP and Slack settings, failing feeds; exit 1 on a failure."""
    from monitor.doctor import run_checks, summarise

    checks = []
    for check in run_checks(app.config_path, now=utcnow()):
        checks.append(check)
        click.echo(f"{check.status:<5} {check.name}: {check.detail}")
    sys.exit(summarise(checks))


@cli.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status(app: AppContext, as_json: bool) -> None:
    """One screen: feeds, items and hits in the last 24 h, next digests, outbox backlog."""
    from monitor.status import collect_status

    with app.database(sync=False).session() as session:
        report = collect_status(session, app.settings, now=utcnow())
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(report.render())


# -- demo ------------------------------------------------------------------------------------

@cli.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo database in this directory instead of a temporary one.")
def demo(keep: Path | None) -> None:
    """Serve the bundled demo feeds on loopback, poll them into a fresh SQLite DB, show the result."""
    from monitor.demo.run import run_demo

    if logging.getLogger().level >= logging.WARNING:
        # The demo's broken feed is there on purpose; its error is in the health table.
        logging.getLogger("monitor.poll").setLevel(logging.ERROR)
    run_demo(keep, echo=click.echo)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
