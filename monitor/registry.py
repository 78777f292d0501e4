"""The feed registry: feeds added by command, OPML import or monitor.toml, kept in the database."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.config import FeedSpec, Settings
from monitor.database import Database
from monitor.errors import ConfigError, MonitorError
from monitor.models import Feed, ItemSource
from monitor.opml import parse_opml
from monitor.schedule import first_poll_at
from monitor.urls import feed_url_problem

logger = logging.getLogger(__name__)


REMOVED_FROM_CONFIG = "no longer listed in the configuration file"


class FeedNotFound(MonitorError):
    """No feed has that name or URL."""


class FeedExists(MonitorError):
    """A feed with that URL or name is already registered."""


@dataclass(frozen=True)
class FeedListing:
    feed: Feed
    items: int


def check_feed_url(url: str) -> str:
    """Return `url` stripped, or raise MonitorError saying why it cannot be polled."""
    text = url.strip()
    problem = feed_url_problem(text)
    if problem:
        raise MonitorError(f"{url!r} {problem}; give the feed's full address")
    return text


def default_feed_name(url: str) -> str:
    """A readable name from the URL: host plus the meaningful part of the path."""
    parts = urlsplit(url)
    host = (parts.hostname or "feed").removeprefix("www.")
    path = re.sub(r"\.(xml|rss|atom|rdf)$", "", parts.path.strip("/"))
    path = re.sub(r"[^\w.-]+", "-", path).strip("-")
    return f"{host}/{path}" if path else host


def _unique_name(session: Session, wanted: str) -> str:
    taken = set(session.scalars(select(Feed.name).where(Feed.name.like(f"{wanted}%"))))
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def add_feed(session: Session, settings: Settings, url: str, *, now: datetime, name: str | None = None,
             tags: Sequence[str] = (), interval: float | None = None, origin: str = "cli",
             spread: float | None = None) -> Feed:
    """Register a feed, first due within `spread` seconds (default: polling.startup_spread)."""
    url = check_feed_url(url)
    if session.scalar(select(Feed).where(Feed.url == url)) is not None:
        raise FeedExists(f"feed {url} is already monitored; see `monitor feeds list`")
    if name and session.scalar(select(Feed).where(Feed.name == name)) is not None:
        raise FeedExists(f"a feed named {name!r} already exists; choose another --name")
    polling = settings.polling
    feed = Feed(
        url=url, name=name or _unique_name(session, default_feed_name(url)), tags=list(dict.fromkeys(tags)),
        origin=origin, enabled=True,
        interval_override=int(interval) if interval else None,
        interval=int(interval or polling.default_interval),
        next_poll_at=first_poll_at(now, polling.startup_spread if spread is None else spread),
        created_at=now, consecutive_failures=0)
    session.add(feed)
    session.flush()
    logger.info("feed added: %s (%s)", feed.name, feed.url)
    return feed


def find_feed(session: Session, name_or_url: str) -> Feed:
    feed = session.scalar(select(Feed).where(or_(Feed.name == name_or_url, Feed.url == name_or_url)))
    if feed is None:
        raise FeedNotFound(f"no feed named or at {name_or_url!r}; see `monitor feeds list`")
    return feed


def remove_feed(session: Session, name_or_url: str) -> Feed:
    """Delete a feed and its per-feed keys; stored items stay (other feeds or hits may use them)."""
    feed = find_feed(session, name_or_url)
    session.delete(feed)
    logger.info("feed removed: %s (%s)", feed.name, feed.url)
    return feed


def enable_feed(session: Session, name_or_url: str, *, now: datetime) -> Feed:
    feed = find_feed(session, name_or_url)
    feed.enabled, feed.disabled_reason = True, None
    feed.consecutive_failures, feed.retry_after_until, feed.next_poll_at = 0, None, now
    return feed


def list_feeds(session: Session, *, names: Iterable[str] = ()) -> list[FeedListing]:
    counts = (select(ItemSource.feed_id, func.count().label("n"))
              .group_by(ItemSource.feed_id).subquery())
    query = (select(Feed, func.coalesce(counts.c.n, 0))
             .outerjoin(counts, counts.c.feed_id == Feed.id).order_by(Feed.name))
    names = list(names)
    if names:
        query = query.where(or_(Feed.name.in_(names), Feed.url.in_(names)))
    return [FeedListing(feed, n) for feed, n in session.execute(query)]


def sync_config_feeds(session: Session, settings: Settings, specs: Iterable[FeedSpec], *,
                      now: datetime) -> tuple[int, int]:
    """Make the database agree with the feeds monitor.toml lists.

    Feeds listed there are added (or updated); feeds that came from the config and are no
    longer listed are disabled, not deleted, so their history survives a typo in the file.
    Returns (added, disabled).
    """
    specs = list(specs)
    wanted = {spec.url: spec for spec in specs}
    added = disabled = 0
    existing = {f.url: f for f in session.scalars(select(Feed))}
    for url, spec in wanted.items():
        feed = existing.get(url)
        if feed is None:
            add_feed(session, settings, url, now=now, name=spec.name, tags=spec.tags,
                     interval=spec.interval, origin="config")
            added += 1
            continue
        if feed.origin == "config":
            feed.tags = list(spec.tags)
            feed.interval_override = int(spec.interval) if spec.interval else None
            if not feed.enabled and feed.disabled_reason == REMOVED_FROM_CONFIG:
                feed.enabled, feed.disabled_reason = True, None
    for url, feed in existing.items():
        if feed.origin == "config" and url not in wanted and feed.enabled:
            feed.enabled, feed.disabled_reason = False, REMOVED_FROM_CONFIG
            disabled += 1
    return added, disabled


def sync_configured_feeds(db: Database, settings: Settings) -> None:
    """Register the feeds of monitor.toml and its OPML files (see sync_config_feeds)."""
    specs = list(settings.feeds)
    for path in settings.feeds_opml:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{settings.config_path}: feeds_opml: cannot read {path} ({exc.strerror})") from None
        specs += [FeedSpec(url=f.url, name=f.name, tags=f.tags) for f in parse_opml(data, source=str(path))]
    with db.session() as session:
        added, disabled = sync_config_feeds(session, settings, specs, now=datetime.now(timezone.utc))
    if added or disabled:
        logger.info("configuration feeds: %d added, %d disabled", added, disabled)
