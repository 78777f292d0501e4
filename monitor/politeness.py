"""How hard we lean on feed servers: a global cap, a per-host cap and a gap between request starts.

Pure asyncio; the fetcher takes one slot per HTTP request (each redirect hop is a request).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

# Idle host entries are swept once the table grows past this; below it they cost nothing worth
# the bookkeeping, and keeping them preserves the gap for hosts polled again soon.
_SWEEP_ABOVE = 1024


def host_key(url: str) -> str:
    """Return the limiter's key for `url`: the lower-case hostname, plus ``:port`` if explicit.

    IPv6 literals keep their brackets so the port stays unambiguous. A URL without a host
    (which the fetcher rejects before asking for a slot) yields ``""``.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a non-numeric port: let the HTTP layer report it, keep the key stable
        port = None
    return f"{host}:{port}" if port is not None else host


@dataclass
class _HostState:
    semaphore: asyncio.Semaphore
    # Serialises the "wait for the gap, then start" step so two waiters never read the same
    # last_start and start together.
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float | None = None
    users: int = 0


class HostLimiter:
    """Grants request slots: at most `max_connections` overall, `per_host` per host, and request
    starts to one host at least `min_gap` seconds apart.

    Usage::

        async with limiter.slot(host_key(url)):
            ...  # one HTTP request

    A task waiting for its host's gap holds only that host's resources, never a global slot,
    so one slow or strict host cannot starve the others. `clock` and `sleep` are injectable
    for tests; they default to ``time.monotonic`` and ``asyncio.sleep``.
    """

    def __init__(self, max_connections: int, per_host: int, min_gap: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if max_connections < 1 or per_host < 1:
            raise ValueError("max_connections and per_host must be at least 1")
        if min_gap < 0:
            raise ValueError("min_gap must not be negative")
        self.max_connections = max_connections
        self.per_host = per_host
        self.min_gap = min_gap
        self._clock = clock
        self._sleep = sleep
        self._global = asyncio.Semaphore(max_connections)
        self._hosts: dict[str, _HostState] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait for a slot for one request to `host` (a `host_key`) and hold it for the block.

        Order matters: per-host semaphore, then the host's gap, then the global semaphore;
        the global slot is taken last so it is never held while sleeping out a gap.
        Cancellation while waiting releases whatever was acquired.
        """
        state = self._state(host)
        state.users += 1
        try:
            async with state.semaphore:
                async with state.gate:
                    if state.last_start is not None:
                        wait = state.last_start + self.min_gap - self._clock()
                        if wait > 0:
                            await self._sleep(wait)
                    # Still under the gate, so no other request to this host can start between
                    # here and the timestamp below.
                    await self._global.acquire()
                    state.last_start = self._clock()
                try:
                    yield
                finally:
                    self._global.release()
        finally:
            state.users -= 1

    def _state(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= _SWEEP_ABOVE:
                self._sweep()
            state = self._hosts[host] = _HostState(asyncio.Semaphore(self.per_host))
        return state

    def _sweep(self) -> None:
        """Forget hosts nobody is using whose gap has passed (forgetting them is harmless)."""
        now = self._clock()
        idle = [host for host, state in self._hosts.items()
                if state.users == 0
                and (state.last_start is None or now - state.last_start >= self.min_gap)]
        for host in idle:
            del self._hosts[host]
        logger.debug("forgot %d idle hosts", len(idle))
