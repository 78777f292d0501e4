"""Compiled queries and their evaluation against the terms found in one item.

A query tree is compiled into node objects with two methods: `test` (does it match? —
short-circuits, runs for every candidate watch) and `evidence` (which occurrences made it
match — runs only for hits). `mask` selects fields: bit 0 = title, bit 1 = body.

Per-item work that several watches share (where a term occurs, an actor's occurrences after
its weak-alias and exclusion rules, a theme's occurrences, the TermMatches of hits) is
computed once per item in `ItemState` and dropped with it; nothing is carried from one item
to the next.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from monitor.rules.folding import FoldedText, fold
from monitor.rules.terms import Hits, Occurrence, TermTable

ALL_FIELDS = 0b11
FIELD_BITS = {"title": 0b01, "body": 0b10}

# (field, start, end, usage id): an occurrence attributed to the rule entry that wrote it.
# Position first, so that plain tuple order is text order.
Evidence = tuple[int, int, int, int]


class Usage(NamedTuple):
    """How a term was written where it made a watch match: the alias of an actor, etc."""

    term: int
    written: str
    actor: str | None
    theme: str | None


_NOTHING: frozenset[int] = frozenset()
_end_of_hit = itemgetter(0)  # an automaton hit is (end offset, key number)


class CompiledActor:
    """An actor's aliases as term ids, with its weak-alias context and exclusions."""

    __slots__ = ("index", "id", "strong", "weak", "term_set", "strong_set", "weak_set",
                 "usage_of", "context_terms", "context_actors", "context_themes", "exclude",
                 "exclude_set")

    def __init__(self, index: int, actor_id: str, strong: tuple[tuple[int, int], ...],
                 weak: tuple[tuple[int, int], ...], context_terms: frozenset[int],
                 context_actors: tuple[int, ...], context_themes: tuple[int, ...],
                 exclude: tuple[int, ...]) -> None:
        self.index = index
        self.id = actor_id
        self.strong = strong
        self.weak = weak
        self.strong_set = frozenset(t for t, _u in strong)
        # Most actors have no weak aliases, context or exclusions: share one empty set.
        self.weak_set = frozenset(t for t, _u in weak) if weak else _NOTHING
        self.term_set = self.strong_set | self.weak_set if weak else self.strong_set
        self.usage_of = dict(weak + strong)  # term id → usage id
        self.context_terms = context_terms or _NOTHING
        self.context_actors = context_actors
        self.context_themes = context_themes
        self.exclude = exclude
        self.exclude_set = frozenset(exclude) if exclude else _NOTHING


class CompiledTheme:
    __slots__ = ("index", "id", "terms", "term_set", "usage_of")

    def __init__(self, index: int, theme_id: str, terms: tuple[tuple[int, int], ...]) -> None:
        self.index = index
        self.id = theme_id
        self.terms = terms
        self.term_set = frozenset(t for t, _u in terms)
        self.usage_of = dict(terms)  # term id → usage id


class ItemState:
    """What one item offers to the watches: the terms found, and facts derived on demand.

    `found` (term ids present) is all most watches need; a field scope needs the terms of
    one field (`found_in`). Where a term is (`term_occurrences`) is looked up in the scan's
    hits the first time a watch needs it.
    """

    __slots__ = ("found", "fields", "source", "url", "lang", "actors", "themes",
                 "term_matches", "_table", "_occ", "_texts", "_hits", "_by_key", "_in_field",
                 "_actor_cache", "_theme_cache", "_source_words", "_host", "_whole",
                 "_item_found", "_body_ends", "_spaces", "_exclusion_cache")

    def __init__(self, table: TermTable, fields: tuple[FoldedText, ...], found: set[int],
                 hits: tuple[Hits, ...], source: str | None, url: str | None,
                 lang: str | None, actors: list[CompiledActor],
                 themes: list[CompiledTheme], whole: ItemState | None = None) -> None:
        self.found = found
        self.fields = fields
        self.source = source
        self.url = url
        self.lang = (lang or "").strip().lower().replace("_", "-")
        self.actors = actors
        self.themes = themes
        # TermMatch (defined by the matcher) per evidence, shared by the item's hits
        self.term_matches: dict[Evidence, Any] = {}
        self._table = table
        self._occ: dict[int, list[Occurrence]] = {}
        self._texts = tuple(f.text for f in fields)
        self._hits = hits  # the automaton's hits per field, from the scan
        self._by_key: tuple[Hits, ...] | None = None
        self._in_field: dict[int, set[int]] = {}
        self._actor_cache: dict[int, list[Evidence]] = {}
        self._theme_cache: dict[int, list[Evidence]] = {}
        self._source_words: str | None = None
        self._host: str | None = None
        # For a passage of an item (see `passage`), the item and what it found (None and
        # `found` for an item: not itself, a cycle would leave every item to the collector)
        self._whole = whole
        self._item_found = found if whole is None else whole.found
        self._body_ends: list[int] | None = None
        self._spaces: list[list[int] | None] = [None, None]  # see `spaces`
        self._exclusion_cache: dict[int, tuple[list[Occurrence], int]] = {}

    def term_occurrences(self, term: int) -> list[Occurrence]:
        """Where a found term occurs (located on first use, then kept for this item)."""
        if term not in self.found:
            return []
        located = self._occ.get(term)
        if located is None:
            by_key = self._by_key
            if by_key is None:
                by_key = self._by_key = tuple(map(TermTable.by_key, self._hits))
            located = self._occ[term] = self._table.occurrences(term, self._texts, by_key)
        return located

    def found_in(self, mask: int) -> set[int]:
        """The terms found in the fields `mask` selects (made on first use for one field)."""
        if mask == ALL_FIELDS:
            return self.found
        found = self._in_field.get(mask)
        if found is None:
            field = 0 if mask == 1 else 1
            found = set() if not mask else self._table.found_terms(
                (self._texts[field],), (self._hits[field],))
            self._in_field[mask] = found
        return found

    def actor_occurrences(self, actor: CompiledActor) -> list[Evidence]:
        """The actor's alias occurrences after weak-alias context and exclusions."""
        cached = self._actor_cache.get(actor.index)
        if cached is not None:
            return cached
        self._actor_cache[actor.index] = []  # a cycle guard; cycles are rejected at load
        where = self.term_occurrences
        usage_of = actor.usage_of
        found = self.found
        out = [(f, s, e, usage_of[term]) for term in actor.strong_set & found
               for f, s, e in where(term)]
        if actor.weak and not actor.weak_set.isdisjoint(found) \
                and self._context_present(actor):
            out.extend((f, s, e, usage_of[term]) for term in actor.weak_set & found
                       for f, s, e in where(term))
        # an exclusion phrase counts even where it leaves a passage
        if out and not actor.exclude_set.isdisjoint(self._item_found):
            excluded, reach = (self._whole or self)._exclusions(actor)
            if excluded:
                out = [o for o in out if not _overlaps_any(o, excluded, reach)]
        self._actor_cache[actor.index] = out
        return out

    def _exclusions(self, actor: CompiledActor) -> tuple[list[Occurrence], int]:
        """The item's occurrences of the actor's exclusion phrases, sorted, and the length
        of the longest (made once per item: every passage of a long body asks again)."""
        cached = self._exclusion_cache.get(actor.index)
        if cached is None:
            excluded = sorted(o for term in actor.exclude for o in self.term_occurrences(term))
            cached = excluded, max((e - s for _f, s, e in excluded), default=0)
            self._exclusion_cache[actor.index] = cached
        return cached

    def _context_present(self, actor: CompiledActor) -> bool:
        if self._whole is not None:
            return self._whole._context_present(actor)
        if not actor.context_terms.isdisjoint(self.found):
            return True
        for index in actor.context_actors:
            if self.actor_present(self.actors[index], ALL_FIELDS):
                return True
        for index in actor.context_themes:
            if not self.themes[index].term_set.isdisjoint(self.found):
                return True
        return False

    def actor_present(self, actor: CompiledActor, mask: int) -> bool:
        found = self.found
        if actor.exclude_set.isdisjoint(self._item_found):
            # No exclusion phrase in the item: which terms occur in the fields decides,
            # no need to locate them. (The weak-alias context counts anywhere in the item.)
            where = found if mask == ALL_FIELDS else self.found_in(mask)
            if not actor.strong_set.isdisjoint(where):
                return True
            if actor.weak_set and not actor.weak_set.isdisjoint(where):
                return self._context_present(actor)
            return False
        if actor.term_set.isdisjoint(found):
            return False
        return any((1 << o[0]) & mask for o in self.actor_occurrences(actor))

    def theme_occurrences(self, theme: CompiledTheme) -> list[Evidence]:
        cached = self._theme_cache.get(theme.index)
        if cached is None:
            where = self.term_occurrences
            usage_of = theme.usage_of
            cached = [(f, s, e, usage_of[term]) for term in theme.term_set & self.found
                      for f, s, e in where(term)]
            self._theme_cache[theme.index] = cached
        return cached

    def passage(self, start: int, end: int, with_title: bool) -> ItemState | None:
        """The item as far as the folded body's offsets (start, end] go, with the title or
        without (None when nothing is found there).

        The passage keeps the item's texts and offsets, and holds the automaton hits that end
        within it; an actor's exclusion phrases and weak-alias context still count anywhere
        in the item.
        """
        ends = self._body_ends
        if ends is None:
            ends = self._body_ends = list(map(_end_of_hit, self._hits[1]))
        body_hits = self._hits[1][bisect_right(ends, start):bisect_right(ends, end)]
        hits = (self._hits[0] if with_title else [], body_hits)
        if not hits[0] and not body_hits:
            return None
        found = self._table.found_terms(self._texts, hits)
        if not found:
            return None
        return ItemState(self._table, self.fields, found, hits, self.source, self.url,
                         self.lang, self.actors, self.themes, self)

    def source_words(self) -> str:
        if self._source_words is None:
            self._source_words = f" {fold(self.source)} " if self.source else " "
        return self._source_words

    def host(self) -> str:
        if self._host is None:
            host = ""
            if self.url:
                try:
                    host = (urlsplit(self.url).hostname or "").lower()
                except ValueError:
                    host = ""
            self._host = host.removeprefix("www.")
        return self._host

    def word_index(self, field: int, pos: int) -> int:
        """Number of the word at `pos` in a field (counting from 1)."""
        text = self._texts[field]
        if len(text) < _SHORT_TEXT:
            return text.count(" ", 0, pos)
        return bisect_left(self.spaces(field), pos)  # the spaces before `pos`

    def spaces(self, field: int) -> list[int]:
        """Offsets of the spaces of a folded field (one before and after every word)."""
        if self._whole is not None:
            return self._whole.spaces(field)
        cached = self._spaces[field]
        if cached is None:
            cached = self._spaces[field] = list(map(_match_start,
                                                    _SPACE.finditer(self._texts[field])))
        return cached


def _overlaps_any(occurrence: Evidence, excluded: list[Occurrence], reach: int) -> bool:
    """Whether `occurrence` overlaps one of `excluded` (sorted, none longer than `reach`)
    in the same field.

    A binary search, not a scan: a long report can hold thousands of "Russian oil" and of
    "Russia", and trying every pair would grow as their product.
    """
    field, start, end = occurrence[0], occurrence[1], occurrence[2]
    # Only exclusions starting before `end` can overlap; of those, the ones that start
    # latest are the likeliest to reach past `start`, so walk back from there until one
    # starts further back than the longest exclusion could reach.
    i = bisect_left(excluded, (field, end))
    while i > 0:
        i -= 1
        f, s, e = excluded[i]
        if f != field or s < start - reach:
            return False
        if e > start:
            return True
    return False


# Below this many characters, counting the spaces before an offset is quicker than building
# the list of spaces; above it, NEAR over a long body would count again and again (for
# each occurrence, all the text before it), which grows as the square of the body.
_SHORT_TEXT = 4096
_SPACE = re.compile(" ")
_match_start = re.Match.start


# --- nodes -----------------------------------------------------------------------------------

class Node:
    """A compiled query node."""

    __slots__ = ()

    def test(self, item: ItemState, mask: int) -> bool:
        raise NotImplementedError

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        """Append the occurrences that make this (matching) node match."""
        raise NotImplementedError

    def occurrences(self, item: ItemState, mask: int) -> list[Evidence]:
        """All occurrences, for NEAR operands (terms, @actor, #theme, OR of those)."""
        raise NotImplementedError

    def leaves(self) -> list[Node]:
        return []


class TermLeaf(Node):
    __slots__ = ("term", "usage")

    def __init__(self, term: int, usage: int) -> None:
        self.term = term
        self.usage = usage

    def test(self, item: ItemState, mask: int) -> bool:
        return self.term in item.found_in(mask)

    def occurrences(self, item: ItemState, mask: int) -> list[Evidence]:
        usage = self.usage
        return [(f, s, e, usage) for f, s, e in item.term_occurrences(self.term)
                if (1 << f) & mask]

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        out.extend(self.occurrences(item, mask))

    def leaves(self) -> list[Node]:
        return [self]


class ActorLeaf(Node):
    __slots__ = ("actor",)

    def __init__(self, actor: CompiledActor) -> None:
        self.actor = actor

    def test(self, item: ItemState, mask: int) -> bool:
        return item.actor_present(self.actor, mask)

    def occurrences(self, item: ItemState, mask: int) -> list[Evidence]:
        found = item.actor_occurrences(self.actor)
        return found if mask == ALL_FIELDS else [o for o in found if (1 << o[0]) & mask]

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        out.extend(self.occurrences(item, mask))

    def leaves(self) -> list[Node]:
        return [self]


class ThemeLeaf(Node):
    __slots__ = ("theme",)

    def __init__(self, theme: CompiledTheme) -> None:
        self.theme = theme

    def test(self, item: ItemState, mask: int) -> bool:
        return not self.theme.term_set.isdisjoint(item.found_in(mask))

    def occurrences(self, item: ItemState, mask: int) -> list[Evidence]:
        found = item.theme_occurrences(self.theme)
        return found if mask == ALL_FIELDS else [o for o in found if (1 << o[0]) & mask]

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        out.extend(self.occurrences(item, mask))

    def leaves(self) -> list[Node]:
        return [self]


class AndNode(Node):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def test(self, item: ItemState, mask: int) -> bool:
        for child in self.children:
            if not child.test(item, mask):
                return False
        return True

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        for child in self.children:
            child.evidence(item, mask, out)

    def leaves(self) -> list[Node]:
        return [leaf for child in self.children for leaf in child.leaves()]


class OrNode(Node):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def test(self, item: ItemState, mask: int) -> bool:
        for child in self.children:
            if child.test(item, mask):
                return True
        return False

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        for child in self.children:
            if child.test(item, mask):
                child.evidence(item, mask, out)

    def occurrences(self, item: ItemState, mask: int) -> list[Evidence]:
        return [o for child in self.children for o in child.occurrences(item, mask)]

    def leaves(self) -> list[Node]:
        return [leaf for child in self.children for leaf in child.leaves()]


class NotNode(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def test(self, item: ItemState, mask: int) -> bool:
        return not self.child.test(item, mask)

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        return None  # an absence is not evidence

    def leaves(self) -> list[Node]:
        return self.child.leaves()


class FieldNode(Node):
    __slots__ = ("bits", "child")

    def __init__(self, bits: int, child: Node) -> None:
        self.bits = bits
        self.child = child

    def test(self, item: ItemState, mask: int) -> bool:
        return self.child.test(item, mask & self.bits)

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        self.child.evidence(item, mask & self.bits, out)

    def leaves(self) -> list[Node]:
        return self.child.leaves()


class SourceNode(Node):
    """source:/site: — the item's source name contains the words, or its URL host is/under."""

    __slots__ = ("names", "hosts")

    def __init__(self, values: tuple[str, ...]) -> None:
        self.names = tuple(f" {fold(v)} " for v in values if fold(v))
        self.hosts = tuple(v.strip().lower().removeprefix("www.").rstrip("/") for v in values)

    def test(self, item: ItemState, mask: int) -> bool:
        host = item.host()
        if host and any(host == h or host.endswith("." + h) for h in self.hosts):
            return True
        words = item.source_words()
        return any(name in words for name in self.names)

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        return None


class LangNode(Node):
    __slots__ = ("codes",)

    def __init__(self, codes: tuple[str, ...]) -> None:
        self.codes = codes

    def test(self, item: ItemState, mask: int) -> bool:
        lang = item.lang
        return bool(lang) and any(lang == c or lang.startswith(c + "-") for c in self.codes)

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        return None


class NearNode(Node):
    """Some occurrence of each operand in the same field, at most `distance` words apart."""

    __slots__ = ("left", "right", "distance")

    def __init__(self, left: Node, right: Node, distance: int) -> None:
        self.left = left
        self.right = right
        self.distance = distance

    def _pairs(self, item: ItemState, mask: int, first_only: bool) -> list[Evidence]:
        if not (self.left.test(item, mask) and self.right.test(item, mask)):
            return []
        lefts = self._positioned(item, self.left.occurrences(item, mask))
        rights = sorted(self._positioned(item, self.right.occurrences(item, mask)))
        if not lefts or not rights:
            return []
        # Only right operands starting within reach of a left one can be near it: find
        # that window by binary search instead of trying every pair (common words occur
        # many times in a long body).
        starts = [(field, first) for field, first, _last, _o in rights]
        longest = max(last - first for _field, first, last, _o in rights)
        out: list[Evidence] = []
        distance = self.distance
        for field, a_first, a_last, a in lefts:
            i = bisect_left(starts, (field, a_first - distance - longest))
            stop = bisect_right(starts, (field, a_last + distance))
            for b_field, b_first, b_last, b in rights[i:stop]:
                if a[1] == b[1] and a[2] == b[2]:
                    continue  # the very same words
                gap = b_first - a_last if a[1] <= b[1] else a_first - b_last
                if gap <= distance:
                    if first_only:
                        return [a, b]
                    out.append(a)
                    out.append(b)
        return out

    @staticmethod
    def _positioned(item: ItemState, occurrences: list[Evidence]
                    ) -> list[tuple[int, int, int, Evidence]]:
        """(field, first word number, last word number, occurrence) of each occurrence."""
        index = item.word_index
        return [(o[0], index(o[0], o[1]), index(o[0], o[2]), o) for o in occurrences]

    def test(self, item: ItemState, mask: int) -> bool:
        return bool(self._pairs(item, mask, True))

    def evidence(self, item: ItemState, mask: int, out: list[Evidence]) -> None:
        out.extend(self._pairs(item, mask, False))

    def leaves(self) -> list[Node]:
        return self.left.leaves() + self.right.leaves()
