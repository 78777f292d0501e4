"""Retention: prune old items and their hits, keeping tombstones and every hit still owed to a digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.models import Delivery, Digest, DigestHit, Hit, Item, SubscriptionState, Tombstone
from monitor.store import tombstone_items


BATCH = 500
TOMBSTONE_MINIMUM = timedelta(days=90)  # see prune


@dataclass
class PruneResult:
    items: int = 0
    kept_for_digests: int = 0
    tombstones: int = 0
    digests: int = 0
    old_tombstones: int = 0


def _waiting_item_ids(session: Session, settings: Settings, item_ids: list[int]) -> set[int]:
    """Items with an alertable hit that some subscription will still put in a digest."""
    if not settings.subscriptions or not item_ids:
        return set()
    from monitor.outbox import wants

    starts = dict(session.execute(select(SubscriptionState.subscription, SubscriptionState.first_start)).all())
    taken = {(sub, hit) for sub, hit in session.execute(
        select(DigestHit.subscription, DigestHit.hit_id)
        .join(Hit, Hit.id == DigestHit.hit_id).where(Hit.item_id.in_(item_ids)))}
    waiting = set()
    for hit in session.scalars(select(Hit).where(Hit.item_id.in_(item_ids), Hit.alertable.is_(True))):
        for sub in settings.subscriptions:
            start = starts.get(sub.name)
            if start is not None and hit.created_at <= start:
                continue
            # Watch tags need the rules; without them a tag filter is taken as wanting the hit,
            # which can only keep an item longer, never lose a hit.
            if (sub.name, hit.id) not in taken and (wants(sub, hit.watch_id, hit.priority_rank, {}) or sub.tags):
                waiting.add(hit.item_id)
                break
    return waiting


def prune(session: Session, settings: Settings, *, older_than: float, now: datetime) -> PruneResult:
    """Delete items first seen before now - older_than, in batches; return what was done."""
    cutoff = now - timedelta(seconds=older_than)
    result = PruneResult()
    last_id = 0
    while True:
        ids = list(session.scalars(select(Item.id).where(Item.first_seen_at < cutoff, Item.id > last_id)
                                   .order_by(Item.id).limit(BATCH)))
        if not ids:
            break
        last_id = ids[-1]
        keep = _waiting_item_ids(session, settings, ids)
        doomed = [i for i in ids if i not in keep]
        result.kept_for_digests += len(keep)
        if doomed:
            result.tombstones += tombstone_items(session, doomed, now=now)
            session.execute(delete(Item).where(Item.id.in_(doomed)))
            result.items += len(doomed)
    done = select(Digest.id).where(Digest.created_at < cutoff).where(
        ~select(Delivery.id).where(Delivery.digest_id == Digest.id, Delivery.status == "pending").exists())
    result.digests = session.execute(delete(Digest).where(Digest.id.in_(done))).rowcount or 0
    # A tombstone goes once no feed has served its entry for the retention period (polls
    # move `seen_at` on), and never sooner than TOMBSTONE_MINIMUM: an entry that came back
    # after its tombstone would be a new item and alert again, and an undated one is never
    # too old to alert. The floor covers a feed that could not be polled for weeks, so did
    # not refresh the tombstones of entries it still lists, and a short --older-than.
    forgotten = now - timedelta(seconds=max(older_than, TOMBSTONE_MINIMUM.total_seconds()))
    result.old_tombstones = session.execute(
        delete(Tombstone).where(Tombstone.seen_at < forgotten)).rowcount or 0
    # Not logged here: the caller commits (or, for a dry run, rolls back) and reports.
    return result


