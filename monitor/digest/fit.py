"""Shrinking a digest until its rendering fits a size limit (Gmail clipping, Slack message count).

The renderer says what fits; this decides what to give up, least useful first: stories deep
in a watch's list, low-priority watches before critical ones (they become "+N more"), then
whole watches at the bottom, then the top section. Every hit stays covered — the "+N more" lines carry the command that lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from monitor.digest.model import Digest

T = TypeVar("T")

SHORTENED_NOTE = ("This digest is long, so some watches show fewer stories here; "
                  "the command under each lists them all.")


def shrink_to_fit(digest: Digest, render: Callable[[Digest], T],
                  fits: Callable[[T], bool]) -> tuple[Digest, T]:
    """Return the fullest version of `digest` whose rendering `fits`, and that rendering.

    Tries the digest as it is, then the most watch-section stories that fit (binary search
    over `Digest.with_story_budget`, which trims low-priority watches first), then fewer
    watches, then no top section. When nothing fits, returns the barest version
    (no stories, no watches, no top) and its rendering anyway: the caller decides what to do.
    """
    rendered = render(digest)
    if fits(rendered):
        return digest, rendered
    noted = replace(digest, notes=(*digest.notes, SHORTENED_NOTE))

    best = _largest(noted.with_story_budget, noted.stories_shown - 1, render, fits)
    if best is not None:
        return best
    best = _largest(lambda n: noted.capped(0, sections=n), len(noted.sections) - 1, render, fits)
    if best is not None:
        return best
    bare = noted.capped(0, sections=0, top=0)
    return bare, render(bare)


def _largest(variant: Callable[[int], Digest], high: int, render: Callable[[Digest], T],
             fits: Callable[[T], bool]) -> tuple[Digest, T] | None:
    """The variant with the largest n in [0, high] whose rendering fits (fitting shrinks with n)."""
    lo, hi = 0, high
    found: tuple[Digest, T] | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = variant(mid)
        rendered = render(candidate)
        if fits(rendered):
            found = (candidate, rendered)
            lo = mid + 1
        else:
            hi = mid - 1
    return found
