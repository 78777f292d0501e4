"""bench/match.py: the silent scenario's premise and the figures made from it.

The silent scenario grows the rules without growing the hits: it adds watches over names
no generated item can contain. If a generator change let those names into the items, the
scenario would quietly measure something else; these tests (on a smaller vocabulary, to be
quick) and the benchmark's own `check_silence` catch that.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    path = REPO / "bench" / "match.py"
    spec = importlib.util.spec_from_file_location("bench_match_small", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_match_small"] = module
    spec.loader.exec_module(module)
    module.ENTITIES = 5_000  # the generators read it when called
    yield module
    del sys.modules["bench_match_small"]


@pytest.fixture(scope="module")
def world(bench):
    rng = random.Random(bench.SEED)
    entities = bench.make_entities(rng)
    themes = bench.make_themes(rng)
    return entities, themes, bench.make_items(300, entities, bench.SEED)


def test_no_item_contains_a_word_of_a_silent_name(bench, world) -> None:
    entities, _themes, docs = world
    silent = bench.silent_entities(entities, bench.SEED)
    assert len(silent) > 0.9 * bench.ENTITIES
    names = {bench.fold(word) for e in silent for word in (e.first, e.last, e.variant)}
    words = {w for d in docs for w in (bench.fold(d.title) + " " + bench.fold(d.body)).split()}
    assert names.isdisjoint(words)


def test_silent_rules_hit_exactly_what_their_realistic_part_hits(bench, world) -> None:
    entities, themes, docs = world
    rules = bench.make_silent_ruleset(3 * bench.SILENT_BASE, entities, themes, bench.SEED)
    assert len(rules.watches) == 3 * bench.SILENT_BASE
    assert sum(w.id.startswith("s") for w in rules.watches) == 2 * bench.SILENT_BASE
    matcher = bench.compile_rules(rules)
    bench.check_silence(matcher, rules, docs)  # raises if one silent watch hits
    assert sum(len(matcher.match(d)) for d in docs) > 0  # the realistic part does hit


def test_the_silence_check_fails_when_the_added_watches_hit(bench, world) -> None:
    entities, themes, docs = world
    base = bench.make_ruleset(bench.SILENT_BASE, entities, themes, bench.SEED)
    loud = bench.compile_rules(bench.make_ruleset(3 * bench.SILENT_BASE, entities, themes,
                                                  bench.SEED))
    with pytest.raises(AssertionError, match="not silent"):
        bench.check_silence(loud, base, docs)


def test_silent_growth_and_the_cost_of_one_more_hit(bench) -> None:
    realistic = {1_000: {"cost": 400.0, "hits_per_item": 0.1},
                 100_000: {"cost": 1_500.0, "hits_per_item": 10.1}}
    silent = {10_000: {"cost": 440.0, "hits_per_item": 0.1},
              100_000: {"cost": 500.0, "hits_per_item": 0.1}}
    goals = bench.silent_growth(realistic, silent, "cost", "cost", "units")
    assert goals["cost_growth_1k_to_100k_silent"] == 1.25
    assert goals["cost_growth_1k_to_100k_silent_under_3x"] is True
    assert goals["cost_growth_1k_to_10k_silent"] == 1.1
    # (1,500 - 500) / (10.1 - 0.1): a hit at 100k watches costs 100 units
    assert goals["units_per_extra_hit_at_100k"] == 100.0
    assert "units_per_extra_hit_at_10k" not in goals  # no realistic 10k to compare with
