"""Benchmark digest building and rendering on a large period: 10,000 hits, 50 watches, 2,000 items.

Everything is synthetic and seeded: name-like words made from syllables, ~700 base stories
each carried by one to several outlets as syndicated copies (the same text with small edits,
a truncated summary, an aggregator's " - Outlet" suffix, or the same canonical URL), and
hits spread over 50 watches with a Zipf-like popularity, with matched-term spans in the
title and body as the matcher reports them.

Phases timed (seconds, best of --repeat runs): `cluster` (near-duplicate clustering of the
items alone — it is also part of `build`), `build` (`build_digest`, clustering included),
`email` (`render_email`: Jinja2, CSS inlining, shrinking the HTML under 90 KB), `slack`
(`render_slack`: Block Kit payloads split under Slack's limits). `total` = build + email +
slack.

    .venv/bin/python bench/digest.py
    .venv/bin/python bench/digest.py --hits 2000 --items 500 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from monitor.digest import (
    DigestHit,
    DigestRequest,
    HealthNote,
    TermSpan,
    build_digest,
    render_email,
    render_slack,
)
from monitor.digest.cluster import StoryText, cluster_stories

SEED = 20260310
PERIOD_END = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
PRIORITIES = ("low", "normal", "normal", "normal", "high", "high", "critical")
_SYLLABLES = ("ka", "ro", "mi", "tan", "vel", "dor", "sa", "lin", "bar", "qu", "zem", "ox",
              "pri", "nal", "tor", "ges", "hul", "fa", "nik", "ser", "uma", "bek", "lo", "vi")


def word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def generate(hits: int, items: int, watches: int, seed: int = SEED) -> DigestRequest:
    """A seeded DigestRequest with syndicated copies and multi-watch items."""
    return generate_with_truth(hits, items, watches, seed)[0]


def generate_with_truth(hits: int, items: int, watches: int,
                        seed: int = SEED) -> tuple[DigestRequest, dict[int, int]]:
    """The request, and the base story each item was generated from (item id → story number)."""
    rng = random.Random(seed)
    vocabulary = [word(rng, rng.randint(1, 3)) for _ in range(3000)]
    names = [word(rng, 2).capitalize() + " " + word(rng, 3).capitalize() for _ in range(400)]
    outlets = [f"{word(rng, 2).capitalize()} {rng.choice(['Post', 'Times', 'Wire', 'Daily', 'News'])}"
               for _ in range(120)]
    watch_ids = [f"watch-{i:02d}" for i in range(watches)]
    watch_info = {w: (f"{word(rng, 2).capitalize()} {word(rng, 3)} watch", rng.choice(PRIORITIES))
                  for w in watch_ids}
    watch_weights = [1 / (rank + 1) ** 0.8 for rank in range(watches)]

    # Base stories, then copies until there are `items` items.
    base: list[tuple[list[str], list[str], list[str]]] = []
    item_rows: list[tuple[int, str, str, str, str, str, datetime, list[str]]] = []
    _story_numbers: list[int] = []
    while len(item_rows) < items:
        story_names = rng.sample(names, rng.randint(1, 3))
        title = rng.sample(vocabulary, rng.randint(6, 11))
        title.insert(rng.randrange(len(title)), story_names[0])
        body = [rng.choice(vocabulary) for _ in range(rng.randint(40, 120))]
        for n in story_names:
            body.insert(rng.randrange(len(body)), n)
        base.append((title, body, story_names))
        copies = min(items - len(item_rows), rng.choice((1, 1, 1, 2, 2, 3, 4, 6)))
        canonical = f"https://{word(rng, 2)}.example/{len(base)}"
        published = PERIOD_END - timedelta(minutes=rng.randint(30, 60 * 23))
        for c in range(copies):
            t, b = list(title), list(body)
            outlet = rng.choice(outlets)
            url = canonical if c == 0 else f"https://{word(rng, 2)}.example/{len(base)}/{c}"
            same_url = c > 0 and rng.random() < 0.3
            if c > 0:
                # A copy: a word of the title swapped, the summary cut short, an outlet suffix.
                t[rng.randrange(len(t))] = rng.choice(vocabulary)
                if rng.random() < 0.5:
                    b = b[:rng.randint(30, len(b))]
                if rng.random() < 0.3:
                    t = t + ["-", outlet]
            _story_numbers.append(len(base))
            item_rows.append((len(item_rows) + 1, " ".join(t).capitalize(), " ".join(b) + ".",
                              url, canonical if same_url else url, outlet,
                              published + timedelta(minutes=17 * c), story_names))

    # Hits: every item in at least one watch, the rest spread Zipf-like.
    pairs: set[tuple[str, int]] = set()
    for row in item_rows:
        pairs.add((rng.choices(watch_ids, watch_weights)[0], row[0]))
    while len(pairs) < hits:
        pairs.add((rng.choices(watch_ids, watch_weights)[0], rng.choice(item_rows)[0]))
    rows = {r[0]: r for r in item_rows}
    out = []
    for hit_id, (watch, item_id) in enumerate(sorted(pairs), start=1):
        _, title_text, body_text, url, canonical, outlet, published, story_names = rows[item_id]
        terms = []
        for field, text in (("title", title_text), ("body", body_text)):
            for n in story_names:
                start = text.find(n)
                if start >= 0:
                    terms.append(TermSpan(text=n, term=n, actor=n.lower(), field=field,
                                          start=start, end=start + len(n)))
        watch_title, priority = watch_info[watch]
        out.append(DigestHit(hit_id=hit_id, watch_id=watch, watch_title=watch_title,
                             priority=priority, item_id=item_id, title=title_text, body=body_text, url=url,
                             canonical_url=canonical, outlet=outlet, other_outlets=(),
                             published_at=published, terms=tuple(terms),
                             actor_names=tuple(story_names)))
    rng.shuffle(out)
    truth = {row[0]: story for row, story in zip(item_rows, _story_numbers, strict=True)}
    return DigestRequest(subscription="bench", period_start=PERIOD_END - timedelta(days=1),
                         period_end=PERIOD_END, timezone="Europe/Berlin", hits=tuple(out),
                         health=(HealthNote("Example Wire", "failing for 30 hours (HTTP 503)",
                                            PERIOD_END - timedelta(hours=30)),)), truth


def pair_scores(predicted: dict[int, int], truth: dict[int, int]) -> tuple[float, float]:
    """Precision and recall of "same story" pairs against the generated truth."""
    def pairs(groups: dict[int, int]) -> set[tuple[int, int]]:
        members: dict[int, list[int]] = {}
        for item, group in groups.items():
            members.setdefault(group, []).append(item)
        return {(a, b) for m in members.values() for a in m for b in m if a < b}
    p, t = pairs(predicted), pairs(truth)
    both = len(p & t)
    return (both / len(p) if p else 1.0, both / len(t) if t else 1.0)


def timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--watches", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    request, truth = generate_with_truth(args.hits, args.items, args.watches)
    items = {h.item_id: h for h in request.hits}
    texts = [StoryText(h.item_id, h.title, h.body, h.canonical_url, h.outlet) for h in items.values()]
    # Warm the folding tables, Jinja2 template cache and inliner, as a running daemon has them.
    render_email(build_digest(generate(50, 20, 3, seed=1)))

    cluster_s, clusters = timed(lambda: cluster_stories(texts), args.repeat)
    build_s, digest = timed(lambda: build_digest(request), args.repeat)
    email_s, email = timed(lambda: render_email(digest), args.repeat)
    slack_s, payloads = timed(lambda: render_slack(digest), args.repeat)
    report = {
        "hits": len(request.hits), "items": len(items), "watches": len(digest.sections),
        "stories": digest.story_count, "generated_stories": len(set(truth.values())),
        "cluster_pair_precision": round(pair_scores(clusters, truth)[0], 4),
        "cluster_pair_recall": round(pair_scores(clusters, truth)[1], 4),
        "seconds": {"cluster": round(cluster_s, 4), "build": round(build_s, 4),
                    "email": round(email_s, 4), "slack": round(slack_s, 4),
                    "total": round(build_s + email_s + slack_s, 4)},
        "email_html_bytes": len(email.html.encode()),
        "email_stories_shown": email.html.count('class="story"'),
        "slack_messages": len(payloads),
        "slack_max_message_chars": max(len(json.dumps(p, ensure_ascii=False)) for p in payloads),
        "slack_max_blocks": max(len(p["blocks"]) for p in payloads),
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
