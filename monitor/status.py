"""`monitor status`: feeds, recent items and hits, next digests and the outbox on one screen."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.models import Delivery, Feed, Hit, Item, SubscriptionState
from monitor.tables import render_table


@dataclass
class StatusReport:
    feeds: dict[str, int]
    items_24h: int
    hits_24h: dict[str, int]
    next_digests: list[dict[str, Any]] = field(default_factory=list)
    outbox_pending: int = 0
    outbox_oldest_seconds: float | None = None
    outbox_failed: int = 0
    last_poll: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_poll"] = self.last_poll.isoformat() if self.last_poll else None
        return data

    def render(self) -> str:
        f = self.feeds
        lines = [f"feeds      {f.get('ok', 0)} ok, {f.get('failing', 0)} failing, {f.get('disabled', 0)} disabled, "
                 f"{f.get('new', 0)} never polled; last poll {self.last_poll:%Y-%m-%d %H:%M} UTC" if self.last_poll
                 else f"feeds      {sum(f.values())} registered, none polled yet",
                 f"last 24 h  {self.items_24h} new items, "
                 + (", ".join(f"{n} {p}" for p, n in self.hits_24h.items()) or "no") + " hits",
                 f"outbox     {self.outbox_pending} pending"
                 + (f" (oldest {int(self.outbox_oldest_seconds)} s)" if self.outbox_oldest_seconds else "")
                 + f", {self.outbox_failed} failed (`monitor deliveries list --status failed`)"]
        if self.next_digests:
            lines.append("")
            lines.append(render_table(["SUBSCRIPTION", "CADENCE", "LAST WINDOW END", "NEXT CHECK (UTC)"],
                                      [(d["subscription"], d["cadence"], d["last_window_end"] or "-", d["next_due"])
                                       for d in self.next_digests]))
        return "\n".join(lines)


def collect_status(session: Session, settings: Settings, *, now: datetime) -> StatusReport:
    feeds = list(session.scalars(select(Feed)))
    counts: dict[str, int] = {}
    for feed in feeds:
        counts[feed.status] = counts.get(feed.status, 0) + 1
    day = now - timedelta(days=1)
    items = session.scalar(select(func.count()).select_from(Item).where(Item.first_seen_at >= day)) or 0
    hits = dict(session.execute(select(Hit.priority, func.count()).where(Hit.created_at >= day, Hit.alertable)
                                .group_by(Hit.priority)).all())
    pending = session.execute(select(func.count(), func.min(Delivery.created_at))
                              .where(Delivery.status == "pending")).one()
    failed = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "failed")) or 0
    report = StatusReport(feeds=counts, items_24h=items, hits_24h=hits, outbox_pending=pending[0],
                          outbox_oldest_seconds=(now - pending[1]).total_seconds() if pending[1] else None,
                          outbox_failed=failed,
                          last_poll=max((f.last_polled_at for f in feeds if f.last_polled_at), default=None))
    if settings.subscriptions:
        from monitor.cadence import next_due_time, parse_cadence, parse_quiet_hours

        states = {s.subscription: s for s in session.scalars(select(SubscriptionState))}
        for sub in settings.subscriptions:
            state = states.get(sub.name)
            quiet = parse_quiet_hours(sub.quiet_hours) if sub.quiet_hours else None
            report.next_digests.append({
                "subscription": sub.name, "cadence": sub.cadence,
                "last_window_end": state.last_window_end.strftime("%Y-%m-%d %H:%M")
                if state and state.last_window_end else None,
                "next_due": next_due_time(parse_cadence(sub.cadence), sub.timezone, now=now,
                                          quiet=quiet).strftime("%Y-%m-%d %H:%M")})
    return report
