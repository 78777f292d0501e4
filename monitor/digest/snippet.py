"""Highlighted text for a story: the title with its matched names marked, and a snippet of the
body around the first match.

Works on the matcher's offsets into the original field text, so a highlight lands on exactly
the characters that matched, in any script. Output is plain `Segment`s (text + highlight
flag); each renderer escapes and marks them up its own way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from monitor.digest.model import Segment, TermSpan

logger = logging.getLogger(__name__)

SNIPPET_WIDTH = 280       # characters of body shown, about three lines of an email
SNIPPET_BEFORE = 80       # of which before the first match, so the match reads in context
_WORD_SLACK = 24          # how far a cut may move to land between words
# Whitespace runs become one space; other control characters and the bidi embedding,
# override and isolate controls (which could flip how the rest of a line reads) go too.
_SPACES = re.compile(r"[\s\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]+")
ELLIPSIS = "…"


def verified_spans(text: str, spans: Iterable[TermSpan]) -> list[tuple[int, int]]:
    """Return the spans' (start, end) that really point at their text in `text`, sorted and merged.

    A span whose offsets do not hold its text (the field was rebuilt since matching, say) is
    looked for nearby and otherwise dropped: a missing highlight beats a wrong one.
    """
    found: list[tuple[int, int]] = []
    for span in spans:
        start, end = span.start, span.end
        if not (0 <= start < end <= len(text)) or text[start:end] != span.text:
            if not span.text:
                continue
            # The nearest occurrence of the same text, searching from a little before.
            start = text.find(span.text, max(0, span.start - 64))
            if start < 0:
                start = text.find(span.text)
            if start < 0:
                logger.debug("span %r not found in text; not highlighted", span.text)
                continue
            end = start + len(span.text)
        found.append((start, end))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def segments(text: str, spans: Sequence[tuple[int, int]], start: int = 0,
             end: int | None = None) -> list[Segment]:
    """Return text[start:end] cut into plain and highlighted segments, whitespace runs collapsed.

    `spans` must be sorted and disjoint (as `verified_spans` returns them); parts of spans
    outside the window are left out.
    """
    end = len(text) if end is None else end
    out: list[Segment] = []
    pos = start
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        if s > pos:
            out.append(Segment(_SPACES.sub(" ", text[pos:s])))
        out.append(Segment(_SPACES.sub(" ", text[s:e]), highlight=True))
        pos = e
    if pos < end:
        out.append(Segment(_SPACES.sub(" ", text[pos:end])))
    return [seg for seg in out if seg.text]


def highlight_title(title: str, terms: Iterable[TermSpan]) -> tuple[Segment, ...]:
    """Return the whole title with its matched terms highlighted (whitespace collapsed)."""
    text = title.strip()
    shift = len(title) - len(title.lstrip())
    spans = verified_spans(title, (t for t in terms if t.field == "title"))
    spans = [(s - shift, e - shift) for s, e in spans]
    return tuple(segments(text, spans))


def body_snippet(body: str, terms: Iterable[TermSpan], *, width: int = SNIPPET_WIDTH,
                 before: int = SNIPPET_BEFORE) -> tuple[Segment, ...]:
    """Return about `width` characters of `body` around its first match, matches highlighted.

    The window starts up to `before` characters ahead of the first body match (or at the
    start of the body when only the title matched) and is cut between words where there is a
    space nearby; "…" marks a cut. Returns () for an empty body.
    """
    if not body.strip():
        return ()
    spans = verified_spans(body, (t for t in terms if t.field == "body"))
    first = spans[0] if spans else (0, 0)
    # Use the whole width: a match near the end still gets `width` characters of context.
    lo = max(0, min(first[0] - before, len(body) - width))
    if lo > 0:
        lo = _cut_forward(body, lo, limit=first[0])
    hi = min(len(body), max(lo + width, first[1]))
    if hi < len(body):
        hi = _cut_backward(body, hi, limit=first[1])
        # Never cut a later highlight in half: stop before it instead.
        for s, e in spans:
            if s < hi < e and s >= first[1]:
                hi = _cut_backward(body, s, limit=first[1])
                break
    # Skip leading/trailing whitespace so the ellipsis sits against the words.
    while lo < hi and body[lo].isspace():
        lo += 1
    while hi > lo and body[hi - 1].isspace():
        hi -= 1
    parts = segments(body, spans, lo, hi)
    if lo > 0:
        parts.insert(0, Segment(ELLIPSIS + " "))
    if hi < len(body.rstrip()):
        parts.append(Segment(" " + ELLIPSIS))
    return tuple(parts)


def _cut_forward(text: str, pos: int, *, limit: int) -> int:
    """The first word boundary at or after `pos` (not past `limit`), else `pos` itself."""
    if pos > 0 and text[pos - 1].isspace():
        return pos
    for i in range(pos, min(limit, pos + _WORD_SLACK)):
        if text[i].isspace():
            return i + 1
    return pos


def _cut_backward(text: str, pos: int, *, limit: int) -> int:
    """The last word boundary at or before `pos` (not before `limit`), else `pos` itself."""
    if pos >= len(text) or text[pos].isspace():
        return pos
    for i in range(pos - 1, max(limit, pos - _WORD_SLACK) - 1, -1):
        if text[i].isspace():
            return i
    return pos
