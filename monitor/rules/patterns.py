"""One written pattern (an alias, theme term, context or exclude entry, or a query term) and
the automaton keys that find it.

A pattern is one or more words; the text must hold the same words, adjacent, as whole words
(after folding, see `monitor.rules.folding`). Its last word may end with one mark:

* ``sanction*`` — prefix wildcard: the word starts with "sanction" and may go on
  (sanctions, sanctioned). At least 3 letters before the ``*``.
* ``Лавров~`` — Russian noun declension: the Cyrillic stem, then nothing or one ending from
  `NOUN_ENDINGS` (Лавров, Лаврова, Лаврову, Лавровым, Лаврове, Лавровы, Лавровых …), then
  the end of the word. "лавровый" (ending -ый) does not match; "лавровым" does, because
  -ым is also the instrumental of the surname — list it under `exclude` if it matters.
* ``российск~~`` — Russian adjective declension: the stem, then exactly one ending from
  `ADJECTIVE_ENDINGS` (российский, российского, российская, российские …).

Arabic-script patterns (the first letter is Arabic) also match with the usual proclitics
glued to the first word: و ف (and, so), ب ك ل (with/in, like, for/to), and one of each
(وب، ول، فل …): "حماس" matches "وحماس", "لحماس", "بحماس". The article ال is NOT added —
"الحماس" means "the enthusiasm", not Hamas. A pattern written WITH the article, "الكرملين",
requires it and accepts proclitics before it, including the contracted ل + ال = "لل":
"الكرملين", "والكرملين", "بالكرملين", "للكرملين".

In scripts written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) no word
boundary is required on a side that ends in such a character.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.rules.folding import fold

# Folded (ё → е). "" is the nominative of consonant stems: Лавров~ matches "Лавров".
NOUN_ENDINGS = frozenset({
    "", "а", "я", "у", "ю", "е", "и", "ы", "о", "ь", "й",
    "ом", "ем", "ой", "ей", "ою", "ею", "ью",
    "ам", "ям", "ах", "ях", "ами", "ями", "ов", "ев",
    "ым", "ыми", "ых",
})
ADJECTIVE_ENDINGS = frozenset({
    "ий", "ый", "ой", "ая", "яя", "ое", "ее", "ого", "его", "ому", "ему",
    "им", "ым", "ом", "ем", "ую", "юю", "ые", "ие", "их", "ых", "ими", "ыми",
    "ей", "ою", "ею",
})

_CONJUNCTIONS = ("", "\u0648", "\u0641")               # و ف
_PREPOSITIONS = ("", "\u0628", "\u0643", "\u0644")      # ب ك ل
_ARTICLE = "\u0627\u0644"                               # ال
PROCLITIC_PREFIXES = tuple(c + p for c in _CONJUNCTIONS for p in _PREPOSITIONS)
ARTICLE_PREFIXES = tuple(
    [c + p + _ARTICLE for c in _CONJUNCTIONS for p in _PREPOSITIONS if p != "\u0644"]
    + [c + "\u0644\u0644" for c in _CONJUNCTIONS])      # ل + ال is written لل

MIN_WILDCARD_LETTERS = 3

EXACT, PREFIX, NOUN, ADJECTIVE = "exact", "prefix", "noun", "adjective"


class PatternError(ValueError):
    """A pattern is malformed; `offset` is where in the written text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _is_arabic(char: str) -> bool:
    code = ord(char)
    return 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0x08A0 <= code <= 0x08FF


def _is_cyrillic(char: str) -> bool:
    return 0x0400 <= ord(char) <= 0x052F


def is_spaceless(char: str) -> bool:
    """True for characters of scripts written without spaces between words."""
    code = ord(char)
    return (0x0E00 <= code <= 0x0EFF or 0x1000 <= code <= 0x109F or 0x1780 <= code <= 0x17FF
            or 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF
            or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed pattern. Two patterns with equal `key` match exactly the same text."""

    written: str      # as written in the rule file
    words: str        # folded words, single spaces (an Arabic article stripped, see `article`)
    form: str         # EXACT | PREFIX | NOUN | ADJECTIVE
    arabic: bool      # proclitics may precede the first word
    article: bool     # written with ال, which is then required
    open_start: bool  # no boundary needed before (spaceless script)
    open_end: bool    # no boundary needed after
    # Identity of what the pattern matches (the written form does not matter).
    key: tuple[str, str, bool, bool, bool, bool] = field(init=False, repr=False,
                                                         compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.words, self.form, self.arabic, self.article,
                                         self.open_start, self.open_end))

    def automaton_keys(self) -> list[str]:
        """Strings to look for in padded folded text; a hit on any is a candidate match.

        Each key starts with the space before the word (unless `open_start`) followed by any
        allowed proclitics; exact patterns end with the space after the last word (unless
        `open_end`), the others stop at the stem and are checked after the hit.
        """
        lead = "" if self.open_start else " "
        trail = " " if self.form == EXACT and not self.open_end else ""
        if not self.arabic:
            return [lead + self.words + trail]
        prefixes = ARTICLE_PREFIXES if self.article else PROCLITIC_PREFIXES
        return [lead + prefix + self.words + trail for prefix in prefixes]

    def describe(self) -> str:
        return self.written


def parse_pattern(written: str) -> Pattern:
    """Parse one pattern as written in a rule file or a query.

    Raises PatternError (with the offset in `written`) when the pattern has nothing to match,
    a misplaced or too short wildcard, or a declension mark after a non-Cyrillic stem.
    """
    stripped = written.rstrip()
    if not stripped or stripped.isspace():
        raise PatternError("empty pattern: write the word or phrase to match", 0)
    lead = len(stripped) - len(stripped.lstrip())
    form = EXACT
    body = stripped
    last = stripped[-1]
    if last == "~":
        form, body = (ADJECTIVE, stripped[:-2]) if stripped.endswith("~~") else \
            (NOUN, stripped[:-1])
    elif last == "*":
        form, body = PREFIX, stripped[:-1]
    if "*" in body or "~" in body:
        for mark, name in (("*", "a wildcard *"), ("~", "the declension mark ~")):
            at = body.find(mark, lead)
            if at >= 0:
                raise PatternError(f"{name} may only end the last word, as in 'sanction*' "
                                   "or 'Лавров~'", at)
    words = fold(body)
    if not words:
        raise PatternError(f"'{written.strip()}' has no letters or digits to match", lead)
    if form is not EXACT:
        mark_at = len(body)
        if not body[-1:].isalnum():
            raise PatternError(f"'{stripped[mark_at:]}' must follow a letter or digit, with "
                               "no space or punctuation before it", mark_at)
        last_word = words.rsplit(" ", 1)[-1]
        if form is PREFIX and len(last_word) < MIN_WILDCARD_LETTERS:
            raise PatternError(f"a wildcard needs at least {MIN_WILDCARD_LETTERS} letters "
                               f"before *: '{stripped.strip()}' would match too many words",
                               mark_at - len(last_word))
        if form is not PREFIX and not _is_cyrillic(last_word[-1]):
            raise PatternError("the declension mark ~ only follows a Cyrillic stem, as in "
                               "'Лавров~'; list other spellings as separate aliases", mark_at)
    first = words[0]
    arabic = "\u0600" <= first <= "\u08ff" and _is_arabic(first)
    article = False
    if arabic and words.startswith(_ARTICLE):
        first_word = words.split(" ", 1)[0]
        if len(first_word) >= len(_ARTICLE) + 2:
            article = True
            words = words[len(_ARTICLE):]
            first = words[0]
    end = words[-1]
    return Pattern(
        written=stripped.strip() if lead else stripped,
        words=words,
        form=form,
        arabic=arabic,
        article=article,
        open_start=first >= "\u0e00" and is_spaceless(first),
        open_end=end >= "\u0e00" and is_spaceless(end),
    )
