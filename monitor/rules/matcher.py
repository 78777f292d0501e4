"""Compile a RuleSet into one Matcher and match items against every watch at once.

This is the percolator idea (Lucene Monitor, Elasticsearch percolate): instead of running each
watch over each item, all patterns of all watches sit in one automaton; an item is folded and
scanned once, and only the watches whose *required terms* were found get evaluated.

Required terms: for each watch the compiler lists groups of term ids such that the query can
only match if every group has at least one of its terms in the item (a term's group is
itself, an @actor's is its aliases, an OR's is the union of its alternatives' best group, an
AND has one group per positive child; NOT and source:/lang: add none). The watch is indexed
under its cheapest group (estimated rarity of its terms in text); the other groups are
checked with set intersections before the query itself is evaluated. Items that mention
nothing a watch needs never touch that watch, so the cost per item follows the number of
watches that are plausible for it, not the size of the rule set.

Most watches are an AND of disjunctions (`@actor AND #theme`, `"a phrase" AND (x OR y)`,
with NOTs of the same kind): for those the required groups, plus a set of forbidden terms,
*are* the query, and the set checks decide it without walking the query tree. Field
scopes, NEAR, source:/lang: and actors with weak-alias or exclusion rules keep their tree.
"""

from __future__ import annotations

import gc
import logging
import math
import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from monitor.rules.datelines import blank_datelines
from monitor.rules.evaluation import (
    ALL_FIELDS,
    FIELD_BITS,
    ActorLeaf,
    AndNode,
    CompiledActor,
    CompiledTheme,
    Evidence,
    FieldNode,
    ItemState,
    LangNode,
    NearNode,
    Node,
    NotNode,
    OrNode,
    SourceNode,
    TermLeaf,
    ThemeLeaf,
    Usage,
)
from monitor.rules.folding import FoldedText, fold_text
from monitor.rules.model import PRIORITY_RANK, Actor, RuleSet, Theme
from monitor.rules.patterns import EXACT, Pattern
from monitor.rules.query import (
    ActorRef,
    And,
    Expr,
    Field,
    Meta,
    Near,
    Not,
    Or,
    Term,
    ThemeRef,
)
from monitor.rules.terms import TermTable

logger = logging.getLogger(__name__)

FIELD_NAMES = ("title", "body")


@dataclass(frozen=True)
class Document:
    """What the matcher sees of an item. `body` is summary and content as plain text."""

    id: str
    title: str
    body: str
    source: str | None = None
    url: str | None = None
    lang: str | None = None


class TermMatch(NamedTuple):
    """One occurrence that made a watch match, located in the original field text.

    A NamedTuple rather than a dataclass: a busy item makes dozens, and a tuple is built
    several times faster.
    """

    text: str          # the matched text as it appears in the original field
    term: str          # the alias/term/phrase as written in the rule
    actor: str | None  # actor id when it came from @actor
    field: str         # "title" | "body"
    start: int         # offsets in the original field text
    end: int
    theme: str | None = None  # theme id when it came from #theme


class Hit(NamedTuple):
    """A watch that matched an item, with the positive terms that made it match."""

    watch: str
    priority: str
    terms: tuple[TermMatch, ...]


@dataclass
class MatchStats:
    """Counters since the matcher was built (or since `reset`)."""

    documents: int = 0
    candidates: int = 0   # watches reached through the required-term index
    evaluated: int = 0    # of those, watches decided (by set checks or their query tree)
    hits: int = 0
    # matches of the whole item that no passage held (RuleSet.passage_words), so not hits
    outside_passages: int = 0

    def reset(self) -> None:
        self.documents = self.candidates = self.evaluated = self.hits = 0
        self.outside_passages = 0


@dataclass(frozen=True, slots=True)
class Passages:
    """`matching.passage_words` and `matching.long_body_words` of a rule set."""

    words: int
    long_body: int


@dataclass(frozen=True, slots=True)
class _CompiledWatch:
    id: str
    priority: str
    order: int  # place among all watches by priority (critical first), then id: hit order
    root: Node
    others: tuple[frozenset[int], ...]  # required groups besides the indexed one
    # True when the required groups and `forbidden` decide the query on their own (an AND
    # of words, plain actors, themes, ORs of those and NOTs of those): no tree to evaluate.
    exact: bool
    forbidden: frozenset[int]  # exact watches: none of these terms may occur
    plain: bool  # plain terms outside NOT, which may repeat what an alias reports
    # exact watches: the leaves outside NOT; a hit's evidence is all their occurrences
    # (a leaf of an OR that is absent has none), so no tree walk is needed for it either
    positive: tuple[Node, ...]
    # whether the evidence may hold one occurrence twice (a leaf repeated, or any query
    # tree: NEAR reports an occurrence once per pair); if not, sorting it is enough
    repeats: bool


_EMPTY = FoldedText("", " ", [], "", "")  # an empty field, without building the fold tables


class Matcher:
    """All watches of a rule set, ready to match items. Build with `compile_rules`."""

    def __init__(self, table: TermTable, usages: list[Usage], watches: list[_CompiledWatch],
                 index: dict[int, tuple[int, ...]], actors: list[CompiledActor],
                 themes: list[CompiledTheme], body_words: int | None = None,
                 passages: Passages | None = None) -> None:
        self._table = table
        # The end of the body's first `body_words` words (a body with fewer does not match,
        # nor need one shorter than `_lead_chars` be tried: each word takes two characters).
        self._lead = re.compile(rf"\s*(?:\S+\s+){{{body_words - 1}}}\S+") \
            if body_words else None
        self._lead_chars = 2 * body_words - 1 if body_words else 0
        self._passages = passages
        self._usages = usages
        # usage id → True when it reports an actor alias or a theme term
        self._named_usage = [u.actor is not None or u.theme is not None for u in usages]
        self._watches = watches
        self._others = [w.others for w in watches]
        self._watch_index = {w.id: i for i, w in enumerate(watches)}
        self._index = index
        self._actors = actors
        self._themes = themes
        self.stats = MatchStats()

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    @property
    def term_count(self) -> int:
        """Distinct patterns in the automaton."""
        return len(self._table)

    @property
    def watch_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self._watches)

    def automaton_keys(self) -> list[str]:
        """The automaton's keys (benchmarks compare against a bare scan of these)."""
        return self._table.keys()

    def match(self, doc: Document) -> list[Hit]:
        """Return the watches `doc` matches, by priority (critical first) then watch id."""
        stats = self.stats
        stats.documents += 1
        item = self._scan(doc)
        if item is None:
            return []
        found = item.found
        matched = []
        for watch in self._prefiltered(found):
            if watch.forbidden.isdisjoint(found) if watch.exact \
                    else watch.root.test(item, ALL_FIELDS):
                matched.append(watch)
        if not matched:
            return []
        if self._passages is not None:
            matched = self._within_passages(matched, item)
        stats.hits += len(matched)
        matched.sort(key=_hit_order)
        return self._hits(matched, item)

    def plausible(self, doc: Document) -> list[str]:
        """Ids of the watches whose required terms all occur in `doc`: what the index and
        the set checks let through to evaluation, before any query is decided. The cost of
        this is the floor under `match` (benchmarks report it); the watches that hit are
        among these.
        """
        item = self._scan(doc)
        return [] if item is None else sorted(w.id for w in self._prefiltered(item.found))

    @property
    def passage_words(self) -> int | None:
        """The rule set's `matching.passage_words` (None: watches match anywhere)."""
        return self._passages.words if self._passages is not None else None

    def match_watch(self, doc: Document, watch_id: str, passages: bool = True) -> Hit | None:
        """Evaluate one watch on `doc`, bypassing the index (for examples and tests).

        With `passages` false, a long body need not hold the match within one passage (to
        tell an operator that passages are why an example does not match).
        Raises KeyError for an unknown watch id.
        """
        watch = self._watches[self._watch_index[watch_id]]
        item = self._scan(doc) or self._empty_item(doc)
        if not watch.root.test(item, ALL_FIELDS):
            return None
        if passages and self._passages is not None \
                and not self._within_passages([watch], item):
            return None
        return self._hits([watch], item)[0]

    def explain(self, doc: Document, watch_id: str) -> tuple[TermMatch, ...]:
        """Every occurrence in `doc` of any term the watch mentions (positive or under NOT).

        Raises KeyError for an unknown watch id.
        """
        watch = self._watches[self._watch_index[watch_id]]
        item = self._scan(doc)
        if item is None:
            return ()
        evidence: list[Evidence] = []
        for leaf in watch.root.leaves():
            evidence.extend(leaf.occurrences(item, ALL_FIELDS))
        ordered = self._ordered(evidence, True)
        self._make_term_matches(ordered, item)
        return tuple(map(item.term_matches.__getitem__, ordered))

    # --- internals ---------------------------------------------------------------------------

    def _scan(self, doc: Document) -> ItemState | None:
        table = self._table
        title = fold_text(doc.title) if doc.title else _EMPTY
        text = doc.body
        if self._lead is not None and len(text) >= self._lead_chars:
            # The rule set reads only the lead of a long body: see RuleSet.body_words. A
            # prefix of the original keeps every offset valid.
            lead = self._lead.match(text)
            if lead is not None:
                text = text[:lead.end()]
        # A wire dateline names where and by whom a story was filed, not who is in it.
        body = fold_text(blank_datelines(text)) if text else _EMPTY
        fields = (title, body)
        hits = (table.scan(title.text) if doc.title else [],
                table.scan(body.text) if doc.body else [])
        if not hits[0] and not hits[1]:
            return None
        found = table.found_terms((title.text, body.text), hits)
        if not found:
            return None
        return ItemState(table, fields, found, hits, doc.source, doc.url, doc.lang, self._actors,
                         self._themes)

    def _within_passages(self, watches: list[_CompiledWatch], item: ItemState
                         ) -> list[_CompiledWatch]:
        """Those of `watches` (which match the whole item) that also match one passage.

        A body of up to `passages.long_body` words is one passage. A longer one is read as
        the title with the body's first `passages.words` words, then windows of that many
        words, each starting half a window after the one before: words up to half a window
        apart always share one. A passage holds the item's occurrences that end within its
        words, with the item's exclusions and weak-alias context (see ItemState.passage);
        the query's NOTs keep their verdict on the whole item, which already matched.
        """
        settings = self._passages
        assert settings is not None
        text = item.fields[1].text  # padded: a space before and after every word
        if text.count(" ") - 1 <= settings.long_body:
            return watches
        spaces = item.spaces(1)
        last_word = len(spaces) - 2
        size, step = settings.words, max(settings.words // 2, 1)
        left, kept = watches, []
        first = 0
        while left:
            last = min(first + size - 1, last_word)
            passage = item.passage(spaces[first], spaces[last + 1], with_title=first == 0)
            if passage is not None:
                still = []
                for watch in left:
                    (kept if watch.root.test(passage, ALL_FIELDS) else still).append(watch)
                left = still
            if last == last_word:
                break
            first += step
        self.stats.outside_passages += len(left)
        return kept  # in another order than `watches`: `match` sorts its hits

    def _prefiltered(self, found: set[int]) -> list[_CompiledWatch]:
        """The watches indexed under a found term whose other required groups occur too."""
        # Every watch indexed under a term found (set.union over the index's tuples: C).
        candidates = _NO_WATCHES.union(*filter(None, map(self._index.get, found)))
        if not candidates:
            return []
        stats = self.stats
        stats.candidates += len(candidates)
        all_others = self._others  # kept apart from the watches: most candidates stop here
        all_watches = self._watches
        passed = []
        for number in candidates:
            for group in all_others[number]:
                if group.isdisjoint(found):
                    break
            else:
                passed.append(all_watches[number])
        stats.evaluated += len(passed)
        return passed

    def _empty_item(self, doc: Document) -> ItemState:
        return ItemState(self._table, (_EMPTY, _EMPTY), set(), ([], []), doc.source, doc.url,
                         doc.lang, self._actors, self._themes)

    def _hits(self, watches: list[_CompiledWatch], item: ItemState) -> list[Hit]:
        """The hits of `watches`, which match `item`, in their order."""
        evidences = []
        # Popular names and theme words are the evidence of many hits: each leaf's
        # occurrences are asked for once per item.
        leaf_evidence: dict[Node, list[Evidence]] = {}
        for watch in watches:
            evidence: list[Evidence] = []
            if watch.exact:
                for leaf in watch.positive:
                    found = leaf_evidence.get(leaf)
                    if found is None:
                        found = leaf_evidence[leaf] = leaf.occurrences(item, ALL_FIELDS)
                    evidence += found
            else:
                watch.root.evidence(item, ALL_FIELDS, evidence)
            evidences.append(self._ordered(evidence, watch.plain, watch.repeats))
        # TermMatches are made once per item and shared by its hits: popular names make one
        # item match many watches with the same evidence.
        self._make_term_matches(_NO_EVIDENCE.union(*evidences), item)
        get = item.term_matches.__getitem__
        return [_new_tuple(Hit, (watch.id, watch.priority, tuple(map(get, evidence))))
                for watch, evidence in zip(watches, evidences, strict=True)]

    def _ordered(self, evidence: list[Evidence], plain: bool, repeats: bool = True
                 ) -> list[Evidence]:
        """Evidence in text order, without repeats.

        With `plain` (the query has plain terms outside NOT), a plain query term is left out
        when an actor alias or theme term (or an identical plain term) already reports the
        same words.
        """
        # Evidence tuples start with their position, so tuple order is text order (ties,
        # the same words reported by two usages, by usage id).
        # Without `repeats` (see _CompiledWatch) no occurrence can come twice: no set needed.
        ordered = evidence if len(evidence) < 2 else sorted(set(evidence)) if repeats \
            else sorted(evidence)
        if not plain:
            return ordered
        named = self._named_usage
        named_spans = {key[:3] for key in ordered if named[key[3]]}
        kept = []
        for key in ordered:
            if not named[key[3]]:
                span = key[:3]
                if span in named_spans:
                    continue  # the same words are already reported through another usage
                named_spans.add(span)
            kept.append(key)
        return kept

    def _make_term_matches(self, evidence: Iterable[Evidence], item: ItemState) -> None:
        """Add a TermMatch to `item.term_matches` for each evidence that has none yet."""
        cache = item.term_matches
        new = sorted(frozenset(evidence).difference(cache))
        if not new:
            return
        usages = self._usages
        title_keys = bisect_left(new, _FIRST_BODY_EVIDENCE)  # evidence sorts by field first
        for field, keys in enumerate((new[:title_keys], new[title_keys:])):
            if not keys:
                continue
            folded: FoldedText = item.fields[field]
            original = folded.original
            name = FIELD_NAMES[field]
            spans = folded.spans_to_original([(key[1], key[2]) for key in keys])
            for key, (a, b) in zip(keys, spans, strict=True):
                usage = usages[key[3]]
                cache[key] = _new_tuple(TermMatch, (original[a:b], usage.written, usage.actor,
                                                    name, a, b, usage.theme))


_hit_order = attrgetter("order")
# Builds a NamedTuple from a tuple of all its fields at C speed (its own __new__ is Python).
_new_tuple = tuple.__new__
_NO_WATCHES: frozenset[int] = frozenset()
_NO_EVIDENCE: frozenset[Evidence] = frozenset()
_FIRST_BODY_EVIDENCE = (1,)  # sorts before any evidence in the body (field 1)


# --- compiling -------------------------------------------------------------------------------

class _Compiler:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.table = TermTable()
        self.usages: list[Usage] = []
        self._usage_ids: dict[tuple[int, str, str | None, str | None], int] = {}
        self.actor_index = {a.id: i for i, a in enumerate(rules.actors)}
        self.theme_index = {t.id: i for i, t in enumerate(rules.themes)}
        self.themes = [self._theme(i, t) for i, t in enumerate(rules.themes)]
        self.actors = [self._actor(i, a) for i, a in enumerate(rules.actors)]
        self._actor_leaves = [ActorLeaf(a) for a in self.actors]
        self._rarity: list[float] = []
        self._costs: dict[frozenset[int], float] = {}
        self._theme_leaves = [ThemeLeaf(t) for t in self.themes]

    def usage(self, pattern: Pattern, actor: str | None = None,
              theme: str | None = None) -> tuple[int, int]:
        term = self.table.add(pattern)
        key = (term, pattern.written, actor, theme)
        usage = self._usage_ids.get(key)
        if usage is None:
            usage = self._usage_ids[key] = len(self.usages)
            self.usages.append(Usage(term, pattern.written, actor, theme))
        return term, usage

    def _theme(self, index: int, theme: Theme) -> CompiledTheme:
        terms: dict[int, int] = {}
        for pattern in theme.terms:
            term, usage = self.usage(pattern, theme=theme.id)
            terms.setdefault(term, usage)
        return CompiledTheme(index, theme.id, tuple(terms.items()))

    def _actor(self, index: int, actor: Actor) -> CompiledActor:
        strong: dict[int, int] = {}
        weak: dict[int, int] = {}
        usage = self.usage
        for alias in actor.aliases:
            term, usage_id = usage(alias.pattern, actor.id)
            if alias.weak:
                weak.setdefault(term, usage_id)
            elif term not in strong:
                strong[term] = usage_id
        for term in strong.keys() & weak.keys():
            del weak[term]  # written both ways: the strong alias wins
        context_terms: set[int] = set()
        context_actors: list[int] = []
        context_themes: list[int] = []
        add = self.table.add
        for entry in actor.context:
            if entry.kind == "pattern":
                context_terms.add(add(entry.pattern))  # type: ignore[arg-type]
            elif entry.kind == "actor" and entry.ref in self.actor_index:
                context_actors.append(self.actor_index[entry.ref])
            elif entry.kind == "theme" and entry.ref in self.theme_index:
                context_themes.append(self.theme_index[entry.ref])
        exclude = tuple(dict.fromkeys(add(p) for p in actor.exclude)) if actor.exclude else ()
        return CompiledActor(index, actor.id, tuple(strong.items()), tuple(weak.items()),
                             frozenset(context_terms), tuple(context_actors),
                             tuple(context_themes), exclude)

    def node(self, expr: Expr) -> Node:
        if isinstance(expr, Term):
            term, usage = self.usage(expr.pattern)
            return TermLeaf(term, usage)
        if isinstance(expr, ActorRef):
            return self._actor_leaves[self.actor_index[expr.id]]
        if isinstance(expr, ThemeRef):
            return self._theme_leaves[self.theme_index[expr.id]]
        if isinstance(expr, And):
            children = sorted((self.node(c) for c in expr.children), key=_test_order)
            return AndNode(tuple(children))
        if isinstance(expr, Or):
            return OrNode(tuple(sorted((self.node(c) for c in expr.children),
                                       key=_test_order)))
        if isinstance(expr, Not):
            return NotNode(self.node(expr.child))
        if isinstance(expr, Near):
            return NearNode(self.node(expr.left), self.node(expr.right), expr.distance)
        if isinstance(expr, Field):
            return FieldNode(FIELD_BITS[expr.field], self.node(expr.child))
        if isinstance(expr, Meta):
            return SourceNode(expr.values) if expr.field == "source" else LangNode(expr.values)
        raise TypeError(expr)

    def groups(self, expr: Expr) -> list[frozenset[int]]:
        """Required groups of `expr`: each must have a term in the item for it to match."""
        if isinstance(expr, Term):
            return [frozenset({self.table.add(expr.pattern)})]
        if isinstance(expr, ActorRef):
            return [self.actors[self.actor_index[expr.id]].term_set]
        if isinstance(expr, ThemeRef):
            return [self.themes[self.theme_index[expr.id]].term_set]
        if isinstance(expr, And):
            return [g for child in expr.children for g in self.groups(child)]
        if isinstance(expr, Or):
            union: set[int] = set()
            for child in expr.children:
                child_groups = self.groups(child)
                if not child_groups:
                    return []
                best: frozenset[int] = min(child_groups, key=self.cost)
                union.update(best)
            return [frozenset(union)]
        if isinstance(expr, Field):
            return self.groups(expr.child)
        if isinstance(expr, Near):
            return self.groups(expr.left) + self.groups(expr.right)
        return []  # Not, Meta

    def exact(self, expr: Expr) -> tuple[list[frozenset[int]], frozenset[int]] | None:
        """(required groups, forbidden terms) when they decide `expr` exactly, else None.

        That is an AND (or a single operand) of disjunctions — a word or phrase, an actor
        without weak aliases or exclusions, a theme, an OR of those — and NOTs of
        disjunctions. Field scopes, NEAR, source:/lang: and actors with weak-alias or
        exclusion rules need the query tree.
        """
        groups: list[frozenset[int]] = []
        forbidden: set[int] = set()
        for child in expr.children if isinstance(expr, And) else (expr,):
            if isinstance(child, And):
                nested = self.exact(child)
                if nested is None:
                    return None
                groups.extend(nested[0])
                forbidden.update(nested[1])
                continue
            negated = isinstance(child, Not)
            terms = self._disjunction(child.child if isinstance(child, Not) else child)
            if terms is None:
                return None
            if negated:
                forbidden.update(terms)
            else:
                groups.append(terms)
        return groups, frozenset(forbidden)

    def _disjunction(self, expr: Expr) -> frozenset[int] | None:
        """The terms of which any one makes `expr` true, when that is all it takes."""
        if isinstance(expr, Term):
            return frozenset({self.table.add(expr.pattern)})
        if isinstance(expr, ThemeRef):
            return self.themes[self.theme_index[expr.id]].term_set
        if isinstance(expr, ActorRef):
            actor = self.actors[self.actor_index[expr.id]]
            return None if actor.weak or actor.exclude else actor.strong_set
        if isinstance(expr, Or):
            union: set[int] = set()
            for child in expr.children:
                terms = self._disjunction(child)
                if terms is None:
                    return None
                union.update(terms)
            return frozenset(union)
        return None

    def cost(self, group: frozenset[int]) -> float:
        """Estimated chance that some term of the group occurs in an item (relative)."""
        cost = self._costs.get(group)
        if cost is None:
            rarity = self._rarity
            patterns = self.table.patterns
            while len(rarity) < len(patterns):
                rarity.append(_rarity(patterns[len(rarity)]))
            cost = sum(rarity[term] for term in group)
            self._costs[group] = cost
        return cost


def _positive_leaves(node: Node) -> tuple[Node, ...]:
    """The leaves of an exact watch's tree (ANDs, ORs, leaves, NOTs) that are not negated."""
    if isinstance(node, (AndNode, OrNode)):
        return tuple(leaf for child in node.children for leaf in _positive_leaves(child))
    if isinstance(node, NotNode):
        return ()
    return (node,)


def _repeats(leaves: tuple[Node, ...]) -> bool:
    """Whether two of an exact watch's positive leaves report the same occurrences: the
    same @actor or #theme twice (one shared leaf object each), or the same word written
    twice (two TermLeaf objects with one usage)."""
    keys = [("usage", leaf.usage) if isinstance(leaf, TermLeaf) else id(leaf)
            for leaf in leaves]
    return len(set(keys)) < len(keys)


def _has_positive_term(node: Node) -> bool:
    """Whether a plain term (not @actor, not #theme) can be evidence: one outside NOT."""
    if isinstance(node, TermLeaf):
        return True
    if isinstance(node, (AndNode, OrNode)):
        return any(map(_has_positive_term, node.children))
    if isinstance(node, FieldNode):
        return _has_positive_term(node.child)
    if isinstance(node, NearNode):
        return _has_positive_term(node.left) or _has_positive_term(node.right)
    return False  # NOT, @actor, #theme, source:, lang:


def _rarity(pattern: Pattern) -> float:
    """Rough relative frequency of a pattern in news text: short single words are common,
    longer words, phrases and declined names less so; wildcards cover more words."""
    words = pattern.words.split(" ")
    length = len(words[-1])
    base = 1.0 if length <= 4 else 0.5 if length <= 7 else 0.25
    base *= 0.1 ** (len(words) - 1)
    if pattern.form != EXACT:
        base *= 2.0
    return base


# Cheap and selective children are tested first, NOT (usually true) last.
_TEST_ORDER = {cls: rank for rank, cls in enumerate(
    (LangNode, SourceNode, TermLeaf, ThemeLeaf, ActorLeaf, OrNode, FieldNode, AndNode,
     NearNode, NotNode))}


def _test_order(node: Node) -> int:
    return _TEST_ORDER.get(type(node), len(_TEST_ORDER))


def compile_rules(rules: RuleSet) -> Matcher:
    """Compile every watch of `rules` into one Matcher (one automaton, one term index)."""
    # Compiling allocates hundreds of thousands of small, acyclic objects; the cyclic
    # collector would walk the growing heap again and again for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(rules)
    finally:
        if enabled:
            gc.enable()


def _compile(rules: RuleSet) -> Matcher:
    compiler = _Compiler(rules)
    compiled: list[_CompiledWatch] = []
    planned: list[tuple[Node, list[frozenset[int]],
                        tuple[list[frozenset[int]], frozenset[int]] | None]] = []
    uses: dict[int, int] = {}
    for watch in rules.watches:
        exact = compiler.exact(watch.expr)
        groups = list(set(exact[0] if exact is not None else compiler.groups(watch.expr)))
        if not groups:  # parse_query rejects these; a hand-built RuleSet might not
            raise ValueError(f"watch '{watch.id}' has no positive term")
        for term in frozenset().union(*groups):
            uses[term] = uses.get(term, 0) + 1
        planned.append((compiler.node(watch.expr), groups, exact))
    # A term many watches rely on is probably common in the news too (popular names,
    # theme words), so it weighs more when choosing the group a watch is indexed under.
    weights: dict[int, float] = {}
    costs: dict[frozenset[int], float] = {}

    def cost(group: frozenset[int]) -> float:
        value = costs.get(group)
        if value is None:
            value = 0.0
            for term in group:
                weight = weights.get(term)
                if weight is None:
                    weight = weights[term] = compiler.cost(frozenset((term,))) * (
                        1.0 + math.log2(1 + uses.get(term, 0)))
                value += weight
            costs[group] = value
        return value

    index_lists: dict[int, list[int]] = {}
    order = [0] * len(rules.watches)
    for place, number in enumerate(sorted(
            range(len(rules.watches)),
            key=lambda n: (-PRIORITY_RANK[rules.watches[n].priority], rules.watches[n].id))):
        order[number] = place
    for number, (watch, (root, groups, exact)) in enumerate(
            zip(rules.watches, planned, strict=True)):
        groups.sort(key=cost)
        primary, others = groups[0], tuple(groups[1:])
        positive = _positive_leaves(root) if exact is not None else ()
        for term in primary:
            index_lists.setdefault(term, []).append(number)
        compiled.append(_CompiledWatch(
            watch.id, watch.priority, order[number], root, others,
            exact is not None, exact[1] if exact is not None else frozenset(),
            _has_positive_term(root), positive, exact is None or _repeats(positive)))
    compiler.table.build()
    index = {term: tuple(numbers) for term, numbers in index_lists.items()}
    logger.debug("compiled %d watches: %d terms, %d automaton keys", len(compiled),
                 len(compiler.table), len(compiler.table.keys()))
    return Matcher(compiler.table, compiler.usages, compiled, index, compiler.actors,
                   compiler.themes, rules.body_words,
                   Passages(rules.passage_words, rules.long_body_words)
                   if rules.passage_words else None)

