"""Digests: one period's hits for a subscriber, as stories grouped by watch, rendered for
email (subject, text, HTML) and Slack (Block Kit payloads).

Pure: `build_digest(DigestRequest) -> Digest`, then `render_email(digest)` and
`render_slack(digest)`. The database side fills the request; `monitor.deliver` sends what
the renderers return.
"""

from __future__ import annotations

from monitor.digest.build import build_digest, compose_subject
from monitor.digest.cluster import StoryText, cluster_stories
from monitor.digest.email import render_email, render_html, render_text
from monitor.digest.links import safe_link
from monitor.digest.model import (
    PRIORITY_ORDER,
    Digest,
    DigestHit,
    DigestRequest,
    HealthLine,
    HealthNote,
    RenderedEmail,
    Segment,
    Story,
    TermSpan,
    WatchSection,
)
from monitor.digest.slack import render_slack

__all__ = [
    "PRIORITY_ORDER",
    "Digest",
    "DigestHit",
    "DigestRequest",
    "HealthLine",
    "HealthNote",
    "RenderedEmail",
    "Segment",
    "Story",
    "StoryText",
    "TermSpan",
    "WatchSection",
    "build_digest",
    "cluster_stories",
    "compose_subject",
    "render_email",
    "render_html",
    "render_slack",
    "render_text",
    "safe_link",
]
