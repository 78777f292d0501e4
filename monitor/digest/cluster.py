"""Which items report the same story: same canonical URL, or near-duplicate text across outlets.

Near-duplicates are found by w-shingling and Jaccard resemblance (Broder, "On the resemblance
and containment of documents", 1997) — the measure MinHash estimates. Items here are short
(a title and the lead of a summary), so the resemblance is computed exactly rather than
estimated; an exact prefix-filter similarity join (Bayardo, Ma & Srikant, "Scaling up all
pairs similarity search", WWW 2007) finds the candidate pairs without comparing every pair,
and never misses one. No false negatives from sketching, no numpy.

An item's features are its folded title words and word pairs (with start/end markers) plus
the word 3-shingles of the first `BODY_LEAD_WORDS` words of its body:

* both items have a body lead: the same story when the resemblance of all features is at least
  `RESEMBLANCE`. Wire copies keep most of the lead and most of the title; different stories
  that share a headline template ("… meets Hamas delegation in Moscow" / "… in Cairo") share
  little of the lead, so they stay apart even when their titles are close;
* otherwise titles alone decide, and they must be nearly identical (`TITLE_RESEMBLANCE`),
  since one changed word in a title ("on Gaza" / "on Ukraine") can be the whole story.

A trailing " - Outlet" on a title (aggregators add it) is ignored when it names the item's
own outlet.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.rules import fold

BODY_LEAD_WORDS = 40        # the lead: syndicated copies agree on it even when one is truncated
BODY_MIN_SHINGLES = 8       # fewer than this and the body says too little to compare on
SHINGLE_WORDS = 3
RESEMBLANCE = 0.5
TITLE_RESEMBLANCE = 0.85

_OUTLET_SUFFIX = re.compile(r"\s+[-–—|:]\s+([^-–—|:]{2,80})\s*$")


@dataclass(frozen=True)
class StoryText:
    """What clustering reads of one item."""

    item_id: int
    title: str
    body: str
    canonical_url: str | None = None
    outlet: str = ""


@dataclass(frozen=True)
class _Features:
    title: frozenset[str]
    body: frozenset[str]
    everything: frozenset[str]


def features(text: StoryText) -> tuple[frozenset[str], frozenset[str]]:
    """Return (title features, body-lead shingles) of an item, as clustering compares them."""
    title = text.title
    suffix = _OUTLET_SUFFIX.search(title)
    if suffix and text.outlet and fold(suffix.group(1)) == fold(text.outlet):
        title = title[:suffix.start()]
    words = fold(title).split()
    marked = ["^", *words, "$"]
    title_features = {f"t:{w}" for w in words}
    title_features.update(f"t:{a} {b}" for a, b in itertools.pairwise(marked))
    lead = fold(text.body).split()[:BODY_LEAD_WORDS]
    body_features = {"b:" + " ".join(lead[i:i + SHINGLE_WORDS])
                     for i in range(len(lead) - SHINGLE_WORDS + 1)}
    return frozenset(title_features), frozenset(body_features)


def resemblance(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard resemblance |a ∩ b| / |a ∪ b| (0.0 for two empty sets)."""
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def cluster_stories(texts: Sequence[StoryText]) -> dict[int, int]:
    """Group items that report the same story.

    Returns item id → story id, where the story id is the smallest item id in the group
    (so it is stable whatever order the items come in). Items with the same canonical URL are
    always one story; near-duplicates are joined transitively.
    """
    parent: dict[int, int] = {t.item_id: t.item_id for t in texts}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_url: dict[str, int] = {}
    for t in texts:
        if t.canonical_url:
            if t.canonical_url in by_url:
                union(by_url[t.canonical_url], t.item_id)
            else:
                by_url[t.canonical_url] = t.item_id

    feats: dict[int, _Features] = {}
    for t in texts:
        if t.item_id in feats:
            continue
        title, body = features(t)
        feats[t.item_id] = _Features(title, body, title | body)
    with_body = {i: f.everything for i, f in feats.items() if len(f.body) >= BODY_MIN_SHINGLES}
    for a, b in similar_pairs(with_body, RESEMBLANCE):
        union(a, b)
    titles = {i: f.title for i, f in feats.items() if f.title}
    for a, b in similar_pairs(titles, TITLE_RESEMBLANCE):
        # Two items with bodies were judged on everything above; a close title alone is
        # not enough for them.
        if a not in with_body or b not in with_body:
            union(a, b)
    return {i: find(i) for i in parent}


def similar_pairs(sets: Mapping[int, frozenset[str]], threshold: float) -> Iterable[tuple[int, int]]:
    """Yield every pair (a, b), a < b, whose resemblance is at least `threshold` (0 < t ≤ 1).

    Prefix filtering: order each set's features rarest first; two sets with resemblance ≥ t
    share at least ceil(t·|x|) features, so they share one among the first
    |x| − ceil(t·|x|) + 1 of each. Only those prefixes are indexed and probed, and each
    candidate is then checked exactly.
    """
    df = Counter(f for s in sets.values() for f in s)
    # One global order (rarest first, ties by text) as integer ranks, so each set's prefix is
    # a plain sort of small ints.
    rank = {f: i for i, f in enumerate(sorted(df, key=lambda f: (df[f], f)))}
    index: dict[int, list[int]] = defaultdict(list)
    # Shorter sets first, so every probe meets only sets no longer than its own: a pair can
    # only qualify when the shorter is at least t times the longer.
    for key in sorted(sets, key=lambda k: (len(sets[k]), k)):
        s = sets[key]
        if not s:
            continue
        ordered = sorted(map(rank.__getitem__, s))
        prefix = ordered[:len(s) - math.ceil(threshold * len(s) - 1e-9) + 1]
        candidates: set[int] = set()
        for f in prefix:
            postings = index[f]
            if postings:
                candidates.update(postings)
            postings.append(key)
        min_size = threshold * len(s)
        for other in candidates:
            o = sets[other]
            if len(o) < min_size:
                continue
            # Each pair is met once: when the later of the two probes the earlier's postings.
            if resemblance(s, o) >= threshold:
                yield (min(key, other), max(key, other))
