"""Benchmark one very long item: does matching cost grow with the length of a body, not its
square?

Feeds with full text (content:encoded) sometimes carry a whole transcript, a live blog or a
report in one item. This matches single items of 1,000, 10,000 and 100,000 words with the
shipped rule set (`rules/`, passages included) and prints JSON: seconds per item, words/s,
the hits and matched terms, and the ratio to a bare scan of the same folded text with the
same automaton keys (pyahocorasick `iter()`, nothing else), measured in the same run. The
bodies are our own whole-article probes (`bench/probes/{i,j,k}-*`) run together and
repeated: relevant text, so every watch has occurrences all the way through (NEAR, passages
and exclusions all have work to do). A second series repeats one market paragraph of ours in
which most mentions of Russia are excluded ones ("Russian oil"): there every alias occurrence
is checked against the exclusions. A third keeps Russia and Gaza always further apart than a
passage: the stance watch matches the whole item and no passage, so every passage is tried.

    .venv/bin/python bench/long_items.py            # 1k, 10k, 100k words
    .venv/bin/python bench/long_items.py --words 1000,20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from match import bare_scan_setup  # noqa: E402
from relevance import read_corpus, to_document  # noqa: E402

from monitor.rules import Document, Matcher, compile_rules, load_rules  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
PROBES = ("i-full-text", "j-long-articles", "k-long-reports")
# An in-scope headline of our own: with it the item matches whole-item queries at once, and
# the watches with NEAR (in the body) must still be decided over every occurrence.
TITLE = "Hamas delegation holds talks in Moscow as Israel protests"
MARKET = ("Russian oil exports rose and Russian crude found buyers in Asia while Russia said "
          "the Gaza ceasefire must hold; traders watched Brent and the Red Sea.")
_CALM = " ".join(["the weather stayed calm across the northern districts today"] * 3)
APART = f"Russian oil and Russian crude and Russia rose. {_CALM}. Gaza was quiet. {_CALM}."


def words_of_probes() -> list[str]:
    words: list[str] = []
    for name in PROBES:
        items, _labels = read_corpus(REPO / "bench" / "probes" / name)
        for item in items:
            words.extend(to_document(item).body.split())
    return words


def best_seconds(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def measure(matcher: Matcher, title: str, source: list[str], sizes: tuple[int, ...]
            ) -> dict[str, object]:
    """Seconds per item for bodies of `sizes` words cut from `source` (repeated)."""
    results = []
    exact: list[tuple[float, float]] = []  # unrounded (seconds, raw scan seconds)
    for size in sizes:
        words = (source * (size // len(source) + 1))[:size]
        doc = Document(id=f"long-{size}", title=title, body=" ".join(words))
        hits = matcher.match(doc)  # warm-up, and the figures below
        repeat = 3 if size <= 20_000 else 2
        seconds = best_seconds(lambda: matcher.match(doc), repeat)
        raw, folded = bare_scan_setup(matcher.automaton_keys(), [doc])

        def bare_scan() -> None:
            for text in folded:
                for _ in raw.iter(text):
                    pass
        raw_seconds = best_seconds(bare_scan, repeat)
        exact.append((seconds, raw_seconds))
        results.append({
            "words": size,
            "seconds": round(seconds, 5),
            "words_per_second": round(size / seconds),
            "hits": len(hits),
            "terms": sum(len(hit.terms) for hit in hits),
            "raw_scan_seconds": round(raw_seconds, 6),
            "ratio_to_raw_scan": round(seconds / raw_seconds, 1),
        })
        print(f"{size} words: {seconds:.3f} s", file=sys.stderr)
    growth = {}
    for (small, large), (a, b) in zip(zip(results, results[1:]), zip(exact, exact[1:])):
        # linear cost grows like the words; a square would grow like their square
        growth[f"{small['words']}_to_{large['words']}"] = {
            "words": round(large["words"] / small["words"], 1),
            "seconds": round(b[0] / a[0], 1),
            "raw_scan_seconds": round(b[1] / a[1], 1),
        }
    return {"sizes": results, "growth": growth}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", help="comma-separated body lengths in words")
    args = parser.parse_args(argv)
    sizes = tuple(int(w) for w in args.words.split(",")) if args.words else SIZES
    matcher = compile_rules(load_rules(sorted((REPO / "rules").glob("*.yaml"))))
    series = {"articles": (TITLE, words_of_probes()),
              "market_report": ("Markets close the week mixed", MARKET.split()),
              "sides_apart": ("Weekly notes", APART.split())}
    report: dict[str, object] = {}
    for name, (title, source) in series.items():
        report[name] = measure(matcher, title, source, sizes)
    print(json.dumps({"python": sys.version.split()[0], "rule_set": "rules/",
                      "passage_words": matcher.passage_words, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
