"""The admin and analyst commands: doctor, status, digest preview/send, deliveries list."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from smtpserver import SmtpServer, accept_only, closed_port

from monitor.cli import cli
from monitor.database import Database
from monitor.models import SubscriptionState
from monitor.poll import utcnow

RULES = Path(__file__).resolve().parents[1] / "rules"


def config(tmp_path: Path, smtp_port: int, *, username: str | None = None) -> Path:
    path = tmp_path / "monitor.toml"
    auth = f'username = "{username}"\n' if username else ""
    path.write_text(f"""
[rules]
paths = ["{RULES}"]
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
timeout = "3s"
from = "monitor@alerts.example"
{auth}
[[subscriptions]]
name = "analysts"
email = ["analyst@example.org"]
cadence = "daily 08:00"
timezone = "Europe/Berlin"
""", encoding="utf-8")
    return path


def run(path: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--config", str(path), *args])
    assert result.exit_code == code, result.output
    return result.stdout


@pytest.fixture
def with_hits(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    from test_outbox import add_hits

    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    db = Database(database_url)
    now = utcnow()
    with db.session() as session:
        session.add(SubscriptionState(subscription="analysts", first_start=now - timedelta(hours=2),
                                      last_window_end=None))
    add_hits(db, 2, at=now - timedelta(hours=1))
    return db


def test_doctor_reports_each_check_and_fails_on_a_dead_smtp_server(tmp_path: Path, with_hits: Database) -> None:
    with closed_port() as port:
        out = run(config(tmp_path, port), "doctor", code=1)
    lines = out.splitlines()
    assert lines[0].startswith("ok    config: ") and lines[1].startswith("ok    database: ")
    assert any(line.startswith("ok    rules: ") and " watches" in line for line in lines)
    assert f"fail  smtp: 127.0.0.1:{port} (none): ConnectionRefusedError" in out


def test_doctor_warns_of_a_subscription_filter_no_watch_answers(tmp_path: Path, with_hits: Database) -> None:
    with closed_port() as port:
        path = config(tmp_path, port)
        with path.open("a", encoding="utf-8") as f:  # into the last table: the subscription
            f.write('watches = ["russia-hamas-contact"]\n')
        out = run(path, "doctor", code=1)  # 1: the SMTP check fails; the filter only warns
    assert ("warn  rules: subscription 'analysts': no watch 'russia-hamas-contact' in the rules "
            "(did you mean 'russia-hamas-contacts'?): such a filter takes no hits") in out


def test_doctor_passes_with_a_working_smtp_login(tmp_path: Path, with_hits: Database, monkeypatch) -> None:
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "right")
    with SmtpServer(authenticator=accept_only("monitor", "right")) as smtp:
        out = run(config(tmp_path, smtp.port, username="monitor"), "doctor")
    assert "ok    smtp: " in out and "logged in as monitor" in out and "right" not in out


def test_status_shows_feeds_hits_next_digests_and_outbox(tmp_path: Path, with_hits: Database) -> None:
    data = json.loads(run(config(tmp_path, 25), "status", "--json"))
    assert data["hits_24h"] == {"high": 2} and data["outbox_pending"] == 0
    assert data["next_digests"][0]["subscription"] == "analysts"
    assert "2 high hits" in run(config(tmp_path, 25), "status")


def test_digest_preview_renders_without_recording_and_send_delivers(tmp_path: Path, with_hits: Database) -> None:
    html = tmp_path / "digest.html"
    with SmtpServer() as smtp:
        path = config(tmp_path, smtp.port)
        preview = run(path, "digest", "preview", "analysts", "--html", str(html))
        assert preview.startswith("Subject: ") and "2 new" in preview.splitlines()[0]
        assert "Hamas delegation in Moscow, story 0" in preview and "<html" in html.read_text(encoding="utf-8")
        assert smtp.handler.messages == []
        assert json.loads(run(path, "deliveries", "list", "--json")) == []

        sent = run(path, "digest", "send", "analysts", "--now")
        assert "1 sent" in sent and len(smtp.handler.messages) == 1
        [delivery] = json.loads(run(path, "deliveries", "list", "--json"))
        assert delivery["status"] == "sent" and delivery["target"] == "analyst@example.org"
        assert "nothing pending" in run(path, "digest", "send", "analysts", "--now")
        assert "nothing to send" in run(path, "digest", "preview", "analysts")


def test_failed_delivery_is_listed_with_its_reason(tmp_path: Path, with_hits: Database) -> None:
    with closed_port() as port:
        path = config(tmp_path, port)
        run(path, "digest", "send", "analysts", "--now", code=1)
        table = run(path, "deliveries", "list")
    assert "pending" in table and "127.0.0.1" in table and "analysts" in table
