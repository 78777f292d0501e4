"""Wire datelines: where and by whom a story was filed, which the matcher does not read.

Agency copy opens with a dateline: "MOSCOW, Oct 9 (Reuters) -", "TEL AVIV, Israel (AP) —",
"МОСКВА, 1 ноября. /ТАСС/.", "Москва. 30 июля. INTERFAX.RU -", "موسكو - (رويترز) -". Russian
agencies put "Moscow" and their own name on every story they file, whatever it is about, so
read as words it makes an Israeli strike on Beirut a Russian statement and a TASS dispatch
from Doha a contact with Russian state media. The place and the credit say nothing about
what the story reports; the story's own sentences name whoever takes part.

A dateline is recognised only with an agency credit in its usual form (in brackets, between
slashes, or bare next to a dash), after a place written as a name, at the start of the text
or of a line: "Moscow said on Tuesday" and "Putin arrives in Tehran. AFP." are left as they
are.
"""

from __future__ import annotations

import re

# The agencies whose credits open datelines, as they write them (Latin, Cyrillic, Arabic).
AGENCIES = (
    "Reuters", "AP", "AFP", "dpa", "DPA", "TASS", "RIA Novosti", "RIA", "INTERFAX.RU",
    "Interfax", "Xinhua", "Anadolu", "AA", "WAFA", "Sputnik", "Bloomberg", "UPI", "Kyodo",
    "Yonhap", "EFE", "ANSA", "IRNA", "SANA", "KUNA", "QNA", "WAM", "SPA", "MENA", "PTI",
    "Ukrinform", "UNIAN", "BelTA", "JTA", "TPS",
    "ТАСС", "РИА Новости", "РИА «Новости»", "Интерфакс", "ПРАЙМ", "БелТА", "Спутник",
    "رويترز", "أ ف ب", "أ.ف.ب", "ا ف ب", "د ب أ", "الأناضول", "وفا", "سبوتنيك", "واس", "قنا",
    "كونا", "سانا", "إرنا", "وام", "أ ش أ", "شينخوا", "وكالات",
)

_S = r"[ \t\u00a0]"  # spaces within a line
_WORD = r"[^\W\d_](?:[^\W\d_]|[.'’\-])*"
# Longest names first, so that "RIA Novosti" wins over "RIA"; "Interfax-Ukraine" and the like.
_AGENCY = "(?:" + "|".join(re.escape(a) for a in sorted(AGENCIES, key=len, reverse=True)) \
    + r")(?:-[^\W\d_]+)?"
_DATELINE = re.compile(
    rf"{_S}*"
    # the place: up to four words, or places joined by "/" ("KYIV/MOSCOW"), and AP's
    # ", Israel" / ", Ukraine"
    rf"(?P<place>{_WORD}(?:(?:{_S}|/){_WORD}){{0,3}}(?:,{_S}*{_WORD}(?:{_S}{_WORD})?)?)?"
    rf"{_S}*[,.]?{_S}*"
    # the date: "Oct 9", "9 October", "1 ноября" (optionally with a year), WAFA's "12-5-2026"
    rf"(?:(?:\d{{1,2}}{_S}+[^\W\d_]{{3,10}}\.?|[^\W\d_]{{3,10}}\.?{_S}+\d{{1,2}})"
    rf"(?:,?{_S}+\d{{4}})?{_S}*[,.]?{_S}*"
    rf"|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}{_S}*[,.]?{_S}*)?"
    # the credit: bracketed or between slashes, or bare next to a dash ("— РИА Новости.",
    # "INTERFAX.RU -"); a bare name before a full stop could end any sentence ("… AFP.")
    rf"(?:(?:[-—–]{_S}*)?[(/]{_S}*{_AGENCY}{_S}*[)/]{_S}*[-—–:.]*"
    rf"|[-—–]{_S}*{_AGENCY}{_S}*[-—–:.]*"
    rf"|{_AGENCY}{_S}*[-—–]+)"
    rf"{_S}*")


# The longest dateline seen is about 40 characters; a credit ends within this many.
_REACH = 64
# A cheap test (substring searches in C) that spares most lines the regular expression,
# which tries every agency name at every split of the words before it: a credit is in
# brackets or between slashes, or it is one of the names agencies write bare, after or
# before a dash ("— РИА Новости.", "INTERFAX.RU -", "وفا-").
_BARE_CREDITS = ("РИА", "INTERFAX", "Интерфакс", "ПРАЙМ", "БелТА", "وفا", "وكالات", "أ ف ب",
                 "د ب أ")


def dateline_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the datelines opening `text` or any of its lines."""
    spans = []
    start = 0
    while True:
        head = text[start:start + _REACH]
        if "(" in head or "/" in head or any(map(head.__contains__, _BARE_CREDITS)):
            found = _DATELINE.match(text, start, start + _REACH)
            if found and found.end() > found.start() \
                    and _place_is_a_name(found.group("place")):
                spans.append(found.span())
        newline = text.find("\n", start)
        if newline < 0:
            return spans
        start = newline + 1


def _place_is_a_name(place: str | None) -> bool:
    """Every word capitalised (or in a script without case): "TEL AVIV", "Москва", "موسكو",
    but not "Putin in Tehran" nor a possessive ("Russia's RIA -")."""
    if place is None:
        return True
    words = place.replace(",", " ").replace("/", " ").split()
    return not any(w[0].islower() or w.endswith(("'s", "’s")) for w in words)


def blank_datelines(text: str) -> str:
    """`text` with its datelines replaced by spaces: same length, so offsets still hold."""
    spans = dateline_spans(text)
    if not spans:
        return text
    pieces = []
    position = 0
    for a, b in spans:
        pieces.append(text[position:a])
        pieces.append(" " * (b - a))
        position = b
    pieces.append(text[position:])
    return "".join(pieces)
