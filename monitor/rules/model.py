"""The loaded rule set: actors, themes and watches, each with the place it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from monitor.rules.patterns import Pattern
from monitor.rules.query import Expr

PRIORITIES = ("low", "normal", "high", "critical")
PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
ACTOR_KINDS = ("person", "organisation", "state", "place", "group", "other")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where something was written: file path and 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Alias:
    pattern: Pattern
    weak: bool
    origin: Origin


@dataclass(frozen=True, slots=True)
class ContextTerm:
    """One entry of an actor's `context`: a pattern, or a reference to an actor or theme."""

    kind: str                  # "pattern" | "actor" | "theme"
    pattern: Pattern | None    # when kind == "pattern"
    ref: str | None            # actor or theme id otherwise
    origin: Origin


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    name: str
    kind: str
    aliases: tuple[Alias, ...]
    context: tuple[ContextTerm, ...]
    exclude: tuple[Pattern, ...]
    description: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Theme:
    id: str
    name: str
    terms: tuple[Pattern, ...]
    description: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Group:
    """A named OR of actors, themes and other groups: `@id` in a query stands for
    (@a OR #b OR …). The loader expands it in every watch's query."""

    id: str
    name: str
    members: tuple[str, ...]          # "@actor", "@group" or "#theme", as written
    member_origins: tuple[Origin, ...]
    description: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Example:
    """An item a watch must (`expect_match`) or must not match, for `monitor rules test`."""

    expect_match: bool
    title: str
    body: str
    source: str | None
    url: str | None
    lang: str | None
    origin: Origin

    @property
    def text(self) -> str:
        """Title and body, for messages."""
        return " / ".join(part for part in (self.title, self.body) if part)


@dataclass(frozen=True, slots=True)
class Watch:
    id: str
    title: str
    description: str
    priority: str
    tags: tuple[str, ...]
    query: str
    expr: Expr
    examples: tuple[Example, ...]
    origin: Origin
    query_origin: Origin


@dataclass(frozen=True)
class RuleSet:
    """Everything loaded from the rule files, in file order."""

    actors: tuple[Actor, ...]
    themes: tuple[Theme, ...]
    watches: tuple[Watch, ...]
    files: tuple[str, ...] = field(default=())
    groups: tuple[Group, ...] = field(default=())
    # `matching: {body_words: N}`: watches read only the body's first N words (None: all)
    body_words: int | None = None
    # `matching: {passage_words: N, long_body_words: M}`: in a body of more than M words, a
    # watch hits only if it also matches within N consecutive words (None: anywhere)
    passage_words: int | None = None
    long_body_words: int = 100

    @cached_property
    def actor_by_id(self) -> dict[str, Actor]:
        return {actor.id: actor for actor in self.actors}

    @cached_property
    def theme_by_id(self) -> dict[str, Theme]:
        return {theme.id: theme for theme in self.themes}

    @cached_property
    def group_by_id(self) -> dict[str, Group]:
        return {group.id: group for group in self.groups}

    @cached_property
    def watch_by_id(self) -> dict[str, Watch]:
        return {watch.id: watch for watch in self.watches}
