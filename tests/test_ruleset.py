"""The shipped rule set (rules/*.yaml): it loads, its examples hold, and it finds the dossier's
stories in real news with the precision and recall it was tuned to."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.rules import Document, compile_rules, load_rules, run_examples, validate_rules

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"
BENCH = REPO / "bench" / "relevance.py"
NEWS_DEV = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "news-dev"

# Reached on news-dev when the rule set was written (python bench/relevance.py):
# precision 0.9804 (50 tp, 1 fp), recall 1.0 (0 fn). The floors allow two more misses of each
# kind, so a rule change that costs more than that fails here.
PRECISION_FLOOR = 0.94
RECALL_FLOOR = 0.96

WATCHES = ("russia-hamas-contacts", "russia-gaza-war-stance", "russians-in-gaza-war",
           "russia-military-support", "russia-exploits-gaza-war")


@pytest.fixture(scope="module")
def ruleset():
    return load_rules([RULES])


@pytest.fixture(scope="module")
def matcher(ruleset):
    return compile_rules(ruleset)


def _watches_hit(matcher, title: str, body: str = "") -> set[str]:
    return {hit.watch for hit in matcher.match(Document(id="t", title=title, body=body))}


def test_shipped_rules_validate() -> None:
    assert validate_rules([RULES]) == []


def test_one_watch_per_part_of_the_brief_with_contacts_high(ruleset) -> None:
    assert {w.id for w in ruleset.watches} == set(WATCHES)
    assert ruleset.watch_by_id["russia-hamas-contacts"].priority == "high"
    for watch in ruleset.watches:
        assert watch.title and watch.description, watch.id


def test_every_watch_has_several_examples_each_way(ruleset) -> None:
    for watch in ruleset.watches:
        matches = [e for e in watch.examples if e.expect_match]
        no_matches = [e for e in watch.examples if not e.expect_match]
        assert len(matches) >= 3 and len(no_matches) >= 3, watch.id


def test_every_watch_example_passes(ruleset, matcher) -> None:
    failures = run_examples(ruleset, matcher)
    assert not failures, "\n".join(map(str, failures))


def test_dossier_actors_are_present(ruleset) -> None:
    ids = set(ruleset.actor_by_id)
    assert {"russia", "kremlin", "vladimir-putin", "sergey-lavrov", "mikhail-bogdanov",
            "dmitry-peskov", "maria-zakharova", "vassily-nebenzia", "russian-parliament",
            "russian-state-media", "hamas", "ismail-haniyeh", "khaled-mashal",
            "mousa-abu-marzouk", "yahya-sinwar", "palestinian-islamic-jihad", "iran", "irgc",
            "hezbollah", "houthis", "syria", "wagner", "qatar", "china", "israel",
            "un-security-council"} <= ids


@pytest.mark.parametrize("spelling", [
    "Khaled Mashal", "Mash'al", "Mashaal", "Meshaal", "Машаль", "خالد مشعل"])
def test_every_spelling_of_mashal_counts_as_a_hamas_leader(matcher, spelling: str) -> None:
    assert "russia-hamas-contacts" in _watches_hit(
        matcher, f"{spelling} says Russia and China should do more")


@pytest.mark.parametrize("title", [
    "Делегация ХАМАСа провела переговоры в МИД России",    # Russian declension
    "وفد من حماس يلتقي بوغدانوف في موسكو",                 # Arabic
    "لافروف يستقبل وفدا لحماس",                            # Arabic proclitic on Hamas
])
def test_contacts_are_found_in_russian_and_arabic(matcher, title: str) -> None:
    assert "russia-hamas-contacts" in _watches_hit(matcher, title)


@pytest.fixture(scope="module")
def actor_probe(tmp_path_factory):
    """The shipped actors and themes with one probe watch per actor: '@id' alone."""
    folder = tmp_path_factory.mktemp("probe")
    for name in ("actors.yaml", "themes.yaml"):
        (folder / name).write_text((RULES / name).read_text(encoding="utf-8"), encoding="utf-8")
    ids = [a.id for a in load_rules([RULES]).actors]
    (folder / "watches.yaml").write_text("watches:\n" + "".join(
        f"  - {{id: probe-{i}, query: '@{i}'}}\n" for i in ids), encoding="utf-8")
    probe = compile_rules(load_rules([folder]))

    def actors_in(text: str) -> set[str]:
        hits = probe.match(Document(id="t", title=text, body=""))
        return {hit.watch.removeprefix("probe-") for hit in hits}
    return actors_in


@pytest.mark.parametrize("text, actor, present", [
    ("Hamas says truce talks continue", "hamas", True),
    ("Tourists return to the Bahamas", "hamas", False),
    ("Хамасу передали предложение", "hamas", True),
    ("Moscow hosts talks", "russia", True),
    ("Moscow, Idaho police reopen the case", "russia", False),
    ("Protests a year after Russia's invasion of Ukraine", "russia", False),
    ("Telegram blocks channels, according to Russian state media", "russia", False),
    ("Oil rises on weaker Russian exports", "russia", False),
    ("Russian-Israeli hostages", "russia", True),
    ("Russian-Israeli hostages", "israel", False),
    ("Wagner mercenaries seen in Syria", "wagner", True),
    ("Prigozhin's men: Wagner moves south", "wagner", True),
    ("Richard Wagner's Ring returns to Bayreuth", "wagner", False),
    ("Wagner wins the match point", "wagner", False),
    ("Mash'al and Meshaal are one man", "khaled-mashal", True),
    ("Mishal Husain presents the evening news", "khaled-mashal", False),
    ("Mishal, the Hamas leader abroad", "khaled-mashal", True),
    ("وقال لافروف", "sergey-lavrov", True),
    ("Лаврову задали вопрос", "sergey-lavrov", True),
    # Where a person comes from, the language they speak, a private company: not the state.
    ("A Russian-born Israeli reservist", "russia", False),
    ("Israel's Russian-speaking voters", "russia", False),
    ("Immigrants from Russia settle in Haifa", "russia", False),
    ("Russian cybersecurity company reports attacks", "russia", False),
    ("Brent rises as Russian seaborne exports fall", "russia", False),
    # Russian Газа is also a case of газ ("gas"): bare forms need the war's context.
    ("Жители Газы остались без воды", "gaza-strip", True),
    ("Цены на поставки газа выросли", "gaza-strip", False),
    ("Израиль нанес удары по Газе", "gaza-strip", True),
    ("Рафах закрыт", "gaza-strip", True),
    # Leaders who took office after the dossier was written.
    ("Pezeshkian flies to Moscow", "iran", True),
    ("Naim Qassem speaks", "hezbollah", True),
    ("Abbas Araghchi in Moscow", "palestinian-authority", False),
    ("A senior Hamas official said", "hamas-spokespeople", True),
    # Where a drone was designed is not Iran as a party; Ukraine's cities are Ukraine.
    ("Russia launches Iranian-made drones", "iran", False),
    ("Staff leave the Bushehr plant", "iran", True),
    ("Drones hit the port of Odesa", "ukraine", True),
    ("Russian tourists return to Eilat", "russia", False),
])
def test_actor_spellings_lookalikes_and_background_mentions(actor_probe, text, actor,
                                                            present) -> None:
    assert (actor in actor_probe(text)) is present


@pytest.mark.parametrize("title, body", [
    ("Football clubs hold a minute's silence for victims of the Israel-Hamas war",
     "Many wore Ukrainian colours after Russia's invasion of Ukraine."),
    ("Foreign ministers meet in Brussels on the Israel-Hamas war",
     "Their unity has not been tested like this since Russia invaded Ukraine."),
    ("Messaging app suspends accounts linked to Hamas",
     "The move was first reported, according to Russian state media."),
    ("Russian-Israeli dual national fined over a social media post about Ukraine", ""),
    # A bundle of unrelated stories.
    ("Thursday briefing: Israel widens its Gaza offensive; Kremlin hosts a tech fair", ""),
    # A market report: Russia as a supplier, the Middle East as what moves prices.
    ("Brent jumps as the Middle East conflict escalates",
     "Russia said it would keep output steady, traders noted."),
    # Israel next to "war" where the war is Ukraine's.
    ("Kremlin praises Israel for staying out of the war in Ukraine", ""),
    # Russia and Iran about Ukraine, with Israel in passing.
    ("Zelensky asks Israel for air defence",
     "Iranian drones launched by Russia keep hitting Ukrainian cities."),
])
def test_russia_as_background_makes_no_story(matcher, title: str, body: str) -> None:
    assert _watches_hit(matcher, title, body) == set()


def test_rt_footer_is_not_a_russian_angle(matcher) -> None:
    assert _watches_hit(matcher, "UN agency warns Gaza hospitals are out of fuel",
                        "Read Full Article at RT.com") == set()
    assert "russia-hamas-contacts" in _watches_hit(
        matcher, "Hamas official sets out terms for hostage release in an interview with RT",
        "Read Full Article at RT.com")


def test_bench_says_so_and_exits_cleanly_without_a_corpus(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--corpus", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "no corpus" in result.stderr and result.stdout == ""


def test_bench_measures_a_small_labelled_corpus(tmp_path: Path) -> None:
    items = [
        {"id": "a", "title": "Hamas delegation holds talks in Moscow", "summary": "<p>With "
         "the Russian deputy foreign minister.</p>"},
        {"id": "b", "title": "Putin says Gaza bombing cannot be justified", "summary": ""},
        {"id": "c", "title": "Russian drones hit Kharkiv", "summary": ""},
        {"id": "d", "title": "Kremlin comments on the Gaza war", "summary": ""},
        {"id": "e", "title": "Lavrov meets his Chinese counterpart", "summary": ""},
    ]
    labels = [
        {"id": "a", "label": "yes", "category": 1, "reason": ""},
        {"id": "b", "label": "yes", "category": 2, "reason": ""},
        {"id": "d", "label": "maybe", "category": 2, "reason": ""},
        {"id": "e", "label": "yes", "category": 1, "reason": ""},
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in labels))
    result = subprocess.run([sys.executable, str(BENCH), "--corpus", str(tmp_path),
                             "--show", "fn"], capture_output=True, text=True, timeout=60,
                            check=True)
    report = json.loads(result.stdout)
    assert report["counts"] == {"items": 5, "tp": 2, "fp": 0, "fn": 1, "tn": 1, "maybe": 1,
                                "maybe_hits": 1}
    assert report["precision"] == 1.0 and report["recall"] == pytest.approx(0.6667)
    assert report["categories"]["1"] == {"yes": 2, "hit": 1, "recall": 0.5}
    assert [item["id"] for item in report["fn"]] == ["e"]
    assert report["watches"]["russia-hamas-contacts"]["tp"] == 1


@pytest.mark.corpus
def test_precision_and_recall_on_news_dev_hold() -> None:
    if not (NEWS_DEV / "items.jsonl").exists():
        pytest.skip("news-dev corpus not available")
    result = subprocess.run([sys.executable, str(BENCH), "--corpus", str(NEWS_DEV)],
                            capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout)
    assert report["precision"] >= PRECISION_FLOOR, report
    assert report["recall"] >= RECALL_FLOOR, report
    for category, figures in report["categories"].items():
        assert figures["recall"] >= 0.8, (category, figures)


PROBES = REPO / "bench" / "probes"
# (set, tp, fp, fn) when the sets were shipped (bench/probes/README.md). A floor allows two
# more errors of each kind, as for news-dev: precision with two more false positives,
# recall with two more misses.
PROBE_FIGURES = [("a-near-misses", 107, 7, 7), ("b-near-misses", 96, 10, 0),
                 ("c-three-weeks", 41, 0, 1), ("d-four-weeks", 40, 0, 3),
                 ("e-other-weeks", 43, 3, 0), ("f-multilingual", 102, 2, 0),
                 ("g-headlines", 67, 3, 2), ("h-wires", 71, 12, 1),
                 ("i-full-text", 52, 8, 1), ("j-long-articles", 40, 10, 0),
                 ("k-long-reports", 45, 14, 0), ("l-shared-sentences", 60, 29, 0),
                 ("m-weeks-2026", 48, 0, 1), ("n-aid-and-arms", 56, 0, 4),
                 ("o-weeks-2026b", 31, 0, 1)]


@pytest.mark.parametrize("name, tp, fp, fn", PROBE_FIGURES)
def test_precision_and_recall_on_the_written_probes_hold(name: str, tp: int, fp: int,
                                                         fn: int) -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--corpus", str(PROBES / name)],
                            capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout)
    assert report["precision"] >= tp / (tp + fp + 2) - 1e-4, report["counts"]
    assert report["recall"] >= tp / (tp + fn + 2) - 1e-4, report["counts"]
