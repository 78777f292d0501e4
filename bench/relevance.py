"""Measure a rule set against labelled news: precision and recall of "the item got a hit".

    python bench/relevance.py [--rules rules/] [--corpus ../shared/corpora/news-dev]
                              [--show fp|fn|tp|maybe] [--content-words N]

The corpus is a directory with `items.jsonl` (feed items: id, title, summary, url, source)
and `labels.jsonl` (id, label yes|no|maybe, category 1-5, reason); items without a label line
are "no", and "maybe" items are left out of precision and recall. Every item is matched on
its title and its summary (and `content`, where an item has one) with the HTML stripped, as
the daemon would see it.

Prints one JSON object: precision, recall, f1, the confusion counts, hits per watch (with how
many of them were true positives) and recall per label category. `--show fp` (or fn, tp,
maybe) adds those items, with the watches they hit, for inspection. When the corpus is
absent it says so on stderr and exits 0, so CI without the shared data stays green.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import MonitorError
from monitor.normalise import html_to_text
from monitor.rules import Document, compile_rules, load_rules
from monitor.rules.commands import item_document

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RULES = REPO / "rules"
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "news-dev"
SHOWABLE = ("fp", "fn", "tp", "maybe")


@dataclass(frozen=True)
class Judged:
    """One corpus item as matched: its label, category and the watches it hit."""

    id: str
    title: str
    label: str       # yes | no | maybe
    category: int    # 1-5 for yes/maybe items, 0 otherwise
    reason: str
    watches: tuple[str, ...]

    @property
    def hit(self) -> bool:
        return bool(self.watches)

    @property
    def outcome(self) -> str:
        """tp | fp | fn | tn | maybe."""
        if self.label == "maybe":
            return "maybe"
        if self.label == "yes":
            return "tp" if self.hit else "fn"
        return "fp" if self.hit else "tn"


def read_corpus(corpus: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Return the items and the labels (by item id) of a corpus directory."""
    with (corpus / "items.jsonl").open(encoding="utf-8") as lines:
        items = [json.loads(line) for line in lines if line.strip()]
    labels: dict[str, dict[str, Any]] = {}
    labels_path = corpus / "labels.jsonl"
    if labels_path.exists():
        with labels_path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    entry = json.loads(line)
                    labels[entry["id"]] = entry
    return items, labels


def to_document(item: dict[str, Any], content_words: int | None = None) -> Document:
    """The matcher's view of a corpus item: title, and tag-free summary and content (the
    full text some feeds carry), joined as `monitor match` joins them. With `content_words`,
    only the content's first that many words (its lead): what-if figures for full text."""
    item = {**item, "url": item.get("url") or item.get("id")}
    if content_words is not None and item.get("content"):
        words = html_to_text(str(item["content"])).split()
        item["content"] = " ".join(words[:content_words])
    return item_document(item, item["id"])


def judge(rules: Path, corpus: Path, content_words: int | None = None) -> list[Judged]:
    """Match every corpus item against the rule set; return each with its label."""
    matcher = compile_rules(load_rules([rules]))
    items, labels = read_corpus(corpus)
    judged: list[Judged] = []
    for item in items:
        label = labels.get(item["id"], {})
        hits = matcher.match(to_document(item, content_words))
        judged.append(Judged(item["id"], item.get("title") or "", label.get("label", "no"),
                             int(label.get("category", 0) or 0), label.get("reason", ""),
                             tuple(hit.watch for hit in hits)))
    return judged


def summarise(judged: list[Judged]) -> dict[str, Any]:
    """Precision, recall, F1, confusion counts, per-watch hits and per-category recall."""
    counts = Counter(j.outcome for j in judged)
    tp, fp, fn, tn = (counts[k] for k in ("tp", "fp", "fn", "tn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_watch: dict[str, Counter[str]] = {}
    for j in judged:
        for watch in j.watches:
            per_watch.setdefault(watch, Counter())[j.outcome] += 1
    categories: dict[str, dict[str, float]] = {}
    for category in sorted({j.category for j in judged if j.label == "yes"}):
        yes = [j for j in judged if j.label == "yes" and j.category == category]
        found = sum(j.hit for j in yes)
        categories[str(category)] = {"yes": len(yes), "hit": found,
                                     "recall": round(found / len(yes), 4)}
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "counts": {"items": len(judged), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                   "maybe": counts["maybe"],
                   "maybe_hits": sum(j.hit for j in judged if j.label == "maybe")},
        "watches": {watch: {"hits": sum(c.values()), "tp": c["tp"], "fp": c["fp"],
                            "maybe": c["maybe"]}
                    for watch, c in sorted(per_watch.items())},
        "categories": categories,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES,
                        help="rule file or directory (default: the repo's rules/)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="directory with items.jsonl and labels.jsonl")
    parser.add_argument("--show", choices=SHOWABLE, action="append", default=[],
                        help="also list these items (repeatable)")
    parser.add_argument("--content-words", type=int, metavar="N",
                        help="match only the first N words of each item's content (0: title "
                             "and summary alone); the daemon matches all of it")
    args = parser.parse_args(argv)
    if not (args.corpus / "items.jsonl").exists():
        print(f"relevance: no corpus at {args.corpus} (items.jsonl missing); nothing to measure",
              file=sys.stderr)
        return 0
    started = time.perf_counter()
    try:
        judged = judge(args.rules, args.corpus, args.content_words)
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    report = summarise(judged)
    report["seconds"] = round(time.perf_counter() - started, 2)
    for outcome in args.show:
        report[outcome] = [{"id": j.id, "title": j.title, "category": j.category,
                            "watches": list(j.watches), "reason": j.reason}
                           for j in judged if j.outcome == outcome]
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
