"""Digests and the delivery outbox: build each due window once, then send each delivery.

Building a digest, recording which hits it contains and queueing one delivery per channel
target happen in one transaction; unique keys on (subscription, window end) and (subscription,
hit) make a second scheduler firing at the same moment fail harmlessly instead of sending
twice. Senders claim deliveries with a lease, send, and mark them sent.

The one at-least-once edge, stated plainly: if the process dies after the mail server or Slack
accepted a message but before the delivery is marked sent, the claim expires and the message is
sent again. An email carries the same Message-ID both times (fixed when the digest was built),
so mail clients and analysts can recognise the duplicate; a Slack retry resumes after the last
message Slack had accepted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.cadence import due_window, parse_cadence, parse_quiet_hours
from monitor.config import Settings, Subscription
from monitor.database import Database
from monitor.deliver import PermanentDeliveryError, TransientDeliveryError
from monitor.deliver.email import EmailContent, SmtpSettings, build_message, make_message_id, send_email
from monitor.deliver.slack import mask_webhook, send_slack
from monitor.digest.build import build_digest
from monitor.digest.email import render_email
from monitor.digest.model import Digest as DigestContent
from monitor.digest.model import DigestHit as DigestEntry
from monitor.digest.model import DigestRequest, HealthNote, TermSpan
from monitor.digest.slack import render_slack
from monitor.match import PRIORITY_RANK, item_document
from monitor.models import Delivery, Digest, DigestHit, Feed, Hit, Item, ItemSource, SubscriptionState
from monitor.rules import RuleSet
from monitor.rules.loading import suggest

logger = logging.getLogger(__name__)

RETRY_BASE = 60.0
RETRY_CAP = 6 * 3600.0
CLAIM_SECONDS = 300.0
MAX_WAIT_DEBOUNCES = 5  # immediate cadence: the longest a hit waits for a burst to settle
ERROR_LIMIT = 1000


@dataclass(frozen=True)
class WatchInfo:
    title: str
    tags: tuple[str, ...]
    actor_names: dict[str, str]


def watch_catalogue(rules: RuleSet | None) -> dict[str, WatchInfo]:
    if rules is None:
        return {}
    actors = {a.id: a.name for a in rules.actors}
    return {w.id: WatchInfo(w.title, tuple(w.tags), actors) for w in rules.watches}


def wants(sub: Subscription, watch_id: str, priority_rank: int, catalogue: dict[str, WatchInfo]) -> bool:
    """Does the subscription's filter (watches, tags, minimum priority) take this hit?"""
    if priority_rank < PRIORITY_RANK[sub.min_priority]:
        return False
    if not sub.watches and not sub.tags:
        return True
    if watch_id in sub.watches:
        return True
    info = catalogue.get(watch_id)
    return bool(info and set(info.tags) & set(sub.tags))


def filter_problems(subscriptions: Iterable[Subscription], rules: RuleSet | None) -> list[str]:
    """What in the subscriptions' filters no watch of `rules` answers to: a watch id that
    is not there (a typo, or a watch renamed) or a tag no watch carries. Such a filter takes
    nothing, silently; the daemon logs these and `monitor doctor` shows them."""
    if rules is None:
        return []
    ids, tags = {w.id for w in rules.watches}, {t for w in rules.watches for t in w.tags}
    problems = []
    for sub in subscriptions:
        for watch_id in sub.watches:
            if watch_id not in ids:
                problems.append(f"subscription {sub.name!r}: no watch {watch_id!r} in the rules"
                                f"{suggest(watch_id, ids)}")
        for tag in sub.tags:
            if tag not in tags:
                problems.append(f"subscription {sub.name!r}: no watch carries the tag {tag!r}")
    return problems


def pending_hits(session: Session, sub: Subscription, catalogue: dict[str, WatchInfo], *,
                 since: datetime, until: datetime) -> list[DigestEntry]:
    """Alertable hits up to `until` that no digest of this subscription holds yet.

    Everything not yet sent is taken, not just hits created inside the window: a hit committed
    late (a long transaction) is never lost between two windows.
    """
    sent = select(DigestHit.hit_id).where(DigestHit.subscription == sub.name)
    rows = session.execute(
        select(Hit, Item, Feed.title, Feed.name)
        .join(Item, Item.id == Hit.item_id).outerjoin(Feed, Feed.id == Item.feed_id)
        .where(Hit.alertable.is_(True), Hit.created_at > since, Hit.created_at <= until,
               Hit.id.not_in(sent))
        .order_by(Hit.id)).all()
    chosen = [(h, i, t, n) for h, i, t, n in rows if wants(sub, h.watch_id, h.priority_rank, catalogue)]
    outlets = _other_outlets(session, [i.id for _, i, _, _ in chosen])
    entries = []
    for hit, item, feed_title, feed_name in chosen:
        info = catalogue.get(hit.watch_id)
        outlet = feed_title or feed_name or "unknown outlet"
        actor_ids = [t.get("actor") for t in hit.terms if t.get("actor")]
        names = tuple(dict.fromkeys((info.actor_names.get(a, a) if info else a) for a in actor_ids if a))
        entries.append(DigestEntry(
            hit_id=hit.id, watch_id=hit.watch_id, watch_title=info.title if info else hit.watch_id,
            priority=hit.priority, item_id=item.id, title=item.title, body=_body(item),
            url=item.canonical_url or item.url,  # tracking parameters already stripped
            canonical_url=item.canonical_url, outlet=outlet,
            other_outlets=tuple(o for o in outlets.get(item.id, ()) if o != outlet),
            published_at=item.published_at,
            # Analysts want the names highlighted; theme words ("talks", "met") are noise there.
            terms=tuple(TermSpan(text=t["text"], term=t["term"], actor=t.get("actor"), field=t["field"],
                                 start=t["start"], end=t["end"], theme=t.get("theme"))
                        for t in ([t for t in hit.terms if t.get("actor")] or hit.terms)),
            actor_names=names))
    return entries


def _body(item: Item) -> str:
    return item_document(item, None).body


def _other_outlets(session: Session, item_ids: Sequence[int]) -> dict[int, list[str]]:
    if not item_ids:
        return {}
    result: dict[int, list[str]] = {}
    for item_id, title, name in session.execute(
            select(ItemSource.item_id, Feed.title, Feed.name).join(Feed, Feed.id == ItemSource.feed_id)
            .where(ItemSource.item_id.in_(item_ids)).order_by(ItemSource.first_seen_at)):
        result.setdefault(item_id, []).append(title or name)
    return result


def health_notes(session: Session, now: datetime) -> tuple[HealthNote, ...]:
    """Feeds failing for more than a day, or silent far longer than their usual pace."""
    notes = []
    for feed in session.scalars(select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.name)):
        if feed.consecutive_failures and feed.last_success_at and now - feed.last_success_at > timedelta(days=1):
            notes.append(HealthNote(feed.title or feed.name, f"failing: {feed.last_error}", feed.last_success_at))
        elif feed.consecutive_failures and feed.last_success_at is None and now - feed.created_at > timedelta(days=1):
            notes.append(HealthNote(feed.title or feed.name, f"never fetched: {feed.last_error}", feed.created_at))
        elif feed.last_new_item_at and now - feed.last_new_item_at > timedelta(seconds=max(7 * feed.interval, 3 * 86400)):
            notes.append(HealthNote(feed.title or feed.name, "no new items for "
                                    f"{(now - feed.last_new_item_at).days} days", feed.last_new_item_at))
    return tuple(notes)


def _state(session: Session, sub: Subscription, now: datetime) -> SubscriptionState:
    state = session.scalar(select(SubscriptionState).where(SubscriptionState.subscription == sub.name)
                           .with_for_update())
    if state is None:
        # A new subscription starts now: it does not receive the whole history at once.
        state = SubscriptionState(subscription=sub.name, first_start=now, last_window_end=None)
        session.add(state)
        session.flush()
    return state


def build_due_digests(db: Database, settings: Settings, rules: RuleSet | None, *, now: datetime,
                      only: str | None = None, force: bool = False) -> list[tuple[int, Subscription]]:
    """Build every subscription's due window (or, with force, a window ending now).

    Returns (digest id, subscription) for each digest built.
    """
    catalogue = watch_catalogue(rules)
    built = []
    for sub in settings.subscriptions:
        if only and sub.name != only:
            continue
        try:
            digest_id = _build_one(db, settings, sub, catalogue, now=now, force=force)
        except IntegrityError:
            # Another scheduler built this window (or took these hits) first: nothing to do.
            logger.info("subscription %s: window already built by another worker", sub.name)
            continue
        if digest_id is not None:
            built.append((digest_id, sub))
    return built


def _build_one(db: Database, settings: Settings, sub: Subscription, catalogue: dict[str, WatchInfo], *,
               now: datetime, force: bool) -> int | None:
    with db.session() as session:
        state = _state(session, sub, now)
        last_end = state.last_window_end
        start = last_end or state.first_start
        if force:
            end = now
        else:
            oldest, latest = session.execute(
                select(func.min(Hit.created_at), func.max(Hit.created_at))
                .where(Hit.alertable.is_(True), Hit.created_at > start)).one()
            window = due_window(parse_cadence(sub.cadence), sub.timezone, now=now, last_end=last_end,
                                first_start=state.first_start,
                                quiet=parse_quiet_hours(sub.quiet_hours) if sub.quiet_hours else None,
                                latest_hit=latest, debounce=timedelta(seconds=sub.debounce),
                                # A steady stream never settles: send anyway once the oldest
                                # waiting hit has waited a few debounce periods.
                                oldest_hit=oldest, max_wait=timedelta(seconds=MAX_WAIT_DEBOUNCES * sub.debounce))
            if window is None:
                return None
            start, end = window.start, window.end
        entries = pending_hits(session, sub, catalogue, since=state.first_start, until=end)
        state.last_window_end = end
        if not entries:
            return None  # an empty window sends nothing, but it is used up
        digest = build_digest(DigestRequest(
            subscription=sub.name, period_start=start, period_end=end, timezone=sub.timezone,
            hits=tuple(entries), health=health_notes(session, now), cap_per_watch=sub.cap_per_watch))
        row = Digest(subscription=sub.name, window_start=start, window_end=end, created_at=now,
                     subject=digest.subject, hit_count=len(entries))
        session.add(row)
        session.flush()
        session.add_all(DigestHit(digest_id=row.id, hit_id=e.hit_id, subscription=sub.name) for e in entries)
        for delivery in _deliveries(settings, sub, digest, row, now):
            session.add(delivery)
        session.flush()
        logger.info("subscription %s: digest %d built with %d hits (%s → %s)", sub.name, row.id,
                    len(entries), start.isoformat(), end.isoformat())
        return row.id


def _deliveries(settings: Settings, sub: Subscription, digest: DigestContent, row: Digest,
                now: datetime) -> Iterable[Delivery]:
    if sub.email:
        rendered = render_email(digest, list_name=f"{sub.name}.monitor")
        domain = settings.smtp.from_addr.rsplit("@", 1)[-1] or "monitor.local"
        yield Delivery(digest_id=row.id, subscription=sub.name, channel="email", target=", ".join(sub.email),
                       content={"subject": rendered.subject, "text": rendered.text, "html": rendered.html,
                                "to": list(sub.email)},
                       message_id=make_message_id(f"{sub.name}/{row.window_end.isoformat()}", domain),
                       status="pending", attempts=0, progress=0, next_attempt_at=now, created_at=now)
    if sub.slack_webhook:
        yield Delivery(digest_id=row.id, subscription=sub.name, channel="slack",
                       target=mask_webhook(sub.slack_webhook), content={"payloads": render_slack(digest)},
                       message_id=None, status="pending", attempts=0, progress=0, next_attempt_at=now,
                       created_at=now)


# -- sending --------------------------------------------------------------------------------


def claim_deliveries(db: Database, *, owner: str, now: datetime, limit: int = 20) -> list[tuple[int, str]]:
    with db.session() as session:
        rows = list(session.scalars(
            select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now,
                                   or_(Delivery.claim_until.is_(None), Delivery.claim_until < now))
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit).with_for_update(skip_locked=True)))
        for row in rows:
            row.claimed_by, row.claim_until = owner, now + timedelta(seconds=CLAIM_SECONDS)
        return [(r.id, r.channel) for r in rows]


def smtp_settings(settings: Settings) -> SmtpSettings:
    s = settings.smtp
    return SmtpSettings(host=s.host, port=s.port, tls=s.tls, verify=s.verify, username=s.username,
                        password=s.password, timeout=s.timeout, from_addr=s.from_addr, ca_file=s.ca_file)


def send_delivery(db: Database, settings: Settings, delivery_id: int, *, now: datetime,
                  rng: random.Random | None = None) -> str:
    """Send one claimed delivery and record the outcome; returns sent | retry | failed."""
    with db.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        channel, content, progress = row.channel, row.content, row.progress
        message_id = row.message_id or make_message_id(f"delivery/{row.id}", "monitor.local")
        sub = next((s for s in settings.subscriptions if s.name == row.subscription), None)
        window_end = session.scalar(select(Digest.window_end).where(Digest.id == row.digest_id))
    note = None
    try:
        if sub is None:
            raise PermanentDeliveryError(f"subscription {row.subscription!r} is no longer configured")
        if channel == "email":
            message = build_message(EmailContent(content["subject"], content["text"], content["html"]),
                                    from_addr=settings.smtp.from_addr, to=content["to"], message_id=message_id,
                                    list_id=f"{sub.name}.monitor", date=window_end or now)
            result = send_email(smtp_settings(settings), message, content["to"])
            if result.refused:
                note = "refused: " + "; ".join(f"{a} ({why})" for a, why in result.refused.items())
        else:
            if not sub.slack_webhook:
                raise PermanentDeliveryError(f"subscription {sub.name!r} has no Slack webhook configured any more")
            send_slack(sub.slack_webhook, content["payloads"], start=progress)
    except TransientDeliveryError as exc:
        return _record(db, delivery_id, now, outcome="retry", error=str(exc), advance=exc.sent,
                       retry_after=exc.retry_after, rng=rng)
    except PermanentDeliveryError as exc:
        return _record(db, delivery_id, now, outcome="failed", error=str(exc), advance=exc.sent)
    return _record(db, delivery_id, now, outcome="sent", error=note)


def _record(db: Database, delivery_id: int, now: datetime, *, outcome: str, error: str | None,
            advance: int = 0, retry_after: float | None = None, rng: random.Random | None = None) -> str:
    with db.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.progress += advance
        row.claimed_by = row.claim_until = None
        row.last_error = error[:ERROR_LIMIT] if error else None
        if outcome == "sent":
            row.status, row.sent_at = "sent", now
            logger.info("delivery %d (%s to %s) sent", row.id, row.channel, row.target)
        elif outcome == "failed":
            row.status = "failed"
            logger.error("delivery %d (%s to %s) failed for good: %s — see `monitor deliveries list`",
                         row.id, row.channel, row.target, error)
        else:
            backoff = min(RETRY_CAP, RETRY_BASE * 2 ** min(row.attempts - 1, 20)) * (rng or random).uniform(0.8, 1.2)
            # Never sooner than the peer asked (Retry-After).
            row.next_attempt_at = now + timedelta(seconds=max(backoff, retry_after or 0))
            logger.warning("delivery %d (%s to %s) will be retried at %s: %s", row.id, row.channel, row.target,
                           row.next_attempt_at.isoformat(timespec="seconds"), error)
    return outcome


async def send_due_deliveries(db: Database, settings: Settings, *, owner: str, now: datetime,
                              on_result: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Claim and send the due deliveries one by one; `on_result(channel, outcome)` per delivery."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for delivery_id, channel in await asyncio.to_thread(claim_deliveries, db, owner=owner, now=now):
        outcome = await asyncio.to_thread(send_delivery, db, settings, delivery_id, now=now)
        counts[outcome] += 1
        if on_result:
            on_result(channel, outcome)
    return counts


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
