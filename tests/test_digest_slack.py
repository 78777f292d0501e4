"""Digest Slack payloads: escaped feed text, safe links, and Slack's limits on every message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from test_digest_build import T0, demo_request, make_hit, request
from test_digest_email import huge_request

from monitor.digest import TermSpan, build_digest, render_slack
from monitor.digest.slack import escape, link

# A link Slack would render: http(s) URL without raw < > | or space, then a label without < > |.
_LINK = re.compile(r"<https?://[^<>|\s]+\|[^<>|]*>")


def texts(payload: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(block type, text) for every text a payload carries, the fallback text included."""
    yield "fallback", payload["text"]
    for block in payload["blocks"]:
        if "text" in block:
            yield block["type"], block["text"]["text"]
        for element in block.get("elements", ()):
            yield block["type"], element["text"]


def test_demo_digest_is_one_message_with_fallback_text_and_no_unfurling() -> None:
    payload, = render_slack(build_digest(demo_request()))
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert payload["text"].startswith("analysts: 12 new: 3 critical, 5 high — Red Sea shipping attacks")
    assert payload["blocks"][0] == {"type": "header", "text": {
        "type": "plain_text", "text": "analysts · monitor digest", "emoji": False}}
    body = "\n".join(t for _, t in texts(payload))
    assert "*<https://news.example/301|Tanker struck by drone off Hodeidah, crew evacuated>*" in body
    assert "Maritime Daily · Mon 9 Mar 22:00 CET · also reported by: Levant Wire, Harbour Herald" in body
    assert "> A tanker carrying fuel oil was struck by a drone about 60 nautical miles off *Hodeidah* in the *Red Sea*" in body
    assert "*Harbour Herald — World*: failing for 26 hours (HTTP 503) (since Mon 9 Mar 06:00 CET)" in body


def test_hostile_feed_text_cannot_mention_anyone_or_fake_a_link() -> None:
    hostile = "<!channel> <!here|here> <@U123ABC> <#C999> <http://evil.example|click me> & *boom* _x_ ~y~ `z`"
    hits = [make_hit(item_id=1, title=hostile, body=f"Body {hostile} Hamas", names=("Hamas",),
                     outlet="<!everyone>", other_outlets=("<@U1>",), actors=("<!subteam^S1>",)),
            make_hit(item_id=2, title="Click | here > now < please", url="https://ok.example/a?b=1&c=2"),
            make_hit(item_id=3, title="Script link", url="javascript:alert(1)", canonical_url="javascript:x")]
    payloads = render_slack(build_digest(request(hits, health=())))
    for payload in payloads:
        for _, text in texts(payload):
            for token in ("<!", "<@", "<#"):
                assert token not in text
            # Every "<" left is the start of a link we built.
            assert text.count("<") == len(_LINK.findall(text))
            for formatting in ("*boom*", "_x_", "~y~", "`z`"):
                assert formatting not in text
    body = "\n".join(t for p in payloads for _, t in texts(p))
    assert "&lt;!channel&gt;" in body and "&lt;http://evil.example|click me&gt;" in body
    assert "*<https://ok.example/a?b=1&amp;c=2|Click ∣ here &gt; now &lt; please>*" in body
    assert "*Script link*" in body  # no link for a javascript: URL, just the title
    assert "javascript" not in body


def test_link_escapes_the_label_and_refuses_other_schemes() -> None:
    assert link("https://x.example/a", "A|B > C & <D>") == "<https://x.example/a|A∣B &gt; C &amp; &lt;D&gt;>"
    assert link("javascript:alert(1)", "t") == "t"
    assert link("https://x.example/a|b", "t") == "t"  # the builder never hands these out
    assert escape("*bold* _it_ ~st~ `code`") == "∗bold∗ ˍitˍ ∼st∼ ˋcodeˋ"


def test_highlight_inside_a_word_bolds_the_whole_word() -> None:
    body = "وصل وفد من وحماس إلى موسكو"
    start = body.index("حماس")
    span = TermSpan(text="حماس", term="حماس", actor="hamas", field="body", start=start, end=start + 4)
    hit = make_hit(item_id=1, title="وفد", body=body)
    hit = type(hit)(**{**hit.__dict__, "terms": (span,)})
    payload, = render_slack(build_digest(request([hit])))
    body_text = "\n".join(t for _, t in texts(payload))
    assert "> وصل وفد من *وحماس* إلى موسكو" in body_text


def test_adjacent_highlights_do_not_merge_into_double_asterisks() -> None:
    body = "Talks with HamasHamas today"
    spans = tuple(TermSpan(text="Hamas", term="Hamas", actor=None, field="body", start=s, end=s + 5)
                  for s in (11, 16))
    hit = make_hit(item_id=1, title="x", body=body)
    hit = type(hit)(**{**hit.__dict__, "terms": spans})
    payload, = render_slack(build_digest(request([hit])))
    assert "**" not in "\n".join(t for _, t in texts(payload))


def test_oversized_digest_is_split_into_messages_within_slack_limits() -> None:
    digest = build_digest(huge_request())
    payloads = render_slack(digest, max_messages=50)
    assert len(payloads) > 3
    for n, payload in enumerate(payloads, start=1):
        assert len(payload["blocks"]) <= 50
        assert len(json.dumps(payload, ensure_ascii=False)) <= 13_000
        assert payload["text"].endswith(f"({n}/{len(payloads)})")
        assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
        for kind, text in texts(payload):
            if kind == "header":
                assert len(text) <= 150
            elif kind == "section":
                assert len(text) <= 3000
        if n > 1:
            assert payload["blocks"][0]["type"] == "context"
            assert f"({n}/{len(payloads)})" in payload["blocks"][0]["elements"][0]["text"]
    # In order, nothing lost: every shown story appears once, watches in digest order.
    body = "\n".join(t for p in payloads for _, t in texts(p))
    positions = [body.index(f"*{s.watch_title}*") for s in digest.sections]
    assert positions == sorted(positions)
    for section in digest.sections:
        for story in section.stories:
            assert body.count(f"|{story.title}>") == 1 + (story in digest.top)


def test_too_many_messages_shrink_the_stories_per_watch_with_more_lines() -> None:
    digest = build_digest(huge_request())
    payloads = render_slack(digest, max_messages=3)
    assert len(payloads) <= 3
    body = "\n".join(t for p in payloads for _, t in texts(p))
    assert "more · to see all: `monitor rules backtest --since" in body
    assert "The digest is long" in body or "some watches show fewer stories" in body


def test_pathological_text_is_clipped_to_the_section_limit() -> None:
    hit = make_hit(item_id=1, title="&" * 2000, body="<" * 5000 + " Hamas " + ">" * 5000,
                   names=("Hamas",), outlet="&" * 900, other_outlets=tuple("&" * 300 for _ in range(20)),
                   published=T0 - timedelta(hours=1))
    for payload in render_slack(build_digest(request([hit]))):
        assert len(json.dumps(payload, ensure_ascii=False)) <= 13_000
        for kind, text in texts(payload):
            assert len(text) <= (150 if kind == "header" else 3000)
            assert not re.search(r"&[a-z]{0,3}…", text)  # never a half entity


def test_see_all_command_is_shown_as_code_unaltered() -> None:
    hits = [make_hit(item_id=i, watch="iran_oil", title=f"Separate event {i} {i * 7919}") for i in range(3)]
    payload, = render_slack(build_digest(request(hits, cap_per_watch=1)))
    body = "\n".join(t for _, t in texts(payload))
    assert "+2 more · to see all: `monitor rules backtest --since 25h --watch iran_oil`" in body
