"""Propose a draft rule file from background documents: the actors they name and their themes.

`monitor rules derive FILES...` reads plain-text documents (a dossier) and prints a commented
YAML draft in the rule-file format: one actor per named person, organisation, state or place,
with its spelling variants clustered under it, and candidate themes from frequent phrases.
It is a starting point for an operator, offline and deterministic: no model, no network, the
same input always gives byte-identical output.

How it works, briefly (each step is a pure function below):

1. Candidate names are runs of capitalised tokens (Latin or Cyrillic), joined across connector
   words such as *bin*, *abu*, *al-*, *de*, *of*.  Sentence-initial and headline words only
   count when the same word is seen capitalised mid-sentence elsewhere, or never lowercase.
   Leading titles ("Russian Deputy Foreign Minister ...") are cut off and remembered as cues.
2. Spelling variants are clustered: names are normalised (case, diacritics, apostrophes,
   hyphens, an Arabic *al-* article) and compared token by token with a consonant skeleton
   plus a bounded edit distance, so Mashal / Mash'al / Meshaal / Mishal, Hizbullah /
   Hezbollah and Путин / Путина meet; a short form that ends a longer name ("Putin",
   "Abu Marzouk") joins the longer one.  Demonyms count as mentions of their state.
3. Each cluster gets a mention count (longest match wins, so "Vladimir Putin" is one
   mention), a guessed kind from title, head-word and context cues, and example contexts.
4. Themes are frequent word n-grams that are neither stop words nor part of a name.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

# The matcher's own folding, so that names cluster the way their aliases will match.
from monitor.rules.folding import fold

logger = logging.getLogger(__name__)

# --- word lists -------------------------------------------------------------------------------
# Kept deliberately small and generic: they describe how English news prose names things, not
# the content of any particular dossier.

# Words that may sit inside a name between capitalised tokens ("Osama bin Laden",
# "Council of Muftis", "Abu Marzouk").
CONNECTORS = frozenset({
    "bin", "ibn", "bint", "abu", "abou", "al", "el", "de", "da", "del", "della", "der", "van",
    "von", "la", "le", "du", "of", "for",
})
# Connectors that may also start a name ("Abu Marzouk", "Al Jazeera").
NAME_STARTING_CONNECTORS = frozenset({"abu", "abou", "al", "el", "bin", "ibn"})

PERSON_TITLES = frozenset({
    "president", "minister", "spokesman", "spokeswoman", "spokesperson", "leader", "chief",
    "head", "ambassador", "envoy", "secretary", "chairman", "chairwoman", "chair", "general",
    "commander", "sheikh", "shaykh", "imam", "mufti", "rabbi", "king", "queen", "prince",
    "emir", "premier", "chancellor", "senator", "governor", "mayor", "director", "adviser",
    "advisor", "official", "representative", "mr", "mrs", "ms", "dr", "prof", "professor",
    "colonel", "captain", "lieutenant", "ayatollah", "founder", "editor", "fellow",
    "journalist", "researcher", "correspondent", "member", "presenter", "host",
    # Cyrillic titles, lower case: президент, министр, пресс-секретарь, посол ...
    "президент", "министр", "замминистра", "посол", "спикер", "глава", "лидер", "представитель",
    "пресс-секретарь", "генсек", "премьер",
    # Plurals, so that "Hamas Leaders Meet ..." is cut at the title too.
    "leaders", "officials", "ministers", "representatives", "members", "chiefs", "envoys",
})
# Words that qualify a title without being one ("Deputy Foreign Minister").
TITLE_QUALIFIERS = frozenset({
    "deputy", "vice", "foreign", "prime", "defense", "defence", "interior", "senior", "former",
    "acting", "first", "special", "supreme", "grand", "chief", "top", "state", "political",
    "bureau", "executive", "permanent", "secretary-general", "secretary", "general", "press",
    "international", "relations", "affairs", "security", "national", "research", "military",
    "заместитель", "первый", "бывший", "иностранных", "дел",
})
ORG_HEADS = frozenset({
    "ministry", "council", "brigades", "brigade", "group", "movement", "organization",
    "organisation", "agency", "party", "army", "forces", "force", "corps", "committee", "union",
    "university", "office", "bureau", "front", "authority", "embassy", "duma", "kremlin",
    "observatory", "news", "tv", "channel", "times", "post", "journal", "network", "institute",
    "center", "centre", "department", "assembly", "parliament", "government", "court", "bank",
    "company", "airlines", "air", "media", "service", "services", "guard", "guards", "militia",
    "jihad", "foundation", "association", "league", "alliance", "commission", "club",
    "project", "daily", "telegraph", "herald", "tribune", "press", "mission", "administration",
    "министерство", "мид", "совет", "дума", "кремль", "движение", "группа", "агентство",
})
# Head words that are names on their own ("the Kremlin", "the Duma").
PROPER_HEADS = frozenset({"kremlin", "duma", "pentagon", "кремль", "дума", "мид"})
# Organisation-like follow-up words: "Hamas delegation", "Hizbullah fighters".
ORG_FOLLOWERS = frozenset({
    "delegation", "delegations", "leader", "leaders", "leadership", "members", "member",
    "official", "officials", "spokesman", "spokesperson", "militants", "fighters", "group",
    "movement", "organization", "organisation", "representatives", "representative",
    "operatives", "commander", "commanders", "chief", "politburo", "bureau", "statement",
})
PERSON_FOLLOWERS = frozenset({"said", "says", "told", "added", "stated", "wrote", "noted",
                              "stressed", "claimed", "boasted", "praised", "urged", "warned"})
PLACE_HEADS = frozenset({"strip", "bank", "city", "sea", "coast", "valley", "province",
                         "region", "heights", "peninsula", "island", "islands", "gulf",
                         "airport", "base", "mosque", "square", "street", "district"})
LOCATIVE_PREPOSITIONS = frozenset({"in", "to", "from", "at", "near", "into", "across",
                                   "visited", "visiting", "visit", "via", "в", "во", "из", "на"})

# A small gazetteer of states with their demonyms: enough to tell a country from a name and to
# count "Russian" as a mention of Russia.  The operator adds the rest by hand.
STATES: dict[str, tuple[str, ...]] = {
    "Russia": ("Russian", "Russians", "Россия", "России", "Россию", "Россией", "российский"),
    "Iran": ("Iranian", "Iranians", "Иран"),
    "Israel": ("Israeli", "Israelis", "Израиль"),
    "Palestine": ("Palestinian", "Palestinians", "Палестина"),
    "Syria": ("Syrian", "Syrians", "Сирия"),
    "Lebanon": ("Lebanese", "Ливан"),
    "Qatar": ("Qatari", "Qataris", "Катар"),
    "China": ("Chinese", "Китай"),
    "Egypt": ("Egyptian", "Egyptians", "Египет"),
    "Turkey": ("Turkish", "Türkiye", "Турция"),
    "Ukraine": ("Ukrainian", "Ukrainians", "Украина"),
    # Not "US": an alias is matched without case, and "us" is a pronoun.
    "United States": ("U.S.", "USA", "American", "Americans", "America", "США"),
    "United Kingdom": ("UK", "U.K.", "British", "Britain"),
    "Yemen": ("Yemeni", "Yemenis", "Йемен"),
    "Iraq": ("Iraqi", "Iraqis", "Ирак"),
    "Jordan": ("Jordanian",),
    "Saudi Arabia": ("Saudi", "Saudis"),
    "United Arab Emirates": ("UAE", "Emirati"),
    "Afghanistan": ("Afghan", "Afghans"),
    "North Korea": ("North Korean",),
    "France": ("French",),
    "Germany": ("German", "Germans"),
    "India": ("Indian",),
    "Brazil": ("Brazilian",),
    "Libya": ("Libyan",),
    "Kuwait": ("Kuwaiti",),
    "Bahrain": ("Bahraini",),
    "Armenia": ("Armenian",),
    "Azerbaijan": ("Azerbaijani",),
    "Taiwan": ("Taiwanese",),
    "Japan": ("Japanese",),
    "Italy": ("Italian",),
    "Spain": ("Spanish",),
}
# Regions that are no state but often glue onto the next name ("envoy to Africa Mikhail ...").
REGIONS = frozenset({"Africa", "Europe", "Asia", "Middle East", "North Africa", "Caucasus",
                     "Levant", "Gulf", "Balkans", "Latin America", "Gaza", "West Bank"})

_STATE_OF: dict[str, str] = {}
for _state, _forms in STATES.items():
    _STATE_OF[_state] = _state
    for _form in _forms:
        _STATE_OF[_form] = _state

# Capitalised adjectives of region, faith or ideology: part of names ("Arab League", "Islamic
# Jihad") but no actor on their own.
ADJECTIVES = frozenset("""
arab arabs arabic islamic islamist muslim muslims western eastern northern southern european
zionist shiite shia sunni jewish christian catholic orthodox persian kurdish druze african
asian middle latin global
""".split())

# Capitalised words that are not names: function words at the start of sentences, calendar
# words, and the boilerplate of web pages (photo credits, "Related Videos").
NON_NAMES = frozenset("""
a an the this that these those there here he she it they we i you his her its their our my your
him them us me who whom whose which what when where why how while after before since as
according however although though also still thus even for from to with without by among
additionally indeed other another some many both each every all most more much first second
third fourth fifth last next over under during following regarding if and or but nor so yet
not no yes in on at of into onto upon about above below between through throughout against
despite unlike like then than once now today tomorrow yesterday meanwhile moreover furthermore
therefore instead perhaps maybe only just again already nevertheless nonetheless because
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
jan feb mar apr jun jul aug sep sept oct nov dec
photo photos video videos source sources credit image images related share trending advertisement
written read watch listen click subscribe sign follow full story nutshell table contents
home page top bottom updated published posted edited copyright reuters afp ap getty
mr mrs ms dr sir madam
""".split())
# The subset of NON_NAMES that is never part of a name, even mid-sentence ("in October").
ALWAYS_NON_NAMES = frozenset("""
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
jan feb mar apr jun jul aug sep sept oct nov dec
photo photos video videos credit advertisement copyright mr mrs ms dr sir madam no nos
""".split())

STOP_WORDS = frozenset("""
a an the this that these those there here he she it they we i you his her its their our my your
him them us me who whom whose which what when where why how while after before since as
according however although though also still thus even for from to with without by among
other another some many both each every all most more much first second third last next over
under during following regarding if and or but nor so yet not no in on at of into onto upon
about above below between through throughout against despite like then than once now today
only just again already because be is are was were been being am have has had having do does
did done doing will would shall should can could may might must said says say saying told
tell telling stated added noted wrote according one two three four five six seven eight nine
ten hundred thousand million billion per cent percent such same own very any few several
whether either neither off out up down away back well way ways time times year years day days
week weeks month months also including include includes included part made make makes making
take takes taken taking get gets got go goes going went come came comes coming see seen saw
new old many much less least mr mrs ms dr around toward towards within via it's that's don't
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
""".split())
# Words that start no name (unlike "New" or "May"): seen capitalised only in titles.
FUNCTION_WORDS = (NON_NAMES | STOP_WORDS) - {"new", "old", "may", "will", "first", "second",
                                             "third", "last", "top", "mr", "mrs", "ms", "dr"}

# Frequent but empty as a theme on their own.
GENERIC_THEME_WORDS = frozenset("""
people person report reports reported reporting statement statements official officials
source sources interview news article according issue issues country countries world side
sides number part times video photo related story full left right center centre order level
case point fact way thing things lot group groups members member leader leaders head chief
president minister spokesman spokeswoman deputy foreign senior former international national
state states s t ll ve re d m
""".split())

# Word endings of adjectives and verb forms: such a word alone is no theme ("political").
_NON_NOUN_ENDINGS = ("ed", "ly", "al", "ic", "ive", "ous", "ary", "ful")

# Latin and Cyrillic vowels dropped by the consonant skeleton.
_VOWELS = set("aeiouyаеёиоуыэюяйь")
_CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}
_APOSTROPHES = "'’ʼ`ʻ‘"

# A word: dotted acronyms (U.S., U.N.) or letters joined by apostrophes/hyphens (Mash'al,
# Al-Sinwar, пресс-секретарь).
_WORD_RE = re.compile(r"(?:[^\W\d_]\.){2,}(?:['’]s)?"
                      r"|[^\W\d_]+(?:[" + _APOSTROPHES + r"\-][^\W\d_]+)*")
_SENTENCE_END_CHARS = set(".!?:;\"“”«»—–•*([])|")
# Where a line splits into segments judged separately for Title Case: "Heading: sentence".
_SEGMENT_RE = re.compile(r"[:\"“”«»|]|\s[–—-]\s")


# --- data -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """One word of a line, with what the name extractor needs to know about it."""

    text: str           # surface form, possessive ending removed
    start: int          # offset in the document
    end: int
    initial: bool       # first word of a sentence, a quotation or a heading line
    headline: bool      # the line is set in Title Case, so capitals say nothing
    possessive: bool    # the word carried a 's
    glued: bool = False  # only a space or hyphen separates it from the word before


@dataclass(frozen=True)
class Occurrence:
    """A candidate name found in one place: its tokens and whether a title preceded it."""

    doc: str
    tokens: tuple[Token, ...]
    title_cue: bool = False

    @property
    def form(self) -> str:
        return " ".join(t.text for t in self.tokens)

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


@dataclass
class Cluster:
    """One proposed actor: its spelling variants, mentions, cues and a guessed kind."""

    forms: Counter[str] = field(default_factory=Counter)
    person_cues: float = 0
    org_cues: float = 0
    place_cues: float = 0
    state: str | None = None
    mentions: int = 0
    documents: set[str] = field(default_factory=set)
    contexts: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The display name: the state, else the most frequent full (multi-word) form that is
        not a one-off, else the most frequent form."""
        if self.state:
            return self.state
        if not self.forms:
            return ""
        # "Vladimir Putin" over the more frequent "Putin", unless the full form is a one-off.
        total = sum(self.forms.values())
        full = [f for f in self.forms if len(f.split()) > 1 and self.forms[f] * 5 >= total]
        return max(full or self.forms, key=lambda f: (self.forms[f], len(f), f))

    def kind(self) -> str:
        """Guess person | organisation | state | place | other from the collected cues."""
        if self.state:
            return "state"
        if self.name in REGIONS:
            return "place"
        heads = {w.casefold() for f in self.forms for w in f.split()}
        if heads & ORG_HEADS or self.org_cues > max(self.person_cues, self.place_cues):
            return "organisation"
        if heads & PLACE_HEADS:
            return "place"
        if self.person_cues >= max(1, self.place_cues):
            return "person"
        if self.place_cues >= max(1.0, 0.4 * self.mentions):
            return "place"
        words = self.name.split()
        if 1 < len(words) <= 3 and not any(w in _STATE_OF or w.casefold() in ADJECTIVES
                                           for w in words):
            return "person"  # "Leonid Slutsky": a plain two- or three-word name
        return "other"


# --- step 1: tokens and candidate names -------------------------------------------------------

def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


# Words a Title Case headline may leave in lower case.
_HEADLINE_LOWER = frozenset("""
a an the and or but nor of in on at to for from with by as into onto over via vs than that is
are was be its his her their de la al el bin abu
""".split())


def _is_headline(words: list[str]) -> bool:
    """True for Title Case text (a headline or section title), where capitals carry no signal."""
    capitalised = sum(_is_capitalised(w) for w in words)
    return len(words) >= 3 and capitalised >= 2 and all(
        _is_capitalised(w) or w.casefold() in _HEADLINE_LOWER for w in words)


_TITLE_FUNCTION_WORDS = frozenset({"to", "in", "of", "the", "and", "for", "with", "on", "at",
                                   "by", "from", "is", "are", "a", "an", "as", "into", "over"})


def _title_case_spans(words: list[str], before: list[str]) -> set[int]:
    """Indexes of words inside a Title Case title quoted in running text.

    "see the report Russia's Wartime Ties To Iran-Backed Groups, June 2023": a run of four or
    more capitalised words that holds a capitalised function word ("To", "In", "The") mid-
    sentence is a title, whose capitals say nothing about names.
    """
    marked: set[int] = set()
    start = 0
    for end in range(len(words) + 1):
        inside = end < len(words) and (_is_capitalised(words[end])
                                       or words[end].casefold() in _HEADLINE_LOWER)
        if inside:
            continue
        span = range(start, end)
        if len(span) >= 4 and any(
                _is_capitalised(words[i]) and words[i].casefold() in _TITLE_FUNCTION_WORDS
                and i > start and before[i] not in _SENTENCE_END_CHARS for i in span):
            marked.update(span)
        start = end + 1
    return marked


def tokenise(text: str) -> list[Token]:
    """Split a document into word tokens, marking sentence starts, headlines and possessives."""
    tokens: list[Token] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        matches = list(_WORD_RE.finditer(line))
        segment_of = [len(_SEGMENT_RE.findall(line, 0, m.start())) for m in matches]
        segments: dict[int, list[str]] = defaultdict(list)
        for m, segment in zip(matches, segment_of, strict=True):
            segments[segment].append(m.group())
        headlines = {k for k, words in segments.items() if _is_headline(words)}
        whole_line = _is_headline([m.group() for m in matches])
        headline_words = _title_case_spans([m.group() for m in matches],
                                           [line[:m.start()].rstrip()[-1:] for m in matches])
        previous_end = 0
        for n, (m, segment) in enumerate(zip(matches, segment_of, strict=True)):
            headline = whole_line or segment in headlines or n in headline_words
            before = line[:m.start()].rstrip()
            # A spaced hyphen is a dash ("speaks out - Exposing Hamas goals"): what follows
            # starts a clause, its capital says nothing.
            initial = not before or before[-1] in _SENTENCE_END_CHARS \
                or before[-1] == "-" and before[-2:-1] in ("", " ")
            word = m.group()
            possessive = False
            # "Russia's" / "Hamas’s": the name is what comes before the possessive ending.
            for apostrophe in _APOSTROPHES:
                if word.endswith(apostrophe + "s") and len(word) > 2:
                    word, possessive = word[:-2], True
                    break
            start = offset + m.start()
            # Only spaces or a hyphen may separate two words of one name (not ", ").
            glued = bool(re.fullmatch(r"[ \t\u00a0]{1,2}|-", line[previous_end:m.start()]))
            previous_end = m.end()
            for part, part_start in _compound_parts(word):
                tokens.append(Token(part, start + part_start, start + part_start + len(part),
                                    initial or part_start > 0, headline,
                                    possessive or part_start + len(part) < len(word),
                                    glued and part_start == 0))
        offset += len(line)
    return tokens


def _compound_parts(word: str) -> list[tuple[str, int]]:
    """Split "Russia-Hamas" or "Iran-backed" into the names it joins; keep "Al-Sinwar" whole.

    Parts after the first are marked so they do not run into their neighbours.
    """
    parts = word.split("-")
    if len(parts) < 2 or parts[0].casefold() in CONNECTORS or not _is_capitalised(parts[0]):
        return [(word, 0)]
    if sum(_is_capitalised(p) for p in parts) < 2 and not any(p.islower() for p in parts[1:]):
        return [(word, 0)]
    out: list[tuple[str, int]] = []
    position = 0
    for part in parts:
        out.append((part, position))
        position += len(part) + 1
    return out


def _word_statistics(tokens: Iterable[Token]) -> tuple[set[str], set[str]]:
    """Words seen lowercase anywhere, and words confirmed as names.

    A word is confirmed when it is capitalised mid-sentence in running text more often than
    it is written lowercase: "Hamas" is, "Leaders" (from a stray title) is not.
    """
    lowercase: Counter[str] = Counter()
    capitalised: Counter[str] = Counter()
    for t in tokens:
        if not _is_capitalised(t.text):
            lowercase[t.text.casefold()] += 1
        elif not t.initial and not t.headline:
            capitalised[t.text] += 1
    confirmed = {w for w, n in capitalised.items() if n > lowercase[w.casefold()]}
    return set(lowercase), confirmed


def _accept_capitalised(token: Token, lowercase: set[str], confirmed: set[str]) -> bool:
    """Whether a capitalised token may be part of a name (see the module docstring)."""
    folded = token.text.casefold()
    if folded in ALWAYS_NON_NAMES:
        return False
    if folded.endswith("ing") and token.text not in confirmed:
        return False  # "Visiting Moscow", "Exposing Hamas": a capitalised gerund is a verb
    if not (token.initial or token.headline):
        # Mid-sentence capitals are names, unless a function word gives away a stray title.
        return folded not in FUNCTION_WORDS or token.text in confirmed
    if folded in NON_NAMES or folded in FUNCTION_WORDS:
        return False
    if token.text in _STATE_OF or token.text in confirmed:
        return True
    return not token.headline and folded not in lowercase


def _is_title_word(word: str) -> bool:
    folded = word.casefold()
    return folded in PERSON_TITLES or folded in TITLE_QUALIFIERS or word in _STATE_OF


def _split_runs(tokens: list[Token], lowercase: set[str],
                confirmed: set[str]) -> list[list[Token]]:
    """Group accepted capitalised tokens (and connectors between them) into runs."""
    runs: list[list[Token]] = []
    current: list[Token] = []
    pending: list[Token] = []  # connectors waiting for a capitalised word to follow

    def close() -> None:
        nonlocal current, pending
        if current:
            runs.append(current)
        current, pending = [], []

    previous: Token | None = None
    for t in tokens:
        if previous is None or not _only_space_between(previous, t):
            close()
        previous = t
        folded = t.text.casefold()
        # "al-Sinwar", "Al Jazeera": a lowercase or capitalised article glued to the name.
        if folded in CONNECTORS and (current or folded in NAME_STARTING_CONNECTORS):
            pending.append(t)
            continue
        if _is_capitalised(t.text) and _accept_capitalised(t, lowercase, confirmed):
            if not current and any(p.text.casefold() not in NAME_STARTING_CONNECTORS
                                   for p in pending):
                pending = []
            current.extend(pending)
            pending = []
            current.append(t)
            if t.possessive:
                close()
            continue
        close()
    close()
    return runs


def _only_space_between(a: Token, b: Token) -> bool:
    """Tokens are adjacent in a name when nothing but spaces or hyphens separate them."""
    return b.glued and not a.possessive


def _words(tokens: list[Token]) -> list[str]:
    return [t.text for t in tokens]


def _is_generic(words: list[str]) -> bool:
    """A bare head word or title that names nobody ("Ministry", "Media", "Foreign Minister").

    Two words with an organisation head ("Security Council") are kept: that is a name.
    """
    if len(words) == 1:
        word = words[0].casefold()
        return word in ORG_HEADS - PROPER_HEADS or word in NON_NAMES or (
            _is_title_word(words[0]) and words[0] not in _STATE_OF)
    return all(_is_title_word(w) and w not in _STATE_OF or w.casefold() in ADJECTIVES
               for w in words)


def _trim(run: list[Token]) -> list[Token]:
    """Drop connectors and titles that end a run ("Hamas Leader" in "Hamas Leader in Gaza")."""
    while run and run[-1].text.casefold() in CONNECTORS:
        run = run[:-1]
    if len(run) > 1 and run[-1].text.casefold() in PERSON_TITLES:
        run = run[:-1]
        # ... and the qualifiers of that title ("Russian Deputy Foreign [Minister]").
        while len(run) > 1 and run[-1].text.casefold() in TITLE_QUALIFIERS | PERSON_TITLES:
            run = run[:-1]
    while run and run[0].text.casefold() in CONNECTORS - NAME_STARTING_CONNECTORS:
        run = run[1:]
    return run


def _split_at_titles(run: list[Token]) -> list[tuple[list[Token], bool]]:
    """Cut titles out of a run; returns (tokens, title_cue) parts.

    "Russian Deputy Foreign Minister Mikhail Bogdanov" → Mikhail Bogdanov (cued);
    "Hamas Leader Khaled Mashal" → Hamas, Khaled Mashal (cued).  A title prefix without a
    person title ("Russian Foreign Ministry") names an organisation and is kept.
    """
    words = _words(run)
    folded = [w.casefold() for w in words]
    for i in range(len(words) - 2, -1, -1):
        if folded[i] not in PERSON_TITLES or folded[i + 1] in ORG_HEADS | CONNECTORS:
            continue
        # Walk back over the qualifiers of this title ("Deputy Foreign Minister").
        begin = i
        while begin > 0 and _is_title_word(words[begin - 1]):
            begin -= 1
        parts = [(run[:begin], False)] if begin else []
        return [*parts, (run[i + 1:], True)]
    return [(run, False)]


def _split_state_prefix(run: list[Token]) -> list[list[Token]]:
    """"... Ambassador to Russia Chawki Bou Nassar": a state glued to a following name."""
    words = _words(run)
    if len(words) >= 3 and words[0] in STATES and not {w.casefold() for w in words} & ORG_HEADS:
        return [run[:1], run[1:]]
    return [run]


def _name_parts(run: list[Token]) -> list[tuple[list[Token], bool]]:
    """The names a run of capitalised tokens holds, each with its title cue."""
    out: list[tuple[list[Token], bool]] = []
    for piece, cued in _split_at_titles(_trim(run)):
        parts = _split_state_prefix(_trim(piece))
        for n, part in enumerate(parts):
            part = _trim(part)
            words = _words(part)
            if not part or _is_generic(words):
                continue  # a bare title or head word ("Foreign Minister") names nobody
            if len(words) == 1 and (words[0].casefold() in ADJECTIVES or len(words[0]) < 2):
                continue
            out.append((part, cued and n == len(parts) - 1))
    return out


def _split_glued(occurrences: list[Occurrence]) -> list[Occurrence]:
    """Split rare runs that glue two known names ("Gaza Yahya Sinwar", "Hamas Telegram").

    A run is split when its first words are a name seen on its own elsewhere (not an adjective
    such as "Russian") and the rest is, or ends, another name seen on its own.
    """
    counts = Counter(o.form for o in occurrences)
    keys = {form: _name_tokens(form) for form in counts}
    out: list[Occurrence] = []
    for o in occurrences:
        words = o.form.split()
        split_at = 0
        for i in range(1, len(words)):
            left, right = " ".join(words[:i]), _name_tokens(" ".join(words[i:]))
            if not right or words[i].casefold() in ORG_HEADS or left in _STATE_OF \
                    and left not in STATES:
                continue  # "Russian Foreign Ministry": a demonym qualifies, it is no name
            if left not in REGIONS and left not in STATES and counts[left] < 2 * counts[o.form]:
                continue
            if any(f != o.form and (_same_tokens(right, keys[f]) or _is_suffix(keys[f], right))
                   for f in counts):
                split_at = i
                break
        if not split_at:
            out.append(o)
            continue
        out.append(Occurrence(o.doc, o.tokens[:split_at], False))
        out.append(Occurrence(o.doc, o.tokens[split_at:], o.title_cue))
    return out


def extract_candidates(texts: Mapping[str, str]) -> list[Occurrence]:
    """Find candidate names in every document, with title cues, in document order."""
    tokenised = {name: tokenise(text) for name, text in texts.items()}
    lowercase, confirmed = _word_statistics(t for ts in tokenised.values() for t in ts)
    found: list[Occurrence] = []
    # "Analysts said ...": a lone word only ever seen opening a sentence is kept only when it
    # is a variant of a name seen elsewhere ("Mash'al thanked ..." beside "Khaled Mashal").
    doubtful: list[Occurrence] = []
    for doc, tokens in tokenised.items():
        for run in _split_runs(tokens, lowercase, confirmed):
            for part, cued in _name_parts(run):
                only = part[0]
                lone = len(part) == 1 and only.initial and only.text not in confirmed \
                    and only.text not in _STATE_OF
                (doubtful if lone else found).append(Occurrence(doc, tuple(part), cued))
    surnames = {_name_tokens(o.form)[-1] for o in found if _name_tokens(o.form)}
    for o in doubtful:
        key = _name_tokens(o.form)
        if key and any(same_word(key[0], s) for s in surnames):
            found.append(o)
    found.sort(key=lambda o: (o.doc, o.start))
    return _split_glued(found)


# --- step 2: clustering spelling variants -----------------------------------------------------

def _name_tokens(form: str) -> list[str]:
    """Folded tokens of a name without Arabic articles (al-Sinwar → sinwar)."""
    return [w for w in fold(form).split() if w not in {"al", "el", "ad", "as", "ash", "ar", "an"}]


def skeleton(word: str) -> str:
    """Consonant skeleton of a folded word: vowels dropped, q→k, doubled letters merged.

    Mashal, Mash'al, Meshaal and Mishal all give "mshl"; Путин and Путина give "птн".
    """
    word = word.replace("q", "k").replace("ou", "u").replace("w", "v")
    out: list[str] = []
    for i, c in enumerate(word):
        if c in _VOWELS and i > 0:
            continue
        if out and out[-1] == c:
            continue
        out.append(c)
    text = "".join(out)
    return text[:-1] if len(text) > 2 and text.endswith("h") else text


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def same_word(a: str, b: str) -> bool:
    """Whether two folded words are spelling variants of one another.

    Equal skeletons and an edit distance within a third of the longer word (and at most 3):
    Mashal/Meshaal and Hizbullah/Hezbollah pass, Hamas/Homs and Iran/Iraq do not.  Cyrillic
    case endings (Лавров/Лаврова/Лавровым) pass through a shared stem.
    """
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    longest = max(len(a), len(b))
    limit = min(3, longest // 3)
    if skeleton(a) == skeleton(b) and edit_distance(a, b) <= limit:
        return True
    # Russian declension: one word is the other plus a short inflectional ending.
    if _is_cyrillic(a) and _is_cyrillic(b):
        shorter, longer = sorted((a, b), key=len)
        stem = shorter.rstrip("аяоеуюыиьй")
        return len(stem) >= 4 and longer.startswith(stem) and len(longer) - len(stem) <= 3
    return False


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def _same_tokens(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(
        same_word(x, y) for x, y in zip(a, b, strict=True))


def _is_suffix(short: list[str], long: list[str]) -> bool:
    """The short name ends the long one: "Putin" / "Vladimir Putin", "Abu Marzouk" /
    "Moussa Abu Marzouq"."""
    return 0 < len(short) < len(long) and _same_tokens(short, long[-len(short):])


def cluster_candidates(occurrences: list[Occurrence]) -> list[Cluster]:
    """Group candidate forms into clusters of spelling variants (deterministic order)."""
    form_counts = Counter(o.form for o in occurrences)
    # States first: every form that names a state or its demonym joins that state.
    clusters: list[Cluster] = []
    by_state: dict[str, Cluster] = {}
    others: list[str] = []
    for form in sorted(form_counts, key=lambda f: (-len(_name_tokens(f)), -form_counts[f], f)):
        state = _STATE_OF.get(form)
        if state:
            cluster = by_state.setdefault(state, Cluster(state=state))
            cluster.forms[form] += form_counts[form]
        else:
            others.append(form)
    clusters.extend(by_state[s] for s in sorted(by_state))

    # Longest names first, so that a short form finds the full name it abbreviates.
    keyed: list[tuple[list[str], Cluster]] = []
    for form in others:
        tokens = _name_tokens(form)
        if not tokens:
            continue
        home = None
        for other_tokens, cluster in keyed:
            if _same_tokens(tokens, other_tokens):
                home = cluster
                break
        if home is None:
            # A short form joins the most mentioned full name it ends, if it ends one.
            hosts = [c for other_tokens, c in keyed if _is_suffix(tokens, other_tokens)
                     and not set(other_tokens) & (ORG_HEADS | {"of", "for"})]
            if hosts:
                home = max(hosts, key=lambda c: (sum(c.forms.values()), -clusters.index(c)))
        if home is None:
            home = Cluster()
            clusters.append(home)
        home.forms[form] += form_counts[form]
        keyed.append((tokens, home))
    return clusters


# --- step 3: mentions, cues, kinds ------------------------------------------------------------

def _context(text: str, start: int, end: int, words: int = 4) -> str:
    """A few words either side of a mention, on one line, cut from the text as written."""
    window = max(0, start - 200)
    before = list(re.finditer(r"\S+", text[window:start]))[-words:]
    after = list(re.finditer(r"\S+", text[end:end + 200]))[:words]
    left = window + before[0].start() if before else start
    right = end + after[-1].end() if after else end
    return " ".join(text[left:right].split()).replace('"', "'")


def measure_clusters(clusters: list[Cluster], texts: Mapping[str, str],
                     occurrences: list[Occurrence]) -> None:
    """Count mentions (longest match wins) and collect kind cues and example contexts."""
    form_to_cluster: dict[str, Cluster] = {}
    for cluster in clusters:
        # A state found at all is counted under every name and demonym the gazetteer knows.
        extra = [cluster.state, *STATES[cluster.state]] if cluster.state else []
        for form in [*cluster.forms, *extra]:
            form_to_cluster[form] = cluster
        cluster.forms = Counter()
    if not form_to_cluster:
        return
    forms = sorted(form_to_cluster, key=lambda f: (-len(f), f))
    pattern = re.compile(r"(?<![\w" + _APOSTROPHES + r"])(?:" + "|".join(map(re.escape, forms))
                         + r")(?![\w])")
    title_cued = {(o.doc, o.start) for o in occurrences if o.title_cue}
    for doc in sorted(texts):
        text = texts[doc]
        for m in pattern.finditer(text):
            cluster = form_to_cluster[m.group()]
            cluster.forms[m.group()] += 1
            cluster.mentions += 1
            cluster.documents.add(doc)
            if len(cluster.contexts) < 2:
                cluster.contexts.append(_context(text, m.start(), m.end()))
            _collect_cues(cluster, text, m.start(), m.end(), (doc, m.start()) in title_cued)
    for cluster in clusters:
        forms = list(cluster.forms)
        if any(len(_name_tokens(f)) > 1 for f in forms) and any(
                len(_name_tokens(f)) == 1 for f in forms) and not cluster.state:
            # "Vladimir Putin" … "Putin": a surname used alone is how people are named.
            cluster.person_cues += 2
        if any(w.casefold() in {"abu", "bin", "ibn", "bint"} for f in forms for w in f.split()):
            cluster.person_cues += 2


def _collect_cues(cluster: Cluster, text: str, start: int, end: int, title_cue: bool) -> None:
    before = re.findall(r"[^\W\d_]+", text[max(0, start - 40):start])
    after = re.findall(r"[^\W\d_]+", text[end:end + 40])
    previous = before[-1].casefold() if before else ""
    following = after[0].casefold() if after else ""
    if title_cue or previous in PERSON_TITLES:
        cluster.person_cues += 1
    if following in PERSON_FOLLOWERS:
        cluster.person_cues += 0.5  # organisations "say" things too: a weak cue
    if following in ORG_FOLLOWERS or previous in {"group", "movement", "organization"}:
        cluster.org_cues += 1
    if previous in {"agency", "newspaper", "channel", "daily", "outlet", "broadcaster", "militia"}:
        cluster.org_cues += 1
    if previous in LOCATIVE_PREPOSITIONS:
        # "to" also introduces people and groups ("sent arms to Hizbullah"): half a cue.
        cluster.place_cues += 0.5 if previous == "to" else 1


# --- step 4: themes ---------------------------------------------------------------------------

def _stem(word: str) -> str:
    """Crude English plural folding, enough to merge "academy" and "academies"."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@dataclass
class Theme:
    """A candidate theme: a phrase, its surface variants and counts."""

    key: tuple[str, ...]
    forms: Counter[str] = field(default_factory=Counter)
    documents: set[str] = field(default_factory=set)
    contexts: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.forms.values())

    @property
    def phrase(self) -> str:
        return max(self.forms, key=lambda f: (self.forms[f], f))

    def score(self) -> float:
        # Longer phrases are rarer and more telling; spread over documents beats repetition.
        return self.count * (1.0 + 1.5 * (len(self.key) - 1)) * math.sqrt(len(self.documents))


def extract_themes(texts: Mapping[str, str], occurrences: list[Occurrence],
                   limit: int = 20) -> list[Theme]:
    """Frequent content-word n-grams (1–3 words) outside names, best first."""
    name_spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for o in occurrences:
        name_spans[o.doc].append((o.start, o.end))
    themes: dict[tuple[str, ...], Theme] = {}
    for doc in sorted(texts):
        text = texts[doc]
        spans = sorted(name_spans[doc])
        for run in _content_runs(text, spans):
            for n in (1, 2, 3):
                for i in range(len(run) - n + 1):
                    gram = run[i:i + n]
                    words = [w for w, _, _ in gram]
                    # A lone adjective or verb form ("political", "stressed") is no theme.
                    if n == 1 and (words[0] in GENERIC_THEME_WORDS or len(words[0]) < 5
                                   or words[0].endswith(_NON_NOUN_ENDINGS)):
                        continue
                    if n > 1 and (words[0] in GENERIC_THEME_WORDS
                                  and words[-1] in GENERIC_THEME_WORDS):
                        continue
                    key = tuple(_stem(w) for w in words)
                    theme = themes.setdefault(key, Theme(key))
                    theme.forms[" ".join(words)] += 1
                    theme.documents.add(doc)
                    if len(theme.contexts) < 2:
                        theme.contexts.append(_context(text, gram[0][1], gram[-1][2]))
    minimum = {1: 5, 2: 3, 3: 3}
    ranked = sorted((t for t in themes.values() if t.count >= minimum[len(t.key)]),
                    key=lambda t: (-t.score(), t.key))
    chosen: list[Theme] = []
    for theme in ranked:
        # A word or phrase that mostly occurs inside an already chosen longer phrase adds
        # nothing; a longer phrase containing a chosen one is kept (it is more specific).
        if any(_contains(c.key, theme.key) and c.count * 2 >= theme.count for c in chosen):
            continue
        chosen.append(theme)
        if len(chosen) >= limit:
            break
    return chosen


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return len(longer) > n and any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def _content_runs(text: str,
                  name_spans: list[tuple[int, int]]) -> list[list[tuple[str, int, int]]]:
    """Runs of lowercase content words (folded, start, end), broken by stop words, names and
    punctuation."""
    runs: list[list[tuple[str, int, int]]] = []
    current: list[tuple[str, int, int]] = []
    last_end = 0
    span_index = 0
    for m in _WORD_RE.finditer(text):
        while span_index < len(name_spans) and name_spans[span_index][1] <= m.start():
            span_index += 1
        inside_name = span_index < len(name_spans) and name_spans[span_index][0] <= m.start()
        gap = text[last_end:m.start()]
        last_end = m.end()
        word = m.group()
        folded = fold(word)
        usable = (word.islower() and not inside_name and folded not in STOP_WORDS
                  and len(folded) >= 3 and " " not in folded)
        if not usable or re.search(r"[^ \t\-]", gap):
            if current:
                runs.append(current)
            current = []
        if usable:
            current.append((folded, m.start(), m.end()))
    if current:
        runs.append(current)
    return runs


# --- step 5: the YAML draft -------------------------------------------------------------------

def slug(text: str) -> str:
    """An id ([a-z0-9][a-z0-9_-]*) from a name; Cyrillic is transliterated."""
    folded = fold(text)
    latin = "".join(_CYRILLIC_TO_LATIN.get(c, c) for c in folded)
    ascii_only = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")


def _unique_id(base: str, fallback: str, taken: set[str]) -> str:
    candidate = base or fallback
    number = 2
    unique = candidate
    while unique in taken:
        unique = f"{candidate}-{number}"
        number += 1
    taken.add(unique)
    return unique


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _comment(text: str) -> str:
    return " ".join(text.split())


def render_draft(clusters: list[Cluster], themes: list[Theme], names: list[str]) -> str:
    """The commented YAML draft for the given clusters and themes."""
    lines = [
        "# Draft rule set proposed by `monitor rules derive` from "
        f"{len(names)} document(s):",
        *(f"#   {_comment(n)}" for n in names),
        "#",
        "# Review every entry before use: merge or split actors, fix kinds, add spellings in",
        "# other scripts, mark ambiguous aliases weak (with a context), delete noise, and write",
        "# the watches. Comments show mention counts and a few words of context.",
        "",
        "actors:",
    ]
    taken: set[str] = set()
    if not clusters:
        lines[-1] = "actors: []"
    for c in clusters:
        actor_id = _unique_id(slug(c.name), "actor", taken)
        forms = sorted(c.forms, key=lambda f: (-c.forms[f], f))
        variants = ", ".join(f"{f} ×{c.forms[f]}" for f in forms)
        lines.append(f"  # {c.mentions} mention(s) in {len(c.documents)} document(s): "
                     f"{_comment(variants)}")
        for context in c.contexts:
            lines.append(f"  #   e.g. …{_comment(context)}…")
        lines += [
            f"  - id: {actor_id}",
            f"    name: {_quote(c.name)}",
            f"    kind: {c.kind()}",
            f"    aliases: [{', '.join(_quote(f) for f in forms)}]",
        ]
    lines += ["", "themes:"]
    if not themes:
        lines[-1] = "themes: []"
    for t in themes:
        theme_id = _unique_id(slug(t.phrase), "theme", taken)
        forms = sorted(t.forms, key=lambda f: (-t.forms[f], f))
        lines.append(f"  # {t.count} occurrence(s) in {len(t.documents)} document(s)")
        for context in t.contexts:
            lines.append(f"  #   e.g. …{_comment(context)}…")
        lines += [
            f"  - id: {theme_id}",
            f"    name: {_quote(t.phrase[:1].upper() + t.phrase[1:])}",
            f"    terms: [{', '.join(_quote(f) for f in forms)}]",
        ]
    lines += [
        "",
        "# Watches combine actors (@id) and themes (#id); write them by hand, e.g.:",
        "#   - id: my-watch",
        "#     title: What an analyst should see",
        "#     query: '@first-actor AND (@second-actor OR #some-theme)'",
        "#     examples: {match: [...], no_match: [...]}",
        "watches: []",
        "",
    ]
    return "\n".join(lines)


def derive_draft(texts: dict[str, str], *, min_mentions: int = 2, max_themes: int = 20) -> str:
    """Propose a commented YAML rule draft from documents (name → plain text).

    Returns the YAML text: actors with clustered spelling variants, mention counts, guessed
    kinds and example contexts (as comments), candidate themes, and an empty watch list.
    Actors mentioned fewer than `min_mentions` times are left out.  Pure and deterministic.
    """
    ordered = {name: texts[name] for name in sorted(texts)}
    occurrences = extract_candidates(ordered)
    clusters = cluster_candidates(occurrences)
    measure_clusters(clusters, ordered, occurrences)
    kept = [c for c in clusters if c.mentions >= min_mentions and c.forms]
    kept.sort(key=lambda c: (-c.mentions, c.name))
    themes = extract_themes(ordered, occurrences, limit=max_themes)
    logger.debug("derived %d actors and %d themes from %d documents",
                 len(kept), len(themes), len(ordered))
    return render_draft(kept, themes, list(ordered))


@click.command(name="derive")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--min-mentions", default=2, show_default=True, type=click.IntRange(min=1),
              help="Leave out actors mentioned fewer times than this.")
@click.option("--max-themes", default=20, show_default=True, type=click.IntRange(min=0),
              help="Propose at most this many themes.")
def derive_command(files: tuple[Path, ...], min_mentions: int, max_themes: int) -> None:
    """Propose a draft rule file (YAML on stdout) from plain-text dossier FILES."""
    texts = {str(path): path.read_text(encoding="utf-8", errors="replace") for path in files}
    sys.stdout.write(derive_draft(texts, min_mentions=min_mentions, max_themes=max_themes))
