"""OPML import/export: folders become tags, duplicates collapse, errors name file and line."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from monitor.errors import ConfigError
from monitor.opml import OpmlFeed, load_opml, normalise_tag, parse_opml, render_opml

STARTER = Path(__file__).resolve().parents[1] / "feeds" / "starter.opml"

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Exported from a reader</title></head>
  <body>
    <outline text="World News" title="World News">
      <outline text="Middle East">
        <outline type="rss" text="Levant Desk" xmlUrl="https://levantdesk.example/feed.atom"
                 htmlUrl="https://levantdesk.example/"/>
      </outline>
      <outline type="rss" text="Harbour Wire" xmlUrl="https://harbourwire.example/world/rss.xml"/>
    </outline>
    <outline type="rss" text="Top level" xmlUrl="https://top.example/rss"/>
  </body>
</opml>
"""


def opml(body: str) -> bytes:
    return f'<?xml version="1.0"?>\n<opml version="2.0"><head/><body>\n{body}\n</body></opml>\n'.encode()


def test_nested_folders_become_tags_one_per_level() -> None:
    feeds = parse_opml(NESTED)

    assert [(f.url, f.tags) for f in feeds] == [
        ("https://levantdesk.example/feed.atom", ("world-news", "middle-east")),
        ("https://harbourwire.example/world/rss.xml", ("world-news",)),
        ("https://top.example/rss", ()),
    ]
    assert feeds[0].name == "Levant Desk"
    assert feeds[0].site_url == "https://levantdesk.example/"
    assert feeds[1].site_url is None


def test_category_attribute_adds_tags_after_the_folders() -> None:
    feeds = parse_opml(opml(
        '<outline text="Russia"><outline text="TASS" xmlUrl="https://tass.example/rss" '
        'category="/lang/EN, /Wire"/></outline>'))

    assert feeds[0].tags == ("russia", "lang", "en", "wire")


def test_title_is_preferred_and_missing_titles_give_no_name() -> None:
    feeds = parse_opml(opml(
        '<outline title="Proper title" text="short" xmlUrl="https://a.example/rss"/>\n'
        '<outline text="Only text" xmlUrl="https://b.example/rss"/>\n'
        '<outline xmlUrl="https://c.example/rss"/>\n'
        '<outline text="  " title="" xmlUrl="https://d.example/rss"/>\n'
        '<outline text="https://e.example/rss" xmlUrl="https://e.example/rss"/>'))

    assert [f.name for f in feeds] == ["Proper title", "Only text", None, None, None]


def test_outlines_without_xmlurl_are_folders_not_feeds() -> None:
    feeds = parse_opml(opml('<outline text="Empty folder"/><outline text="Folder">'
                            '<outline text="Inner" xmlUrl="https://a.example/rss"/></outline>'))

    assert [f.url for f in feeds] == ["https://a.example/rss"]
    assert feeds[0].tags == ("folder",)


def test_duplicate_urls_collapse_into_one_feed_with_merged_tags() -> None:
    feeds = parse_opml(opml(
        '<outline text="News"><outline text="First" xmlUrl="https://a.example/rss"/></outline>\n'
        '<outline text="Russia"><outline xmlUrl="HTTPS://A.EXAMPLE/rss" '
        'htmlUrl="https://a.example/"/></outline>\n'
        '<outline text="News"><outline text="Again" xmlUrl="https://a.example/rss"/></outline>'))

    assert feeds == [OpmlFeed(url="https://a.example/rss", name="First",
                              site_url="https://a.example/", tags=("news", "russia"))]


def test_attribute_names_are_read_case_insensitively_and_feed_scheme_means_http() -> None:
    feeds = parse_opml(opml('<outline text="Old export" xmlurl="feed://old.example/rss" '
                            'HTMLURL="https://old.example/"/>'))

    assert feeds == [OpmlFeed(url="http://old.example/rss", name="Old export",
                              site_url="https://old.example/")]


def test_malformed_file_error_names_the_file_and_line() -> None:
    broken = opml('<outline text="A" xmlUrl="https://a.example/rss">\n'
                  '<outline text="B" xmlUrl="https://b.example/rss"/>\n')  # first never closed

    with pytest.raises(ConfigError) as caught:
        parse_opml(broken, source="subscriptions.opml")

    message = str(caught.value)
    assert message.startswith("subscriptions.opml: line 6: not well-formed XML")
    assert "mismatch" in message


def test_bare_ampersand_is_reported_on_its_own_line() -> None:
    with pytest.raises(ConfigError, match=r"^f\.opml: line 4: not well-formed XML"):
        parse_opml(opml('<outline text="ok" xmlUrl="https://a.example/rss"/>\n'
                        '<outline text="Q&A" xmlUrl="https://b.example/rss"/>'), source="f.opml")


@pytest.mark.parametrize(("data", "expected"), [
    (b"", r"^in\.opml: line 1: the file is empty"),
    (b"<html><body><p>Sign in</p></body></html>", r"^in\.opml: line 1: root element is <html>"),
    (b'<opml version="2.0"><head/></opml>', r"^in\.opml: line 1: <opml> has no <body>"),
    (opml('<outline text="x"/>\n<outline text="FTP" xmlUrl="ftp://files.example/feed"/>'),
     r"^in\.opml: line 4: xmlUrl 'ftp://files\.example/feed' is not an http:// or https:// URL"),
    (opml('<outline text="relative" xmlUrl="/feed.xml"/>'), r"^in\.opml: line 3: xmlUrl '/feed\.xml'"),
    (opml('<outline text="v6" xmlUrl="http://[::1/feed"/>'),
     r"^in\.opml: line 3: xmlUrl 'http://\[::1/feed' is not a valid URL \(Invalid IPv6 URL\)"),
    (opml('<outline text="port" xmlUrl="http://a.example:99999/feed"/>'),
     r"^in\.opml: line 3: xmlUrl 'http://a\.example:99999/feed' is not a valid URL \(Port out"),
])
def test_files_that_are_not_usable_opml_are_rejected_clearly(data: bytes, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_opml(data, source="in.opml")


@pytest.mark.parametrize("outline", [
    '<outline text="&a;" xmlUrl="https://a.example/rss"/>',
    '<outline text="x" xmlUrl="https://a.example/rss">&s;</outline>',
    '<outline text="&s;" xmlUrl="https://a.example/rss"/>',
])
def test_entity_declarations_are_refused_and_files_never_read(tmp_path: Path, outline: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do-not-leak")
    hostile = (f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY s SYSTEM "file://{secret}">'
               f'<!ENTITY a "aaaaaaaaaa">]>\n<opml version="2.0"><head/><body>{outline}</body></opml>'
               ).encode()

    with pytest.raises(ConfigError, match=r"^hostile\.opml: line \d+: ") as caught:
        parse_opml(hostile, source="hostile.opml")
    assert "do-not-leak" not in str(caught.value)
    assert "entit" in str(caught.value)


def test_render_round_trips_through_parse() -> None:
    feeds = [
        OpmlFeed("https://top.example/rss", None, None, ()),
        OpmlFeed("https://harbourwire.example/world/rss.xml", 'Harbour "Wire" & <World>',
                 "https://harbourwire.example/", ("international", "en")),
        OpmlFeed("https://levantdesk.example/feed.atom?x=1&y=2", "Levant Desk", None,
                 ("international",)),
        OpmlFeed("https://tass.example/rss/v2.xml", "ТАСС", "https://tass.example/",
                 ("russia", "ru", "wire")),
        OpmlFeed("https://again.example/rss", "Back in the first folder", None,
                 ("international",)),
    ]

    text = render_opml(feeds, title="Round trip")

    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<title>Round trip</title>" in text
    assert parse_opml(text.encode()) == feeds
    assert parse_opml(render_opml(parse_opml(NESTED)).encode()) == parse_opml(NESTED)


def test_render_groups_feeds_into_folders_by_first_tag() -> None:
    text = render_opml([OpmlFeed("https://a.example/rss", "A", tags=("arab", "en")),
                        OpmlFeed("https://b.example/rss", "B", tags=("arab",))])

    assert text.count('<outline text="arab" title="arab">') == 1
    assert 'category="/en"' in text


def test_load_opml_reads_a_file_and_names_it_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.opml"
    good.write_bytes(NESTED)
    assert len(load_opml(good)) == 3

    with pytest.raises(ConfigError, match=r"missing\.opml: cannot read OPML file"):
        load_opml(tmp_path / "missing.opml")


def test_tags_are_case_folded_and_hyphenated() -> None:
    assert normalise_tag("  Middle   East ") == "middle-east"
    assert normalise_tag("Россия") == "россия"
    assert normalise_tag("   ") is None


def test_starter_opml_parses_with_at_least_twenty_http_feeds() -> None:
    feeds = load_opml(STARTER)

    assert len(feeds) >= 20
    assert all(urlsplit(f.url).scheme in ("http", "https") and urlsplit(f.url).netloc for f in feeds)
    assert all(f.name for f in feeds)
    folders = {f.tags[0] for f in feeds}
    assert {"international", "israel", "arab", "russia"} <= folders
    assert sum("ru" in f.tags for f in feeds) >= 5
    hosts = {urlsplit(f.url).netloc for f in feeds}
    assert not any(h.endswith(".example") for h in hosts)
