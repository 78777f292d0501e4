"""Every corpus file goes through parse_and_normalise; real news feeds give usable items.

Corpora live in ../shared/corpora (outside the repo); the tests skip when it is absent.
"""

from __future__ import annotations

import ast
import codecs
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from monitor.errors import FeedParseError
from monitor.normalise import FeedMeta, NormalisedItem, parse_and_normalise

pytestmark = pytest.mark.corpus

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
FEEDPARSER_TESTS = CORPORA / "feedparser-tests"
REAL_FEEDS = CORPORA / "real-feeds"

# Replacement characters and the usual UTF-8-read-as-Latin-1 sequences: signs of a wrong charset.
# (Latin, Cyrillic, Devanagari lead bytes; C1 controls never occur in real text).
MOJIBAKE_RE = re.compile(
    "\ufffd|â€|[ÃÐÑ][\x80-\xbf]|à[\xa4\xa5]|[\u00c2-\u00ef][\x80-\x9f]")


def require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"corpus not available: {path}")
    return path


# --- feedparser's own test files ----------------------------------------------------------

# The same header syntax and defaults as feedparser's test-suite (tests/helpers.py upstream):
# "Header: Name: value" lines in the leading comment, Content-Type text/xml unless given, and
# the file served at http://127.0.0.1:8097/<path>.
HEADER_RE = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
EXPECT_RE = re.compile(r"Expect:\s*(.*)\s*-->")
CORPUS_BASE_URL = "http://127.0.0.1:8097"


def comment_text(data: bytes) -> str:
    """Decode a test file well enough to read its leading comment (some are UTF-16/32)."""
    for bom, encoding in ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="ignore")
    for prefix, encoding in ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
                             (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le")):
        if data.startswith(prefix):
            return data.decode(encoding, errors="ignore")
    return data.decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class CorpusCase:
    path: Path
    url: str
    headers: dict[str, str] | None
    expect: str | None


def feedparser_cases() -> list[CorpusCase]:
    cases = []
    for path in sorted(p for p in FEEDPARSER_TESTS.rglob("*") if p.is_file()):
        if path.suffix not in {".xml", ".rdf", ".json"}:
            continue
        data = path.read_bytes()
        text = comment_text(data)
        declared = {name: value.strip() for name, value in HEADER_RE.findall(text)}
        headers = None
        if declared:
            headers = {"Content-Length": str(len(data)), **declared}
            headers.setdefault("Content-type", "text/xml")
        expect = EXPECT_RE.search(text)
        relative = path.relative_to(FEEDPARSER_TESTS).as_posix()
        cases.append(CorpusCase(path, f"{CORPUS_BASE_URL}/{relative}", headers,
                                expect.group(1).strip() if expect else None))
    return cases


def run(case: CorpusCase) -> tuple[FeedMeta, list[NormalisedItem]]:
    return parse_and_normalise(case.path.read_bytes(), url=case.url, headers=case.headers)


def test_every_feedparser_test_file_parses_or_is_reported_as_not_a_feed() -> None:
    require(FEEDPARSER_TESTS)
    cases = feedparser_cases()
    assert len(cases) > 2000
    not_feeds = []
    for case in cases:
        try:
            meta, items = run(case)
        except FeedParseError as error:
            assert "not a feed" in str(error)
            not_feeds.append(case.path.relative_to(FEEDPARSER_TESTS).as_posix())
            continue
        assert meta.entry_count >= len(items)
        for item in items:
            assert item.title, case.path
            assert item.title == item.title.strip() and "  " not in item.title
    # Test files exercise one element each, so many have neither entries nor a title but are
    # still well-formed feeds; "not a feed" must stay rare: ill-formed files, the JSON feed
    # (not supported) and CDF channels with no entries.
    assert 1 <= len(not_feeds) <= 20, not_feeds
    assert "tests/json/example.json" in not_feeds
    assert not any(p.startswith("tests/wellformed/rss/") or p.startswith("tests/wellformed/atom")
                   for p in not_feeds), not_feeds


# Expect clauses we can restate on our own records: (pattern, what to compare it with).
FIELD_CHECKS = {
    re.compile(r"feed\.link == ('.*')$"): lambda meta, items: meta.link,
    re.compile(r"entries\[0\]\['link'\] == ('.*')$"): lambda meta, items: items[0].url,
    re.compile(r"entries\[0\]\['description'\] == ('.*')$"):
        lambda meta, items: items[0].summary_html,
}


def test_http_header_cases_behave_as_feedparser_expects() -> None:
    """Files that declare HTTP headers (charset, Content-Location, ...) get them, and then
    our verdict on well-formedness and our links and text agree with the file's Expect."""
    require(FEEDPARSER_TESTS)
    cases = [c for c in feedparser_cases() if c.headers is not None and c.expect]
    assert len(cases) >= 100
    bozo_checked = fields_checked = 0
    for case in cases:
        meta, items = run(case)
        first = case.expect.split(" and ")[0].strip()
        if first in ("bozo", "not bozo"):
            assert meta.bozo is (first == "bozo"), (case.path, case.expect, meta.bozo_reason)
            bozo_checked += 1
        for pattern, actual in FIELD_CHECKS.items():
            match = pattern.search(case.expect)
            if match:
                assert actual(meta, items) == ast.literal_eval(match.group(1)), case.path
                fields_checked += 1
    assert bozo_checked >= 100
    assert fields_checked >= 4


# --- real news feeds ----------------------------------------------------------------------

@dataclass(frozen=True)
class ManifestRow:
    file: str
    items: int
    first_date: date | None
    last_date: date | None


def manifest_rows() -> list[ManifestRow]:
    """Read file name, item count and item date range from the corpus MANIFEST.md table."""
    manifest = REAL_FEEDS / "MANIFEST.md"
    if not manifest.is_file():
        return []
    rows = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 7 or not cells[0].startswith("`"):
            continue
        dates = re.fullmatch(r"(\d{4}-\d\d-\d\d) \.\. (\d{4}-\d\d-\d\d)", cells[6])
        rows.append(ManifestRow(
            file=cells[0].strip("`"),
            items=int(cells[5]),
            first_date=date.fromisoformat(dates.group(1)) if dates else None,
            last_date=date.fromisoformat(dates.group(2)) if dates else None,
        ))
    return rows


ROWS = manifest_rows()


def test_manifest_lists_the_real_feed_files() -> None:
    require(REAL_FEEDS)
    files = {p.name for p in REAL_FEEDS.iterdir() if p.name != "MANIFEST.md"}
    assert len(ROWS) >= 30
    assert {row.file for row in ROWS} == files


@pytest.mark.parametrize("row", ROWS, ids=[row.file for row in ROWS])
def test_real_feed_yields_items_with_titles_links_and_dates(row: ManifestRow) -> None:
    path = require(REAL_FEEDS) / row.file
    meta, items = parse_and_normalise(path.read_bytes(), url=f"https://feeds.example/{row.file}")
    assert meta.entry_count == row.items
    assert len(items) == row.items  # real items are never dropped as empty
    if row.items == 0:
        return
    assert meta.title
    for item in items:
        assert item.title and item.title == item.title.strip()
        text = " ".join((item.title, item.summary_text, item.content_text, item.author or ""))
        assert not MOJIBAKE_RE.search(text), (item.title, MOJIBAKE_RE.search(text))
        assert "<" not in item.title or ">" not in item.title, item.title
        assert len(item.content_hash) == 64
    with_urls = [i for i in items if i.canonical_url]
    assert len(with_urls) >= 0.9 * len(items)
    assert all(u.canonical_url.startswith(("http://", "https://")) for u in with_urls)
    assert not any("utm_" in u.canonical_url or "at_medium" in u.canonical_url
                   for u in with_urls)
    dated = [i for i in items if i.published_at is not None]
    if row.first_date is None:
        assert not dated  # the file carries no parseable item dates
    else:
        assert len(dated) >= 0.8 * len(items)
        for item in dated:
            assert item.published_at.utcoffset().total_seconds() == 0
            assert row.first_date <= item.published_at.date() <= row.last_date


def test_windows_1251_feed_reads_as_cyrillic() -> None:
    path = require(REAL_FEEDS) / "oren-ru-windows-1251-2014-01-23.xml"
    if not path.is_file():
        pytest.skip("file absent")
    _, items = parse_and_normalise(path.read_bytes(), url="https://feeds.example/oren.xml")
    assert all(re.search("[А-Яа-яЁё]{3}", item.title) for item in items)


def test_latin1_feed_without_declaration_keeps_its_accents() -> None:
    path = require(REAL_FEEDS) / "uol-noticias-latin1-no-xml-decl.rss"
    if not path.is_file():
        pytest.skip("file absent")
    meta, items = parse_and_normalise(path.read_bytes(), url="https://feeds.example/uol.rss")
    assert meta.bozo  # declared nothing, decoded by fallback: worth flagging, still usable
    assert any(re.search("[áéíóúãõç]", item.title) for item in items)
