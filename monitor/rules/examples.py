"""Run every watch's `examples` (match / no_match) and report the ones that disagree."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.rules.matcher import Document, Matcher, TermMatch
from monitor.rules.model import Example, Origin, RuleSet


@dataclass(frozen=True)
class ExampleFailure:
    """An example the watch got wrong, with the terms found in it."""

    watch: str
    expected_match: bool
    example: str           # the example's text (title / body)
    origin: Origin         # where the example is written
    found: tuple[TermMatch, ...]  # hit terms (unexpected match) or the watch's terms present
    # a missed example that the whole item matches, but no passage (matching.passage_words)
    passage_words: int | None = None

    def __str__(self) -> str:
        verb = "should match but does not" if self.expected_match else \
            "should not match but does"
        terms = ", ".join(_describe(t) for t in self.found) or "none of its terms"
        label = "matched on" if not self.expected_match else "found"
        why = "" if self.passage_words is None else (
            f"; the whole item matches, but no passage of {self.passage_words} words holds "
            "it (matching.passage_words)")
        return (f"{self.origin}: watch '{self.watch}' {verb}: {self.example!r} "
                f"({label}: {terms}{why})")


def _describe(term: TermMatch) -> str:
    via = f" @{term.actor}" if term.actor else f" #{term.theme}" if term.theme else ""
    return f"{term.text!r} [{term.term}{via}, {term.field}]"


def example_document(watch_id: str, number: int, example: Example) -> Document:
    """The Document an example stands for (a plain string example is a title)."""
    return Document(id=f"{watch_id}#example-{number}", title=example.title, body=example.body,
                    source=example.source, url=example.url, lang=example.lang)


def run_examples(rules: RuleSet, matcher: Matcher) -> list[ExampleFailure]:
    """Check every example of every watch; return the failures in rule-file order.

    Each example is evaluated against its own watch only, so one watch's examples never
    depend on the others.
    """
    failures: list[ExampleFailure] = []
    for watch in rules.watches:
        for number, example in enumerate(watch.examples):
            doc = example_document(watch.id, number, example)
            hit = matcher.match_watch(doc, watch.id)
            if (hit is not None) == example.expect_match:
                continue
            found = hit.terms if hit is not None else matcher.explain(doc, watch.id)
            outside = hit is None and matcher.passage_words is not None \
                and matcher.match_watch(doc, watch.id, passages=False) is not None
            failures.append(ExampleFailure(watch.id, example.expect_match, example.text,
                                           example.origin, found,
                                           matcher.passage_words if outside else None))
    return failures
