"""sd_notify over a real Unix datagram socket, and the watchdog that stops when the loop stops."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import systemd
from monitor.errors import MonitorError

UNIX_PATH_MAX = 107  # sun_path holds 108 bytes, NUL included


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket standing in for systemd, named in $NOTIFY_SOCKET."""
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        path = tmp_path / "notify"
        if len(str(path)) > UNIX_PATH_MAX:  # a deep tmp_path would not fit in sun_path
            path = Path(tempfile.mkdtemp(prefix="sdn")) / "notify"
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    else:
        name = f"monitor-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    sock.settimeout(2)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on the socket, without blocking."""
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096))
    except BlockingIOError:
        return messages
    finally:
        sock.settimeout(2)


def test_ready_status_watchdog_and_stopping_arrive_in_order(notify_socket: socket.socket) -> None:
    assert systemd.ready()
    assert systemd.status("polling 12 feeds")
    assert systemd.watchdog()
    assert systemd.stopping()
    assert [notify_socket.recv(4096) for _ in range(4)] == [
        b"READY=1", b"STATUS=polling 12 feeds", b"WATCHDOG=1", b"STOPPING=1"]


def test_several_lines_go_in_one_datagram(notify_socket: socket.socket) -> None:
    assert systemd.notify("READY=1", "STATUS=ready")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=ready"
    assert received(notify_socket) == []


def test_status_text_cannot_smuggle_another_notification(notify_socket: socket.socket) -> None:
    systemd.status("feed failed\nREADY=1")
    assert notify_socket.recv(4096) == b"STATUS=feed failed READY=1"


def test_without_notify_socket_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.ready() is False
    assert systemd.status("x") is False
    assert systemd.watchdog() is False
    assert systemd.stopping() is False


def test_a_socket_nobody_listens_on_is_reported_not_raised(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.ready() is False


def test_unset_environment_keeps_children_from_notifying(notify_socket: socket.socket) -> None:
    assert systemd.notify("READY=1", unset_environment=True)
    assert "NOTIFY_SOCKET" not in os.environ
    assert systemd.watchdog() is False
    assert received(notify_socket) == [b"READY=1"]


def test_watchdog_interval_comes_from_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert systemd.watchdog_interval() == 60.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 60.0


@pytest.mark.parametrize("usec, pid", [(None, None), ("0", None), ("soon", None), ("60000000", "1")])
def test_no_watchdog_interval_when_absent_invalid_or_meant_for_another_process(
        usec: str | None, pid: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert systemd.watchdog_interval() is None


def test_watchdog_stops_pinging_when_heartbeats_stop(notify_socket: socket.socket,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # 0.2 s: pings every 0.1 s while fresh

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        watchdog = systemd.Watchdog.from_environment()
        assert watchdog.interval == 0.2
        task = watchdog.start()
        try:
            for _ in range(25):  # a healthy loop beating every 20 ms for 0.5 s
                watchdog.heartbeat()
                await asyncio.sleep(0.02)
            while_healthy = received(notify_socket)
            # Beats stop: pings may go on until the last beat is 0.2 s old, then must cease.
            await asyncio.sleep(0.35)
            received(notify_socket)
            await asyncio.sleep(0.5)
            after_hang = received(notify_socket)
            assert not task.done()
            return while_healthy, after_hang
        finally:
            watchdog.stop()

    while_healthy, after_hang = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert len(while_healthy) >= 3 and set(while_healthy) == {b"WATCHDOG=1"}
    assert after_hang == []


def test_watchdog_resumes_pinging_when_heartbeats_resume(notify_socket: socket.socket) -> None:
    async def scenario() -> list[bytes]:
        watchdog = systemd.Watchdog(0.2)
        watchdog.start()
        try:
            await asyncio.sleep(0.4)           # no beats: stale after 0.2 s
            received(notify_socket)
            for _ in range(15):
                watchdog.heartbeat()
                await asyncio.sleep(0.02)
            return received(notify_socket)
        finally:
            watchdog.stop()

    assert b"WATCHDOG=1" in asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_watchdog_without_an_interval_never_pings(notify_socket: socket.socket,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    watchdog = systemd.Watchdog.from_environment()
    assert watchdog.interval is None
    asyncio.run(asyncio.wait_for(watchdog.run(), timeout=1))  # returns at once
    assert received(notify_socket) == []


def test_heartbeat_check_fails_once_the_last_beat_is_too_old() -> None:
    now = [1000.0]
    watchdog = systemd.Watchdog(None, max_age=60, clock=lambda: now[0])
    assert "0.0 s ago" in watchdog.check()
    now[0] += 59
    assert watchdog.fresh()
    now[0] += 2
    with pytest.raises(MonitorError, match="no scheduler heartbeat for 61 s"):
        watchdog.check()
    watchdog.heartbeat()
    assert watchdog.fresh()


def test_heartbeat_limit_defaults_to_the_watchdog_interval() -> None:
    assert systemd.Watchdog(30).max_age == 30
    assert systemd.Watchdog(None).max_age == systemd.DEFAULT_HEARTBEAT_MAX_AGE
