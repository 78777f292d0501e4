"""The fetcher and the politeness limiter against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
import socket
import time
import tracemalloc
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from feedserver import (
    Drip,
    Drop,
    Feed,
    FeedServer,
    Generated,
    Hang,
    Huge,
    Redirect,
    Status,
    http_date,
)

from monitor.errors import ConfigError, FetchError
from monitor.fetch import (
    ConnectError,
    ContentDecodingError,
    Fetcher,
    FetchResult,
    FetchSettings,
    FetchTimeout,
    InvalidURL,
    RedirectError,
    ResponseTooLarge,
    Validators,
    parse_max_age,
    parse_retry_after,
    redact_url,
)
from monitor.politeness import HostLimiter, host_key

pytestmark = [pytest.mark.network, pytest.mark.timeout(30)]

T = TypeVar("T")
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def settings(**overrides: object) -> FetchSettings:
    """Small, fast settings; no host gap unless a test asks for one."""
    values: dict[str, object] = {"connect_timeout": 1.0, "total_timeout": 2.0,
                                 "host_min_gap": 0.0, "max_bytes": 1024 * 1024}
    values.update(overrides)
    return FetchSettings(**values)  # type: ignore[arg-type]


async def fetch_once(url: str, validators: Validators | None = None, **overrides: object
                     ) -> FetchResult:
    async with Fetcher(settings(**overrides)) as fetcher:
        return await fetcher.fetch(url, validators or Validators())


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


# --- conditional GET ---------------------------------------------------------------------

def test_etag_round_trip_gives_304_and_keeps_the_validator(server: FeedServer) -> None:
    server.add("/feed.xml", Feed(RSS, etag='"v1"'))

    async def scenario() -> tuple[FetchResult, FetchResult]:
        async with Fetcher(settings()) as fetcher:
            first = await fetcher.fetch(server.url("/feed.xml"))
            second = await fetcher.fetch(server.url("/feed.xml"), Validators(etag=first.etag))
            return first, second

    first, second = run(scenario())
    assert (first.status, first.body, first.etag) == (200, RSS, '"v1"')
    assert (second.status, second.body, second.etag) == (304, None, '"v1"')
    assert second.body_sha256 is None
    assert server.requests[-1].headers["if-none-match"] == '"v1"'


def test_last_modified_round_trip_gives_304_and_keeps_the_validator(server: FeedServer) -> None:
    stamp = http_date(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    server.add("/feed.xml", Feed(RSS, last_modified=stamp))
    first = run(fetch_once(server.url("/feed.xml")))
    second = run(fetch_once(server.url("/feed.xml"),
                            Validators(last_modified=first.last_modified)))
    assert (first.status, first.last_modified) == (200, stamp)
    assert (second.status, second.body, second.last_modified) == (304, None, stamp)
    assert server.requests[-1].headers["if-modified-since"] == stamp


def test_changed_feed_is_fetched_again_with_its_new_etag(server: FeedServer) -> None:
    feed = server.add("/feed.xml", Feed(RSS, etag='"v1"'))
    feed.update(RSS.replace(b"<title>t<", b"<title>new<"), etag='"v2"')
    result = run(fetch_once(server.url("/feed.xml"), Validators(etag='"v1"')))
    assert result.status == 200
    assert result.etag == '"v2"'
    assert b"new" in (result.body or b"")


def test_304_without_validators_returns_the_ones_we_sent(server: FeedServer) -> None:
    server.add("/feed.xml", Status(304))
    sent = Validators(etag='"abc"', last_modified="Wed, 01 May 2024 12:00:00 GMT")
    result = run(fetch_once(server.url("/feed.xml"), sent))
    assert (result.status, result.etag, result.last_modified) == (304, sent.etag,
                                                                  sent.last_modified)


def test_body_hash_and_cache_control_max_age_are_reported(server: FeedServer) -> None:
    server.add("/feed.xml", Feed(RSS, headers={"Cache-Control": "public, max-age=900"}))
    result = run(fetch_once(server.url("/feed.xml")))
    assert result.body_sha256 == hashlib.sha256(RSS).hexdigest()
    assert result.max_age == 900
    assert result.headers["cache-control"] == "public, max-age=900"


# --- redirects ---------------------------------------------------------------------------

@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_reports_the_new_url(server: FeedServer, status: int) -> None:
    server.add("/old.xml", Redirect("/new.xml", status=status))  # type: ignore[arg-type]
    server.add("/new.xml", Feed(RSS))
    result = run(fetch_once(server.url("/old.xml")))
    assert result.status == 200
    assert result.body == RSS
    assert result.requested_url == server.url("/old.xml")
    assert result.final_url == server.url("/new.xml")
    assert result.permanent_redirect == server.url("/new.xml")


def test_chain_of_301_and_308_is_permanent(server: FeedServer) -> None:
    server.add("/a", Redirect("/b", status=301))
    server.add("/b", Redirect(server.url("/c"), status=308))
    server.add("/c", Feed(RSS))
    assert run(fetch_once(server.url("/a"))).permanent_redirect == server.url("/c")


@pytest.mark.parametrize("chain", [(302,), (301, 302), (302, 301), (307,)])
def test_a_temporary_hop_anywhere_makes_the_redirect_temporary(
        server: FeedServer, chain: tuple[int, ...]) -> None:
    for index, status in enumerate(chain):
        hop = Redirect(f"/hop{index + 1}", status=status)  # type: ignore[arg-type]
        server.add(f"/hop{index}", hop)
    server.add(f"/hop{len(chain)}", Feed(RSS))
    result = run(fetch_once(server.url("/hop0")))
    assert result.status == 200
    assert result.final_url == server.url(f"/hop{len(chain)}")
    assert result.permanent_redirect is None


def test_redirect_loop_stops_after_max_redirects(server: FeedServer) -> None:
    server.add("/ping", Redirect("/pong", status=302))
    server.add("/pong", Redirect("/ping", status=302))
    with pytest.raises(RedirectError, match="more than 3 redirects"):
        run(fetch_once(server.url("/ping"), max_redirects=3))
    assert len(server.requests) == 4


def test_redirect_to_a_non_http_scheme_is_refused(server: FeedServer) -> None:
    server.add("/feed.xml", Redirect("file:///etc/passwd", status=302))
    with pytest.raises(RedirectError, match="not an absolute http"):
        run(fetch_once(server.url("/feed.xml")))


# --- HTTP error statuses come back as results ---------------------------------------------

@pytest.mark.parametrize("status", [404, 410, 500])
def test_error_status_is_a_result_not_an_exception(server: FeedServer, status: int) -> None:
    server.add("/feed.xml", Status(status, body=b"gone"))
    result = run(fetch_once(server.url("/feed.xml")))
    assert result.status == status
    assert result.body is None
    assert result.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_becomes_an_absolute_time(server: FeedServer, status: int) -> None:
    server.add("/feed.xml", Status(status, {"Retry-After": "120"}))
    before = datetime.now(UTC)
    result = run(fetch_once(server.url("/feed.xml")))
    after = datetime.now(UTC)
    assert result.status == status
    assert result.retry_after is not None
    assert before + timedelta(seconds=120) <= result.retry_after <= after + timedelta(seconds=120)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_http_date_is_honoured(server: FeedServer, status: int) -> None:
    when = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    server.add("/feed.xml", Status(status, {"Retry-After": http_date(when)}))
    result = run(fetch_once(server.url("/feed.xml")))
    assert (result.status, result.retry_after) == (status, when)


def test_parse_retry_after_accepts_seconds_and_dates_and_rejects_garbage() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_retry_after(" 30 ", now) == now + timedelta(seconds=30)
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == datetime(
        1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", now) == datetime(
        1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    assert parse_retry_after("99999999999999999999", now) == now + timedelta(days=365)
    for garbage in ("", "soon", "-5", "1.5", "١٢"):
        assert parse_retry_after(garbage, now) is None


def test_parse_max_age_reads_only_the_max_age_directive() -> None:
    assert parse_max_age("max-age=60") == 60
    assert parse_max_age("s-maxage=10, max-age=60") == 60
    assert parse_max_age("no-cache") is None
    assert parse_max_age("max-age=soon") is None
    assert parse_max_age(None) is None


# --- transport failures raise, bounded in time ---------------------------------------------

def test_hanging_server_times_out_within_the_total_timeout(server: FeedServer) -> None:
    server.add("/feed.xml", Hang())
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match="within 0.5 s") as caught:
        run(fetch_once(server.url("/feed.xml"), total_timeout=0.5))
    assert time.monotonic() - started < 1.5
    assert server.url("/feed.xml") in str(caught.value)
    assert isinstance(caught.value, FetchError)


def test_slow_drip_body_cannot_outlive_the_total_timeout(server: FeedServer) -> None:
    # Each byte arrives well inside any per-read timeout; only a whole-request deadline stops it.
    server.add("/feed.xml", Drip(b"<", interval=0.1, count=100))
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        run(fetch_once(server.url("/feed.xml"), total_timeout=0.6))
    assert time.monotonic() - started < 1.5


def test_oversized_streamed_body_is_abandoned_early(server: FeedServer) -> None:
    huge = server.add("/feed.xml", Huge(size=1 << 30))
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge, match="100000-byte cap"):
        run(fetch_once(server.url("/feed.xml"), max_bytes=100_000))
    assert time.monotonic() - started < 2
    # Socket buffers absorb a few MiB at most; reading it all would be 1 GiB.
    assert huge.sent < 64 * 1024 * 1024


def test_declared_content_length_over_the_cap_is_rejected_before_reading(
        server: FeedServer) -> None:
    server.add("/feed.xml", Huge(size=1 << 30, content_length=True))
    with pytest.raises(ResponseTooLarge, match=f"Content-Length {1 << 30}"):
        run(fetch_once(server.url("/feed.xml"), max_bytes=100_000))


def test_body_exactly_at_the_cap_is_accepted(server: FeedServer) -> None:
    server.add("/feed.xml", Feed(b"x" * 1000))
    assert run(fetch_once(server.url("/feed.xml"), max_bytes=1000)).body == b"x" * 1000


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compression_bomb_is_stopped_before_it_fills_memory(
        server: FeedServer, encoding: str) -> None:
    body = b"\0" * (32 * 1024 * 1024)
    bomb = server.add("/feed.xml", Feed(body, encoding=encoding))  # type: ignore[arg-type]
    assert len(bomb.encoded) < 100_000  # small on the wire, so only a decoded cap catches it
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge, match="once decoded"):
            run(fetch_once(server.url("/feed.xml"), max_bytes=1024 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Inflating a whole network read at once would allocate tens of MiB here.
    assert peak < 8 * 1024 * 1024, peak


def test_refused_connection_raises_connect_error_without_credentials() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://alice:hunter2@127.0.0.1:{port}/feed.xml?q=news&api_token=s3cret"
    with pytest.raises(ConnectError) as caught:
        run(fetch_once(url))
    message = str(caught.value)
    assert f"127.0.0.1:{port}/feed.xml" in message
    assert "q=news" in message
    assert "hunter2" not in message and "alice" not in message and "s3cret" not in message


def test_nonsensical_settings_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_bytes"):
        FetchSettings(max_bytes=0)


def test_feed_server_stops_promptly_despite_a_hanging_connection() -> None:
    server = FeedServer().start()
    server.add("/feed.xml", Hang())
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as client:
        client.sendall(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 2
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.requests, "the hanging request never arrived"
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1
        assert client.recv(1024) == b""  # closed without an answer


def test_non_http_url_is_rejected() -> None:
    with pytest.raises(InvalidURL):
        run(fetch_once("ftp://example.invalid/feed.xml"))


def test_redact_url_masks_secret_query_values_only() -> None:
    assert (redact_url("https://u:p@Example.com:8443/f?key=1&page=2#frag")
            == "https://example.com:8443/f?key=***&page=2")


# --- encodings and charsets ----------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_body_is_decoded(server: FeedServer, encoding: str) -> None:
    server.add("/feed.xml", Feed(RSS * 50, encoding=encoding))  # type: ignore[arg-type]
    result = run(fetch_once(server.url("/feed.xml")))
    assert result.body == RSS * 50
    assert result.headers["content-encoding"] == encoding
    assert "gzip" in server.requests[-1].headers["accept-encoding"]


def test_corrupt_gzip_body_raises_content_decoding_error(server: FeedServer) -> None:
    server.add("/feed.xml", Feed(RSS, headers={"Content-Encoding": "gzip"}))  # not gzipped
    with pytest.raises(ContentDecodingError, match="corrupt gzip"):
        run(fetch_once(server.url("/feed.xml")))


def test_body_bytes_are_returned_as_sent_whatever_the_charset_header_says(
        server: FeedServer) -> None:
    body = '<?xml version="1.0"?><rss><channel><title>Новости</title></channel></rss>'.encode(
        "windows-1251")
    server.add("/feed.xml", Feed(body, content_type="application/rss+xml; charset=utf-8"))
    result = run(fetch_once(server.url("/feed.xml")))
    assert result.body == body
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"


def test_gzip_helper_of_the_test_server_really_compresses(server: FeedServer) -> None:
    feed = server.add("/feed.xml", Feed(RSS, encoding="gzip"))
    assert gzip.decompress(feed.encoded) == RSS


# --- identification and politeness ---------------------------------------------------------

def test_user_agent_with_contact_url_is_sent(server: FeedServer) -> None:
    server.add("/feed.xml", Feed(RSS))
    agent = "monitor/0.1 (+https://newsroom.example/monitor-contact)"
    run(fetch_once(server.url("/feed.xml"), user_agent=agent))
    assert server.requests[-1].headers["user-agent"] == agent


def test_no_more_than_per_host_requests_reach_one_host_at_once(server: FeedServer) -> None:
    server.add("/slow.xml", Feed(RSS, delay=0.3))

    async def scenario() -> None:
        async with Fetcher(settings(per_host=2, max_connections=10)) as fetcher:
            await asyncio.gather(*(fetcher.fetch(server.url("/slow.xml")) for _ in range(6)))

    started = time.monotonic()
    run(scenario())
    assert server.max_in_flight == 2
    assert len(server.requests) == 6
    assert time.monotonic() - started >= 0.85  # three waves of 0.3 s


def test_request_starts_to_one_host_are_spaced_by_the_min_gap(server: FeedServer) -> None:
    server.add("/feed.xml", Feed(RSS))

    async def scenario() -> None:
        async with Fetcher(settings(host_min_gap=0.25, per_host=4)) as fetcher:
            await asyncio.gather(*(fetcher.fetch(server.url("/feed.xml")) for _ in range(4)))

    run(scenario())
    starts = [r.started for r in server.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 3
    assert min(gaps) >= 0.2, gaps  # 0.25 s less scheduling jitter


def test_generated_feeds_route_serves_numbered_feeds_with_etags(server: FeedServer) -> None:
    server.add("/feeds/{n}.xml", Generated(lambda n: f"<rss>{n}</rss>".encode()))

    async def scenario() -> list[FetchResult]:
        async with Fetcher(settings(per_host=8)) as fetcher:
            first = await fetcher.fetch(server.url("/feeds/7.xml"))
            again = await fetcher.fetch(server.url("/feeds/7.xml"), Validators(etag=first.etag))
            other = await fetcher.fetch(server.url("/feeds/8.xml"))
            return [first, again, other]

    first, again, other = run(scenario())
    assert (first.body, again.status, other.body) == (b"<rss>7</rss>", 304, b"<rss>8</rss>")


def test_host_key_is_lower_case_host_with_explicit_port() -> None:
    assert host_key("https://News.Example.COM/feed") == "news.example.com"
    assert host_key("http://Example.com:8080/a") == "example.com:8080"
    assert host_key("http://[::1]:80/a") == "[::1]:80"


def test_limiter_waiting_for_one_hosts_gap_does_not_block_other_hosts() -> None:
    async def scenario() -> dict[str, list[float]]:
        limiter = HostLimiter(max_connections=1, per_host=5, min_gap=0.3)
        begun: dict[str, list[float]] = {"slow": [], "other": []}
        t0 = time.monotonic()

        async def request(host: str) -> None:
            async with limiter.slot(host):
                begun[host].append(time.monotonic() - t0)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(request("slow") for _ in range(3)),
                             *(request("other") for _ in range(1)))
        return begun

    begun = run(scenario())
    # With the single global slot held while sleeping out "slow"'s gap, "other" would wait 0.6 s.
    assert begun["other"][0] < 0.15
    assert begun["slow"][2] >= 0.55


def test_limiter_global_cap_bounds_requests_across_hosts() -> None:
    async def scenario() -> int:
        limiter = HostLimiter(max_connections=3, per_host=3, min_gap=0.0)
        active = peak = 0

        async def request(host: str) -> None:
            nonlocal active, peak
            async with limiter.slot(host):
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.02)
                active -= 1

        await asyncio.gather(*(request(f"h{i % 4}") for i in range(12)))
        return peak

    assert run(scenario()) == 3


def test_cancelled_waiter_gives_its_slot_back() -> None:
    async def scenario() -> bool:
        limiter = HostLimiter(max_connections=1, per_host=1, min_gap=0.0)
        async with limiter.slot("a"):
            waiter = asyncio.create_task(_enter(limiter, "a"))
            await asyncio.sleep(0.01)
            waiter.cancel()
        async with asyncio.timeout(1):
            async with limiter.slot("a"):
                return True

    assert run(scenario())


async def _enter(limiter: HostLimiter, host: str) -> None:
    async with limiter.slot(host):
        pass


# --- a connection closed before the response ---------------------------------------------

def test_a_connection_closed_before_any_response_is_tried_once_more(server: FeedServer) -> None:
    server.add("/feed.xml", Drop(Feed(RSS)))
    result = run(fetch_once(server.url("/feed.xml")))
    assert (result.status, result.body) == (200, RSS)
    assert len(server.requests) == 2


def test_a_server_that_never_answers_a_request_fails_after_one_retry(server: FeedServer) -> None:
    server.add("/feed.xml", Drop(Feed(RSS), times=10))
    with pytest.raises(FetchError, match="connection failed mid-request: Server disconnected"):
        run(fetch_once(server.url("/feed.xml")))
    assert len(server.requests) == 2  # one retry, not a loop
