"""Render a digest as an email: subject, plain text and HTML (Jinja2 templates, CSS inlined).

Rendering only — sending is `monitor.deliver`. The HTML is autoescaped, links are the
http(s) URLs the builder vetted, there are no images or remote resources, and it is kept
under `MAX_HTML_BYTES` so Gmail does not clip it (it clips at about 102 KB).
"""

from __future__ import annotations

import functools
import logging
import textwrap

import css_inline
import jinja2

from monitor.digest.build import compose_subject
from monitor.digest.fit import shrink_to_fit
from monitor.digest.model import Digest, RenderedEmail, Segment, Story

logger = logging.getLogger(__name__)

MAX_HTML_BYTES = 90_000
TEXT_WIDTH = 76


@functools.cache
def _environment(html: bool) -> jinja2.Environment:
    # Two environments because autoescaping must be on for every HTML template and off for
    # plain text, where an escaped "&amp;" would be a visible bug.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.digest", "templates"),
        autoescape=html, undefined=jinja2.StrictUndefined,
        trim_blocks=not html, lstrip_blocks=not html, keep_trailing_newline=True)


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # keep_at_rules leaves nothing behind today, but stops a future @media rule from being
    # silently dropped; remote stylesheets are never fetched.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True,
                                 minify_css=True)


def render_email(digest: Digest, *, list_name: str = "monitor",
                 max_html_bytes: int = MAX_HTML_BYTES) -> RenderedEmail:
    """Return the subject, plain-text and HTML bodies of `digest`.

    When the HTML would exceed `max_html_bytes` (UTF-8), watches show fewer stories (the
    rest as "+N more" with the command to list them) until it fits; the text part shows the
    same stories.
    """
    subject = compose_subject(digest, list_name)
    fitted, html = shrink_to_fit(digest, lambda d: render_html(d, list_name=list_name, subject=subject),
                                 lambda h: len(h.encode("utf-8")) <= max_html_bytes)
    if len(html.encode("utf-8")) > max_html_bytes:
        logger.warning("digest %s: HTML is %d bytes even without stories", digest.subscription,
                       len(html.encode("utf-8")))
    return RenderedEmail(subject=subject, text=render_text(fitted, list_name=list_name), html=html)


def render_html(digest: Digest, *, list_name: str = "monitor", subject: str | None = None) -> str:
    """Return the digest as an HTML document with inline styles (no size limit applied)."""
    subject = subject or compose_subject(digest, list_name)
    html = _environment(True).get_template("email.html.j2").render(
        digest=digest, list_name=list_name, subject=subject, preheader=_preheader(digest))
    return _inliner().inline(html)


def render_text(digest: Digest, *, list_name: str = "monitor") -> str:
    """Return the digest as plain text, wrapped at about TEXT_WIDTH columns."""
    return _environment(False).get_template("email.txt.j2").render(
        digest=digest, list_name=list_name, story_text=_story_text)


def _preheader(digest: Digest) -> str:
    """The line inbox lists show after the subject."""
    lead = digest.top or tuple(s for section in digest.sections for s in section.stories[:1])
    titles = "; ".join(s.title for s in lead[:3])
    return f"{digest.summary}. {titles}" if titles else digest.summary


def _marked(segments: tuple[Segment, ...]) -> str:
    return "".join(f"*{s.text}*" if s.highlight else s.text for s in segments)


def _story_text(story: Story, show_watches: bool) -> str:
    """One story as indented plain-text lines."""
    wrap = functools.partial(textwrap.fill, width=TEXT_WIDTH, initial_indent="   ",
                             subsequent_indent="   ", break_on_hyphens=False, break_long_words=False)
    lines = [textwrap.fill(story.title, width=TEXT_WIDTH, initial_indent="*  ",
                           subsequent_indent="   ", break_on_hyphens=False)]
    meta = f"{story.outlet} · {story.published_text}"
    if story.also_reported_by:
        meta += f" · also reported by: {', '.join(story.also_reported_by)}"
    lines.append(wrap(meta))
    if story.url:
        lines.append(f"   {story.url}")
    if story.snippet:
        lines.append(wrap(_marked(story.snippet)))
    extra = []
    if story.actors:
        extra.append(f"Matched: {', '.join(story.actors)}")
    if show_watches:
        extra.append(f"Watches: {', '.join(story.watch_titles)}")
    if extra:
        lines.append(wrap(" · ".join(extra)))
    return "\n".join(lines)
