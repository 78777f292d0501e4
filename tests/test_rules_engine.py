"""The matcher: word boundaries, inflections, weak aliases, exclusions, NEAR, scopes, spans,
priorities and the required-term pre-filter."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from monitor.rules import (
    Document,
    Hit,
    Matcher,
    compile_rules,
    load_rules,
    run_examples,
)

ACTORS = """\
actors:
  - id: hamas
    name: Hamas
    kind: organisation
    aliases: [Hamas, Islamic Resistance Movement, Хамас~, حماس, {text: Sinwar, weak: true}]
    context: ["@gaza", Palestin*, "#war"]
  - id: gaza
    aliases: [Gaza, Газ~, غزة]
  - id: russia
    aliases: [Russia, Moscow, Kremlin, Росси~, Москв~, Кремл~, روسيا, الكرملين]
    exclude: ["Moscow, Idaho", "Moscow Mule"]
  - id: iran
    aliases: [Iran]
  - id: lavrov
    aliases: [Sergei Lavrov, Lavrov, Лавров~]
  - id: mashal
    aliases: [Khaled Mashal, Mash'al, Meshaal]
themes:
  - id: war
    terms: [war, airstrike*, shelling]
  - id: contacts
    terms: [talks, visit*, met, meeting, delegation, переговор*, визит*, делегаци~]
"""


def matcher_for(tmp_path: Path, watches: str) -> Matcher:
    path = tmp_path / "rules.yaml"
    path.write_text(ACTORS + "watches:\n" + watches, encoding="utf-8")
    return compile_rules(load_rules([path]))


def one_watch(tmp_path: Path, query: str) -> Matcher:
    return matcher_for(tmp_path, f"  - id: w\n    query: '{query}'\n")


def matches(matcher: Matcher, title: str, body: str = "", **meta: str) -> list[str]:
    return [hit.watch for hit in matcher.match(Document("d", title, body, **meta))]


def hit_for(matcher: Matcher, title: str, body: str = "") -> Hit:
    (hit,) = matcher.match(Document("d", title, body))
    return hit


# --- word boundaries and inflection ----------------------------------------------------------

def test_an_alias_matches_whole_words_only_in_every_script(tmp_path):
    m = one_watch(tmp_path, "@hamas OR @iran OR @lavrov")
    assert matches(m, "Hamas statement") == ["w"]
    assert matches(m, "Bahamas tourism rebounds") == []
    assert matches(m, "Tirana hosts summit") == []
    assert matches(m, "Iranian drones") == []
    assert matches(m, "ЛАВРОВ прибыл") == ["w"]
    assert matches(m, "лавровый лист в супе") == []
    assert matches(m, "Zuhamas and Hamasville") == []


def test_a_declension_mark_accepts_russian_case_endings_only(tmp_path):
    m = one_watch(tmp_path, "@lavrov")
    for form in ("Лавров", "Лаврова", "Лаврову", "Лавровым", "Лаврове", "ЛАВРОВОМ"):
        assert matches(m, f"встреча: {form} заявил") == ["w"], form
    for other in ("лавровый", "лаврового", "лавровая", "Лавровка"):
        assert matches(m, f"{other} лист") == [], other


def test_an_adjective_declension_mark_accepts_adjective_endings_only(tmp_path):
    m = one_watch(tmp_path, "российск~~ AND делегаци~")
    assert matches(m, "Российская делегация") == ["w"]
    assert matches(m, "делегацию российского МИД") == ["w"]
    assert matches(m, "делегация российск") == []


def test_arabic_aliases_accept_proclitics_but_not_an_added_article(tmp_path):
    m = one_watch(tmp_path, "@hamas")
    for form in ("حماس", "وحماس", "لحماس", "بحماس", "فبحماس", "حَمَاس"):
        assert matches(m, f"بيان {form} اليوم") == ["w"], form
    assert matches(m, "الحماس الشعبي") == []     # "the enthusiasm"
    assert matches(m, "حماسة كبيرة") == []        # a longer word


def test_an_arabic_alias_written_with_the_article_requires_it(tmp_path):
    m = one_watch(tmp_path, "@russia")
    for form in ("الكرملين", "والكرملين", "بالكرملين", "للكرملين", "فالكرملين"):
        assert matches(m, f"قال {form} اليوم") == ["w"], form
    assert matches(m, "كرملين جديد") == []


def test_patterns_sharing_an_automaton_key_are_each_checked_on_their_own(tmp_path):
    m = matcher_for(tmp_path, """\
  - id: noun
    query: Лавров~
  - id: prefix
    query: Лавров*
  - id: arabic-actor
    query: '@hamas'
  - id: arabic-word
    query: وحماس
""")
    assert matches(m, "лавровый лист") == ["prefix"]
    assert matches(m, "встреча с Лавровым") == ["noun", "prefix"]
    hits = m.match(Document("d", "بيان وحماس اليوم", ""))
    assert [h.watch for h in hits] == ["arabic-actor", "arabic-word"]
    assert [[t.text for t in h.terms] for h in hits] == [["وحماس"], ["وحماس"]]


def test_a_wildcard_matches_words_starting_with_its_prefix(tmp_path):
    m = one_watch(tmp_path, 'sanction* OR "humanitarian pause*"')
    assert matches(m, "New sanctions announced") == ["w"]
    assert matches(m, "Sanctioned banks") == ["w"]
    assert matches(m, "calls for humanitarian pauses") == ["w"]
    assert matches(m, "unsanctioned rally") == []
    assert matches(m, "humanitarian aid pause") == []


def test_a_phrase_needs_its_words_adjacent_whatever_the_punctuation(tmp_path):
    m = one_watch(tmp_path, '"Islamic Jihad" OR @hamas')
    assert matches(m, "Statement by the Islamic  Resistance — Movement") == ["w"]
    assert matches(m, "Islamic-Jihad fighters") == ["w"]
    assert matches(m, "Islamic groups and Jihad") == []


def test_case_diacritics_and_apostrophes_do_not_matter(tmp_path):
    m = one_watch(tmp_path, "@mashal")
    for spelling in ("Mash’al", "MASHAL", "Mashʿal", "Khaled Mashal", "Meshaal’s speech"):
        assert matches(m, f"{spelling} said") == ["w"], spelling


def test_possessives_still_match_the_name(tmp_path):
    m = one_watch(tmp_path, "@hamas AND @russia")
    assert matches(m, "Hamas’s delegation arrives in Russia's capital") == ["w"]


# --- weak aliases, context and exclusions ----------------------------------------------------

def test_a_weak_alias_needs_context_in_the_item(tmp_path):
    m = one_watch(tmp_path, "@hamas")
    assert matches(m, "Sinwar speaks") == []
    assert matches(m, "Sinwar speaks", "The speech was broadcast in Gaza.") == ["w"]
    assert matches(m, "Sinwar speaks on Palestinian unity") == ["w"]       # wildcard context
    assert matches(m, "Sinwar speaks about the war") == ["w"]              # #theme context
    assert matches(m, "Sinwar speaks in Газе") == ["w"]                   # @actor context


def test_an_exclusion_cancels_only_the_alias_occurrences_it_overlaps(tmp_path):
    m = one_watch(tmp_path, "@russia")
    assert matches(m, "Police in Moscow, Idaho reopen case") == []
    assert matches(m, "Bartender mixes a Moscow Mule") == []
    assert matches(m, "Moscow, Idaho case echoes in Moscow") == ["w"]
    hit = hit_for(m, "Moscow, Idaho case echoes in Moscow")
    assert [(t.text, t.start) for t in hit.terms] == [("Moscow", 29)]


def test_many_exclusions_cancel_exactly_the_occurrences_they_overlap(tmp_path):
    # Exclusions of two lengths, mixed with real mentions and in both fields: each alias
    # occurrence is kept or dropped exactly as its own neighbourhood says.
    m = one_watch(tmp_path, "@russia")
    rng = random.Random(7)
    parts, kept = [], []
    for _ in range(400):
        kind = rng.choice(("idaho", "mule", "plain", "filler"))
        at = sum(len(p) + 1 for p in parts)
        if kind == "plain":
            kept.append(at + len("Then "))
        parts.append({"idaho": "Police in Moscow, Idaho said.", "mule": "A Moscow Mule.",
                      "plain": "Then Moscow spoke.", "filler": "Rain fell."}[kind])
    body = " ".join(parts)
    hit = hit_for(m, "Moscow, Idaho notebook", body)
    assert [t.start for t in hit.terms if t.field == "body"] == kept
    assert [t for t in hit.terms if t.field == "title"] == []


# --- operators -------------------------------------------------------------------------------

def test_and_or_not(tmp_path):
    m = one_watch(tmp_path, "@hamas AND (@russia OR @iran) AND NOT #war")
    assert matches(m, "Hamas delegation in Moscow") == ["w"]
    assert matches(m, "Hamas envoy in Iran") == ["w"]
    assert matches(m, "Hamas and Israel") == []
    assert matches(m, "Hamas in Moscow as war rages") == []


def test_near_is_unordered_and_counts_words(tmp_path):
    m = one_watch(tmp_path, "@lavrov NEAR/3 @hamas")
    assert matches(m, "Lavrov met Hamas") == ["w"]                    # 2 words apart
    assert matches(m, "Hamas leaders met Lavrov") == ["w"]            # other order, 3
    assert matches(m, "Lavrov met top Hamas") == ["w"]                # exactly 3
    assert matches(m, "Lavrov met the top Hamas") == []               # 4
    assert matches(m, "Sergei Lavrov met Hamas") == ["w"]             # from the phrase's end


def test_near_1_means_adjacent_and_an_occurrence_is_not_paired_with_itself(tmp_path):
    m = one_watch(tmp_path, "Moscow NEAR/1 @russia")
    assert matches(m, "Moscow Kremlin") == ["w"]
    assert matches(m, "Moscow said") == []
    assert matches(m, "Moscow said Russia") == []


def test_near_pairs_occurrences_in_the_same_field_only(tmp_path):
    m = one_watch(tmp_path, "@lavrov NEAR/5 @hamas")
    assert matches(m, "Lavrov statement", "Hamas responded") == []
    assert matches(m, "Statement", "Lavrov and Hamas") == ["w"]


def test_near_counts_words_the_same_way_in_a_long_body(tmp_path):
    # A body of thousands of words takes another way to number words (see
    # ItemState.word_index): the distances must come out exactly as in a short one.
    m = one_watch(tmp_path, "@lavrov NEAR/3 @hamas")
    filler = " ".join(f"word{i}," for i in range(3000))
    assert matches(m, "Statement", f"{filler} Lavrov met top Hamas. {filler}") == ["w"]
    assert matches(m, "Statement", f"{filler} Lavrov met the top Hamas {filler}") == []
    assert matches(m, "Statement", f"{filler} Hamas leaders met Lavrov") == ["w"]
    assert matches(m, "Statement", f"Sergei Lavrov met Hamas {filler}") == ["w"]


def test_field_scopes_restrict_where_terms_count(tmp_path):
    m = one_watch(tmp_path, "title:@hamas AND body:(#contacts OR Moscow)")
    assert matches(m, "Hamas statement", "after talks") == ["w"]
    assert matches(m, "Statement", "Hamas after talks") == []
    assert matches(m, "Hamas talks", "nothing else") == []
    m = one_watch(tmp_path, "@hamas AND NOT title:@iran")
    assert matches(m, "Hamas", "Iran") == ["w"]
    assert matches(m, "Hamas and Iran", "") == []


def test_source_site_and_lang_filter_on_item_metadata(tmp_path):
    m = one_watch(tmp_path, '@hamas AND site:tass.com')
    assert matches(m, "Hamas", url="https://tass.com/politics/1") == ["w"]
    assert matches(m, "Hamas", url="https://en.tass.com/world/2") == ["w"]
    assert matches(m, "Hamas", url="https://www.tass.com/x") == ["w"]
    assert matches(m, "Hamas", url="https://nottass.com/x") == []
    assert matches(m, "Hamas") == []
    m = one_watch(tmp_path, '@hamas AND source:"Moscow Times"')
    assert matches(m, "Hamas", source="The Moscow Times") == ["w"]
    assert matches(m, "Hamas", source="Moscow Herald Times") == []
    m = one_watch(tmp_path, "@hamas AND lang:ru")
    assert matches(m, "Hamas", lang="ru-RU") == ["w"]
    assert matches(m, "Hamas", lang="RU") == ["w"]
    assert matches(m, "Hamas", lang="en") == []
    assert matches(m, "Hamas") == []


# --- hits ------------------------------------------------------------------------------------

def test_hits_are_sorted_by_priority_then_watch_id(tmp_path):
    m = matcher_for(tmp_path, """\
  - id: b-low
    priority: low
    query: '@hamas'
  - id: a-normal
    query: '@hamas'
  - id: z-critical
    priority: critical
    query: '@hamas'
  - id: c-high
    priority: high
    query: '@hamas'
  - id: a-high
    priority: high
    query: '@hamas'
""")
    hits = m.match(Document("d", "Hamas", ""))
    assert [(h.priority, h.watch) for h in hits] == [
        ("critical", "z-critical"), ("high", "a-high"), ("high", "c-high"),
        ("normal", "a-normal"), ("low", "b-low")]


def test_hit_terms_carry_spans_in_the_original_text(tmp_path):
    m = one_watch(tmp_path, "@hamas AND (@russia OR @mashal)")
    title = "“Mash’al’s” HAMAS — a delegation"
    body = "Делегация ХАМАС прибыла в Москву.\nمن وَحَمَاس"
    hit = hit_for(m, title, body)
    seen = [(t.field, t.text, t.term, t.actor) for t in hit.terms]
    assert seen == [
        ("title", "Mash’al", "Mash'al", "mashal"),
        ("title", "HAMAS", "Hamas", "hamas"),
        ("body", "ХАМАС", "Хамас~", "hamas"),
        ("body", "Москву", "Москв~", "russia"),
        ("body", "وَحَمَاس", "حماس", "hamas"),
    ]
    for term in hit.terms:
        text = title if term.field == "title" else body
        assert text[term.start:term.end] == term.text


def test_hit_terms_are_the_positive_terms_only_in_text_order(tmp_path):
    m = one_watch(tmp_path, "#contacts AND @hamas AND NOT @iran")
    hit = hit_for(m, "Hamas delegation talks", "Hamas met in Doha")
    assert [(t.field, t.text, t.theme, t.actor) for t in hit.terms] == [
        ("title", "Hamas", None, "hamas"), ("title", "delegation", "contacts", None),
        ("title", "talks", "contacts", None), ("body", "Hamas", None, "hamas"),
        ("body", "met", "contacts", None)]


def test_a_query_term_reported_through_an_actor_is_not_repeated(tmp_path):
    m = one_watch(tmp_path, "Hamas AND @hamas")
    hit = hit_for(m, "Hamas")
    assert [(t.text, t.actor) for t in hit.terms] == [("Hamas", "hamas")]


def test_an_actor_or_word_written_twice_in_a_query_reports_each_occurrence_once(tmp_path):
    m = matcher_for(tmp_path, "  - id: actor\n    query: '@iran AND (@iran OR @lavrov)'\n"
                              "  - id: word\n    query: 'talks AND (talks OR visit*)'\n")
    hits = m.match(Document("d", "Iran talks", "Lavrov and Iran: more talks"))
    assert {h.watch: [(t.field, t.text) for t in h.terms] for h in hits} == {
        "actor": [("title", "Iran"), ("body", "Lavrov"), ("body", "Iran")],
        "word": [("title", "talks"), ("body", "talks")]}


def test_occurrences_of_one_alias_through_several_proclitics_come_in_text_order(tmp_path):
    m = one_watch(tmp_path, "@hamas AND @russia")
    hit = hit_for(m, "روسيا", "وحماس ثم حماس ثم بحماس ثم لحماس")
    assert [t.text for t in hit.terms if t.field == "body"] == [
        "وحماس", "حماس", "بحماس", "لحماس"]
    assert [t.start for t in hit.terms if t.field == "body"] == [0, 9, 17, 26]

# --- the pre-filter --------------------------------------------------------------------------

def test_a_watch_whose_required_terms_are_absent_is_not_evaluated(tmp_path):
    m = matcher_for(tmp_path, """\
  - id: hamas-russia
    query: '@hamas AND @russia'
  - id: iran-war
    query: '@iran AND #war'
""")
    m.match(Document("d", "Weather report", "Sunny all week in the region."))
    assert (m.stats.candidates, m.stats.evaluated) == (0, 0)
    m.stats.reset()
    m.match(Document("d", "Hamas statement", "No other names here."))
    assert m.stats.evaluated == 0      # @russia, the other required group, is absent
    m.stats.reset()
    assert matches(m, "Hamas delegation in Moscow") == ["hamas-russia"]
    assert m.stats.evaluated == 1      # iran-war was never looked at


def test_plausible_lists_what_the_prefilter_lets_through(tmp_path):
    m = matcher_for(tmp_path, """\
  - id: hamas-russia
    query: '@hamas AND @russia AND NOT @iran'
  - id: iran-war
    query: '@iran AND #war'
  - id: lavrov-near
    query: '@lavrov NEAR/2 @hamas'
""")
    assert m.plausible(Document("d", "Weather report", "Sunny all week.")) == []
    assert m.plausible(Document("d", "Hamas statement", "No other names.")) == []
    # Every required term occurs; the prefilter decides no NOT and no NEAR.
    doc = Document("d", "Lavrov, far from the word, then Hamas in Moscow and Iran", "")
    assert m.plausible(doc) == ["hamas-russia", "lavrov-near"]
    assert matches(m, doc.title) == []
    doc = Document("d", "Lavrov on Hamas in Moscow", "")
    assert m.plausible(doc) == ["hamas-russia", "lavrov-near"]
    assert matches(m, doc.title) == ["hamas-russia", "lavrov-near"]


def test_cost_follows_the_watches_an_item_can_match_not_the_rule_count(tmp_path):
    lines = ["actors:"]
    watches = ["watches:"]
    for n in range(500):
        lines += [f"  - id: a{n}", f"    aliases: [Name{n}x Surname{n}y]"]
        watches += [f"  - id: w{n}", f"    query: '@a{n} AND (talks OR visit*)'"]
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(lines + watches) + "\n")
    m = compile_rules(load_rules([path]))
    hits = m.match(Document("d", "Name7x Surname7y visits Name8x", "talks"))
    assert [h.watch for h in hits] == ["w7"]
    assert (m.stats.candidates, m.stats.evaluated) == (1, 1)


def test_a_watch_is_indexed_under_its_rarer_required_group(tmp_path):
    m = one_watch(tmp_path, "#contacts AND @mashal")
    for _ in range(3):
        m.match(Document("d", "talks and meeting and visit", ""))
    assert m.stats.candidates == 0


def test_the_indexed_matcher_agrees_with_evaluating_every_watch(tmp_path):
    # match() skips watches through the index and decides AND/OR/NOT-of-sets watches (and
    # collects their evidence) without their query tree; match_watch() evaluates the tree of
    # one watch, unindexed; a matcher with the set decisions turned off walks every tree.
    # Over many random queries and texts all three must give the same hits and terms.
    rng = random.Random(7)
    operands = ["@hamas", "@gaza", "@russia", "@iran", "@lavrov", "@mashal", "#war",
                "#contacts", "ceasefire", "sanction*", '"security council"', "veto"]

    def operand(depth: int) -> str:
        roll = rng.random()
        if depth < 2 and roll < 0.25:
            op = rng.choice([" AND ", " OR "])
            return "(" + op.join(operand(depth + 1) for _ in range(rng.randint(2, 3))) + ")"
        if roll < 0.32:
            return f"title:{rng.choice(operands)}"
        if roll < 0.40:
            return f"{rng.choice(operands)} NEAR/{rng.randint(1, 6)} {rng.choice(operands)}"
        return rng.choice(operands)

    queries = []
    for _ in range(300):
        parts = [operand(0) for _ in range(rng.randint(1, 3))]
        query = " AND ".join(parts)
        if rng.random() < 0.3:
            query += f" AND NOT {operand(1)}"
        queries.append(query)
    watches = "".join(f"  - id: w{n:03d}\n    query: '{q}'\n" for n, q in enumerate(queries))
    m = matcher_for(tmp_path, watches)
    assert any(w.exact for w in m._watches) and not all(w.exact for w in m._watches)
    # The same rules with every watch evaluated through its tree, evidence included.
    tree_only = matcher_for(tmp_path, watches)
    tree_only._watches = [dataclasses.replace(w, exact=False) for w in tree_only._watches]
    words = ["Hamas", "Gaza", "Russia", "Moscow", "Moscow, Idaho", "Iran", "Lavrov", "Sinwar",
             "Mash'al", "war", "airstrikes", "talks", "visited", "delegation", "ceasefire",
             "sanctions", "Security Council", "veto", "the", "said", "on", "a", "Palestinians",
             "Хамаса", "Лаврову", "переговоры", "حماس", "Moscow Mule", "weather"]
    hits = 0
    for number in range(150):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(2, 8)))
        body = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        doc = Document(f"d{number}", title, body)
        indexed = m.match(doc)
        each = [hit for hit in (m.match_watch(doc, watch) for watch in m.watch_ids) if hit]
        assert sorted(indexed) == sorted(each), (title, body)
        assert indexed == tree_only.match(doc), (title, body)
        hits += len(indexed)
    assert hits > 300  # the texts do match: the comparison is not between two empty lists


# --- examples and explanations ---------------------------------------------------------------

def test_run_examples_reports_the_examples_a_watch_gets_wrong(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(ACTORS + """\
watches:
  - id: w
    query: '@hamas AND @russia'
    examples:
      match:
        - Hamas delegation in Moscow
        - {title: Talks, body: A Hamas envoy visited the Kremlin.}
        - Hamas delegation in Tehran
      no_match:
        - Moscow, Idaho police and Hamas
        - Hamas in Moscow again
""", encoding="utf-8")
    rules = load_rules([path])
    failures = run_examples(rules, compile_rules(rules))
    base = ACTORS.count("\n")
    assert [(f.watch, f.expected_match, f.origin.line) for f in failures] == [
        ("w", True, base + 8), ("w", False, base + 11)]
    assert [t.text for t in failures[0].found] == ["Hamas"]
    assert [t.text for t in failures[1].found] == ["Hamas", "Moscow"]
    assert "should match but does not" in str(failures[0])
    assert "should not match but does" in str(failures[1])


def test_match_watch_and_explain_look_at_one_watch(tmp_path):
    m = matcher_for(tmp_path, """\
  - id: w1
    query: '@hamas AND NOT @iran'
  - id: w2
    query: '@iran'
""")
    doc = Document("d", "Hamas and Iran", "")
    assert m.match_watch(doc, "w1") is None
    assert m.match_watch(doc, "w2") is not None
    assert [(t.text, t.actor) for t in m.explain(doc, "w1")] == [
        ("Hamas", "hamas"), ("Iran", "iran")]
    with pytest.raises(KeyError):
        m.match_watch(doc, "nope")


def test_compile_reports_sizes(tmp_path):
    m = one_watch(tmp_path, "@hamas")
    assert m.watch_count == 1
    assert m.watch_ids == ("w",)
    assert m.term_count >= 20
    assert " hamas " in m.automaton_keys()


# --- matching.body_words ---------------------------------------------------------------------

def test_with_body_words_only_the_lead_of_a_long_body_is_read(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(ACTORS + "matching:\n  body_words: 20\nwatches:\n"
                    "  - id: w\n    query: '@russia AND @gaza'\n", encoding="utf-8")
    matcher = compile_rules(load_rules([path]))
    filler = " ".join(["word"] * 30)
    deep = f"Russia said it. {filler} Gaza."            # Gaza is word 34
    lead = f"Gaza and Russia. {filler}"
    assert matches(matcher, "Talks", deep) == []
    assert matches(matcher, "Gaza talks", deep) == ["w"]   # the title is always read
    [hit] = matcher.match(Document("d", "Talks", lead))
    assert [(t.text, t.start) for t in hit.terms] == [("Gaza", 0), ("Russia", 9)]
    short = "Russia said Gaza."                           # fewer words than the limit
    assert matches(matcher, "Talks", short) == ["w"]
    unlimited = matcher_for(tmp_path, "  - id: w\n    query: '@russia AND @gaza'\n")
    assert matches(unlimited, "Talks", deep) == ["w"]


# --- matching.passage_words ------------------------------------------------------------------

def passage_matcher(tmp_path: Path, watches: str, settings: str = "passage_words: 20") -> Matcher:
    path = tmp_path / "rules.yaml"
    path.write_text(f"{ACTORS}matching:\n  {settings}\nwatches:\n{watches}", encoding="utf-8")
    return compile_rules(load_rules([path]))


def words(count: int) -> str:
    return " ".join(["word"] * count)


RUSSIA_GAZA = "  - id: w\n    query: '@russia AND @gaza'\n"


def test_in_a_long_body_both_sides_must_share_a_passage(tmp_path):
    matcher = passage_matcher(tmp_path, RUSSIA_GAZA)
    apart = f"Russia said it. {words(60)} Gaza. {words(60)}"
    together = f"{words(60)} Russia said Gaza {words(60)}"
    assert matches(matcher, "Talks", apart) == []
    assert matches(matcher, "Talks", together) == ["w"]
    assert matcher.stats.outside_passages == 1
    # the hit still reports every occurrence in the item, not only the passage's
    [hit] = matcher.match(Document("d", "Talks", f"Russia. {together}"))
    assert [t.text for t in hit.terms] == ["Russia", "Russia", "Gaza"]
    # without the setting, anywhere in the item is enough
    assert matches(matcher_for(tmp_path, RUSSIA_GAZA), "Talks", apart) == ["w"]


def test_the_title_counts_with_the_opening_of_the_body_only(tmp_path):
    matcher = passage_matcher(tmp_path, RUSSIA_GAZA)
    assert matches(matcher, "Russia warns", f"Gaza was hit. {words(120)}") == ["w"]
    assert matches(matcher, "Russia warns", f"{words(120)} Gaza was hit.") == []
    assert matches(matcher, "Russia warns on Gaza", words(120)) == ["w"]


def test_a_body_up_to_long_body_words_is_one_passage(tmp_path):
    matcher = passage_matcher(tmp_path, RUSSIA_GAZA)
    assert matches(matcher, "Talks", f"Russia {words(97)} Gaza") == ["w"]      # 99 words
    assert matches(matcher, "Talks", f"Russia {words(99)} Gaza") == []         # 101 words
    longer = passage_matcher(tmp_path, RUSSIA_GAZA,
                             "passage_words: 20\n  long_body_words: 150")
    assert matches(longer, "Talks", f"Russia {words(99)} Gaza") == ["w"]


def test_words_half_a_passage_apart_always_share_one(tmp_path):
    matcher = passage_matcher(tmp_path, RUSSIA_GAZA)
    for start in range(0, 140, 7):
        for gap in (1, 5, 9):  # Gaza is at most 10 words after Russia: half of 20
            body = f"{words(start)} Russia {words(gap)} Gaza {words(150 - start)}"
            assert matches(matcher, "Talks", body) == ["w"], (start, gap)


def test_a_not_anywhere_in_the_item_still_excludes(tmp_path):
    watch = "  - id: w\n    query: '@russia AND @gaza AND NOT ceasefire'\n"
    matcher = passage_matcher(tmp_path, watch)
    body = f"Russia said Gaza {words(120)} a ceasefire"
    assert matches(matcher, "Talks", body) == []
    assert matches(matcher, "Talks", body.replace("ceasefire", "truce")) == ["w"]


def test_a_weak_alias_in_a_passage_takes_its_context_from_the_whole_item(tmp_path):
    watch = "  - id: w\n    query: '@hamas AND @russia'\n"
    matcher = passage_matcher(tmp_path, watch)
    body = f"Palestinian factions met. {words(120)} Sinwar thanked Russia."
    assert matches(matcher, "Talks", body) == ["w"]
    assert matches(matcher, "Talks", body.replace("Palestinian", "Other")) == []


def test_an_exclusion_phrase_cut_by_a_passage_edge_still_excludes(tmp_path):
    matcher = passage_matcher(tmp_path, RUSSIA_GAZA)
    # words 20-39 form a passage with Gaza (word 30) and the Moscow of "Moscow, Idaho"
    # (39, 40), whose Idaho it cuts off; Russia itself (140) is nowhere near Gaza
    body = f"{words(30)} Gaza {words(8)} Moscow, Idaho {words(99)} Russia"
    assert matches(matcher, "Talks", body) == []
    assert matches(matcher, "Talks", body.replace("Idaho", "police")) == ["w"]


def test_an_example_missed_for_want_of_a_passage_says_so(tmp_path):
    far = f"Russia said it. {words(120)} Gaza."
    watch = ("  - id: w\n    query: '@russia AND @gaza'\n    examples:\n      match:\n"
             f"        - {{title: Talks, body: '{far}'}}\n        - 'Russia on Gaza'\n"
             f"        - {{title: Talks, body: 'Russia. {words(120)}'}}\n")
    path = tmp_path / "rules.yaml"
    path.write_text(f"{ACTORS}matching:\n  passage_words: 20\nwatches:\n{watch}",
                    encoding="utf-8")
    rules = load_rules([path])
    passages, other = run_examples(rules, compile_rules(rules))
    assert passages.passage_words == 20
    assert str(passages).endswith("; the whole item matches, but no passage of 20 words "
                                  "holds it (matching.passage_words))")
    assert other.passage_words is None  # Gaza is missing: passages are not the reason


def test_match_watch_applies_passages_as_match_does(tmp_path):
    matcher = passage_matcher(tmp_path, RUSSIA_GAZA)
    apart = Document("d", "Talks", f"Russia said it. {words(120)} Gaza.")
    assert matcher.match_watch(apart, "w") is None
    near = Document("d", "Talks", f"{words(120)} Russia said it of Gaza.")
    assert matcher.match_watch(near, "w") is not None
