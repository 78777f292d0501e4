"""Feed parsing: fields, links, dates, encodings and what counts as 'not a feed'."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import FeedParseError, MonitorError
from monitor.parse import ParsedFeed, parse_feed

FEED_URL = "https://news.example/feeds/world.xml"
NOW = datetime(2023, 11, 24, 12, 0, tzinfo=UTC)


def rss(items: str, channel_extra: str = "", namespaces: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0" {namespaces}><channel><title>Harbour Wire</title>'
        f"<link>https://news.example/</link>{channel_extra}{items}</channel></rss>"
    ).encode("utf-8")


def one_entry(items: str, **kwargs: object) -> ParsedFeed:
    feed = parse_feed(rss(items), url=FEED_URL, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert len(feed.entries) == 1
    return feed


def test_rss_item_fields_are_parsed() -> None:
    body = rss(
        """<item>
             <guid isPermaLink="false">  story-42  </guid>
             <title>Delegation visits Moscow</title>
             <link>https://news.example/world/42</link>
             <description>&lt;p&gt;Short &lt;b&gt;teaser&lt;/b&gt;&lt;/p&gt;</description>
             <content:encoded><![CDATA[<p>The full <i>article</i> text, much longer.</p>]]></content:encoded>
             <author>desk@news.example (Jane Roe)</author>
             <category>World</category><category>Middle East</category><category>world</category>
             <pubDate>Fri, 24 Nov 2023 09:30:00 +0300</pubDate>
           </item>""",
        channel_extra="<language>en-GB</language>",
        namespaces='xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    )
    feed = parse_feed(body, url=FEED_URL, now=NOW)
    assert feed.title == "Harbour Wire"
    assert feed.link == "https://news.example/"
    assert feed.language == "en"
    assert not feed.bozo and feed.bozo_reason is None
    (entry,) = feed.entries
    assert entry.guid == "story-42"
    assert entry.link == "https://news.example/world/42"
    assert entry.title_html == "Delegation visits Moscow"
    assert entry.summary_html == "<p>Short <b>teaser</b></p>"
    assert entry.content_html == "<p>The full <i>article</i> text, much longer.</p>"
    assert entry.author == "Jane Roe"
    assert entry.tags == ("World", "Middle East")
    assert entry.language == "en"
    assert entry.published == datetime(2023, 11, 24, 6, 30, tzinfo=UTC)


def test_atom_entry_fields_and_longest_content_are_parsed() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ru">
      <title>Northern Courier</title><id>urn:x</id><updated>2023-11-24T08:00:00Z</updated>
      <link rel="alternate" href="https://courier.example/"/>
      <entry>
        <id>tag:courier.example,2023:1</id>
        <title type="html">&lt;b&gt;Lavrov&lt;/b&gt; meets delegation</title>
        <link rel="enclosure" href="https://courier.example/a.mp3"/>
        <link rel="alternate" type="text/html" href="/news/1"/>
        <summary>Short</summary>
        <content type="html">&lt;p&gt;Long body of the story&lt;/p&gt;</content>
        <author><name>Ivan Petrov</name></author>
        <category term="politics" label="Politics"/>
        <published>2023-11-23T21:15:00-05:00</published>
        <updated>2023-11-24T03:00:00+01:00</updated>
      </entry>
    </feed>"""
    feed = parse_feed(body, url="https://courier.example/atom.xml", now=NOW)
    (entry,) = feed.entries
    assert feed.language == "ru" and entry.language == "ru"
    assert entry.guid == "tag:courier.example,2023:1"
    assert entry.link == "https://courier.example/news/1"
    assert entry.title_html == "<b>Lavrov</b> meets delegation"
    assert entry.content_html == "<p>Long body of the story</p>"
    assert entry.author == "Ivan Petrov"
    assert entry.tags == ("politics",)
    assert entry.published == datetime(2023, 11, 24, 2, 15, tzinfo=UTC)
    assert entry.updated == datetime(2023, 11, 24, 2, 0, tzinfo=UTC)


def test_relative_links_resolve_against_the_feed_url() -> None:
    feed = one_entry("<item><title>t</title><link>../story/7?x=1</link></item>")
    assert feed.entries[0].link == "https://news.example/story/7?x=1"


def test_relative_content_location_header_resolves_against_the_feed_url() -> None:
    feed = one_entry("<item><title>t</title><link>story/7</link></item>",
                     headers={"Content-Location": "/mirror/feed.xml"})
    assert feed.entries[0].link == "https://news.example/mirror/story/7"


def test_non_http_links_are_not_kept() -> None:
    feed = one_entry("<item><title>t</title><link>mailto:desk@news.example</link></item>")
    assert feed.entries[0].link is None


def test_permalink_guid_stands_in_for_a_missing_link() -> None:
    feed = one_entry("<item><title>t</title><guid>https://news.example/p/9</guid></item>")
    assert feed.entries[0].link == "https://news.example/p/9"
    assert feed.entries[0].guid == "https://news.example/p/9"


def test_plain_text_title_is_escaped_so_html_fields_are_always_html() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
      <entry><id>1</id><title type="text">Why &lt;b&gt; tags &amp; AT&amp;T</title></entry></feed>"""
    (entry,) = parse_feed(body, url=FEED_URL, now=NOW).entries
    assert entry.title_html == "Why &lt;b&gt; tags &amp; AT&amp;T"


def test_missing_fields_are_empty_or_none() -> None:
    (entry,) = one_entry("<item><title>Only a title</title></item>").entries
    assert entry.guid is None and entry.link is None and entry.author is None
    assert entry.summary_html == "" and entry.content_html == ""
    assert entry.tags == ()
    assert entry.published is None and entry.updated is None


@pytest.mark.parametrize(("pub_date", "expected"), [
    ("Fri, 24 Nov 2023 09:30:00 +0300", datetime(2023, 11, 24, 6, 30, tzinfo=UTC)),
    ("Thu, 23 Nov 2023 22:00:00 PST", datetime(2023, 11, 24, 6, 0, tzinfo=UTC)),
    ("Fri, 24 Nov 2023 06:30:00 GMT", datetime(2023, 11, 24, 6, 30, tzinfo=UTC)),
    ("2023-11-24T10:30:00+04:00", datetime(2023, 11, 24, 6, 30, tzinfo=UTC)),
])
def test_dates_in_any_timezone_become_aware_utc(pub_date: str, expected: datetime) -> None:
    (entry,) = one_entry(f"<item><title>t</title><pubDate>{pub_date}</pubDate></item>").entries
    assert entry.published == expected
    assert entry.published.tzinfo is UTC


def test_published_falls_back_to_updated() -> None:
    feed = parse_feed(
        rss('<item><title>t</title><dc:date>2023-11-20T10:00:00Z</dc:date></item>',
            namespaces='xmlns:dc="http://purl.org/dc/elements/1.1/"'),
        url=FEED_URL, now=NOW)
    (entry,) = feed.entries
    assert entry.updated == datetime(2023, 11, 20, 10, 0, tzinfo=UTC)
    assert entry.published == entry.updated


@pytest.mark.parametrize("pub_date", [
    "Thu, 01 Jan 1970 00:00:00 GMT",        # epoch placeholder
    "Sun, 31 Dec 1989 23:59:59 GMT",        # just before 1990
    "Mon, 27 Nov 2023 00:00:00 GMT",        # 2.5 days after NOW
    "Fri, 24 Nov 2123 06:30:00 GMT",        # a century ahead
    "Fri, 31 Feb 2023 99:99:99 GMT",        # nonsense
    "sexta-feira, 24 de novembro de 2023",  # unparseable
])
def test_absurd_or_unparseable_dates_are_treated_as_missing(pub_date: str) -> None:
    (entry,) = one_entry(f"<item><title>t</title><pubDate>{pub_date}</pubDate></item>").entries
    assert entry.published is None


def test_dates_up_to_two_days_ahead_are_kept() -> None:
    (entry,) = one_entry(
        "<item><title>t</title><pubDate>Sun, 26 Nov 2023 11:00:00 GMT</pubDate></item>").entries
    assert entry.published == datetime(2023, 11, 26, 11, 0, tzinfo=UTC)


def test_future_bound_defaults_to_the_current_time() -> None:
    soon = datetime.now(UTC) + timedelta(hours=20)
    later = datetime.now(UTC) + timedelta(days=3)
    items = "".join(
        f"<item><title>t</title><pubDate>{d.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate></item>"
        for d in (soon, later))
    feed = parse_feed(rss(items), url=FEED_URL)
    assert feed.entries[0].published == soon.replace(microsecond=0)
    assert feed.entries[1].published is None


CYRILLIC_TITLE = "Делегация ХАМАС прибыла в Москву"


def cp1251_feed(declaration: str) -> bytes:
    return (f'{declaration}<rss version="2.0"><channel><title>Вести</title>'
            f"<item><title>{CYRILLIC_TITLE}</title></item></channel></rss>").encode("cp1251")


def test_windows_1251_body_is_decoded_by_the_content_type_charset() -> None:
    body = cp1251_feed("")  # no XML declaration: only the header knows the charset
    headers = {"Content-Type": "application/rss+xml; charset=windows-1251"}
    feed = parse_feed(body, url=FEED_URL, headers=headers, now=NOW)
    assert feed.title == "Вести"
    assert feed.entries[0].title_html == CYRILLIC_TITLE


def test_content_type_charset_overrides_a_wrong_xml_declaration() -> None:
    body = cp1251_feed('<?xml version="1.0" encoding="utf-8"?>')
    feed = parse_feed(body, url=FEED_URL, now=NOW,
                      headers={"content-type": "text/xml; charset=windows-1251"})
    assert feed.entries[0].title_html == CYRILLIC_TITLE


def test_xml_declaration_decides_when_the_header_has_no_charset() -> None:
    body = cp1251_feed('<?xml version="1.0" encoding="windows-1251"?>')
    feed = parse_feed(body, url=FEED_URL, now=NOW, headers={"Content-Type": "application/xml"})
    assert feed.entries[0].title_html == CYRILLIC_TITLE


def test_utf8_feed_without_declaration_or_content_type_is_read_as_utf8() -> None:
    body = ('<rss version="2.0"><channel><title>t</title><item><title>'
            f"{CYRILLIC_TITLE} – «цитата»</title></item></channel></rss>").encode("utf-8")
    feed = parse_feed(body, url=FEED_URL, now=NOW)
    assert feed.entries[0].title_html == f"{CYRILLIC_TITLE} – «цитата»"


def test_bozo_feed_whose_entries_parse_is_accepted() -> None:
    body = rss("<item><title>First &undefined; story</title><link>https://news.example/1</link>"
               "</item><item><title>Second</title></item>")
    feed = parse_feed(body, url=FEED_URL, now=NOW)
    assert feed.bozo is True
    assert feed.bozo_reason and "line" in feed.bozo_reason
    assert [e.link for e in feed.entries] == ["https://news.example/1", None]


def test_feed_truncated_mid_item_keeps_the_complete_items() -> None:
    body = rss("<item><title>Complete</title></item><item><title>Cut off</title>")[:-30]
    feed = parse_feed(body, url=FEED_URL, now=NOW)
    assert feed.bozo is True
    assert feed.entries[0].title_html == "Complete"


def test_valid_feed_with_no_entries_is_fine() -> None:
    feed = parse_feed(b'<rss version="2.0"><channel></channel></rss>', url=FEED_URL, now=NOW)
    assert feed.entries == ()
    assert feed.title is None
    assert feed.bozo is False


@pytest.mark.parametrize(("body", "headers", "reason"), [
    (b"", None, "empty"),
    (b"   \n", None, "empty"),
    (b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hello<br></body></html>",
     {"Content-Type": "text/html; charset=utf-8"}, "text/html"),
    (b"<html><head><title>Home</title></head><body><p>Hi</p></body></html>", None,
     "no RSS, Atom or RDF"),
    (b"\x00\xff\xfe garbage \x89PNG", None, "XML error"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', None, "XML error"),
])
def test_body_with_nothing_usable_is_not_a_feed(body: bytes, headers: dict[str, str] | None,
                                                reason: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, url=FEED_URL, headers=headers, now=NOW)
    message = str(caught.value)
    assert message.startswith(f"{FEED_URL}: not a feed: ")
    assert reason in message
    assert "is the URL the feed itself, not a web page?" in message
    assert isinstance(caught.value, MonitorError)


def test_body_naming_a_local_file_is_not_read_from_disk(tmp_path: Path) -> None:
    # feedparser treats bare bytes as a file name first; a response body must never do that.
    local = tmp_path / "feed.xml"
    local.write_bytes(rss("<item><title>secret</title></item>"))
    with pytest.raises(FeedParseError):
        parse_feed(str(local).encode(), url=FEED_URL, now=NOW)


def test_rss_ttl_minutes_become_seconds() -> None:
    feed = parse_feed(rss("", channel_extra="<ttl>30</ttl>"), url=FEED_URL, now=NOW)
    assert feed.ttl_seconds == 1800


@pytest.mark.parametrize(("period", "frequency", "seconds"), [
    ("hourly", "", 3600), ("hourly", "<sy:updateFrequency>4</sy:updateFrequency>", 900),
    ("daily", "<sy:updateFrequency>2</sy:updateFrequency>", 43200), ("bogus", "", None),
])
def test_syndication_update_period_gives_a_ttl(period: str, frequency: str,
                                               seconds: int | None) -> None:
    body = rss("", channel_extra=f"<sy:updatePeriod>{period}</sy:updatePeriod>{frequency}",
               namespaces='xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"')
    assert parse_feed(body, url=FEED_URL, now=NOW).ttl_seconds == seconds


def test_invalid_ttl_is_ignored() -> None:
    assert parse_feed(rss("", channel_extra="<ttl>soon</ttl>"), url=FEED_URL).ttl_seconds is None
    assert parse_feed(rss("", channel_extra="<ttl>0</ttl>"), url=FEED_URL).ttl_seconds is None


def test_entry_language_wins_and_non_codes_fall_back_to_the_feed() -> None:
    body = rss(
        "<item><title>a</title><dc:language>RU</dc:language></item>"
        "<item><title>b</title><dc:language>Hindi</dc:language></item>"
        "<item><title>c</title></item>",
        channel_extra="<language>pt_BR</language>",
        namespaces='xmlns:dc="http://purl.org/dc/elements/1.1/"')
    feed = parse_feed(body, url=FEED_URL, now=NOW)
    assert feed.language == "pt"
    assert [e.language for e in feed.entries] == ["ru", "pt", "pt"]


def test_content_language_header_applies_when_the_feed_has_none() -> None:
    feed = parse_feed(rss("<item><title>a</title></item>"), url=FEED_URL, now=NOW,
                      headers={"Content-Language": "de-AT"})
    assert feed.language == "de"
    assert feed.entries[0].language == "de"


def test_parsed_feed_survives_pickling() -> None:
    feed = one_entry("<item><title>t</title><pubDate>Fri, 24 Nov 2023 06:30:00 GMT</pubDate>"
                     "<category>x</category></item>")
    assert pickle.loads(pickle.dumps(feed)) == feed


@pytest.mark.parametrize(("author", "expected"), [
    ("desk@news.example (Jane Roe)", "Jane Roe"),
    ("Jane Roe &lt;desk@news.example&gt;", "Jane Roe"),
    ("  Jane Roe  ", "Jane Roe"),
    ("desk@news.example", "desk@news.example"),
])
def test_author_name_is_taken_from_rss_author_forms(author: str, expected: str) -> None:
    (entry,) = one_entry(f"<item><title>t</title><author>{author}</author></item>").entries
    assert entry.author == expected


def test_updated_stays_empty_when_the_feed_gives_only_a_publication_date() -> None:
    (entry,) = one_entry(
        "<item><title>t</title><pubDate>Fri, 24 Nov 2023 06:30:00 GMT</pubDate></item>").entries
    assert entry.published == datetime(2023, 11, 24, 6, 30, tzinfo=UTC)
    assert entry.updated is None


def test_unsafe_content_location_is_ignored() -> None:
    feed = one_entry("<item><title>t</title><link>story/7</link></item>",
                     headers={"Content-Location": "javascript:alert(1)"})
    assert feed.entries[0].link == "https://news.example/feeds/story/7"
