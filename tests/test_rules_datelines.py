"""Wire datelines: recognised in the agencies' forms, left alone elsewhere, and not read by
the matcher (while the spans of what it does read still point into the original text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.rules import Document, compile_rules, load_rules
from monitor.rules.datelines import blank_datelines, dateline_spans


@pytest.mark.parametrize("text, dateline", [
    ("MOSCOW, Oct 9 (Reuters) - Dmitry Medvedev said", "MOSCOW, Oct 9 (Reuters) - "),
    ("TEL AVIV, Israel (AP) — Israeli jets struck", "TEL AVIV, Israel (AP) — "),
    ("UNITED NATIONS (AP) — The Security Council voted", "UNITED NATIONS (AP) — "),
    ("KYIV/MOSCOW, Aug 24 (Reuters) - Drones hit", "KYIV/MOSCOW, Aug 24 (Reuters) - "),
    ("KYIV. Sept 8 (Interfax-Ukraine) - The ministry", "KYIV. Sept 8 (Interfax-Ukraine) - "),
    ("(Reuters) - Russia said", "(Reuters) - "),
    ("МОСКВА, 1 ноября. /ТАСС/. МИД РФ заявил", "МОСКВА, 1 ноября. /ТАСС/. "),
    ("Москва. 30 июля. INTERFAX.RU - Израильская армия", "Москва. 30 июля. INTERFAX.RU - "),
    ("МОСКВА, 1 ноя — РИА Новости. Глава МИД", "МОСКВА, 1 ноя — РИА Новости. "),
    ("موسكو - (رويترز) - قال الكرملين", "موسكو - (رويترز) - "),
    ("القاهرة 12-5-2026 وفا- انطلقت", "القاهرة 12-5-2026 وفا- "),
    ("غزة - وكالات - قال", "غزة - وكالات - "),
])
def test_agency_datelines_are_found(text: str, dateline: str) -> None:
    assert [text[a:b] for a, b in dateline_spans(text)] == [dateline]


@pytest.mark.parametrize("text", [
    "Moscow said on Tuesday that Hamas had asked for talks",
    "Moscow Reuters reported that talks went well",   # no credit form
    "Putin arrives in Tehran. AFP.",                 # a credit ending a sentence
    "Putin in Tehran — AFP",                          # not a place name
    "Russia's RIA - the agency said",                 # a possessive
    "Hamas (the group) said Moscow (Russia) was a friend",
    "بحث وفد من كتلة الوفاء للمقاومة مع مسؤولين",      # وفا inside a word
    "",
    "A long opening sentence that goes on and on and names no one. MOSCOW (AP) — x",
])
def test_other_openings_are_left_alone(text: str) -> None:
    assert dateline_spans(text) == []
    assert blank_datelines(text) is text


def test_datelines_open_lines_too_and_blanking_keeps_every_offset() -> None:
    text = "A summary.\nGAZA, Nov 2 (AFP) - More aid entered.\n\nMOSCOW (AP) — Lavrov spoke."
    blanked = blank_datelines(text)
    assert len(blanked) == len(text)
    assert blanked == ("A summary.\n" + " " * 20 + "More aid entered.\n\n" + " " * 14
                       + "Lavrov spoke.")


RULES = """\
actors:
  - id: russia
    aliases: [Russia, Russian, Moscow, Москв~]
  - id: state-media
    aliases: [TASS, ТАСС]
  - id: hamas
    aliases: [Hamas, Haniyeh, ХАМАС]
watches:
  - id: contacts
    query: '(@russia OR @state-media) AND @hamas'
"""


@pytest.fixture()
def matcher(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return compile_rules(load_rules([path]))


def test_the_matcher_does_not_read_the_dateline(matcher) -> None:
    tass = Document("1", "Turkey's foreign minister meets Haniyeh",
                    "ANKARA, April 20. /TASS/. The two discussed a truce.")
    interfax = Document("2", "Удар по Бейруту",
                        "Москва. 30 июля. INTERFAX.RU - В ХАМАС заявили о переговорах.")
    assert matcher.match(tass) == []
    assert matcher.match(interfax) == []


def test_what_follows_the_dateline_still_matches_with_true_offsets(matcher) -> None:
    body = "MOSCOW, Oct 9 (Reuters) - Russia hosted a Hamas delegation in Moscow."
    [hit] = matcher.match(Document("3", "Talks", body))
    spans = [(t.text, t.start, t.end) for t in hit.terms]
    russia, hamas, moscow = body.index("Russia"), body.index("Hamas"), body.rindex("Moscow")
    assert spans == [("Russia", russia, russia + 6), ("Hamas", hamas, hamas + 5),
                     ("Moscow", moscow, moscow + 6)]
