"""The health listener over real HTTP on 127.0.0.1: liveness, readiness checks, metrics."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor import metrics as metrics_module
from monitor.errors import ConfigError, SchemaError
from monitor.health import Check, HealthServer
from monitor.metrics import Metrics

pytestmark = pytest.mark.network

CHECK_TIMEOUT = 0.5


class Probes:
    """The checks the server will run; tests replace them."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def __call__(self) -> list[Check]:
        return self.checks


@pytest.fixture
def probes() -> Probes:
    return Probes()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def server(probes: Probes, metrics: Metrics) -> Iterator[HealthServer]:
    with HealthServer("127.0.0.1", 0, checks=probes, metrics=metrics, check_timeout=CHECK_TIMEOUT) as srv:
        yield srv


def get(server: HealthServer, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=5)


def ok(detail: str | None = None) -> Callable[[], str | None]:
    return lambda: detail


def fail(exc: Exception) -> Callable[[], None]:
    def probe() -> None:
        raise exc
    return probe


def test_healthz_answers_ok_while_the_process_is_alive(server: HealthServer) -> None:
    response = get(server, "/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


def test_readyz_is_200_listing_every_check_when_all_pass(server: HealthServer, probes: Probes) -> None:
    probes.checks = [Check("database", ok()), Check("schema", ok("at head 0007")),
                     Check("scheduler", ok("last heartbeat 2.0 s ago"))]
    response = get(server, "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert [(c["name"], c["ok"], c["detail"]) for c in body["checks"]] == [
        ("database", True, ""), ("schema", True, "at head 0007"), ("scheduler", True, "last heartbeat 2.0 s ago")]
    assert "failing" not in body


def test_readyz_is_503_naming_the_failing_check(server: HealthServer, probes: Probes) -> None:
    probes.checks = [Check("database", ok()),
                     Check("schema", fail(SchemaError("database schema is behind; run `monitor db upgrade`")))]
    response = get(server, "/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == ["schema: database schema is behind; run `monitor db upgrade`"]
    assert [c["ok"] for c in body["checks"]] == [True, False]


def test_a_check_raising_an_unexpected_error_fails_with_its_message_not_a_500(
        server: HealthServer, probes: Probes) -> None:
    probes.checks = [Check("outbox", fail(ZeroDivisionError("division by zero")))]
    response = get(server, "/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["outbox: ZeroDivisionError: division by zero"]


def test_a_multiline_driver_error_is_reported_by_its_first_line(server: HealthServer, probes: Probes) -> None:
    probes.checks = [Check("database", fail(ConnectionError(
        "connection to server at 127.0.0.1 port 5432 failed: Connection refused\n"
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)")))]
    response = get(server, "/readyz")
    assert response.json()["failing"] == [
        "database: ConnectionError: connection to server at 127.0.0.1 port 5432 failed: Connection refused"]


def test_a_broken_check_list_is_a_503_not_a_500(server: HealthServer, probes: Probes) -> None:
    def no_checks() -> list[Check]:
        raise RuntimeError("database object gone")
    server.checks = no_checks
    response = get(server, "/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["checks: RuntimeError: database object gone"]


def test_a_hanging_check_times_out_so_readyz_answers_in_bounded_time(server: HealthServer,
                                                                     probes: Probes) -> None:
    release = threading.Event()
    probes.checks = [Check("database", lambda: release.wait(30)), Check("schema", ok())]
    try:
        started = time.monotonic()
        response = get(server, "/readyz")
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert response.status_code == 503
    assert elapsed < CHECK_TIMEOUT + 1.5
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["database"]["ok"] is False and "timed out" in checks["database"]["detail"]
    assert checks["schema"]["ok"] is True


def test_checks_run_in_parallel_so_slow_ones_do_not_add_up(server: HealthServer, probes: Probes) -> None:
    probes.checks = [Check(f"slow{i}", lambda: time.sleep(0.3)) for i in range(4)]
    started = time.monotonic()
    response = get(server, "/readyz")
    assert response.status_code == 200
    assert time.monotonic() - started < 1.0


def test_metrics_serves_the_metric_names_after_a_poll_is_recorded(server: HealthServer,
                                                                  metrics: Metrics) -> None:
    metrics.record_poll(ok=2, not_modified=1, error=1, items_new=5, items_duplicate=3, hits={"high": 2},
                        finished_at=1_700_000_000)
    metrics.observe_fetch(0.4)
    metrics.record_digest("email")
    metrics.record_delivery("slack", "retry")
    metrics.set_outbox_backlog_age(42)
    metrics.set_rules_loaded(17)
    metrics.record_rule_reload_failure()
    response = get(server, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for line in ('monitor_feed_polls_total{outcome="ok"} 2.0',
                 'monitor_feed_polls_total{outcome="not_modified"} 1.0',
                 'monitor_feed_polls_total{outcome="error"} 1.0',
                 'monitor_items_total{kind="new"} 5.0',
                 'monitor_items_total{kind="duplicate"} 3.0',
                 'monitor_hits_total{priority="high"} 2.0',
                 'monitor_fetch_duration_seconds_count 1.0',
                 'monitor_digests_total{channel="email"} 1.0',
                 'monitor_deliveries_total{channel="slack",outcome="retry"} 1.0',
                 'monitor_outbox_backlog_age_seconds 42.0',
                 'monitor_last_successful_poll_timestamp_seconds 1.7e+09',
                 'monitor_rules_loaded_watches 17.0',
                 'monitor_rule_reload_failures_total 1.0'):
        assert line in text


def test_a_pass_where_every_feed_failed_is_not_a_successful_poll(metrics: Metrics) -> None:
    metrics.record_poll(ok=1, finished_at=1000)
    metrics.record_poll(error=5, finished_at=2000)
    assert metrics.registry.get_sample_value("monitor_last_successful_poll_timestamp_seconds") == 1000


def test_metric_labels_stay_bounded(metrics: Metrics) -> None:
    metrics.record_delivery("alerts@newsroom.example", "sent")
    metrics.record_delivery("slack", "HTTP 429 from https://hooks.slack.com/services/T0/B0/secret")
    metrics.record_digest("https://hooks.slack.com/services/T0/B0/secret")
    metrics.record_hits("sanctions-russia")
    allowed = {
        "outcome": set(metrics_module.POLL_OUTCOMES) | set(metrics_module.DELIVERY_OUTCOMES),
        "kind": set(metrics_module.ITEM_KINDS),
        "priority": set(metrics_module.PRIORITIES),
        "channel": set(metrics_module.CHANNELS),
    }
    text = metrics.render().decode()
    assert "@" not in text and "hooks.slack.com" not in text and "sanctions" not in text
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("monitor_"):
            continue
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label != "le":
                    assert value in allowed[label] | {"other"}, (family.name, label, value)


def test_unknown_paths_are_404(server: HealthServer) -> None:
    assert get(server, "/").status_code == 404
    assert get(server, "/metrics/extra").status_code == 404


def test_the_listener_defaults_to_loopback() -> None:
    srv = HealthServer(port=0, checks=Probes(), metrics=Metrics())
    with srv:
        assert srv.url.startswith("http://127.0.0.1:")
        assert get(srv, "/healthz").status_code == 200


def test_a_taken_port_is_a_config_error_naming_the_address(server: HealthServer) -> None:
    other = HealthServer("127.0.0.1", server.port, checks=Probes(), metrics=Metrics())
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        other.start()


def test_stop_closes_the_listener(probes: Probes, metrics: Metrics) -> None:
    srv = HealthServer("127.0.0.1", 0, checks=probes, metrics=metrics)
    srv.start()
    url = srv.url
    srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)


def test_process_metrics_are_on_the_daemon_registry() -> None:
    assert b"process_resident_memory_bytes" in metrics_module.METRICS.render()


def test_process_metrics_survive_a_proc_without_system_files(tmp_path: Path) -> None:
    # ProcSubset=pid leaves /proc/<pid> but hides /proc/stat, where the boot time lives.
    (tmp_path / "self").symlink_to(f"/proc/{os.getpid()}")
    registry = CollectorRegistry()
    metrics_module.SandboxedProcessCollector(proc=str(tmp_path), registry=registry)
    rss = registry.get_sample_value("process_resident_memory_bytes", {})
    assert rss is not None and rss > 0
    start = registry.get_sample_value("process_start_time_seconds", {})
    assert start is not None and abs(start - time.time()) < 3600  # this test process began just now

