"""`monitor rules derive`: a draft rule file proposed from background documents."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.rules import load_rules, validate_rules
from monitor.rules.derive import derive_command, derive_draft, same_word, skeleton

DOSSIER = Path(__file__).resolve().parents[2] / "shared" / "dossier"

# Short texts written for these tests: a few actors under several spellings, with the cues the
# kind guesser reads ("Foreign Minister", "Ministry", "in Doha").
BRIEFING = """\
Russian Foreign Minister Sergei Lavrov met a Hamas delegation in Moscow on Monday.
The delegation was led by Khaled Mashal, who later flew to Doha.
Lavrov said the talks were useful. Mash'al thanked the Foreign Ministry for its help.
Vladimir Putin did not attend the meeting. A spokesman said Putin was travelling.
Analysts in Doha noted that Khaled Meshaal had visited Moscow before.
Hezbollah praised the visit, and a Hizbullah official called it a message to Washington.
The Security Council will discuss the ceasefire proposal again on Friday.
"""
SECOND = """\
Sergey Lavrov spoke to reporters in Doha about the ceasefire proposal.
Mishal, the Hamas leader abroad, told Russia Today that the ceasefire proposal was fair.
The Security Council failed to agree; Russia, Iran and Iraq all criticised the vote.
Hamas fighters remain in Gaza. Protesters in Homs marched on Saturday.
"""


RUSSIAN = ("Владимир Путин встретился с делегацией. Министр Сергей Лавров сказал, что Путина "
           "интересует мнение сторон. Лаврова спросили о Газе. Путину доложили о встрече.\n")


def _actors(draft: str) -> dict[str, dict]:
    """The draft's actors, keyed by name."""
    return {actor["name"]: actor for actor in yaml.safe_load(draft)["actors"]}


def _actor_with_alias(draft: str, alias: str) -> dict:
    matches = [a for a in yaml.safe_load(draft)["actors"] if alias in a["aliases"]]
    assert len(matches) == 1, f"{alias!r} should belong to exactly one actor: {matches}"
    return matches[0]


def test_spelling_variants_cluster_under_one_actor() -> None:
    draft = derive_draft({"briefing.txt": BRIEFING, "second.txt": SECOND})
    mashal = _actor_with_alias(draft, "Khaled Mashal")
    assert {"Khaled Mashal", "Mash'al", "Khaled Meshaal", "Mishal"} <= set(mashal["aliases"])
    hezbollah = _actor_with_alias(draft, "Hezbollah")
    assert "Hizbullah" in hezbollah["aliases"]
    lavrov = _actor_with_alias(draft, "Lavrov")
    assert {"Sergei Lavrov", "Sergey Lavrov"} <= set(lavrov["aliases"])


def test_full_name_and_surname_cluster_and_full_name_is_the_actor_name() -> None:
    putin = _actor_with_alias(derive_draft({"a.txt": BRIEFING}), "Putin")
    assert putin["name"] == "Vladimir Putin"
    assert set(putin["aliases"]) == {"Vladimir Putin", "Putin"}


def test_similar_but_different_names_stay_apart() -> None:
    draft = derive_draft({"a.txt": SECOND + "Homs was shelled again. Iraq and Iran met.\n"})
    assert _actor_with_alias(draft, "Hamas") is not _actor_with_alias(draft, "Homs")
    assert "Iraq" not in _actor_with_alias(draft, "Iran")["aliases"]
    assert not same_word("hamas", "homs")
    assert not same_word("iran", "iraq")


def test_mentions_are_counted_with_longest_match_winning() -> None:
    draft = derive_draft({"a.txt": BRIEFING})
    # "Vladimir Putin" is one mention, not one of "Vladimir Putin" and one of "Putin".
    assert "# 2 mention(s) in 1 document(s): Putin ×1, Vladimir Putin ×1" in draft
    assert "# 3 mention(s) in 1 document(s): Khaled Mashal ×1, Khaled Meshaal ×1, Mash'al ×1" \
        in draft


def test_kinds_are_guessed_from_titles_head_words_gazetteer_and_places() -> None:
    draft = derive_draft({"a.txt": BRIEFING, "b.txt": SECOND})
    actors = _actors(draft)
    assert _actor_with_alias(draft, "Sergei Lavrov")["kind"] == "person"
    assert actors["Security Council"]["kind"] == "organisation"
    assert actors["Russia"]["kind"] == "state"
    assert "Russian" in actors["Russia"]["aliases"]  # demonyms count for their state
    assert actors["Doha"]["kind"] == "place"
    assert actors["Hamas"]["kind"] == "organisation"


def test_titles_and_sentence_starts_are_not_taken_for_names() -> None:
    actors = _actors(derive_draft({"a.txt": BRIEFING, "b.txt": SECOND}))
    aliases = {alias for actor in actors.values() for alias in actor["aliases"]}
    assert not aliases & {"The", "Analysts", "Protesters", "Foreign Minister", "Monday",
                          "Russian Foreign Minister Sergei Lavrov", "A"}


def test_a_word_after_a_spaced_hyphen_starts_a_clause() -> None:
    # A capitalised verb after " - " is not part of the name it runs into, and a name after
    # the dash is still found.
    text = BRIEFING + ("A Hamas official spoke out - Exposing Hamas aims, he said.\n"
                       "Talks went on - Lavrov met them again.\n")
    draft = derive_draft({"a.txt": text, "b.txt": SECOND})
    assert "Exposing Hamas" not in _actor_with_alias(draft, "Hamas")["aliases"]
    assert "Lavrov ×2" in draft  # BRIEFING's one and the one after the dash


def test_russian_declensions_cluster() -> None:
    draft = derive_draft({"ru.txt": RUSSIAN})
    putin = _actor_with_alias(draft, "Путина")
    assert {"Владимир Путин", "Путина", "Путину"} <= set(putin["aliases"])
    assert putin["kind"] == "person"
    assert {"Сергей Лавров", "Лаврова"} <= set(_actor_with_alias(draft, "Лаврова")["aliases"])
    assert skeleton("путина") == skeleton("путин")


def test_themes_are_frequent_phrases_outside_names() -> None:
    draft = yaml.safe_load(derive_draft({"a.txt": BRIEFING, "b.txt": SECOND}))
    terms = {term for theme in draft["themes"] for term in theme["terms"]}
    assert "ceasefire proposal" in terms
    assert not any("lavrov" in term or "security council" in term for term in terms)


def test_draft_is_valid_yaml_with_commented_counts_and_contexts() -> None:
    draft = derive_draft({"a.txt": BRIEFING, "b.txt": SECOND})
    loaded = yaml.safe_load(draft)
    assert set(loaded) == {"actors", "themes", "watches"}
    ids = [entry["id"] for entry in loaded["actors"] + loaded["themes"]]
    assert len(ids) == len(set(ids))
    assert all(entry["id"].replace("-", "").isalnum() for entry in loaded["actors"])
    assert "#   e.g. …" in draft  # example contexts for the operator, as comments


def test_draft_loads_with_the_rule_engine(tmp_path: Path) -> None:
    draft = derive_draft({"a.txt": BRIEFING, "b.txt": SECOND, "ru.txt": RUSSIAN})
    (tmp_path / "draft.yaml").write_text(draft, encoding="utf-8")
    errors = validate_rules([tmp_path])
    # Only the (empty) watches may draw a complaint; actors and themes must be well-formed.
    assert all("watch" in str(error).lower() for error in errors), errors
    if not errors:
        ruleset = load_rules([tmp_path])
        assert {a.id for a in ruleset.actors} >= {"hamas", "moscow", "vladimir-putin"}


def test_output_is_deterministic_whatever_the_input_order() -> None:
    texts = {"a.txt": BRIEFING, "b.txt": SECOND}
    first = derive_draft(texts)
    assert derive_draft(dict(reversed(list(texts.items())))) == first
    assert derive_draft(texts) == first


def test_output_does_not_depend_on_string_hashing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(BRIEFING + SECOND + RUSSIAN, encoding="utf-8")
    script = ("import sys; from pathlib import Path; from monitor.rules.derive import "
              "derive_draft; sys.stdout.write(derive_draft({'a': Path(sys.argv[1]).read_text()}))")
    outputs = {
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "a.txt")], check=True,
                       capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed},
                       timeout=60).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_min_mentions_leaves_out_one_off_names() -> None:
    aliases = {a for actor in _actors(derive_draft({"a.txt": SECOND})).values()
               for a in actor["aliases"]}
    assert "Homs" not in aliases  # one mention in SECOND
    everything = derive_draft({"a.txt": SECOND}, min_mentions=1)
    assert "Homs" in {a for actor in _actors(everything).values() for a in actor["aliases"]}


def test_cli_prints_the_draft_for_the_files(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text(BRIEFING, encoding="utf-8")
    (tmp_path / "two.txt").write_text(SECOND, encoding="utf-8")
    result = CliRunner().invoke(derive_command, [str(tmp_path / "one.txt"),
                                                 str(tmp_path / "two.txt")])
    assert result.exit_code == 0, result.output
    assert result.output == derive_draft({str(tmp_path / "one.txt"): BRIEFING,
                                          str(tmp_path / "two.txt"): SECOND})
    missing = CliRunner().invoke(derive_command, [str(tmp_path / "absent.txt")])
    assert missing.exit_code != 0


@pytest.mark.corpus
def test_real_dossier_yields_its_main_actors() -> None:
    files = sorted(DOSSIER.glob("*.txt")) if DOSSIER.is_dir() else []
    if not files:
        pytest.skip("dossier not available")
    draft = derive_draft({f.name: f.read_text(encoding="utf-8") for f in files})
    actors = yaml.safe_load(draft)["actors"]

    def actor(alias: str) -> dict:
        found = [a for a in actors if alias in a["aliases"]]
        assert len(found) == 1, f"{alias!r}: {found}"
        return found[0]

    assert actor("Hamas")["kind"] == "organisation"
    assert actor("Putin")["kind"] == "person"
    assert actor("Lavrov")["kind"] == "person"
    assert actor("Bogdanov")["kind"] == "person"
    assert actor("Iran")["kind"] == "state"
    mashal = actor("Khaled Mashal")
    assert {"Khaled Mash'al", "Khaled Mashaal", "Mashal"} <= set(mashal["aliases"])
    assert {"Hizbullah", "Hezbollah"} <= set(actor("Hizbullah")["aliases"])
    assert {"Abu Marzouk", "Moussa Abu Marzouq"} <= set(actor("Abu Marzouk")["aliases"])


@pytest.mark.corpus
def test_real_dossier_draft_is_a_valid_rule_file(tmp_path: Path) -> None:
    files = sorted(DOSSIER.glob("*.txt")) if DOSSIER.is_dir() else []
    if not files:
        pytest.skip("dossier not available")
    draft = derive_draft({f.name: f.read_text(encoding="utf-8") for f in files})
    (tmp_path / "draft.yaml").write_text(draft, encoding="utf-8")
    assert validate_rules([tmp_path]) == []
    assert len(load_rules([tmp_path]).themes) >= 10
