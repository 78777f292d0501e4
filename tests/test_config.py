"""monitor.toml: defaults, overrides, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.durations import format_duration, parse_duration, parse_size
from monitor.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file_use_sqlite_in_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'monitor.db'}"
    assert settings.polling.default_interval == 1800 and settings.http.max_response_bytes == 10 * 1024 * 1024


def test_state_directory_hosts_the_default_database(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    assert load_settings(write(tmp_path, "")).database_url == f"sqlite:///{tmp_path / 'state' / 'monitor.db'}"


def test_file_values_are_read_and_relative_paths_resolve_next_to_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    path = write(tmp_path, """
        feeds_opml = ["feeds/starter.opml"]
        [database]
        url = "sqlite:///data/m.db"
        [http]
        contact_url = "https://ops.example/contact"
        max_response_size = "2MiB"
        [polling]
        min_interval = "5m"
        default_interval = "15m"
        [[feeds]]
        url = "https://news.example/rss"
        name = "news"
        tags = ["world"]
        interval = "20m"
    """)
    s = load_settings(path)
    assert s.database_url == f"sqlite:///{tmp_path / 'data' / 'm.db'}"
    assert s.http.user_agent.endswith("(+https://ops.example/contact)")
    assert s.http.max_response_bytes == 2 * 1024 * 1024
    assert (s.polling.min_interval, s.polling.default_interval) == (300, 900)
    assert s.feeds[0].name == "news" and s.feeds[0].tags == ("world",) and s.feeds[0].interval == 1200
    assert s.feeds_opml == (tmp_path / "feeds/starter.opml",)


def test_environment_overrides_the_database_url(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql://u:secret@db/monitor")
    path = write(tmp_path, '[database]\nurl = "sqlite:///x.db"\n')
    assert load_settings(path).database_url == "postgresql://u:secret@db/monitor"


def test_config_path_from_environment(tmp_path, monkeypatch) -> None:
    path = write(tmp_path, '[polling]\ntick = "10s"\n')
    monkeypatch.setenv("MONITOR_CONFIG", str(path))
    assert load_settings().polling.tick == 10


@pytest.mark.parametrize("text, expected", [
    ('[polling]\nmin_interval = "soon"\n', "monitor.toml: polling.min_interval: expected a duration like 15m"),
    ('[polling]\ndefault_intervall = "5m"\n', "polling.default_intervall: unknown key (did you mean 'default_interval'?)"),
    ('[http]\nper_host = 0\n', "http.per_host: expected a whole number of at least 1, got 0"),
    ('[[feeds]]\nurl = "ftp://x"\n', "feeds[0].url: expected an http:// or https:// feed URL"),
    ('[[feeds]]\nurl = "https://a.example/rss"\ninterval = "10s"\n',
     "feeds[0].interval: a fixed interval must be at least 1m"),
    ('[[feeds]]\nurl = "http://[::1/rss"\n',
     "feeds[0].url: 'http://[::1/rss' is not a valid URL (Invalid IPv6 URL)"),
    ('[[feeds]]\nurl = "https://news .example/rss"\n',
     "feeds[0].url: 'https://news .example/rss' has a space or control character in its address"),
    ('[polling]\nmin_interval = "2h"\nmax_interval = "1h"\n', "polling.min_interval: must not be longer"),
    ('[database\n', "monitor.toml: invalid TOML"),
    ('colour = "blue"\n', "colour: unknown key"),
])
def test_invalid_configuration_names_file_key_and_problem(tmp_path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert expected in str(err.value)
    assert err.value.exit_code == 2


def test_missing_config_file_says_what_to_do(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_settings(tmp_path / "nope.toml")


def test_example_config_in_the_repo_is_valid(monkeypatch) -> None:
    example = Path(__file__).parents[1] / "monitor.example.toml"
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    settings = load_settings(example)
    assert settings.feeds_opml and all(p.exists() for p in settings.feeds_opml)
    assert all(p.exists() for p in settings.rules_paths)


@pytest.mark.parametrize("text, seconds", [("90", 90), ("15m", 900), ("1h30m", 5400), ("7d", 604800),
                                           ("500ms", 0.5), (45, 45)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "5 parsecs", "-3m", "m5", True, float("inf"), float("nan"),
                                 [5], {"m": 5}, None])
def test_bad_durations_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="expected a duration like 15m|cannot be negative"):
        parse_duration(bad)


@pytest.mark.parametrize("value", ["[1, 2]", "inf", "{ m = 5 }"])
def test_a_duration_of_another_toml_type_is_a_config_error(tmp_path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"polling\.tick: expected a duration like 15m"):
        load_settings(write(tmp_path, f"[polling]\ntick = {value}\n"))


def test_sizes_and_formatting() -> None:
    assert parse_size("10MiB") == 10 * 1024 * 1024 and parse_size("512KiB") == 524288 and parse_size(7) == 7
    assert [format_duration(s) for s in (45, 1800, 5400, 90000)] == ["45s", "30m", "1h30m", "1d1h"]


@pytest.mark.parametrize("sub, expected", [
    ('cadence = "fortnightly"', "subscriptions.desk.cadence: "),
    ('timezone = "Mars/Olympus"', "subscriptions.desk.timezone: unknown time zone 'Mars/Olympus'"),
    ('quiet_hours = "late"', "subscriptions.desk.quiet_hours: "),
    ('min_priority = "urgent"', "subscriptions.desk.min_priority: expected low, normal, high or critical"),
    ('email = ["not-an-address"]', "subscriptions.desk.email: 'not-an-address' is not an email address"),
    ('slack_webhook_env = "NO_SUCH_VARIABLE_SET"', "no webhook URL found in $NO_SUCH_VARIABLE_SET"),
])
def test_invalid_subscriptions_name_the_key(tmp_path, sub: str, expected: str, monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_VARIABLE_SET", raising=False)
    channel = "" if "email" in sub or "slack" in sub else 'email = ["desk@example.org"]\n'
    path = write(tmp_path, f'[[subscriptions]]\nname = "desk"\n{channel}{sub}\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert expected in str(err.value)


def test_a_subscription_needs_a_channel(tmp_path) -> None:
    with pytest.raises(ConfigError, match="needs at least one channel"):
        load_settings(write(tmp_path, '[[subscriptions]]\nname = "desk"\n'))


def test_secrets_come_from_the_environment_or_systemd_credentials(tmp_path, monkeypatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "slack-webhook").write_text("https://hooks.slack.com/services/T0/B0/secretsecret\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "hunter2")
    s = load_settings(write(tmp_path, '[smtp]\nusername = "m"\n[[subscriptions]]\nname = "desk"\n'
                                      'slack_webhook_credential = "slack-webhook"\n'))
    assert s.smtp.password == "hunter2" and s.subscriptions[0].slack_webhook.endswith("secretsecret")
    assert "hunter2" not in repr(s) and "secretsecret" not in repr(s)


def test_a_feed_url_with_stray_spaces_is_registered_once(tmp_path, database_url: str) -> None:
    from datetime import datetime, timezone

    from monitor.database import Database
    from monitor.registry import list_feeds, sync_config_feeds

    settings = load_settings(write(tmp_path, '[[feeds]]\nurl = "https://news.example/rss  "\n'))
    assert [spec.url for spec in settings.feeds] == ["https://news.example/rss"]
    db = Database(database_url)
    now = datetime.now(timezone.utc)
    for _start in range(2):  # every start syncs the configuration's feeds again
        with db.session() as session:
            sync_config_feeds(session, settings, settings.feeds, now=now)
    with db.session() as session:
        assert [listing.feed.url for listing in list_feeds(session)] == ["https://news.example/rss"]
    db.dispose()
