"""Text folding for matching: one canonical form for rule patterns and item text, with offsets.

Rule patterns and item text go through the same `fold_text`, so whatever the folding does, a
pattern and the text it should match always agree. The folded form is:

* lower-cased (Unicode case folding: "STRAUSS", "Strauß" → "strauss");
* compatibility-decomposed (NFKD) with every combining mark dropped, so Latin diacritics go
  ("Erdoğan" → "erdogan", "Zürich" → "zurich") and so do Arabic harakat and the superscript
  alef;
* Cyrillic: "ё" → "е" (Russian print mostly writes е anyway); "й" is KEPT as "й" — it is a
  letter of its own, not и with an accent, and the declension endings rely on it;
* Arabic: tatweel removed; أ إ آ ٱ → ا; ؤ → و; ئ ى ی → ي; ة → ه; ک → ك; Arabic-Indic digits
  → 0–9. Presentation forms fold to the base letters (NFKD);
* a few letters NFKD leaves alone fold like their look-alikes: ı → i, ø → o, đ/ð → d, ł → l,
  ħ → h, ŧ → t, æ → ae, œ → oe, þ → th;
* apostrophe-like marks ' ’ ʼ ʿ ʾ ʻ ` ´ ‘ ‛ ′ ʹ are REMOVED ("Mash'al" → "mashal",
  "Qur’an" → "quran"), with two exceptions that keep Western news text matching:
  an English possessive "’s" at the end of a word is dropped together with its apostrophe
  ("Hamas’s" → "hamas"), and a French/Italian elision "l’" / "d’" at the start of a word
  becomes a word break ("l’Iran" → "l iran");
* soft hyphens and other invisible format characters (ZWJ, ZWNJ, bidi marks, BOM) are removed;
  a zero-width space is a word break;
* every other character that is not a letter or a digit — spaces, punctuation, hyphens and
  dashes, symbols — is a word break. Runs of breaks become ONE space, and the whole text is
  padded with one space at each end: " hamas delegation visits moscow ".

So the folded text is words of letters/digits separated by single spaces, and a whole word
"w" occurs exactly where " w " occurs. The matcher relies on that: word boundaries in every
script are checked by the automaton itself, not by code per hit.

`FoldedText.to_original(start, end)` maps a span of the folded text back to the original
string, so hits can be highlighted in the text as the reader sees it.
"""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

# Removed wherever they occur. The apostrophe family is removed so transliterations with and
# without it agree (Mash'al / Mashal, Ka’ba / Kaba); tatweel is typographic stretching.
APOSTROPHES = "'\u2019\u02bc\u02bf\u02be\u02bb`\u00b4\u2018\u201b\u2032\u02b9"
# Apostrophes that can mark an English possessive or a Romance elision.
_CONTEXT_APOSTROPHES = frozenset("'\u2019\u02bc\u2018`\u00b4")
_REMOVED = frozenset(APOSTROPHES + "\u0640\u00ad")

# Folds NFKD + case folding do not do. "й" must bypass NFKD, which would split it into и + mark.
_KEEP_AS = {"й": "й", "Й": "й"}
_SPECIAL = {
    "ı": "i", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ŧ": "t",
    "æ": "ae", "œ": "oe", "þ": "th",
    "\u0671": "\u0627",   # alef wasla → alef (أ إ آ lose their hamza/madda as marks in NFKD)
    "\u0649": "\u064a",   # alef maqsura → yeh
    "\u0629": "\u0647",   # teh marbuta → heh
    "\u06cc": "\u064a",   # Farsi yeh → yeh
    "\u06a9": "\u0643",   # keheh → kaf
    "\u200b": " ",        # zero-width space separates words
}
_SPECIAL.update({chr(0x0660 + i): str(i) for i in range(10)})  # Arabic-Indic digits
_SPECIAL.update({chr(0x06F0 + i): str(i) for i in range(10)})  # Extended Arabic-Indic digits

def fold_char(char: str) -> str:
    """Return the folded form of one character ("" when removed, " " for a word break).

    This is the definition the `fold_text` tables are built from; it ignores the context
    rules (possessive "’s", elision "l’", a decomposed й), which need the neighbours.
    """
    if char in _KEEP_AS:
        return _KEEP_AS[char]
    if char in _REMOVED:
        return ""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    out: list[str] = []
    for part in decomposed:
        special = _SPECIAL.get(part)
        if special is None:
            if part in _REMOVED or unicodedata.category(part) in ("Mn", "Me", "Cf"):
                continue
            special = part
        for piece in special.lower():
            out.append(piece if piece.isalnum() else " ")
    return "".join(out)


def _stable_fold(char: str, known: list[str] | None = None) -> str:
    """`fold_char` iterated to a fixed point, so folding folded text changes nothing."""
    result = fold_char(char)
    for _ in range(4):
        again = "".join(_lookup(c, known) for c in result)
        if again == result:
            return result
        result = again
    return result


def _lookup(char: str, known: list[str] | None) -> str:
    if char == " ":
        return " "
    if known is not None and ord(char) < len(known):
        return known[ord(char)]
    return fold_char(char)


class _AstralFolds(dict):  # type: ignore[type-arg]
    """Fold table for texts with characters beyond the BMP: filled in as characters appear."""

    def __init__(self, bmp: list[str]) -> None:
        super().__init__()
        self._bmp = bmp

    def __missing__(self, code: int) -> str:
        value = self._bmp[code] if code < 0x10000 else _stable_fold(chr(code))
        self[code] = value
        return value


@dataclass(frozen=True)
class _Tables:
    """Per-character fold tables, built once on first use (about 0.3 s)."""

    bmp: list[str]            # code point → folded string, for str.translate
    # the BMP characters whose fold is not exactly one character (a regex finds the few in
    # a text several times faster than a translate through a 65,536-entry table)
    irregular: re.Pattern[str]
    astral: _AstralFolds


def _build_tables() -> _Tables:
    raw = [fold_char(chr(cp)) if not 0xD800 <= cp < 0xE000 else chr(cp)
           for cp in range(0x10000)]
    bmp = list(raw)
    for cp, folded in enumerate(raw):
        if any(c != " " and ord(c) < 0x10000 and raw[ord(c)] != c for c in folded):
            bmp[cp] = _stable_fold(chr(cp), raw)
    ranges: list[list[int]] = []
    for cp, folded in enumerate(bmp):
        if len(folded) != 1:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    irregular = re.compile("[" + "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges) + "]")
    return _Tables(bmp, irregular, _AstralFolds(bmp))


_tables: _Tables | None = None
_tables_lock = threading.Lock()


def _get_tables() -> _Tables:
    global _tables
    if _tables is None:
        with _tables_lock:
            if _tables is None:
                _tables = _build_tables()
    return _tables


class _EditMap:
    """Maps positions in an edited string back to the string before the edits.

    Edits are sorted, non-overlapping (start, end, replacement) in source coordinates.
    Characters of a replacement map to the whole source range they replaced.
    """

    __slots__ = ("_keys", "_starts", "_ends")

    def __init__(self, edits: list[tuple[int, int, str]]) -> None:
        keys: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        shift = 0  # source position - output position, in unedited stretches
        for a, b, rep in edits:
            q = a - shift
            for i in range(len(rep)):
                keys.append(q + i)
                starts.append(a - (q + i))
                ends.append(b - (q + i))
            q += len(rep)
            shift = b - q
            keys.append(q)
            starts.append(shift)
            ends.append(shift + 1)
        self._keys, self._starts, self._ends = keys, starts, ends

    def start(self, pos: int) -> int:
        """Source position where output character `pos` starts."""
        j = bisect.bisect_right(self._keys, pos) - 1
        return pos + (self._starts[j] if j >= 0 else 0)

    def end(self, pos: int) -> int:
        """Source position just after output character `pos`."""
        j = bisect.bisect_right(self._keys, pos) - 1
        return pos + (self._ends[j] if j >= 0 else 1)


_APOSTROPHE_RE = re.compile("[" + re.escape(APOSTROPHES) + "]")
# The same marks for a quick "any of them?" test, the common ones first: a few substring
# tests (memchr-like loops in C) cost a third of one character-class regex search.
_APOSTROPHE_ORDER = "\u2019'" + "".join(c for c in APOSTROPHES if c not in "\u2019'")
_ASCII_APOSTROPHES = "".join(c for c in APOSTROPHES if c.isascii())
# Typographic punctuation that folds to a word break. Replacing it with a plain space up front
# (same length, same fold) often leaves pure ASCII, which str.translate handles ~15x faster.
_TYPOGRAPHIC_BREAKS = ("\u201c", "\u201d", "\u00ab", "\u00bb", "\u2014", "\u2013", "\u00a0",
                       "\u2026", "\u201e", "\u2010", "\u2011", "\u2022", "\u00b7")


def _context_edits(text: str) -> list[tuple[int, int, str]]:
    """Length-changing edits made before the per-character fold, in text order.

    Every apostrophe-like mark is removed here rather than by the fold table (so the table
    stays one-to-one on ASCII, which lets str.translate take its fast path); a possessive
    "’s" goes with it, an elision "l’" becomes a break; a decomposed й is recomposed.
    """
    edits: list[tuple[int, int, str]] = []
    n = len(text)
    skip_to = -1
    for match in _APOSTROPHE_RE.finditer(text):
        a = match.start()
        if a < skip_to:
            continue
        b = a + 1
        if text[a] in _CONTEXT_APOSTROPHES and a > 0 and text[a - 1].isalnum():
            if b < n and text[b] in "sS" and (b + 1 == n or not text[b + 1].isalnum()):
                edits.append((a, b + 1, ""))  # Hamas’s → Hamas
                skip_to = b + 1
                continue
            if (text[a - 1] in "lLdD" and (a == 1 or not text[a - 2].isalnum())
                    and b < n and text[b].isalnum()):
                edits.append((a, b, " "))  # l’Iran → l Iran
                continue
        edits.append((a, b, ""))  # Mash'al → Mashal
    if "\u0306" in text:
        i = text.find("\u0306", 1)
        while i > 0:
            if text[i - 1] in "\u0438\u0418":
                edits.append((i - 1, i + 1, "\u0439"))
            i = text.find("\u0306", i + 1)
        edits.sort()
    return edits


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    pos = 0
    for a, b, rep in edits:
        pieces.append(text[pos:a])
        pieces.append(rep)
        pos = b
    pieces.append(text[pos:])
    return "".join(pieces)


class FoldedText:
    """A string folded for matching, and the way back to the original's offsets.

    `text` is padded: it starts and ends with one space and holds words separated by single
    spaces (just " " when there are no words). Offsets into `text` map back with
    `to_original`.
    """

    __slots__ = ("original", "text", "_edits", "_pre", "_translated", "_maps")

    def __init__(self, original: str, text: str, edits: list[tuple[int, int, str]],
                 pre: str, translated: str) -> None:
        self.original = original
        self.text = text
        self._edits = edits
        self._pre = pre
        self._translated = translated
        self._maps: tuple[list[int], list[int], _EditMap | None, _EditMap | None] | None = None

    def __repr__(self) -> str:
        return f"FoldedText({self.text!r})"

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Return the (start, end) span in `original` of the folded span [start, end).

        Both ends must fall on word characters, as every hit's span does.
        """
        return self.spans_to_original(((start, end),))[0]

    def spans_to_original(self, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """`to_original` of each span, in one call (an item's hits need dozens)."""
        if self._maps is None:
            self._maps = self._build_maps()
        keys, extras, irregular, context = self._maps
        at = bisect.bisect_right
        if irregular is None and context is None:  # most text: spaces are all that moved
            return [(start + extras[at(keys, start) - 1], end + extras[at(keys, end - 1) - 1])
                    for start, end in spans]
        out = []
        for start, end in spans:
            t_start = start + extras[at(keys, start) - 1]
            t_last = end - 1 + extras[at(keys, end - 1) - 1]
            if irregular is not None:
                t_start, t_end = irregular.start(t_start), irregular.end(t_last)
            else:
                t_end = t_last + 1
            if context is not None:
                out.append((context.start(t_start), context.end(t_end - 1)))
            else:
                out.append((t_start, t_end))
        return out

    def _build_maps(self) -> tuple[list[int], list[int], _EditMap | None, _EditMap | None]:
        # Folded ↔ translated: the folded text is the translated one with runs of spaces
        # collapsed, leading/trailing ones dropped and one pad space added at each end.
        translated = self._translated
        leading = len(translated) - len(translated.lstrip(" "))
        # Runs inside the text (a trailing run maps nowhere): each collapses to one space,
        # shifting what follows by its length - 1.
        runs = list(map(_match_span, _SPACE_RUNS.finditer(translated.rstrip(" "), leading)))
        extras = list(accumulate([b - a - 1 for a, b in runs], initial=leading - 1))
        keys = [0]
        keys.extend([b - shift for (_a, b), shift in zip(runs, extras[1:])])
        # Translated ↔ pre: characters whose fold is not exactly one character. After the
        # context edits no ASCII character is one of them.
        pre = self._pre
        irregular: _EditMap | None = None
        if not pre.isascii():
            edits: list[tuple[int, int, str]] = []
            if _is_bmp(pre):
                tables = _get_tables()
                bmp = tables.bmp
                edits = [(i, i + 1, bmp[ord(pre[i])])
                         for i in map(_match_start, tables.irregular.finditer(pre))]
            else:
                astral = _get_tables().astral
                edits = [(i, i + 1, astral[ord(c)]) for i, c in enumerate(pre)
                         if len(astral[ord(c)]) != 1]
            irregular = _EditMap(edits) if edits else None
        context = _EditMap(self._edits) if self._edits else None
        return keys, extras, irregular, context


_SPACE_RUNS = re.compile("  +")
_match_span = re.Match.span
_match_start = re.Match.start


def _is_bmp(text: str) -> bool:
    return len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text)


def fold_text(text: str) -> FoldedText:
    """Fold `text` for matching; return the padded folded form with its offset map."""
    tables = _get_tables()
    edits: list[tuple[int, int, str]] = []
    pre = text
    if any(map(text.__contains__, _ASCII_APOSTROPHES)) if text.isascii() else (
            any(map(text.__contains__, _APOSTROPHE_ORDER)) or "\u0306" in text):
        edits = _context_edits(text)
        if edits:
            pre = _apply(text, edits)
    if not pre.isascii():
        for char in _TYPOGRAPHIC_BREAKS:
            if char in pre:
                pre = pre.replace(char, " ")
    if pre.isascii() or _is_bmp(pre):
        translated = pre.translate(tables.bmp)
    else:
        translated = pre.translate(tables.astral)
    joined = " ".join(translated.split())
    folded = f" {joined} " if joined else " "
    return FoldedText(text, folded, edits, pre, translated)


def fold(text: str) -> str:
    """Return the folded words of `text` without padding: "Hamas’s  Leader" → "hamas leader"."""
    return fold_text(text).text.strip(" ")


def warm_up() -> None:
    """Build the folding tables now rather than on the first fold."""
    _get_tables()
