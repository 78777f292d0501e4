"""Digest emails: subject, plain text and HTML — escaped, inlined, small enough, and readable
in a real browser (headless Chromium, when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_digest_build import T0, demo_request, make_hit, request

from monitor.digest import build_digest, render_email, safe_link

HOSTILE_TITLE = ('<script>alert("x")</script> <img src=x onerror=alert(1)> <!channel> '
                 '<http://evil.example|click> "quoted" & more')


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def huge_request():  # type: ignore[no-untyped-def]
    """60 watches × 40 distinct stories with long summaries: far more than an email can hold."""
    hits = []
    item = 0
    for w in range(60):
        watch = ("shipping", "russia-hamas", "unsc", "sanctions")[w % 4] if w < 4 else f"watch-{w:02d}"
        for s in range(40):
            item += 1
            words = " ".join(f"w{item}x{k}" for k in range(60))
            hits.append(make_hit(item_id=item, watch=watch, title=f"Story {item} headline {words[:60]}",
                                 body=f"Report {item}: Hamas {words} Moscow {words}",
                                 names=("Hamas", "Moscow"), outlet=f"Outlet {item % 37}",
                                 published=T0 - timedelta(minutes=item)))
    return request(hits)


def test_email_has_a_subject_plain_text_and_html_with_every_story() -> None:
    digest = build_digest(demo_request())
    email = render_email(digest, list_name="desk")
    assert email.subject.startswith("[desk] 12 new: 3 critical, 5 high — Red Sea shipping attacks")
    text = " ".join(email.text.split())  # the text part is wrapped at 76 columns
    for section in digest.sections:
        for story in section.stories:
            assert story.title in text
            assert story.published_text in text
    html = parse(email.html)
    visible = "".join(html.text)
    for title in ("Tanker struck by drone off Hodeidah, crew evacuated", "Делегация ХАМАС прибыла в Москву",
                  "وفد من حماس يصل إلى موسكو لإجراء محادثات"):
        assert title in visible
    assert "also reported by: Levant Wire, Harbour Herald" in visible
    assert "Mon 9 Mar 08:00 – Tue 10 Mar 2026 09:00 CET" in visible
    assert "Harbour Herald — World: failing for 26 hours (HTTP 503) (since Mon 9 Mar 06:00 CET)" in visible
    assert "Harbour Herald — World: failing for 26 hours (HTTP 503) (since Mon 9 Mar 06:00 CET)" in email.text
    assert "Top stories" in visible and "TOP STORIES" in email.text


def test_highlights_are_marked_with_an_inline_style() -> None:
    email = render_email(build_digest(demo_request()))
    marks = [(tag, attrs) for tag, attrs in parse(email.html).tags if tag == "mark"]
    assert marks and all("background-color" in (attrs.get("style") or "") for _, attrs in marks)
    assert '<mark class="hl" style="background-color:#fff0a8">Павлом Орловым</mark>' in email.html
    assert "*Павлом Орловым*" in email.text


def test_css_is_inlined_and_there_is_no_remote_content() -> None:
    email = render_email(build_digest(demo_request()))
    tags = parse(email.html).tags
    assert "<style" not in email.html
    story_cells = [attrs for tag, attrs in tags if tag == "td" and attrs.get("class") == "story"]
    assert story_cells and all("padding" in (a.get("style") or "") for a in story_cells)
    names = {tag for tag, _ in tags}
    assert not names & {"script", "img", "link", "iframe", "object", "embed", "form", "video"}
    assert all(not any(k.startswith("on") or k == "src" for k in attrs) for _, attrs in tags)


def test_hostile_titles_and_urls_are_escaped_in_html_and_text() -> None:
    hits = [make_hit(item_id=1, title=HOSTILE_TITLE, body="Body <script>steal()</script> Hamas",
                     names=("Hamas",), url="javascript:alert(document.cookie)", canonical_url="javascript:x",
                     outlet="<b>Outlet</b>", other_outlets=("<!everyone>",)),
            make_hit(item_id=2, title="Data link", url="data:text/html,<script>alert(1)</script>",
                     canonical_url="data:x"),
            make_hit(item_id=3, title="Quote breaker", url='https://ok.example/a"onmouseover="alert(1)')]
    email = render_email(build_digest(request(hits)))
    tags = parse(email.html).tags
    assert [tag for tag, _ in tags if tag in ("script", "img", "b")] == []
    hrefs = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert hrefs == ["https://ok.example/a%22onmouseover=%22alert(1)"]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in email.html or \
        "&lt;script&gt;alert(\"x\")&lt;/script&gt;" in email.html
    assert HOSTILE_TITLE in "".join(parse(email.html).text)  # shown as text, not run
    assert HOSTILE_TITLE in " ".join(email.text.split())  # plain text is not HTML-escaped
    assert "javascript:" not in email.html and "javascript:" not in email.text


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "  javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,x", "vbscript:x", "//evil.example/x", "/relative/path", "ftp://files.example/x",
    "https://trusted.example@evil.example/", "https://", "http://exa<mple.com/", None, ""])
def test_only_http_and_https_urls_become_links(url: str | None) -> None:
    assert safe_link(url) is None


def test_safe_links_are_encoded_for_attributes_and_slack() -> None:
    assert safe_link("HTTPS://News.Example/a b|c<d>?q=\"1\"&x=2#f") == \
        "https://news.example/a%20b%7Cc%3Cd%3E?q=%221%22&x=2#f"
    assert safe_link("https://news.example/%D0%B0?x=1") == "https://news.example/%D0%B0?x=1"
    assert safe_link("https://новости.example/статья") == \
        "https://новости.example/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F"


def test_huge_digest_html_stays_under_90kb_and_says_what_was_left_out() -> None:
    req = huge_request()
    digest = build_digest(req)
    full_html = render_email(digest, max_html_bytes=10_000_000).html
    assert len(full_html.encode()) > 300_000  # the test really is oversized
    email = render_email(digest)
    size = len(email.html.encode("utf-8"))
    assert size < 90_000
    visible = "".join(parse(email.html).text)
    assert "some watches show fewer stories" in visible
    assert "+40 more. To see all: monitor rules backtest --since 25h --watch" in visible
    # Every watch is still there, critical ones keep the most stories.
    for section in digest.sections:
        assert section.watch_title in visible
    sections = email.html.split('class="section-head"')[1:]
    shown = {title: next(c for c in sections if title in c).count('class="story"')
             for title in ("Red Sea shipping attacks", "Sanctions on Iranian oil")}
    assert shown["Red Sea shipping attacks"] > shown["Sanctions on Iranian oil"]
    low = next(c for c in sections if "Sanctions on Iranian oil" in c)
    assert f"+{40 - shown['Sanctions on Iranian oil']} more. To see all:" in low
    # The text part shows the same stories as the HTML part.
    assert email.text.count("\n*  ") == email.html.count('class="story"')


def _chromium() -> str | None:
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _chromium_args(binary: str, profile: Path) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1000,1600"]


def test_html_digest_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    digest = build_digest(demo_request())
    page = tmp_path / "digest.html"
    page.write_text(render_email(digest).html, encoding="utf-8")
    png = tmp_path / "digest.png"
    shot = subprocess.run([*_chromium_args(binary, tmp_path / "p1"), f"--screenshot={png}",
                           page.as_uri()], check=False, capture_output=True, timeout=90)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a blank 1000×1600 page compresses to a few KB
    dom = subprocess.run([*_chromium_args(binary, tmp_path / "p2"), "--dump-dom", page.as_uri()],
                         check=False, capture_output=True, timeout=90, text=True)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = "".join(parse(dom.stdout).text)
    for section in digest.sections:
        assert section.watch_title in rendered
        for story in section.stories:
            assert story.title in rendered
    assert "<script" not in dom.stdout
