"""Count the matcher's CPU instructions per item at 100 … 100,000 watches (under callgrind).

`bench/match.py` times the matcher in seconds, and seconds on a shared machine move: the
same code has measured 8,750 and 4,300 items/s at 10,000 watches on the same day. Instruction
counts do not move: valgrind's callgrind counts the instructions a pass executes, and the
same pass gives the same count to about 0.1% whatever else the machine is doing. So this
script gives the growth figures ("100× more rules for less than 3× the time") a value that
any run reproduces.

What counts cannot see: cache, TLB and branch misses. Those grow with the heap (100,000
watches take about 700 MB), so wall time grows faster than these counts: between 1k and
100k watches, 5.7–9.2× in seconds against 3.8–4.1× in instructions on the hosts measured so
far, and the bare scan 2.2–3.9× in seconds against 1.2× in instructions. Read both.

The rules and items are those of `bench/match.py` (same generator, same seed). Each size runs
in its own process under `valgrind --tool=callgrind --instr-atstart=no`: generating and
compiling run uninstrumented; then, for each measured pass, the parent turns counting on,
zeroes the counters, lets the child run the pass and reads the count with
`callgrind_control`. The passes are the full match (`Matcher.match`), the prefilter alone
(`Matcher.plausible`) and the bare scan of the same keys with the same library (pyahocorasick
`iter()` over pre-folded texts), as in `bench/match.py`. With 1,000 among the sizes, the
silent scenario of `bench/match.py` follows at 10,000 and 100,000: growth in instructions
with the hits held, and `instructions_per_extra_hit_at_100k`. Prints JSON.

    .venv/bin/python bench/match_instructions.py     # 100, 1k, 10k, 100k, then silent: ~11 min
    .venv/bin/python bench/match_instructions.py --sizes 1000,10000 --items 200
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import match as bench  # noqa: E402  (bench/match.py: the generators)
from monitor.rules import compile_rules  # noqa: E402

ITEMS = 300  # instructions per item settle well before this; callgrind runs ~50x slower
PASSES = ("match", "prefilter", "raw_scan")
_COUNT = re.compile(r"^\s*Th\s+\d+\s+([\d,]+)", re.MULTILINE)


def child(size: int, item_count: int, seed: int, silent: bool) -> None:
    """Prepare everything uncounted, then run each pass when the parent says so."""
    rng = random.Random(seed)
    entities = bench.make_entities(rng)
    themes = bench.make_themes(rng)
    docs = bench.make_items(item_count, entities, seed)
    make = bench.make_silent_ruleset if silent else bench.make_ruleset
    rules = make(size, entities, themes, seed)
    matcher = compile_rules(rules)
    if silent:
        bench.check_silence(matcher, rules, docs)
    raw, folded = bench.bare_scan_setup(matcher.automaton_keys(), docs)
    hits = 0

    def match_pass() -> None:
        nonlocal hits
        hits = 0
        for doc in docs:
            hits += len(matcher.match(doc))

    def prefilter_pass() -> None:
        for doc in docs:
            matcher.plausible(doc)

    def raw_pass() -> None:
        for text in folded:
            for _ in raw.iter(text):
                pass

    passes: dict[str, Callable[[], None]] = {
        "match": match_pass, "prefilter": prefilter_pass, "raw_scan": raw_pass}
    for run in passes.values():
        run()  # warm-up, uncounted: first-touch of code paths, caches of compiled patterns
    # The compiled rules are permanent: keep the cyclic collector from walking them during
    # the counted passes (the timed benchmark leaves this to chance; here it would make a
    # full collection land in one pass or another and the counts irreproducible).
    gc.collect()
    gc.freeze()
    for name in PASSES:
        _say(f"ready {name}")
        sys.stdin.readline()
        passes[name]()
        _say("done")
        sys.stdin.readline()
    _say(json.dumps({"watches": size, "scenario": "silent" if silent else "realistic",
                     "items": len(docs), "terms": matcher.term_count,
                     "hits_per_item": round(hits / len(docs), 2)}))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _control(pid: int, *args: str) -> str:
    return subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                          capture_output=True, text=True).stdout


def measure(size: int, item_count: int, seed: int, silent: bool = False) -> dict[str, object]:
    """Run one size under callgrind and return its instruction counts per item."""
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--child", str(size), "--items", str(item_count), "--seed", str(seed),
               *(["--silent"] if silent else [])]
    log = tempfile.TemporaryFile(mode="w+")  # valgrind's own messages; shown on failure
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=log, text=True)
    assert process.stdin is not None and process.stdout is not None
    counts: dict[str, int] = {}
    try:
        for name in PASSES:
            line = process.stdout.readline().strip()
            if line != f"ready {name}":
                raise RuntimeError(f"{size} watches: expected 'ready {name}', got {line!r}")
            if not counts:
                _control(process.pid, "--instr=on")
            _control(process.pid, "--zero")
            process.stdin.write("go\n")
            process.stdin.flush()
            line = process.stdout.readline().strip()
            if line != "done":
                raise RuntimeError(f"{size} watches: pass {name} did not finish ({line!r})")
            found = _COUNT.search(_control(process.pid, "-e", "Ir"))
            if found is None:
                raise RuntimeError("callgrind_control printed no instruction count")
            counts[name] = int(found.group(1).replace(",", ""))
            process.stdin.write("next\n")
            process.stdin.flush()
        summary = json.loads(process.stdout.readline())
        process.wait(timeout=60)
    except BaseException:
        process.kill()
        process.wait()
        log.seek(0)
        print(log.read()[-2000:], file=sys.stderr)
        raise
    finally:
        log.close()
    items = summary["items"]
    per_item = {name: round(count / items) for name, count in counts.items()}
    return {**summary,
            "instructions_per_item": per_item["match"],
            "prefilter_instructions_per_item": per_item["prefilter"],
            "raw_scan_instructions_per_item": per_item["raw_scan"],
            "ratio_to_raw_scan": round(per_item["match"] / per_item["raw_scan"], 2)}


def growth(by_size: dict[int, dict[str, object]]) -> dict[str, object]:
    """The "100x more rules" pairs in instructions, with what each pair is up against."""
    out: dict[str, object] = {}
    for small, large, name in bench.GROWTH_PAIRS:
        if small in by_size and large in by_size:
            a, b = by_size[small], by_size[large]
            ratio = b["instructions_per_item"] / a["instructions_per_item"]  # type: ignore[operator]
            out[f"instruction_growth_{name}"] = round(ratio, 2)
            out[f"instruction_growth_{name}_under_3x"] = ratio < 3.0
            out[f"raw_scan_instruction_growth_{name}"] = round(
                b["raw_scan_instructions_per_item"]  # type: ignore[operator]
                / a["raw_scan_instructions_per_item"], 2)  # type: ignore[operator]
            out[f"prefilter_{name}_vs_match"] = round(
                b["prefilter_instructions_per_item"]  # type: ignore[operator]
                / a["instructions_per_item"], 2)  # type: ignore[operator]
            out[f"hits_per_item_{name}"] = [a["hits_per_item"], b["hits_per_item"]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated watch counts (default: "
                        + ",".join(map(str, bench.SIZES)) + ")")
    parser.add_argument("--items", type=int, default=ITEMS, help="number of items")
    parser.add_argument("--seed", type=int, default=bench.SEED)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--silent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.items, args.seed, args.silent)
        return 0
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"needs {' and '.join(missing)} (Debian package valgrind)", file=sys.stderr)
        return 2
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else bench.SIZES
    results = []
    silent_results = []
    for size, silent in bench.scenario_runs(sizes):
        done = measure(size, args.items, args.seed, silent)
        (silent_results if silent else results).append(done)
        print(f"{size} watches{' (silent)' if silent else ''}: "
              f"{done['instructions_per_item']:,} instructions/item", file=sys.stderr)
    by_size = {int(r["watches"]): r for r in results}  # type: ignore[call-overload]
    goals = growth(by_size)
    goals.update(bench.silent_growth(
        by_size, {int(r["watches"]): r for r in silent_results},  # type: ignore[call-overload]
        "instructions_per_item", "instruction", "instructions"))
    print(json.dumps({"python": sys.version.split()[0], "seed": args.seed, "sizes": results,
                      "silent": silent_results, "goals": goals}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
