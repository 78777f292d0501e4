"""bench/match_instructions.py: reading callgrind's counts and the growth figures from them.

Running the benchmark itself takes minutes under valgrind, so it is not run here; these
tests hold the two parts that turn its raw output into the reported figures.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load():
    path = REPO / "bench" / "match_instructions.py"
    spec = importlib.util.spec_from_file_location("match_instructions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("match_instructions", module)
    spec.loader.exec_module(module)
    return module


def test_reads_the_instruction_count_callgrind_control_prints() -> None:
    bench = _load()
    # As printed by callgrind_control 3.19 for `-e Ir PID`.
    printed = ("PID 9490: /work/main/.venv/bin/python /tmp/t.py\n\n"
               "  Totals:        Ir \n   Th 1  68,148,503 \n\n")
    found = bench._COUNT.search(printed)
    assert found is not None
    assert int(found.group(1).replace(",", "")) == 68_148_503


def _size(watches: int, match: int, prefilter: int, raw: int, hits: float) -> dict:
    return {"watches": watches, "instructions_per_item": match,
            "prefilter_instructions_per_item": prefilter,
            "raw_scan_instructions_per_item": raw, "hits_per_item": hits}


def test_growth_compares_each_pair_100_times_apart() -> None:
    bench = _load()
    by_size = {100: _size(100, 340_000, 340_000, 87_000, 0.0),
               1_000: _size(1_000, 400_000, 380_000, 100_000, 0.07),
               10_000: _size(10_000, 680_000, 400_000, 110_000, 1.2),
               100_000: _size(100_000, 1_600_000, 520_000, 120_000, 10.3)}
    goals = bench.growth(by_size)
    assert goals["instruction_growth_1k_to_100k"] == 4.0
    assert goals["instruction_growth_1k_to_100k_under_3x"] is False
    assert goals["instruction_growth_100_to_10k"] == 2.0
    assert goals["instruction_growth_100_to_10k_under_3x"] is True
    assert goals["raw_scan_instruction_growth_1k_to_100k"] == 1.2
    assert goals["prefilter_1k_to_100k_vs_match"] == 1.3
    assert goals["hits_per_item_1k_to_100k"] == [0.07, 10.3]


def test_growth_leaves_out_a_pair_that_was_not_measured() -> None:
    bench = _load()
    goals = bench.growth({1_000: _size(1_000, 400_000, 380_000, 100_000, 0.07)})
    assert goals == {}
