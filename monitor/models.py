"""The database tables (SQLAlchemy 2.0 declarative). Every change here needs an Alembic migration."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text,
                        TypeDecorator, UniqueConstraint, text)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores timestamptz; SQLite has no time zones, so values are stored as naive UTC
    and given their zone back on the way out. Naive values are refused on the way in: a naive
    datetime in this code base is a bug, not a local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; use UTC-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Feed(Base):
    """A polled feed and everything the scheduler knows about it."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Where the feed came from: "config" feeds are kept in step with monitor.toml.
    origin: Mapped[str] = mapped_column(String(16), default="cli")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)

    interval_override: Mapped[int | None] = mapped_column(Integer)
    interval: Mapped[int] = mapped_column(Integer)
    ttl: Mapped[int | None] = mapped_column(Integer)  # the feed's own minimum interval (ttl / max-age)
    next_poll_at: Mapped[datetime] = mapped_column(index=True)
    retry_after_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]

    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))

    created_at: Mapped[datetime]
    first_success_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_item_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.consecutive_failures:
            return "failing"
        if self.last_success_at is None:
            return "new"
        return "ok"


class Item(Base):
    """One news story as first stored; other feeds carrying it are ItemSource rows."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"), index=True)
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    # NULL when the link does not identify the story (e.g. every entry links to a home page).
    canonical_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary_text: Mapped[str] = mapped_column(Text, default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    content_text: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(35))
    published_at: Mapped[datetime] = mapped_column(index=True)
    published_from_feed: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    # Stored but never alerted on: a feed's first-poll backlog, or older than polling.max_item_age.
    is_backlog: Mapped[bool] = mapped_column(Boolean, default=False)
    is_stale: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_items_canonical_url", "canonical_url", unique=True,
              sqlite_where=text("canonical_url IS NOT NULL"),
              postgresql_where=text("canonical_url IS NOT NULL")),
    )


class ItemKey(Base):
    """The keys under which a feed's entry is known: guid, link and content hash (hashed).

    Looking up all of them, not just the GUID, is what survives feeds whose GUIDs are missing
    or change on every fetch.
    """

    __tablename__ = "item_keys"

    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)


class ItemSource(Base):
    """A feed that carried an item: the first one and every outlet that also ran it."""

    __tablename__ = "item_sources"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    url: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime]


class Hit(Base):
    """A watch that matched an item: one row per (watch, item), whatever happens to either later."""

    __tablename__ = "hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    priority: Mapped[str] = mapped_column(String(16))
    # critical 3, high 2, normal 1, low 0: sorts in SQL without a CASE expression.
    priority_rank: Mapped[int] = mapped_column(Integer)
    # The matched terms with character spans in the item's title/body, for highlighting.
    terms: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # False for first-poll backlog and over-age items: recorded, never alerted on.
    alertable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("watch_id", "item_id", name="uq_hits_watch_item"),)


class SubscriptionState(Base):
    """Where a subscription's digests stand: the end of the last window built."""

    __tablename__ = "subscription_state"

    subscription: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_start: Mapped[datetime]
    last_window_end: Mapped[datetime | None]


class Digest(Base):
    """One window of one subscription, built once (the unique key is what makes it once)."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription: Mapped[str] = mapped_column(String(200))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    created_at: Mapped[datetime]
    subject: Mapped[str] = mapped_column(Text)
    hit_count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("subscription", "window_end", name="uq_digests_window"),)


class DigestHit(Base):
    """A hit in a digest; unique per subscription, so no hit is ever in two of its digests."""

    __tablename__ = "digest_hits"

    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"), primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), primary_key=True)
    subscription: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("subscription", "hit_id", name="uq_digest_hits_subscription_hit"),
                      Index("ix_digest_hits_hit_id", "hit_id"))


class Delivery(Base):
    """The outbox: one row per digest and channel target, sent at least once, never twice on purpose."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"), index=True)
    subscription: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))        # email | slack
    target: Mapped[str] = mapped_column(Text)               # addresses, or the masked webhook
    # Rendered at build time and stored, so a retry after a crash sends the very same message.
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_id: Mapped[str | None] = mapped_column(Text)    # email: fixed before the first attempt
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # Slack messages already accepted
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Tombstone(Base):
    """Keys of pruned items, so an entry still in a feed is not re-ingested as new."""

    __tablename__ = "tombstones"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # When the item was pruned, then moved on whenever a feed still serves the entry: a
    # tombstone may go only once its entry has left the feeds (see retention.prune).
    seen_at: Mapped[datetime] = mapped_column(index=True)


__all__ = ["Base", "Delivery", "Digest", "DigestHit", "Feed", "Hit", "Item", "ItemKey", "ItemSource",
           "SubscriptionState", "Tombstone", "UTCDateTime"]
