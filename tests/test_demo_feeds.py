"""The demo's offline feeds parse as intended, and DemoServer serves them like a polite publisher."""

from __future__ import annotations

import html
import re
import socket
import time
from calendar import timegm
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser  # type: ignore[import-untyped]
import httpx
import pytest

from monitor.demo import (
    BOZO_FEED,
    DEMO_NOW,
    DUPLICATE_STORY,
    MALFORMED_FEED,
    DemoServer,
    content_type_for,
    demo_feed_files,
)

DOSSIER = Path(__file__).resolve().parents[2] / "shared" / "dossier"
FILES = {path.name: path for path in demo_feed_files()}
WELL_FORMED = sorted(name for name in FILES if name not in (MALFORMED_FEED, BOZO_FEED))


def parsed(name: str) -> feedparser.FeedParserDict:
    return feedparser.parse(FILES[name].read_bytes())


def without_utm(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("utm_")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def entry_time(entry: feedparser.FeedParserDict) -> datetime:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(timegm(stamp), tz=UTC)


def text_of(entry: feedparser.FeedParserDict) -> str:
    raw = " ".join([entry.get("title", ""), entry.get("summary", "")]
                   + [c.value for c in entry.get("content", [])])
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


# -- the feed files ----------------------------------------------------------------------------

def test_demo_ships_six_to_eight_feeds_with_a_few_dozen_items() -> None:
    assert 6 <= len(FILES) <= 8
    total = sum(len(parsed(name).entries) for name in FILES)
    assert 30 <= total <= 60


@pytest.mark.parametrize("name", WELL_FORMED)
def test_well_formed_feed_yields_entries_with_titles_links_and_dates(name: str) -> None:
    feed = parsed(name)

    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.get("title")
    assert len(feed.entries) >= 3
    for entry in feed.entries:
        assert entry.get("title"), entry
        assert urlsplit(entry.get("link", "")).scheme == "https", entry.get("link")
        assert entry.get("published_parsed") or entry.get("updated_parsed"), entry.title
        assert entry.get("id"), entry.title


def test_feeds_cover_rss2_atom_and_rss1_rdf() -> None:
    versions = {parsed(name).version for name in WELL_FORMED}

    assert {"rss20", "atom10", "rss10"} <= versions


def test_malformed_feed_yields_nothing_usable() -> None:
    feed = parsed(MALFORMED_FEED)

    assert feed.bozo
    assert feed.entries == []
    assert not feed.feed.get("title")
    assert not feed.version


def test_bozo_feed_is_bozo_but_keeps_its_entries() -> None:
    feed = parsed(BOZO_FEED)

    assert feed.bozo
    assert "undefined entity" in str(feed.bozo_exception)
    assert len(feed.entries) == 4
    assert "—" in feed.entries[0].title  # &mdash; still became a dash
    assert all(entry.get("link") and entry.get("published_parsed") for entry in feed.entries)


def test_duplicate_story_is_carried_by_two_feeds_with_the_same_link_once_utm_is_removed() -> None:
    (first_feed, first_link), (second_feed, second_link) = DUPLICATE_STORY
    first = next(e for e in parsed(first_feed).entries if e.link == first_link)
    second = next(e for e in parsed(second_feed).entries if e.link == second_link)

    assert first_feed != second_feed
    assert "utm_source=" in second.link and "utm_source=" not in first.link
    assert without_utm(second.link) == without_utm(first.link) == first.link
    assert first.title.replace("'", "’") == second.title.replace("'", "’")
    assert first.id != second.id


def test_some_links_carry_tracking_parameters_and_one_is_relative_in_the_file() -> None:
    links = [e.link for name in WELL_FORMED for e in parsed(name).entries]
    assert sum("utm_" in link for link in links) >= 2

    levant = FILES["levant-desk.xml"].read_text(encoding="utf-8")
    assert 'href="analysis/' in levant  # relative in the file...
    assert "https://levantdesk.example/analysis/2023/11/01/moscow-open-door-hamas" in [
        e.link for e in parsed("levant-desk.xml").entries]  # ...absolute once parsed


def test_items_are_dated_in_the_weeks_before_demo_now() -> None:
    times = [entry_time(e) for name in FILES for e in parsed(name).entries]

    assert all(datetime(2023, 10, 1, tzinfo=UTC) <= t <= DEMO_NOW for t in times)
    recent = [t for t in times if (DEMO_NOW - t).days < 10]
    assert len(recent) >= 0.8 * len(times)


def test_feeds_include_russian_and_arabic_items_and_the_windows_1251_feed_decodes() -> None:
    titles = [e.title for name in FILES for e in parsed(name).entries]

    assert sum(bool(re.search("[а-яА-ЯёЁ]", t)) for t in titles) >= 2
    assert sum(bool(re.search("[\u0600-\u06ff]", t)) for t in titles) >= 1
    vestnik = parsed("vestnik-vostoka.xml")
    assert vestnik.encoding == "windows-1251"
    assert any("ХАМАС" in e.title for e in vestnik.entries)


def test_feeds_carry_the_dossier_subjects_and_the_lookalike_distractors() -> None:
    corpus = " ".join(text_of(e) for name in FILES for e in parsed(name).entries)

    for needle in ["Bogdanov", "Lavrov", "Nebenzia", "Security Council", "Mashal", "Mashaal", "Meshaal",
                   "Mash'al", "Abu Marzouk", "Abu Marzouq", "Hizbullah", "Hezbollah", "Wagner",
                   "hostages", "Rafah", "Богданов", "أبو مرزوق",
                   # distractors a naive matcher would flag
                   "Moscow, Idaho", "Richard Wagner", "Bamako", "Bahamas", "Tirana", "Avdiivka",
                   "лавровый лист"]:
        assert needle in corpus, needle


def test_outlets_are_fictional_example_domains() -> None:
    for name in WELL_FORMED + [BOZO_FEED]:
        for entry in parsed(name).entries:
            assert urlsplit(entry.link).hostname.endswith(".example"), entry.link


@pytest.mark.skipif(not DOSSIER.is_dir(), reason="shared dossier not present")
def test_no_sentence_is_copied_from_the_dossier() -> None:
    def shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

    dossier = set().union(*(shingles(p.read_text(encoding="utf-8")) for p in DOSSIER.glob("*.txt")))
    for name in FILES:
        for entry in parsed(name).entries:
            copied = shingles(text_of(entry)) & dossier
            assert not copied, (name, entry.title, [" ".join(c) for c in copied])


# -- the server --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer() as running:
        yield running


def test_server_lists_a_url_for_every_feed_file(server: DemoServer) -> None:
    urls = server.urls()

    assert sorted(urls) == sorted(FILES)
    for name, url in urls.items():
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port
        assert url == server.url_for(name)


@pytest.mark.parametrize(("name", "content_type"), [
    ("harbour-wire.xml", "application/rss+xml; charset=utf-8"),
    ("levant-desk.xml", "application/atom+xml; charset=utf-8"),
    ("gulf-dispatch.xml", "application/rdf+xml; charset=utf-8"),
    ("vestnik-vostoka.xml", "application/rss+xml; charset=windows-1251"),
    (MALFORMED_FEED, "text/html; charset=utf-8"),
])
def test_server_sends_content_type_etag_and_last_modified(server: DemoServer, name: str,
                                                           content_type: str) -> None:
    response = httpx.get(server.url_for(name))

    assert response.status_code == 200
    assert response.content == FILES[name].read_bytes()
    assert response.headers["content-type"] == content_type
    assert re.fullmatch(r'"[0-9a-f]{20}"', response.headers["etag"])
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert modified == datetime.fromtimestamp(int(FILES[name].stat().st_mtime), tz=UTC)


def test_served_cyrillic_feed_parses_with_the_response_headers(server: DemoServer) -> None:
    response = httpx.get(server.url_for("vestnik-vostoka.xml"))

    feed = feedparser.parse(response.content, response_headers=dict(response.headers))

    assert not feed.bozo
    assert feed.entries[0].title == "Богданов принял в Москве делегацию ХАМАС"


def test_server_answers_304_to_a_matching_etag(server: DemoServer) -> None:
    url = server.url_for("levant-desk.xml")
    first = httpx.get(url)

    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    weak = httpx.get(url, headers={"If-None-Match": '"other", W/' + first.headers["etag"]})
    stale = httpx.get(url, headers={"If-None-Match": '"something-else"'})

    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert weak.status_code == 304
    assert stale.status_code == 200 and stale.content == first.content


def test_server_answers_304_to_if_modified_since(server: DemoServer) -> None:
    url = server.url_for("harbour-wire.xml")
    modified = parsedate_to_datetime(httpx.get(url).headers["last-modified"])

    same = httpx.get(url, headers={"If-Modified-Since": format_datetime(modified, usegmt=True)})
    older = httpx.get(url, headers={"If-Modified-Since": "Mon, 02 Oct 2023 00:00:00 GMT"})

    assert same.status_code == 304
    assert older.status_code == 200


def test_changed_file_gets_a_new_etag_and_a_full_response(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss version='2.0'><channel><title>v1</title></channel></rss>")
    with DemoServer(tmp_path) as server:
        url = server.url_for("feed.xml")
        first = httpx.get(url)
        feed.write_bytes(b"<rss version='2.0'><channel><title>v2</title></channel></rss>")

        second = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})

    assert second.status_code == 200
    assert b"v2" in second.content
    assert second.headers["etag"] != first.headers["etag"]


def test_head_has_headers_without_a_body(server: DemoServer) -> None:
    response = httpx.head(server.url_for("northern-courier.xml"))

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == FILES["northern-courier.xml"].stat().st_size


@pytest.mark.parametrize("path", ["/missing.xml", "/../server.py", "/%2e%2e/server.py",
                                  "/feeds/harbour-wire.xml", "/", "/.hidden"])
def test_paths_outside_the_flat_directory_are_404(server: DemoServer, path: str) -> None:
    assert httpx.get(server.base_url + path).status_code == 404


def test_url_for_an_unknown_file_fails_loudly(server: DemoServer) -> None:
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        server.url_for("nope.xml")


def test_server_records_what_it_answered(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"<rss/>")
    with DemoServer(tmp_path) as server:
        etag = httpx.get(server.url_for("a.xml")).headers["etag"]
        httpx.get(server.url_for("a.xml"), headers={"If-None-Match": etag})

        assert [(r.method, r.path, r.status) for r in server.requests] == [
            ("GET", "/a.xml", 200), ("GET", "/a.xml", 304)]


def test_server_is_quiet_and_stops_promptly_despite_an_idle_keepalive(tmp_path: Path,
                                                                      capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.xml").write_bytes(b"<rss/>")
    server = DemoServer(tmp_path).start()
    port = urlsplit(server.base_url).port
    with httpx.Client() as client:  # keeps its connection open after the response
        assert client.get(server.url_for("a.xml")).status_code == 200
        assert client.get(server.base_url + "/nothing").status_code == 404
        idle = socket.create_connection(("127.0.0.1", port))  # connected, never sends a request

        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
    idle.close()

    assert took < 1.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_content_type_sniffing_ignores_comments_and_declarations() -> None:
    body = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!-- <html> in a comment -->\n'
            b'<?xml-stylesheet href="x.xsl"?>\n<feed xmlns="http://www.w3.org/2005/Atom"/>')

    assert content_type_for("x.xml", body) == "application/atom+xml; charset=iso-8859-1"
    assert content_type_for("x.xml", b"<opml/>") == "application/xml; charset=utf-8"
    assert content_type_for("README.md", b"# hi").startswith("text/markdown")
