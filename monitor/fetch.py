"""Fetch feed URLs over HTTP: conditional GET, redirects, a whole-request deadline, a size cap.

One `Fetcher` owns one shared ``httpx.AsyncClient`` and a `HostLimiter`. HTTP error statuses
come back as a `FetchResult` (the caller's policy decides what a 410 or 429 means); only
transport problems raise, as subclasses of `monitor.errors.FetchError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType, TracebackType
from typing import Protocol, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from monitor.errors import ConfigError, FetchError
from monitor.politeness import HostLimiter, host_key

try:
    import brotli  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - httpx[brotli] normally brings it
    brotli = None

logger = logging.getLogger(__name__)

# Only brotli >= 1.2 can bound its output per call; an older one could be a decompression bomb,
# so we simply do not offer "br" to servers in that case.
_HAVE_BOUNDED_BROTLI = brotli is not None and hasattr(brotli.Decompressor(), "can_accept_more_data")
_ACCEPT_ENCODING = "gzip, deflate, br" if _HAVE_BOUNDED_BROTLI else "gzip, deflate"
_ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
           "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES = frozenset({301, 308})
# Decoders hand out at most this much at a time, so a tiny compressed body that inflates to
# gigabytes is caught by the size cap after one piece rather than after it sits in memory.
_PIECE = 64 * 1024
# Retry-After values beyond this are clamped instead of overflowing datetime; the caller
# applies its own, much smaller, cap anyway.
_RETRY_AFTER_CEILING = timedelta(days=365)
_SECRET_PARAM = re.compile(r"token|key|secret|pass|pwd|sig|auth|session|credential", re.IGNORECASE)
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class FetchSettings:
    """How the fetcher behaves; all times in seconds, sizes in bytes.

    Raises `ConfigError` on construction if a value makes no sense (zero caps, negative times).
    """

    user_agent: str = "monitor/0.1 (+https://example.invalid/monitor)"
    connect_timeout: float = 10.0
    total_timeout: float = 30.0      # whole request including the body, per redirect chain
    max_bytes: int = 10 * 1024 * 1024  # of the decoded body
    max_connections: int = 20        # requests in flight overall
    per_host: int = 2                # requests in flight to one host
    host_min_gap: float = 1.0        # between request starts to the same host
    max_redirects: int = 5

    def __post_init__(self) -> None:
        problems = []
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            problems.append("connect_timeout and total_timeout must be positive")
        if self.max_bytes < 1:
            problems.append("max_bytes must be at least 1")
        if self.max_connections < 1 or self.per_host < 1:
            problems.append("max_connections and per_host must be at least 1")
        if self.host_min_gap < 0:
            problems.append("host_min_gap must not be negative")
        if self.max_redirects < 0:
            problems.append("max_redirects must not be negative")
        if not self.user_agent.strip():
            problems.append("user_agent must not be empty")
        if problems:
            raise ConfigError("fetch settings: " + "; ".join(problems))


@dataclass(frozen=True)
class Validators:
    """The cache validators we send: If-None-Match and If-Modified-Since values from last time."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What one fetch produced, whatever the HTTP status."""

    requested_url: str
    final_url: str
    status: int                 # final status; 304 for not-modified
    body: bytes | None          # decoded body of a 2xx; None otherwise
    headers: Mapping[str, str]  # final response headers, lower-case keys
    etag: str | None            # from the final response; on a 304 without one, the one we sent
    last_modified: str | None   # likewise
    permanent_redirect: str | None  # final URL if every hop was 301/308, else None
    retry_after: datetime | None    # absolute, aware UTC; uncapped
    max_age: int | None             # Cache-Control max-age, seconds
    body_sha256: str | None         # hex digest of `body`
    elapsed: float                  # seconds spent on the network (not waiting for a slot)


class _URLFetchError(FetchError):
    """A fetch problem tied to a URL; the message starts with the URL, stripped of secrets."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = redact_url(url)
        self.problem = problem
        super().__init__(f"{self.url}: {problem}")


class InvalidURL(_URLFetchError):
    """The URL is not an absolute http(s) URL."""


class ConnectError(_URLFetchError):
    """No connection could be made (DNS, refused, TLS handshake)."""


class FetchTimeout(_URLFetchError):
    """Connecting, or the whole request including its body, took longer than allowed."""


class TransportError(_URLFetchError):
    """The connection broke or the server spoke broken HTTP mid-request."""


class RedirectError(_URLFetchError):
    """Too many redirects, or a redirect without a usable Location."""


class ResponseTooLarge(_URLFetchError):
    """The (decoded) body is larger than `FetchSettings.max_bytes`."""


class ContentDecodingError(_URLFetchError):
    """The body's Content-Encoding is unknown or its compressed data is corrupt."""


def redact_url(url: str) -> str:
    """Return `url` fit for logs and messages: no userinfo, secret-looking query values masked.

    Query parameters whose names suggest a credential (token, key, secret, password, sig,
    auth, session...) get the value ``***``. Anything unparsable comes back as ``<unparsable URL>``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:
        return "<unparsable URL>"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs],
                          safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_retry_after(value: str, now: datetime) -> datetime | None:
    """Turn a Retry-After header value into an absolute aware UTC time.

    Accepts delay-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``;
    a zoneless date is read as UTC, as HTTP dates are GMT). A naive `now` is taken as UTC.
    Returns None for anything else (negative, fractional, garbage). Delays beyond a year are
    clamped to a year; dates in the past are returned as they are.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        seconds = int(text)
        delay = (_RETRY_AFTER_CEILING if seconds > _RETRY_AFTER_CEILING.total_seconds()
                 else timedelta(seconds=seconds))
        return now + delay
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def parse_max_age(cache_control: str | None) -> int | None:
    """Return a Cache-Control value's max-age in seconds, or None if absent or garbled."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


class Fetcher:
    """Fetches URLs politely through one shared HTTP client; use as ``async with Fetcher(s) as f``.

    `transport` replaces the network layer (an ``httpx.AsyncBaseTransport``), e.g. for
    ``httpx.MockTransport``; the default is a real pooled connection.
    """

    def __init__(self, settings: FetchSettings, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.limiter = HostLimiter(settings.max_connections, settings.per_host,
                                   settings.host_min_gap)
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,  # we follow by hand: each hop needs its own slot and status
            # Per-phase limits; the deadline for the whole request is enforced in _hop.
            timeout=httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=settings.max_connections,
                                max_keepalive_connections=settings.max_connections),
            headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT,
                     "Accept-Encoding": _ACCEPT_ENCODING},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections. The fetcher cannot be used afterwards."""
        await self._client.aclose()

    async def fetch(self, url: str, validators: Validators = Validators()) -> FetchResult:
        """GET `url` (following redirects), sending `validators` as conditional headers.

        Returns a `FetchResult` for any HTTP status, including 304, 4xx and 5xx; only a 2xx
        carries a body. Raises `InvalidURL`, `ConnectError`, `FetchTimeout`, `TransportError`,
        `RedirectError`, `ResponseTooLarge` or `ContentDecodingError` (all `FetchError`).
        The total_timeout budget covers the network time of the whole redirect chain; time
        spent waiting for a politeness slot does not count against it.
        """
        settings = self.settings
        headers: dict[str, str] = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        current = _check_url(url, url, InvalidURL)
        statuses: list[int] = []
        spent = 0.0
        while True:
            remaining = settings.total_timeout - spent
            if remaining <= 0:
                raise FetchTimeout(url, "redirect chain took longer than "
                                        f"{settings.total_timeout:g} s (total_timeout)")
            started = time.monotonic()
            try:
                async with self.limiter.slot(host_key(str(current))):
                    started = time.monotonic()  # the slot wait is politeness, not slowness
                    hop = await self._hop(url, current, headers, remaining)
            finally:
                spent += time.monotonic() - started
            if hop.location is None:
                break
            statuses.append(hop.status)
            if len(statuses) > settings.max_redirects:
                raise RedirectError(url, f"more than {settings.max_redirects} redirects "
                                         f"(gave up at {redact_url(str(current))})")
            current = _check_url(url, _join(url, current, hop.location), RedirectError)
        final_url = str(current)
        permanent = (final_url if statuses and all(s in _PERMANENT_STATUSES for s in statuses)
                     else None)
        etag = hop.headers.get("etag")
        last_modified = hop.headers.get("last-modified")
        if hop.status == 304:
            # A 304 means what we sent is still valid; servers often omit them on a 304.
            etag = etag or validators.etag
            last_modified = last_modified or validators.last_modified
        retry_after = None
        if "retry-after" in hop.headers:
            retry_after = parse_retry_after(hop.headers["retry-after"], datetime.now(UTC))
        logger.debug("GET %s -> %d (%s bytes, %.3f s)", redact_url(final_url), hop.status,
                     "-" if hop.body is None else len(hop.body), spent)
        return FetchResult(
            requested_url=url,
            final_url=final_url,
            status=hop.status,
            body=hop.body,
            headers=MappingProxyType(hop.headers),
            etag=etag,
            last_modified=last_modified,
            permanent_redirect=permanent,
            retry_after=retry_after,
            max_age=parse_max_age(hop.headers.get("cache-control")),
            body_sha256=hashlib.sha256(hop.body).hexdigest() if hop.body is not None else None,
            elapsed=spent,
        )

    async def _hop(self, url: str, current: httpx.URL, headers: dict[str, str],
                   budget: float) -> _Hop:
        """Make one request to `current` within `budget` seconds; `url` is what errors name."""
        started = time.monotonic()
        try:
            return await self._exchange(url, current, headers, budget, retry_allowed=True)
        except _NoResponse:
            # The server closed the connection before answering: most often a kept-alive
            # connection it timed out just as we reused it (Apache's keep-alive lasts 5 s), so
            # the GET never reached it. Like browsers and urllib3, send it again, once.
            logger.debug("GET %s: connection closed before a response; retrying once",
                         redact_url(str(current)))
            left = budget - (time.monotonic() - started)
            return await self._exchange(url, current, headers, left, retry_allowed=False)

    async def _exchange(self, url: str, current: httpx.URL, headers: dict[str, str],
                        budget: float, *, retry_allowed: bool) -> _Hop:
        settings = self.settings
        try:
            # httpx's read timeout is per read, so a server dripping a byte a second would never
            # trip it; this deadline bounds the whole exchange.
            async with asyncio.timeout(budget):
                async with self._client.stream("GET", current, headers=headers) as response:
                    status = response.status_code
                    response_headers = {k.lower(): v for k, v in response.headers.items()}
                    location = response_headers.get("location")
                    if status in _REDIRECT_STATUSES:
                        if not location:
                            raise RedirectError(url, f"HTTP {status} without a Location header")
                        return _Hop(status, response_headers, None, location)
                    body = None
                    if 200 <= status < 300:
                        body = await self._read_body(url, response, response_headers)
                    return _Hop(status, response_headers, body, None)
        except TimeoutError as exc:
            raise FetchTimeout(url, f"no complete response within {settings.total_timeout:g} s "
                                    "(total_timeout); the server is too slow or stalled") from exc
        except httpx.ConnectTimeout as exc:
            raise FetchTimeout(url, f"could not connect within {settings.connect_timeout:g} s "
                                    "(connect_timeout)") from exc
        except httpx.TimeoutException as exc:
            raise FetchTimeout(url, f"server went quiet for {settings.total_timeout:g} s") from exc
        except httpx.ConnectError as exc:
            raise ConnectError(url, f"could not connect: {exc or type(exc).__name__}") from exc
        except httpx.UnsupportedProtocol as exc:
            raise InvalidURL(url, f"unsupported URL: {exc}") from exc
        except httpx.RemoteProtocolError as exc:
            if retry_allowed and "without sending a response" in str(exc):
                raise _NoResponse from exc
            raise TransportError(url, f"connection failed mid-request: "
                                      f"{exc or type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransportError(url, f"connection failed mid-request: "
                                      f"{exc or type(exc).__name__}") from exc

    async def _read_body(self, url: str, response: httpx.Response,
                         headers: Mapping[str, str]) -> bytes:
        """Read and decode the body, stopping as soon as it exceeds max_bytes."""
        limit = self.settings.max_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLarge(url, f"Content-Length {declared} exceeds the {limit}-byte cap "
                                        "(max_bytes); raise it if this feed is genuinely that big")
        decoder = _decoder_for(url, headers.get("content-encoding", ""))
        parts: list[bytes] = []
        size = 0

        def take(pieces: Iterator[bytes]) -> None:
            nonlocal size
            for piece in pieces:
                size += len(piece)
                if size > limit:
                    raise ResponseTooLarge(url, f"body exceeds the {limit}-byte cap (max_bytes) "
                                                "once decoded; raise it if this feed is genuine")
                parts.append(piece)

        try:
            async for raw in response.aiter_raw():
                take(decoder.feed(raw))
            take(decoder.finish())
        except (zlib.error, _brotli_error()) as exc:
            raise ContentDecodingError(
                url, f"corrupt {headers.get('content-encoding')} body: {exc}") from exc
        return b"".join(parts)


class _NoResponse(Exception):
    """The server closed the connection without answering (`_hop` tries once more)."""


@dataclass(frozen=True)
class _Hop:
    status: int
    headers: dict[str, str]
    body: bytes | None
    location: str | None  # set only when this hop is a redirect to follow


def _check_url(original: str, candidate: str, error: type[_URLFetchError]) -> httpx.URL:
    """Parse `candidate` as an absolute http(s) URL, or raise `error` naming `original`."""
    try:
        parsed = httpx.URL(candidate)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise error(original, f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise error(original, f"not an absolute http(s) URL: {redact_url(str(parsed))}")
    return parsed


def _join(original: str, base: httpx.URL, location: str) -> str:
    try:
        return str(base.join(location))
    except (httpx.InvalidURL, ValueError) as exc:
        raise RedirectError(original, f"redirect to an invalid Location: {exc}") from exc


# --- bounded Content-Encoding decoders ---------------------------------------------------
# httpx's own decoders inflate a whole network read at once; these hand out at most _PIECE
# bytes per step so the size cap is checked before a compression bomb can fill memory.

class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...
    def finish(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip, or deflate (zlib-wrapped, falling back to raw deflate as some servers send)."""

    def __init__(self, wbits: int, raw_fallback: bool = False) -> None:
        self._inflater = zlib.decompressobj(wbits)
        self._raw_fallback = raw_fallback
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            try:
                out = self._inflater.decompress(pending, _PIECE)
            except zlib.error:
                if self._started or not self._raw_fallback:
                    raise
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_fallback = False
                continue
            self._started = True
            if out:
                yield out
            pending = self._inflater.unconsumed_tail
            # A full piece may leave output buffered inside zlib even when input is used up.
            if not pending and len(out) < _PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        tail = self._inflater.flush()
        if tail:
            yield tail


class _Brotli:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = self._decompressor.process(data, output_buffer_limit=_PIECE)
        if out:
            yield out
        while not self._decompressor.can_accept_more_data():
            out = self._decompressor.process(b"", output_buffer_limit=_PIECE)
            if out:
                yield out

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Chain:
    """Several encodings: decode them in the reverse of the order they were applied."""

    def __init__(self, decoders: list[_Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, iter((data,)), finishing=False)

    def finish(self) -> Iterator[bytes]:
        return self._through(0, iter(()), finishing=True)

    def _through(self, index: int, pieces: Iterator[bytes], finishing: bool) -> Iterator[bytes]:
        if index == len(self._decoders):
            yield from pieces
            return
        decoder = self._decoders[index]

        def produced() -> Iterator[bytes]:
            for piece in pieces:
                yield from decoder.feed(piece)
            if finishing:
                yield from decoder.finish()

        yield from self._through(index + 1, produced(), finishing)


def _decoder_for(url: str, content_encoding: str) -> _Decoder:
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    decoders: list[_Decoder] = []
    for name in reversed(names):
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            decoders.append(_Zlib(zlib.MAX_WBITS | 16))
        elif name == "deflate":
            decoders.append(_Zlib(zlib.MAX_WBITS, raw_fallback=True))
        elif name == "br" and _HAVE_BOUNDED_BROTLI:
            decoders.append(_Brotli())
        else:
            raise ContentDecodingError(url, f"unsupported Content-Encoding {name!r} "
                                            f"(we offer {_ACCEPT_ENCODING})")
    if not decoders:
        return _Identity()
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


def _brotli_error() -> type[Exception]:
    # An exception class for the except clause even when brotli is absent.
    return brotli.error if brotli is not None else zlib.error
