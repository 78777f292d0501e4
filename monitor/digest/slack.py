"""Render a digest as Slack incoming-webhook payloads: Block Kit messages with fallback text.

Building only — posting is `monitor.deliver`. Slack's limits are respected per message:
at most 50 blocks, 3,000 characters per section text, 150 per header, and the JSON of a
message kept under `MAX_MESSAGE_CHARS` (Slack rejects messages somewhat above 13,000
characters with `msg_too_long`, a limit it does not document). Long digests are split into
several messages, in order, each saying "(2/3)".

All feed text is escaped for mrkdwn: `&`, `<`, `>` become entities (so no `<!channel>`,
`<@U123>` or hand-made `<url|text>` link survives), and the formatting marks `*`, `_`, `~`
and the backtick are replaced by look-alikes, since mrkdwn has no escape for them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from monitor.digest.build import compose_subject
from monitor.digest.fit import shrink_to_fit
from monitor.digest.model import Digest, Segment, Story, WatchSection

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2000     # a context element's text limit is 3,000; ours are short lines
MAX_MESSAGE_CHARS = 12_000  # our margin under the ~13,000 Slack accepts
MAX_MESSAGES = 10           # incoming webhooks take about one message a second
MAX_TITLE = 250
MAX_LISTED = 8              # outlets or actors named before "+N"

_FORMATTING = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
_PRIORITY_MARK = {"critical": ":red_circle:", "high": ":large_orange_circle:",
                  "normal": ":large_blue_circle:", "low": ":white_circle:"}

_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")

Block = dict[str, Any]


def escape(text: str) -> str:
    """Return feed text safe inside mrkdwn: entities for & < >, look-alikes for * _ ~ `."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .translate(_FORMATTING))


def _code(text: str) -> str:
    """Text for inside `code`: mrkdwn formatting is off there, so only & < > and ` matter."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("`", "\u02cb"))


def link(url: str | None, label: str) -> str:
    """Return `<url|label>` for an http(s) URL, else the escaped label alone.

    The label's `|` becomes "∣" so it can never be read as a second separator; the URL is
    one the builder vetted (http/https, no raw `<`, `>`, `|` or spaces) with `&` as an entity.
    """
    text = escape(label).replace("|", "\u2223")
    if not url or not url.lower().startswith(("http://", "https://")) \
            or any(c in url for c in "<>| \n"):
        return text
    return f"<{url.replace('&', '&amp;')}|{text}>"


def render_slack(digest: Digest, *, max_messages: int = MAX_MESSAGES) -> list[dict[str, Any]]:
    """Return the webhook payloads for `digest`, in the order to post them.

    Each payload has Block Kit `blocks`, a fallback `text` (with "(n/N)" when there are
    several) and unfurling turned off. When the digest needs more than `max_messages`
    messages, watches show fewer stories (the rest as "+N more" with the command).
    """
    _, payloads = shrink_to_fit(digest, _payloads, lambda p: len(p) <= max_messages)
    return payloads


def _payloads(digest: Digest) -> list[dict[str, Any]]:
    units = _units(digest)
    title = f"{digest.subscription}: {compose_subject(digest, '', limit=200)}"
    messages = _pack(units, reserve=len(escape(title)) + 400)
    total = len(messages)
    payloads = []
    for n, (blocks, continued) in enumerate(messages, start=1):
        part = f" ({n}/{total})" if total > 1 else ""
        if n > 1:
            note = f"{digest.subscription} digest{part}" + (f" — {continued}, continued" if continued else "")
            blocks = [_context(escape(note)), *blocks]
        payloads.append({"text": escape(title) + part, "blocks": blocks,
                         "unfurl_links": False, "unfurl_media": False})
    return payloads


def _units(digest: Digest) -> list[tuple[list[Block], str | None]]:
    """The digest as units that are never split across messages, with the watch each is in.

    A heading and the first story under it form one unit, so no message ends on a heading.
    """
    units: list[tuple[list[Block], str | None]] = []
    header = _clip(f"{digest.subscription} · monitor digest", MAX_HEADER_TEXT)
    counts = " · ".join(f"{n} {p}" for p, n in digest.counts)
    intro = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
             _context(escape(digest.period_text)),
             _section(f"*{digest.story_count} new {'story' if digest.story_count == 1 else 'stories'}*"
                      + (f" — {escape(counts)}" if counts else "")
                      + (f"\nWatches that fired: {escape(', '.join(digest.watches_fired))}"
                         if digest.watches_fired else ""))]
    intro += [_context(escape(note)) for note in digest.notes]
    units.append((intro, None))

    if digest.top:
        head = [{"type": "divider"}, _section("*:star: Top stories*")]
        for i, story in enumerate(digest.top):
            block = _section(_story_text(story, show_watches=True))
            units.append(([*head, block] if i == 0 else [block], "Top stories"))
    for section in digest.sections:
        units.extend(_section_units(section))
    if digest.sections_left_out:
        n = digest.sections_left_out
        units.append(([_context(f"+{n} more {'watch' if n == 1 else 'watches'} fired; "
                                "left out to keep this digest short.")], None))
    if digest.health:
        lines = [f"• *{escape(h.feed)}*: {escape(h.problem)}"
                 + (f" (since {escape(h.since_text)})" if h.since_text else "")
                 for h in digest.health]
        for i, chunk in enumerate(_chunks(lines, MAX_SECTION_TEXT - 40)):
            heading = "*:warning: Feed health*\n" if i == 0 else ""
            units.append(([{"type": "divider"}, _section(heading + chunk)] if i == 0
                          else [_section(chunk)], "Feed health"))
    units.append(([_context(f"{digest.hit_count} {'hit' if digest.hit_count == 1 else 'hits'}"
                            f" · times in {escape(digest.timezone)}")], None))
    return units


def _section_units(section: WatchSection) -> list[tuple[list[Block], str | None]]:
    total = len(section.stories) + section.more
    heading = [{"type": "divider"},
               _section(f"{_PRIORITY_MARK.get(section.priority, '')} *{escape(section.watch_title)}*"
                        f" · {section.priority} · {total} {'story' if total == 1 else 'stories'}")]
    units: list[tuple[list[Block], str | None]] = []
    name = section.watch_title
    for i, story in enumerate(section.stories):
        block = _section(_story_text(story, show_watches=False))
        units.append(([*heading, block] if i == 0 else [block], name))
    more = ([_context(f"+{section.more} more · to see all: `{_code(section.see_all)}`")]
            if section.more else [])
    if not section.stories:
        units.append(([*heading, *more], name))
    elif more:
        units.append((more, name))
    return units


def _story_text(story: Story, *, show_watches: bool) -> str:
    """One story as mrkdwn: linked title, outlet and time, quoted snippet, matched names."""
    lines = [f"*{link(story.url, _clip(story.title, MAX_TITLE))}*"]
    meta = f"{escape(story.outlet)} · {escape(story.published_text)}"
    if story.also_reported_by:
        meta += f" · also reported by: {escape(_listed(story.also_reported_by))}"
    lines.append(meta)
    if story.snippet:
        lines.append("> " + _bold_marks(story.snippet))
    extra = []
    if story.actors:
        extra.append(f"Matched: {escape(_listed(story.actors))}")
    if show_watches and story.watch_titles:
        extra.append(f"Watches: {escape(_listed(story.watch_titles))}")
    if extra:
        lines.append(" · ".join(extra))
    return "\n".join(lines)


def _bold_marks(segments: tuple[Segment, ...]) -> str:
    """Escaped text with highlights in *bold*, widened to whole words.

    mrkdwn only honours `*` at word edges: a match inside a word (the Arabic "حماس" in
    "وحماس") would show literal asterisks, so the bold run takes in the rest of the word.
    """
    words = [s.text for s in segments]
    bold = [s.highlight for s in segments]
    for i in range(len(words)):
        if not bold[i]:
            continue
        if i > 0 and not bold[i - 1]:
            prev = words[i - 1]
            cut = len(prev)
            while cut > 0 and _in_word(prev[cut - 1]):
                cut -= 1
            words[i], words[i - 1] = prev[cut:] + words[i], prev[:cut]
        if i + 1 < len(words) and not bold[i + 1]:
            nxt = words[i + 1]
            cut = 0
            while cut < len(nxt) and _in_word(nxt[cut]):
                cut += 1
            words[i], words[i + 1] = words[i] + nxt[:cut], nxt[cut:]
    out: list[str] = []
    for text, strong in zip(words, bold, strict=True):
        if not text:
            continue
        if strong and text.strip():
            # Adjacent highlights ("Hamas" "Hamas") must not merge into "**": a zero-width
            # space between them keeps both runs bold.
            prefix = "\u200b" if out and out[-1].endswith("*") else ""
            out.append(f"{prefix}*{escape(text.strip())}*")
        else:
            out.append(escape(text))
    return "".join(out).replace("\n", " ")


def _in_word(char: str) -> bool:
    """Letters, digits and combining marks (Arabic harakat) continue a word."""
    return char.isalnum() or unicodedata.category(char).startswith("M")


def _listed(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" +{len(names) - MAX_LISTED}" if len(names) > MAX_LISTED else "")


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip_lines(text, MAX_SECTION_TEXT)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip_lines(text, MAX_CONTEXT_TEXT)}]}


def _pack(units: list[tuple[list[Block], str | None]], *,
          reserve: int) -> list[tuple[list[Block], str | None]]:
    """Pack units into messages: under MAX_BLOCKS blocks and MAX_MESSAGE_CHARS of JSON each.

    `reserve` is room kept for the fallback text and a continuation line. Returns each
    message's blocks and the watch its first unit continues (None at a clean start).
    """
    budget = MAX_MESSAGE_CHARS - reserve - 200
    messages: list[tuple[list[Block], str | None]] = []
    blocks: list[Block] = []
    size = 0
    first_of: str | None = None
    for unit, where in units:
        unit_size = sum(len(json.dumps(b, ensure_ascii=False)) + 2 for b in unit)
        # One block stays free in every message for the "(2/3) … continued" line.
        if blocks and (len(blocks) + len(unit) > MAX_BLOCKS - 1 or size + unit_size > budget):
            messages.append((blocks, first_of))
            blocks, size = [], 0
            first_of = where if where and unit[0].get("type") != "divider" else None
        blocks.extend(unit)
        size += unit_size
    if blocks:
        messages.append((blocks, first_of))
    return messages


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Join lines with newlines into chunks of at most `limit` characters."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _clip_lines(text: str, limit: int) -> str:
    """Cut mrkdwn at a line end so no entity, link or bold run is cut in half."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 1)
    if cut > 0:
        return text[:cut]
    # One line longer than the limit (pathological feed text): cut, then drop a half entity.
    return _PARTIAL_ENTITY.sub("", text[:limit - 1]) + "…"
