"""Load and validate monitor.toml into typed settings; environment variables override secrets.

Every problem becomes one ConfigError naming the file, the key and what is wrong, so the CLI
can print one line and exit 2.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from monitor.durations import parse_duration, parse_size
from monitor.errors import ConfigError
from monitor.urls import feed_url_problem

ENV_CONFIG = "MONITOR_CONFIG"
ENV_DATABASE_URL = "MONITOR_DATABASE_URL"
DEFAULT_CONFIG_NAME = "monitor.toml"
DEFAULT_CONTACT = "https://github.com/monitor-alerts/monitor"
# A feed's fixed interval (`feeds add --interval`, `[[feeds]] interval`) wins over
# polling.min_interval, but not over this: polling a publisher every few seconds gets the
# monitor blocked and sees no more news than once a minute does.
MIN_FIXED_INTERVAL = 60.0
FIXED_INTERVAL_TOO_SHORT = "a fixed interval must be at least 1m; leave it out for the adaptive one"

T = TypeVar("T")


@dataclass(frozen=True)
class HttpSettings:
    contact_url: str = DEFAULT_CONTACT
    connect_timeout: float = 10.0
    timeout: float = 30.0
    max_response_bytes: int = 10 * 1024 * 1024
    max_connections: int = 20
    per_host: int = 2
    host_min_gap: float = 1.0

    @property
    def user_agent(self) -> str:
        from monitor import __version__

        return f"monitor/{__version__} (+{self.contact_url})"


@dataclass(frozen=True)
class PollingSettings:
    default_interval: float = 30 * 60
    min_interval: float = 10 * 60
    max_interval: float = 24 * 3600
    max_backoff: float = 24 * 3600
    max_item_age: float = 7 * 86400
    tick: float = 30.0
    # Spread of first polls after start-up, so a restart never bursts every feed at once.
    startup_spread: float = 120.0
    lease: float = 15 * 60
    parse_workers: int = 0  # 0: one process per core

    def effective_parse_workers(self) -> int:
        return self.parse_workers or (os.cpu_count() or 1)


@dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    interval: float | None = None


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    tls: str = "starttls"            # starttls | tls | none
    verify: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_addr: str = "monitor@localhost"
    timeout: float = 30.0
    ca_file: str | None = None       # a private CA for the relay's certificate


@dataclass(frozen=True)
class Subscription:
    name: str
    email: tuple[str, ...] = ()
    slack_webhook: str | None = field(default=None, repr=False)  # the secret URL itself
    watches: tuple[str, ...] = ()    # empty: every watch
    tags: tuple[str, ...] = ()       # watches carrying any of these tags
    min_priority: str = "low"
    cadence: str = "daily 08:00"
    timezone: str = "UTC"
    quiet_hours: str | None = None
    cap_per_watch: int = 10
    debounce: float = 120.0


@dataclass(frozen=True)
class Settings:
    database_url: str
    config_path: Path | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    polling: PollingSettings = field(default_factory=PollingSettings)
    feeds: tuple[FeedSpec, ...] = ()
    feeds_opml: tuple[Path, ...] = ()
    rules_paths: tuple[Path, ...] = ()
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    subscriptions: tuple[Subscription, ...] = ()
    health_listen: tuple[str, int] | None = None   # (host, port) of /healthz, /readyz, /metrics


def state_directory() -> Path:
    """Where the default SQLite database lives: systemd's StateDirectory, else the working dir."""
    state = os.environ.get("STATE_DIRECTORY")
    return Path(state.split(":")[0]) if state else Path.cwd()


def default_database_url() -> str:
    return f"sqlite:///{state_directory() / 'monitor.db'}"


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $MONITOR_CONFIG, else ./monitor.toml if it exists, else None (defaults)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the configuration; raise ConfigError naming file, key and problem."""
    config_path = find_config_path(path)
    data: dict[str, Any] = {}
    if config_path is not None:
        try:
            raw = config_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read the configuration file ({exc.strerror}); "
                              f"pass --config PATH or set {ENV_CONFIG}") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_path}: invalid TOML: {exc}") from None
    return settings_from_dict(data, config_path)


def settings_from_dict(data: dict[str, Any], config_path: Path | None = None) -> Settings:
    reader = _Reader(data, config_path)
    base = config_path.parent if config_path else Path.cwd()

    db = reader.table("database")
    database_url = reader.get(db, "database.url", _string, None)
    if database_url and database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        rel = database_url[len("sqlite:///"):]
        if rel and rel != ":memory:":
            database_url = f"sqlite:///{(base / rel).resolve()}"
    database_url = os.environ.get(ENV_DATABASE_URL) or database_url or default_database_url()

    h = reader.table("http")
    defaults_h = HttpSettings()
    http = HttpSettings(
        contact_url=reader.get(h, "http.contact_url", _string, defaults_h.contact_url),
        connect_timeout=reader.get(h, "http.connect_timeout", _duration, defaults_h.connect_timeout),
        timeout=reader.get(h, "http.timeout", _duration, defaults_h.timeout),
        max_response_bytes=reader.get(h, "http.max_response_size", _size, defaults_h.max_response_bytes),
        max_connections=reader.get(h, "http.max_connections", _positive_int, defaults_h.max_connections),
        per_host=reader.get(h, "http.per_host", _positive_int, defaults_h.per_host),
        host_min_gap=reader.get(h, "http.host_min_gap", _duration, defaults_h.host_min_gap),
    )
    reader.reject_unknown(h, "http", {"contact_url", "connect_timeout", "timeout", "max_response_size",
                                      "max_connections", "per_host", "host_min_gap"})

    p = reader.table("polling")
    dp = PollingSettings()
    polling = PollingSettings(
        default_interval=reader.get(p, "polling.default_interval", _duration, dp.default_interval),
        min_interval=reader.get(p, "polling.min_interval", _duration, dp.min_interval),
        max_interval=reader.get(p, "polling.max_interval", _duration, dp.max_interval),
        max_backoff=reader.get(p, "polling.max_backoff", _duration, dp.max_backoff),
        max_item_age=reader.get(p, "polling.max_item_age", _duration, dp.max_item_age),
        tick=reader.get(p, "polling.tick", _duration, dp.tick),
        startup_spread=reader.get(p, "polling.startup_spread", _duration, dp.startup_spread),
        lease=reader.get(p, "polling.lease", _duration, dp.lease),
        parse_workers=reader.get(p, "polling.parse_workers", _non_negative_int, dp.parse_workers),
    )
    reader.reject_unknown(p, "polling", set(PollingSettings.__dataclass_fields__))
    if polling.min_interval > polling.max_interval:
        reader.fail("polling.min_interval", "must not be longer than polling.max_interval")
    if not polling.min_interval <= polling.default_interval <= polling.max_interval:
        reader.fail("polling.default_interval", "must lie between polling.min_interval and polling.max_interval")

    feeds = []
    raw_feeds = data.get("feeds", [])
    if not isinstance(raw_feeds, list):
        reader.fail("feeds", "expected an array of tables ([[feeds]] blocks)")
    for i, entry in enumerate(raw_feeds):
        key = f"feeds[{i}]"
        if not isinstance(entry, dict):
            reader.fail(key, "expected a table with at least url = \"...\"")
        url = reader.get(entry, f"{key}.url", _string, None)
        # stripped as the registry stores it, or the feed would look new at every start
        url = url.strip() if url else url
        if not url or not url.startswith(("http://", "https://")):
            reader.fail(f"{key}.url", "expected an http:// or https:// feed URL")
        problem = feed_url_problem(url)
        if problem:
            reader.fail(f"{key}.url", f"{url!r} {problem}")
        tags = reader.get(entry, f"{key}.tags", _str_list, ())
        interval = reader.get(entry, f"{key}.interval", _duration, None)
        if interval is not None and interval < MIN_FIXED_INTERVAL:
            reader.fail(f"{key}.interval", FIXED_INTERVAL_TOO_SHORT)
        feeds.append(FeedSpec(url=url, name=reader.get(entry, f"{key}.name", _string, None), tags=tuple(tags),
                              interval=interval))
        reader.reject_unknown(entry, key, {"url", "name", "tags", "interval"})

    opml = tuple(base / p_ for p_ in reader.get(data, "feeds_opml", _str_list, ()))
    r = reader.table("rules")
    rules_paths = tuple(base / p_ for p_ in reader.get(r, "rules.paths", _str_list, ["rules"]))
    reader.reject_unknown(r, "rules", {"paths"})
    reader.reject_unknown(db, "database", {"url"})
    smtp = _read_smtp(reader)
    subscriptions = _read_subscriptions(reader, data)
    hl = reader.table("health")
    listen = reader.get(hl, "health.listen", _listen, None)
    reader.reject_unknown(hl, "health", {"listen"})
    reader.reject_unknown(data, "", {"database", "http", "polling", "feeds", "feeds_opml", "rules", "smtp",
                                     "subscriptions", "health"})

    return Settings(database_url=database_url, config_path=config_path, http=http, polling=polling,
                    feeds=tuple(feeds), feeds_opml=opml, rules_paths=rules_paths, smtp=smtp,
                    subscriptions=subscriptions, health_listen=listen)


def read_secret(*, env: str | None, credential: str | None) -> str | None:
    """A secret from an environment variable, else from systemd's $CREDENTIALS_DIRECTORY.

    Secrets never live in monitor.toml itself: the file names where to find them.
    """
    if env and os.environ.get(env):
        return os.environ[env].strip()
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if credential and directory:
        path = Path(directory) / credential
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


def _read_smtp(reader: _Reader) -> SmtpConfig:
    t = reader.table("smtp")
    d = SmtpConfig()
    tls = reader.get(t, "smtp.tls", _string, d.tls)
    if tls not in ("starttls", "tls", "none"):
        reader.fail("smtp.tls", f"expected starttls, tls or none, got {tls!r}")
    password = read_secret(env=reader.get(t, "smtp.password_env", _string, "MONITOR_SMTP_PASSWORD"),
                           credential=reader.get(t, "smtp.password_credential", _string, "smtp-password"))
    reader.reject_unknown(t, "smtp", {"host", "port", "tls", "verify", "username", "password_env",
                                      "password_credential", "from", "timeout", "ca_file"})
    return SmtpConfig(
        host=reader.get(t, "smtp.host", _string, d.host),
        port=reader.get(t, "smtp.port", _positive_int, 465 if tls == "tls" else 25 if tls == "none" else d.port),
        tls=tls, verify=reader.get(t, "smtp.verify", _bool, d.verify),
        username=reader.get(t, "smtp.username", _string, None), password=password,
        from_addr=reader.get(t, "smtp.from", _string, d.from_addr),
        timeout=reader.get(t, "smtp.timeout", _duration, d.timeout),
        ca_file=reader.get(t, "smtp.ca_file", _string, None))


def _read_subscriptions(reader: _Reader, data: dict[str, Any]) -> tuple[Subscription, ...]:
    raw = data.get("subscriptions", [])
    if not isinstance(raw, list):
        reader.fail("subscriptions", "expected an array of tables ([[subscriptions]] blocks)")
    if not raw:
        return ()
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from monitor.cadence import parse_cadence, parse_quiet_hours

    subs: list[Subscription] = []
    for i, entry in enumerate(raw):
        key = f"subscriptions[{i}]"
        if not isinstance(entry, dict):
            reader.fail(key, "expected a table")
        name = reader.get(entry, f"{key}.name", _string, None)
        if not name:
            reader.fail(f"{key}.name", "every subscription needs a name")
        if any(s.name == name for s in subs):
            reader.fail(f"{key}.name", f"duplicate subscription name {name!r}")
        key = f"subscriptions.{name}"
        email = tuple(reader.get(entry, f"{key}.email", _str_list, ()))
        for address in email:
            if "@" not in address:
                reader.fail(f"{key}.email", f"{address!r} is not an email address")
        webhook_env = reader.get(entry, f"{key}.slack_webhook_env", _string, None)
        webhook_cred = reader.get(entry, f"{key}.slack_webhook_credential", _string, None)
        webhook = read_secret(env=webhook_env, credential=webhook_cred)
        if (webhook_env or webhook_cred) and not webhook:
            reader.fail(f"{key}.slack_webhook_env",
                        f"no webhook URL found in ${webhook_env or '-'} or credential {webhook_cred or '-'}; "
                        "set the variable or the systemd credential")
        if webhook and not webhook.startswith("https://") and not webhook.startswith("http://127.0.0.1"):
            reader.fail(f"{key}.slack_webhook_env", "the Slack webhook must be an https:// URL")
        if not email and not webhook:
            reader.fail(key, "needs at least one channel: email = [...] or slack_webhook_env / "
                        "slack_webhook_credential")
        cadence = reader.get(entry, f"{key}.cadence", _string, "daily 08:00")
        tz = reader.get(entry, f"{key}.timezone", _string, "UTC")
        quiet = reader.get(entry, f"{key}.quiet_hours", _string, None)
        try:
            parse_cadence(cadence)
        except ValueError as exc:
            reader.fail(f"{key}.cadence", str(exc))
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            reader.fail(f"{key}.timezone", f"unknown time zone {tz!r} (use an IANA name like Europe/Berlin)")
        if quiet:
            try:
                parse_quiet_hours(quiet)
            except ValueError as exc:
                reader.fail(f"{key}.quiet_hours", str(exc))
        min_priority = reader.get(entry, f"{key}.min_priority", _string, "low")
        if min_priority not in ("low", "normal", "high", "critical"):
            reader.fail(f"{key}.min_priority", f"expected low, normal, high or critical, got {min_priority!r}")
        reader.reject_unknown(entry, key, {"name", "email", "slack_webhook_env", "slack_webhook_credential",
                                           "watches", "tags", "min_priority", "cadence", "timezone",
                                           "quiet_hours", "cap_per_watch", "debounce"})
        subs.append(Subscription(
            name=name, email=email, slack_webhook=webhook,
            watches=tuple(reader.get(entry, f"{key}.watches", _str_list, ())),
            tags=tuple(reader.get(entry, f"{key}.tags", _str_list, ())), min_priority=min_priority,
            cadence=cadence, timezone=tz, quiet_hours=quiet,
            cap_per_watch=reader.get(entry, f"{key}.cap_per_watch", _positive_int, 10),
            debounce=reader.get(entry, f"{key}.debounce", _duration, 120.0)))
    return tuple(subs)


class _Reader:
    """Typed access to the parsed TOML with errors that name file and key."""

    def __init__(self, data: dict[str, Any], path: Path | None) -> None:
        self.data = data
        self.path = path

    def fail(self, key: str, problem: str) -> None:
        where = str(self.path) if self.path else "configuration"
        raise ConfigError(f"{where}: {key}: {problem}")

    def table(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            self.fail(name, f"expected a table ([{name}]), got {type(value).__name__}")
        return value

    def get(self, table: dict[str, Any], key: str, convert: Callable[[Any], T], default: Any) -> T:
        name = key.rsplit(".", 1)[-1]
        if name not in table:
            return default
        try:
            return convert(table[name])
        except (ValueError, TypeError) as exc:
            self.fail(key, str(exc))
            raise AssertionError("unreachable")

    def reject_unknown(self, table: dict[str, Any], prefix: str, known: set[str]) -> None:
        for name in table:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"
                self.fail(f"{prefix}.{name}" if prefix else name, f"unknown key{hint}")


def _duration(value: Any) -> float:
    return parse_duration(value)


def _size(value: Any) -> int:
    return parse_size(value)


def _positive_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _non_negative_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {value!r}")
    return value


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return list(value)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _listen(value: Any) -> tuple[str, int] | None:
    """"127.0.0.1:9464" → ("127.0.0.1", 9464); "" → None (listener off)."""
    if value in ("", None):
        return None
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f"expected host:port such as 127.0.0.1:9464, got {value!r}")
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected a port from 1 to 65535 in {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
