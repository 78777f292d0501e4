"""`monitor doctor`: one line per check, ok / warn / fail, for an admin setting the daemon up."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator

from sqlalchemy import select

from monitor.config import Settings, load_settings
from monitor.database import Database, safe_url
from monitor.errors import MonitorError
from monitor.models import Feed


@dataclass(frozen=True)
class Check:
    name: str
    status: str   # ok | warn | fail
    detail: str


def run_checks(config_path: str | None, *, now: datetime) -> Iterator[Check]:
    try:
        settings = load_settings(config_path)
    except MonitorError as exc:
        yield Check("config", "fail", str(exc))
        return
    yield Check("config", "ok", str(settings.config_path or "built-in defaults"))
    db = Database(settings.database_url)
    try:
        yield from _database(db, settings, now)
        yield _rules(settings)
        yield from _smtp(settings)
        yield from _slack(settings)
    finally:
        db.dispose()


def _database(db: Database, settings: Settings, now: datetime) -> Iterator[Check]:
    try:
        db.check_schema()
    except MonitorError as exc:
        yield Check("database", "fail", str(exc))
        return
    yield Check("database", "ok", f"{safe_url(db.url)}, schema {db.current_revision()}")
    with db.session() as session:
        feeds = list(session.scalars(select(Feed).where(Feed.enabled.is_(True))))
    if not feeds and not settings.feeds and not settings.feeds_opml:
        yield Check("feeds", "warn", "no feeds yet: `monitor feeds add URL` or `monitor feeds import FILE.opml`")
        return
    stale = [f for f in feeds if f.consecutive_failures and (f.last_success_at or f.created_at) < now - timedelta(days=1)]
    if stale:
        names = ", ".join(f"{f.name} ({f.last_error})" for f in stale[:5])
        more = f" and {len(stale) - 5} more" if len(stale) > 5 else ""
        yield Check("feeds", "warn", f"{len(stale)} of {len(feeds)} feeds failing for more than a day: {names}{more}")
    else:
        yield Check("feeds", "ok", f"{len(feeds)} enabled feeds, none failing for more than a day")


def _rules(settings: Settings) -> Check:
    from monitor.match import rule_files_present
    from monitor.outbox import filter_problems
    from monitor.rules import load_rules, validate_rules

    paths = list(settings.rules_paths)
    if not rule_files_present(paths):
        return Check("rules", "warn", f"no rule files in {', '.join(map(str, paths))}: items are stored, not matched")
    errors = validate_rules(paths)
    if errors:
        more = f" (and {len(errors) - 1} more: `monitor rules validate`)" if len(errors) > 1 else ""
        return Check("rules", "fail", f"{errors[0]}{more}")
    rules = load_rules(paths)
    problems = filter_problems(settings.subscriptions, rules)
    if problems:
        return Check("rules", "warn", "; ".join(problems) + ": such a filter takes no hits")
    return Check("rules", "ok", f"{len(rules.actors)} actors, {len(rules.themes)} themes, {len(rules.watches)} watches")


def _smtp(settings: Settings) -> Iterator[Check]:
    if not any(s.email for s in settings.subscriptions):
        return
    s = settings.smtp
    where = f"{s.host}:{s.port} ({s.tls})"
    try:
        context = ssl.create_default_context()
        if not s.verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        client: smtplib.SMTP
        if s.tls == "tls":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=min(s.timeout, 10), context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=min(s.timeout, 10))
        with client:
            client.ehlo()
            if s.tls == "starttls":
                if not client.has_extn("starttls"):
                    yield Check("smtp", "fail", f"{where}: the server does not offer STARTTLS, which smtp.tls requires")
                    return
                client.starttls(context=context)
                client.ehlo()
            if s.username:
                if not s.password:
                    yield Check("smtp", "fail", f"{where}: smtp.username is set but no password was found "
                                "($MONITOR_SMTP_PASSWORD or the smtp-password credential)")
                    return
                client.login(s.username, s.password)
    except smtplib.SMTPAuthenticationError:
        yield Check("smtp", "fail", f"{where}: login as {s.username} refused; check the password")
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        yield Check("smtp", "fail", f"{where}: {type(exc).__name__}: {exc}")
    else:
        yield Check("smtp", "ok", f"{where}: connected" + (f", logged in as {s.username}" if s.username else ""))


def _slack(settings: Settings) -> Iterator[Check]:
    from monitor.deliver.slack import mask_webhook

    for sub in settings.subscriptions:
        if sub.slack_webhook is None:
            continue
        url = sub.slack_webhook
        if url.startswith("https://hooks.slack.com/services/") and url.count("/") >= 6:
            yield Check(f"slack {sub.name}", "ok", f"webhook {mask_webhook(url)} is well-formed")
        else:
            yield Check(f"slack {sub.name}", "warn", f"webhook {mask_webhook(url)} does not look like a Slack "
                        "incoming webhook (https://hooks.slack.com/services/…)")


def summarise(checks: list[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0


