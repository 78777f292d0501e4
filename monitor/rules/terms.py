"""Every distinct pattern of a rule set, numbered, and the one automaton that finds them all.

Each pattern becomes one or more keys (see `Pattern.automaton_keys`) in a single
pyahocorasick automaton. Keys carry their own word boundaries (the padding spaces of the
folded text), so the automaton reports only whole-word hits. Most keys need no further
check at all: an exact word or phrase, or a wildcard prefix, is found exactly where its key
is. Only declined Russian stems (the ending must be in a fixed set) and the rare key shared
by two patterns are checked in Python.

The hot path is therefore C code end to end: the automaton's hits become a list, the set of
found keys and the set of found term ids are built with `set(map(...))`. Where a term
occurred (needed for NEAR, exclusions and the spans of a hit) is worked out only when a
watch asks for it, from the same hits sorted by key: the text is never searched again.
"""

from __future__ import annotations

from bisect import bisect_left
from operator import itemgetter

import ahocorasick

from monitor.rules.patterns import (
    ADJECTIVE,
    ADJECTIVE_ENDINGS,
    EXACT,
    NOUN,
    NOUN_ENDINGS,
    PREFIX,
    Pattern,
)

# How an occurrence ends, given the automaton's end index e (inclusive) of its key.
END_AT_PAD = 0        # exact, padded: the word ends at e, where the padding space is
END_AFTER = 1         # exact, open end (spaceless script): ends at e + 1
END_OF_WORD = 2       # prefix wildcard: runs on to the next space
NOUN_ENDING = 3       # stem + one of NOUN_ENDINGS, then the next space
ADJECTIVE_ENDING = 4  # stem + one of ADJECTIVE_ENDINGS

# (field, start, end) of one occurrence in a folded field; field 0 = title, 1 = body.
Occurrence = tuple[int, int, int]
# The automaton's raw output for one field: (end index, key number).
Hits = list[tuple[int, int]]

_key_of_hit = itemgetter(1)


class TermTable:
    """Numbers patterns by what they match and scans folded text for all of them at once."""

    def __init__(self) -> None:
        self.patterns: list[Pattern] = []
        self._ids: dict[tuple[object, ...], int] = {}
        self._automaton: ahocorasick.Automaton | None = None
        self._keys: list[str] = []
        # key number → term id when a hit of the key is always an occurrence, else -1
        self._key_term: list[int] = []
        # key number → ((term id, end rule, lead, key length), ...)
        self._key_entries: list[tuple[tuple[int, int, int, int], ...]] = []
        self._checked_keys: frozenset[int] = frozenset()
        # term id → its keys' (number, length), end rule and lead; made on first use
        self._locators: dict[int, tuple[tuple[tuple[int, int], ...], int, int]] = {}

    def add(self, pattern: Pattern) -> int:
        """Return the term id of `pattern`, adding it if no equivalent pattern is known."""
        term_id = self._ids.get(pattern.key)
        if term_id is None:
            term_id = len(self.patterns)
            self._ids[pattern.key] = term_id
            self.patterns.append(pattern)
            self._automaton = None
        return term_id

    def __len__(self) -> int:
        return len(self.patterns)

    def keys(self) -> list[str]:
        """Every automaton key (for benchmarks that time a bare scan of the same library)."""
        self._ensure_built()
        return list(self._keys)

    def build(self) -> None:
        """Build the automaton; called once all patterns are added."""
        # Most keys belong to one pattern: keep those in `single`, collisions in `shared`.
        single: dict[str, tuple[int, int, int, int]] = {}
        shared: dict[str, list[tuple[int, int, int, int]]] = {}
        rules = _END_RULES
        for term_id, pattern in enumerate(self.patterns):
            rule = rules[pattern.form]
            if pattern.arabic or pattern.open_start or pattern.open_end:
                if rule == END_AT_PAD and pattern.open_end:
                    rule = END_AFTER
                lead = 0 if pattern.open_start else 1
                keys = pattern.automaton_keys()
            else:
                lead = 1
                keys = [f" {pattern.words} " if rule == END_AT_PAD else f" {pattern.words}"]
            for key in keys:
                entry = (term_id, rule, lead, len(key))
                if key in shared:
                    shared[key].append(entry)
                elif key in single:
                    shared[key] = [single.pop(key), entry]
                else:
                    single[key] = entry
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        add_word = automaton.add_word
        keys_list = list(single) + list(shared)
        key_entries: list[tuple[tuple[int, int, int, int], ...]] = [
            (entry,) for entry in single.values()]
        key_entries.extend(tuple(entries) for entries in shared.values())
        unchecked = (END_AT_PAD, END_AFTER, END_OF_WORD)
        key_term = [entry[0] if entry[1] in unchecked else -1 for entry in single.values()]
        key_term.extend([-1] * len(shared))
        for number, key in enumerate(keys_list):
            add_word(key, number)
        if keys_list:
            automaton.make_automaton()
        self._automaton = automaton
        self._locators.clear()  # key numbers change with every build
        self._keys = keys_list
        self._key_term = key_term
        self._key_entries = key_entries
        self._checked_keys = frozenset(i for i, t in enumerate(key_term) if t < 0)

    def _ensure_built(self) -> None:
        if self._automaton is None:
            self.build()

    def scan(self, text: str) -> Hits:
        """The automaton's hits in the padded folded `text` (not yet checked or located)."""
        self._ensure_built()
        if not self._keys:
            return []
        return list(self._automaton.iter(text))  # type: ignore[union-attr]

    def found_terms(self, texts: tuple[str, ...], hits: tuple[Hits, ...]) -> set[int]:
        """The ids of the terms occurring in the fields (`hits` from `scan` of `texts`).

        Hits of checked keys (declined stems, shared keys) are verified here, so the set is
        exact.
        """
        keys: set[int] = set()
        for field_hits in hits:
            keys.update(map(_key_of_hit, field_hits))
        found = set(map(self._key_term.__getitem__, keys))
        if -1 in found:
            found.discard(-1)
            checked = keys & self._checked_keys
            for text, field_hits in zip(texts, hits, strict=True):
                for e, key in field_hits:
                    if key in checked:
                        found.update(self._verified(text, e, key))
        return found

    def occurrences(self, term_id: int, texts: tuple[str, ...],
                    by_key: tuple[Hits, ...]) -> list[Occurrence]:
        """Where a term occurs in the folded fields, in field and text order.

        `by_key` holds each field's automaton hits sorted by key number (see `by_key`): the
        scan already found every occurrence, so locating a term is a binary search for each
        of its keys, not another pass over the text.
        """
        locator = self._locators.get(term_id)
        if locator is None:
            locator = self._locators[term_id] = self._locator(term_id)
        numbers, rule, lead = locator
        out: list[Occurrence] = []
        for field, hits in enumerate(by_key):
            if not hits:
                continue
            count = len(hits)
            located: list[Occurrence] = []
            for number, length in numbers:
                i = bisect_left(hits, number, key=_key_of_hit)
                while i < count and hits[i][1] == number:
                    e = hits[i][0]
                    i += 1
                    if rule == END_AT_PAD:
                        located.append((field, e - length + 1 + lead, e))
                    elif rule == END_AFTER:
                        located.append((field, e - length + 1 + lead, e + 1))
                    else:
                        text = texts[field]
                        end = text.find(" ", e + 1)
                        if rule == NOUN_ENDING and text[e + 1:end] not in NOUN_ENDINGS \
                                or rule == ADJECTIVE_ENDING \
                                and text[e + 1:end] not in ADJECTIVE_ENDINGS:
                            continue
                        located.append((field, e - length + 1 + lead, end))
            if len(numbers) > 1:
                located.sort()
            out.extend(located)
        return out

    @staticmethod
    def by_key(hits: Hits) -> Hits:
        """A field's hits from `scan`, sorted by key number (stable: text order within)."""
        return sorted(hits, key=_key_of_hit)

    def _locator(self, term_id: int) -> tuple[tuple[tuple[int, int], ...], int, int]:
        """((key number, key length), ...), end rule and lead of a term, for `occurrences`."""
        pattern = self.patterns[term_id]
        rule = _END_RULES[pattern.form]
        if rule == END_AT_PAD and pattern.open_end:
            rule = END_AFTER
        self._ensure_built()
        get = self._automaton.get  # type: ignore[union-attr]
        numbers = tuple((get(key), len(key)) for key in pattern.automaton_keys())
        return numbers, rule, 0 if pattern.open_start else 1

    def _verified(self, text: str, e: int, key: int) -> list[int]:
        """Terms of a checked key really present at a hit ending at `e`."""
        out = []
        for term_id, rule, _lead, _length in self._key_entries[key]:
            if rule in (NOUN_ENDING, ADJECTIVE_ENDING):
                ending = text[e + 1:text.find(" ", e + 1)]
                if ending not in (NOUN_ENDINGS if rule == NOUN_ENDING else ADJECTIVE_ENDINGS):
                    continue
            out.append(term_id)
        return out


_END_RULES = {EXACT: END_AT_PAD, PREFIX: END_OF_WORD, NOUN: NOUN_ENDING,
              ADJECTIVE: ADJECTIVE_ENDING}
