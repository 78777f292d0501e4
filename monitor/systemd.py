"""Telling systemd how the daemon is doing: readiness, status, watchdog pings, shutdown.

The whole sd_notify protocol is one datagram of newline-separated ``KEY=value`` lines sent to
the Unix socket named by $NOTIFY_SOCKET, so it lives here in a few lines instead of a
dependency. Without $NOTIFY_SOCKET (not started by systemd, or a unit without Type=notify)
every call does nothing and returns False. Protocol: sd_notify(3),
https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html

How the daemon uses it::

    from monitor import systemd

    watchdog = systemd.Watchdog.from_environment()
    watchdog.start()                      # pings only while heartbeats are fresh
    ...                                   # check schema, load rules, start the scheduler
    systemd.ready()
    systemd.status("polling 120 feeds")
    ...                                   # the scheduler loop calls watchdog.heartbeat()
    systemd.stopping()
    watchdog.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

from monitor.errors import MonitorError

logger = logging.getLogger(__name__)

# Without a watchdog in the unit, Watchdog.check() still needs a limit for /readyz.
DEFAULT_HEARTBEAT_MAX_AGE = 120.0


def notify(*lines: str, unset_environment: bool = False) -> bool:
    """Send ``KEY=value`` lines to systemd in one datagram.

    Returns True when the message was handed to the socket, False when there is no
    $NOTIFY_SOCKET or sending failed (logged as a warning: a lost notification must not stop
    the daemon; systemd's own timeouts deal with a service that never reports ready).
    With ``unset_environment=True`` $NOTIFY_SOCKET is removed afterwards, as sd_notify's
    flag of that name does, so child processes cannot talk for us; later calls are no-ops.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if unset_environment:
        os.environ.pop("NOTIFY_SOCKET", None)
    if not address:
        return False
    if address.startswith("@"):
        # Abstract namespace socket: the kernel name starts with a NUL byte instead of "@".
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        # systemd ≥ 254 can also name vsock:CID:PORT (VMs); a service on this host never gets one.
        logger.warning("NOTIFY_SOCKET %r is not a Unix socket path; notification not sent", address)
        return False
    message = "\n".join(lines).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, address)
    except OSError as exc:
        logger.warning("could not notify systemd (%s): %s", lines[0] if lines else "", exc)
        return False
    return True


def ready() -> bool:
    """READY=1: startup finished (schema checked, rules loaded, scheduler started)."""
    return notify("READY=1")


def stopping() -> bool:
    """STOPPING=1: shutdown has begun (in-flight polls are finishing)."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """STATUS=…: one line shown by `systemctl status monitor`."""
    # A newline would start a new KEY=value line and could forge another notification.
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog() -> bool:
    """WATCHDOG=1: one keep-alive ping (use Watchdog to send them only while healthy)."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """The unit's WatchdogSec= in seconds, or None when no watchdog is expected of this process.

    Read from $WATCHDOG_USEC; None when it is unset, not a positive integer, or when
    $WATCHDOG_PID names another process (the variables were inherited, not meant for us).
    """
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Watchdog:
    """Pings systemd's watchdog only while the scheduler loop keeps proving it is alive.

    The loop calls :meth:`heartbeat` on every iteration; a separate asyncio task wakes every
    half ``interval`` and sends WATCHDOG=1 only if the last heartbeat is younger than
    ``max_age`` (default: the watchdog interval; keep it no longer than that, or a hung
    loop is noticed late). A loop that hangs or dies stops the
    heartbeats, the pings stop with them and systemd restarts the service. A blocked event
    loop stops the pinging task itself, with the same result.

    :meth:`check` serves as the "scheduler heartbeat fresh" readiness check of
    monitor.health, also when the unit has no watchdog (``interval`` None).

    Usage::

        watchdog = Watchdog.from_environment(max_age=60)
        watchdog.start()                                   # on the running event loop
        scheduler.add_job(watchdog.heartbeat, "interval", seconds=15, id="heartbeat")
        ...
        watchdog.stop()

    Heartbeats must come more often than ``max_age``: a job of their own on the scheduler
    (as above) keeps beating during a long poll pass, which a beat at the start of each
    tick would not.
    """

    def __init__(self, interval: float | None, *, max_age: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.max_age = max_age or interval or DEFAULT_HEARTBEAT_MAX_AGE
        self._clock = clock
        # Start fresh: startup (schema check, rule loading) runs before the first beat.
        self._last_beat = clock()
        self._task: asyncio.Task[None] | None = None
        self.pings = 0

    @classmethod
    def from_environment(cls, *, max_age: float | None = None) -> Watchdog:
        """A Watchdog for the interval systemd gave this process (None: it never pings)."""
        return cls(watchdog_interval(), max_age=max_age)

    def heartbeat(self) -> None:
        """Record that the loop is alive. Safe to call from any thread."""
        self._last_beat = self._clock()

    def age(self) -> float:
        """Seconds since the last heartbeat."""
        return self._clock() - self._last_beat

    def fresh(self) -> bool:
        """True while the last heartbeat is younger than ``max_age``."""
        return self.age() < self.max_age

    def check(self) -> str:
        """Readiness probe: returns a one-line detail; raises MonitorError when stale."""
        age = self.age()
        if age >= self.max_age:
            raise MonitorError(f"no scheduler heartbeat for {age:.0f} s (limit {self.max_age:.0f} s)")
        return f"last heartbeat {age:.1f} s ago"

    async def run(self) -> None:
        """Ping at half the interval while heartbeats are fresh; returns at once without a watchdog."""
        if not self.interval:
            return
        while True:
            await asyncio.sleep(self.interval / 2)
            if self.fresh():
                if watchdog():
                    self.pings += 1
            else:
                logger.error("scheduler heartbeat is %.0f s old: watchdog pings withheld, "
                             "systemd will restart the service", self.age())

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a task on the running event loop; returns the task."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="systemd-watchdog")
        return self._task

    def stop(self) -> None:
        """Cancel the pinging task (if started)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
