"""Watch rules: the rule-file format, the query language and the matcher.

Rule files
==========

YAML files (``*.yaml`` / ``*.yml``; a directory means its rule files, sorted by name). Any
file may hold any of four top-level lists: ``actors``, ``themes``, ``groups``, ``watches``,
and the ``matching`` settings of the whole rule set.
Ids are ``[a-z0-9][a-z0-9_-]*`` and unique per kind across all files (a group id may not be
an actor id as well: both are written ``@id``). The JSON Schema is
``rules/schema.json`` (the same file as ``monitor/rules/schema.json``); unknown keys are
errors. Every error is reported as ``file:line:column: message``.

.. code-block:: yaml

    actors:
      - id: hamas                 # required
        name: Hamas               # default: the id
        kind: organisation        # person | organisation | state | place | group | other
        description: free text    # optional
        aliases:                  # required, at least one pattern (see Patterns)
          - Hamas
          - Islamic Resistance Movement
          - Хамас~                # Хамас, Хамаса, Хамасу, Хамасом, Хамасе …
          - حماس                  # also وحماس، لحماس، بحماس (proclitics, see Patterns)
          - {text: Sinwar, weak: true}
        context: ["@gaza-strip", Gaza, "Palestin*", "#ceasefire"]
        exclude: ["Moscow, Idaho"]
    themes:
      - id: ceasefire             # required
        name: Ceasefire and truce
        terms: [ceasefire, cease-fire, truce, "humanitarian pause*"]   # required
    groups:
      - id: russian-side          # required
        name: The Russian state and its voices
        members: ["@russia", "@kremlin", "@russian-officials"]   # required: @actor, @group, #theme
    watches:
      - id: russia-hamas-contacts # required
        title: Russia–Hamas contacts          # default: the id
        description: Meetings, visits and calls between Russian officials and Hamas.
        priority: high            # low | normal (default) | high | critical
        tags: [russia, hamas]
        query: '@russia AND (@hamas OR @palestinian-factions) AND #contacts'   # required
        examples:
          match:
            - Hamas delegation visits Moscow for talks with Russian deputy foreign minister
            - {title: Talks in Moscow, body: A Hamas delegation met the deputy minister.}
          no_match: ["Moscow, Idaho police reopen case"]
    matching:
      body_words: 300             # optional: read only the body's first 300 words
      passage_words: 24           # optional: in a long body, match within 24 words
      long_body_words: 100        # optional (default 100): what counts as long

* **aliases** — every spelling the press uses, any script. ``{text: X, weak: true}`` marks a
  *weak* alias: it only counts when at least one ``context`` entry occurs anywhere in the same
  item (title or body). An actor with weak aliases must have a context.
* **context** — patterns, ``@actor`` references (that actor present, with its own rules) or
  ``#theme`` references. Context references may not form a cycle.
* **exclude** — patterns whose occurrences cancel any alias occurrence of this actor that they
  overlap (same field, overlapping words): "Moscow, Idaho" cancels the "Moscow" inside it
  but not a separate "Moscow" elsewhere in the item.
* **groups** — a name for an OR that many watches share: ``@russian-side`` in a query is
  ``(@russia OR @kremlin OR @russian-officials)``. Members are ``@actor``, ``#theme`` or
  other ``@group`` references (no cycles); the loader writes the OR out in every query that
  uses the group, so hits still name the actor that matched. Add a new official to the group
  once instead of to every query.
* **matching.body_words** — the watches read the title and only the body's first N words
  (N ≥ 20): the summary, then the lead of an article's full text. Rules that ask for two
  sides anywhere in an item suit a headline and a summary; in a whole article both sides
  turn up as background. But the story's own Russian angle may come late in a long article
  too: fewer false hits cost missed stories (rules/README.md, "Whole articles"). Unset, the
  whole body is read. One value per rule set: two files that disagree are an error.
* **matching.passage_words** — in a body of more than ``long_body_words`` words (default
  100; a hyphen separates words), a watch hits only if it also matches within one passage of
  N consecutive words (10 ≤ N ≤ 500): the title with the body's first N words, or a window
  further in, each window starting N/2 words after the one before, so terms up to N/2 words
  apart always share one. It keeps the whole article but asks its sides to meet, not to
  turn up as background paragraphs apart. Within a passage, exclusion phrases and weak-alias
  context still count anywhere in the item, and the query must match the whole item too
  (so its NOTs hold everywhere); a hit reports every occurrence in the item. A NEAR that
  must hold (not under a NOT) may reach at most N/2 words: a wider one would find its pair
  only where the windows happen to fall, so it is an error. Same one-value rule as
  ``body_words``.
* **examples** — a string is an item *title*; a mapping may give ``title``, ``body``,
  ``source``, ``url``, ``lang``. ``monitor rules test`` checks each example against its own
  watch.

Patterns
========

Aliases, theme terms, context and exclude entries, and the terms of a query are all
*patterns*: one or more words that must occur as whole, adjacent words. Punctuation and
spacing between words do not matter ("Moscow, Idaho" = "Moscow Idaho"; "cease-fire" = "cease
fire"). Matching ignores case and diacritics and the other foldings listed below. The last
word may carry one mark:

* ``sanction*`` — prefix wildcard: sanction, sanctions, sanctioned. At least 3 letters
  before ``*``; ``*`` only at the end of the last word.
* ``Лавров~`` — Russian noun declension: the Cyrillic stem followed by nothing or one ending
  from a fixed set — а я у ю е и ы о ь й ом ем ой ей ою ею ью ам ям ах ях ами ями ов ев ым
  ыми ых — and then the end of the word. So ``Лавров~`` matches Лавров, Лаврова, Лаврову,
  Лавровым, Лаврове, but NOT "лавровый" (-ый is not a noun ending). Write the stem as it is
  before the ending: ``Кремл~`` for Кремль/Кремля/Кремлю/Кремлём/Кремле, ``Росси~`` for
  Россия/России/Россию/Россией, ``Серге~`` for Сергей/Сергея. Caveat: -ым is both the
  surname instrumental (Лавровым) and an adjective ending (лавровым листом); use exclude.
* ``российск~~`` — Russian adjective declension: the stem followed by exactly one of ий ый
  ой ая яя ое ее ого его ому ему им ым ом ем ую юю ые ие их ых ими ыми ей ою ею.
* Arabic script (a pattern whose first letter is Arabic): the first word may carry the
  proclitics و ف (and/so), ب ك ل (in/with, like, for/to), or a conjunction followed by a
  preposition (وب ول وك فب فل فك): ``حماس`` matches حماس، وحماس، لحماس، بحماس. The article
  is NOT added automatically ("الحماس" is "the enthusiasm"). A pattern written WITH the
  article requires it and takes the same proclitics, including ل + ال = لل: ``الكرملين``
  matches الكرملين، والكرملين، بالكرملين، للكرملين — but not a bare كرملين (list it too
  if wanted). Arabic has no declension mark.
* Chinese, Japanese, Thai, Lao, Khmer, Myanmar: no word boundary is required next to those
  characters (they are written without spaces).

Word boundaries hold in every script: ``Hamas`` does not match "Bahamas", ``Iran`` does not
match "Tirana" nor "Iranian" (an adjective is another word: list "Iranian" if you want it),
``Лавров`` does not match "лавровый". An actor lists its adjective forms as aliases when
they should count.

Folding (the same for patterns and text)
----------------------------------------

Case folding ("Strauß" = "STRAUSS"); NFKD with combining marks dropped (é → e, ğ → g, ﬁ → fi);
ı → i, ø → o, ł → l, đ/ð → d, æ → ae, œ → oe, þ → th; Cyrillic ё → е, but й stays й;
Arabic: harakat and tatweel removed, أ إ آ ٱ → ا, ؤ → و, ئ ى ی → ي, ة → ه, ک → ك, Arabic-Indic
digits → 0-9; apostrophe-like marks ' ’ ʼ ʿ ʾ ʻ ` ´ ‘ ‛ ′ ʹ are removed ("Mash'al" = "Mashal")
except that an English possessive goes with its apostrophe ("Hamas’s" → "Hamas") and an
elided "l’"/"d’" before a word is a separate word ("l’Iran" → "l Iran"); soft hyphens and
invisible format characters are removed; hyphens, dashes and every other non-letter,
non-digit character separate words. See `monitor.rules.folding`.

Wire datelines at the start of the body or of one of its lines ("MOSCOW, Oct 9 (Reuters) -",
"МОСКВА, 1 ноября. /ТАСС/.", "Москва. 30 июля. INTERFAX.RU -") are not read: they name where
and by whom a story was filed, and Russian agencies date every story from Moscow. Only an
agency credit in its usual form makes a dateline; see `monitor.rules.datelines`.

Query language
==============

``query`` combines patterns and references:

* ``AND``, ``OR``, ``NOT`` — upper-case; parentheses group. One level may not mix AND and OR:
  ``a AND b OR c`` is an error — write ``(a AND b) OR c`` or ``a AND (b OR c)``.
  ``NOT x`` is a prefix; ``a NOT b`` means ``a AND NOT b``. Two terms with no operator between
  them are an error (write AND, or quote the phrase).
* ``word``, ``"exact phrase"``, ``sanction*``, ``"humanitarian pause*"``, ``Лавров~`` — patterns
  as above (a bare ``cease-fire`` is the phrase "cease fire").
* ``@actor`` — any alias of the actor, with its weak-alias and exclude rules.
  ``#theme`` — any term of the theme. ``@group`` — any of the group's members.
* ``A NEAR/n B`` — an occurrence of A and one of B in the same field (title or body), in
  either order, at most n words apart: counting from the last word of the first to the first
  word of the second, "A B" is 1 apart and "A x y B" is 3 apart (1 ≤ n ≤ 50, so NEAR/1 means
  adjacent). Overlapping occurrences count; an occurrence is never paired with itself.
  Operands: a pattern, ``@actor``, ``@group``, ``#theme`` or a parenthesised OR-group of
  those. NEAR
  binds tighter than AND/OR/NOT and does not chain.
* Field scopes: ``title:X``, ``body:X`` (summary and content) — X is a pattern, reference or
  parenthesised group; scopes do not nest. ``source:X`` / ``site:X`` — the item's source
  name contains the words X ("source:\\"Moscow Times\\"") or its URL host is X or under it
  (``site:tass.com`` matches tass.com, www.tass.com and en.tass.com). ``lang:ru`` — the
  item's language is ru or ru-*. ``source:``/``site:``/``lang:`` take one value or
  ``(v1 OR v2 …)``; they are filters, not terms.
* Every query needs a positive term (a pattern, ``@actor`` or ``#theme`` not under NOT) in
  every OR alternative: ``NOT x``, ``x OR NOT y`` or ``lang:ru`` alone are rejected.

Matching
========

``compile_rules`` puts every pattern of every rule into one Aho-Corasick automaton; each item
is folded and scanned once and only watches whose required terms occur are evaluated (see
`monitor.rules.matcher`). A `Hit` lists the positive occurrences that made the watch match
(`TermMatch`: the text as it appears, the pattern as written, the actor or theme it came
through, the field and the span in the ORIGINAL title/body text), in text order; terms under
NOT and source:/lang: filters are never listed.

Public API
==========

``load_rules(paths) -> RuleSet`` (raises RuleError, the first problem);
``validate_rules(paths) -> list[RuleError]`` (all problems);
``compile_rules(rules) -> Matcher``; ``Matcher.match(doc) -> list[Hit]`` (priority
critical > high > normal > low, then watch id); ``Matcher.match_watch(doc, watch_id)``
and ``Matcher.explain(doc, watch_id)`` look at one watch; ``Matcher.stats`` counts
documents, candidate and evaluated watches, hits; ``run_examples(rules, matcher) ->
list[ExampleFailure]``. CLI: ``monitor.rules.commands.rules_group`` (``rules validate``,
``rules test``) and ``monitor.rules.commands.match_command`` (``match``).
"""

from __future__ import annotations

from monitor.rules.examples import ExampleFailure, run_examples
from monitor.rules.folding import fold, fold_text
from monitor.rules.loading import load_rules, load_schema, validate_rules
from monitor.rules.matcher import (
    Document,
    Hit,
    Matcher,
    MatchStats,
    TermMatch,
    compile_rules,
)
from monitor.rules.model import (
    PRIORITIES,
    Actor,
    Alias,
    ContextTerm,
    Example,
    Group,
    Origin,
    RuleSet,
    Theme,
    Watch,
)
from monitor.rules.patterns import Pattern, PatternError, parse_pattern
from monitor.rules.query import QueryError, parse_query

__all__ = [
    "PRIORITIES",
    "Actor",
    "Alias",
    "ContextTerm",
    "Document",
    "Example",
    "ExampleFailure",
    "Group",
    "Hit",
    "MatchStats",
    "Matcher",
    "Origin",
    "Pattern",
    "PatternError",
    "QueryError",
    "RuleSet",
    "TermMatch",
    "Theme",
    "Watch",
    "compile_rules",
    "fold",
    "fold_text",
    "load_rules",
    "load_schema",
    "parse_pattern",
    "parse_query",
    "run_examples",
    "validate_rules",
]
