"""Command line for rules: `monitor rules validate|test` and `monitor match`.

Register in monitor/cli.py with::

    from monitor.rules.commands import match_command, rules_group
    cli.add_command(rules_group)
    cli.add_command(match_command)

`rules_group` is a plain click.Group, so other areas can add subcommands to it
(`rules backtest`, `rules derive`).
"""

from __future__ import annotations

import codecs
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click

from monitor.errors import RuleError
from monitor.normalise import html_to_text
from monitor.rules.examples import run_examples
from monitor.rules.loading import load_rules, load_rules_with_errors
from monitor.rules.matcher import Document, compile_rules

logger = logging.getLogger(__name__)

DEFAULT_RULES = Path("rules")
_PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))


@click.group("rules")
def rules_group() -> None:
    """Check, test and explore watch rules."""


@rules_group.command("validate")
@_PATHS
def validate_command(paths: tuple[Path, ...]) -> None:
    """Check rule files (default: rules/) and print every problem as file:line:col: message.

    Exits 2 when there is any problem.
    """
    try:
        ruleset, errors = load_rules_with_errors(paths or (DEFAULT_RULES,))
    except RuleError as exc:
        errors, ruleset = [exc], None
    for error in errors:
        click.echo(str(error))
    if errors:
        click.echo(f"{len(errors)} problem{'s' if len(errors) != 1 else ''} found", err=True)
        sys.exit(2)
    assert ruleset is not None
    groups = f"{len(ruleset.groups)} groups, " if ruleset.groups else ""
    click.echo(f"ok: {len(ruleset.actors)} actors, {len(ruleset.themes)} themes, {groups}"
               f"{len(ruleset.watches)} watches")


@rules_group.command("test")
@_PATHS
def test_command(paths: tuple[Path, ...]) -> None:
    """Run every watch's examples (default: rules/); print the ones that fail.

    Exits 1 when an example fails, 2 when the rules do not load.
    """
    try:
        ruleset, errors = load_rules_with_errors(paths or (DEFAULT_RULES,))
    except RuleError as exc:
        ruleset, errors = None, [exc]
    if errors:
        for error in errors:
            click.echo(str(error))
        sys.exit(2)
    assert ruleset is not None
    matcher = compile_rules(ruleset)
    failures = run_examples(ruleset, matcher)
    total = sum(len(w.examples) for w in ruleset.watches)
    for failure in failures:
        click.echo(f"FAIL {failure}")
    if failures:
        click.echo(f"{len(failures)} of {total} examples failed", err=True)
        sys.exit(1)
    untested = sum(1 for w in ruleset.watches if not w.examples)
    note = f" ({untested} watches have no examples)" if untested else ""
    click.echo(f"ok: {total} examples passed in {len(ruleset.watches)} watches{note}")


@click.command("match")
@click.option("--rules", "rules_paths", multiple=True, type=click.Path(path_type=Path),
              default=(DEFAULT_RULES,), show_default=True,
              help="Rule file or directory (repeatable).")
@click.option("--input", "input_file", required=True, type=click.File("rb"),
              help="Items as JSON lines (id, title, summary, content, url, source, lang); "
                   "'-' for stdin.")
def match_command(rules_paths: tuple[Path, ...], input_file: BinaryIO) -> None:
    """Match items against the watch rules; print one JSON line per hit.

    Each line is {"id", "watch", "priority", "terms"}; terms are the matched patterns as
    written in the rules, without repeats, in the order they occur in the item.
    """
    try:
        ruleset = load_rules(rules_paths)
    except RuleError as exc:
        raise click.ClickException(str(exc)) from None
    matcher = compile_rules(ruleset)
    name = getattr(input_file, "name", None)
    if not isinstance(name, str):  # standard input ('-'): its binary stream may have no name
        name = "<stdin>"
    for number, item in _read_items(input_file, name):
        doc = item_document(item, f"{name}:{number}")
        for hit in matcher.match(doc):
            terms = list(dict.fromkeys(t.term for t in hit.terms))
            click.echo(json.dumps({"id": doc.id, "watch": hit.watch,
                                   "priority": hit.priority, "terms": terms},
                                  ensure_ascii=False))


def _read_items(stream: BinaryIO, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # Bytes, decoded line by line: a bad byte is then reported on its own line (a text
    # stream decodes ahead in blocks), and a byte-order mark some editors write is skipped.
    for number, raw in enumerate(stream, start=1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{name}:{number}: not UTF-8 text (byte {exc.start + 1} "
                                       "of the line); write the items as UTF-8") from None
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{name}:{number}: not a JSON object: {exc.msg}") \
                from None
        if not isinstance(item, dict):
            raise click.ClickException(f"{name}:{number}: expected a JSON object per line")
        yield number, item


def item_document(item: dict[str, Any], where: str) -> Document:
    """The Document for one item record: summary and content (HTML allowed) form the body.

    `where` ("file:line") names the record in errors and is its id when it has none.
    Raises click.ClickException for a key of the wrong JSON type, or a string that is not text.
    """
    item_id = item.get("id")
    if item_id is not None and (isinstance(item_id, bool)
                                or not isinstance(item_id, (str, int))):
        raise click.ClickException(
            f"{where}: 'id' must be a string or a whole number, got {_json_type(item_id)}")
    for key in _TEXT_KEYS:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise click.ClickException(
                f"{where}: '{key}' must be a string or null, got {_json_type(value)}")
    for key in ("id", *_TEXT_KEYS):
        value = item.get(key)
        if isinstance(value, str) and not _is_unicode(value):
            raise click.ClickException(
                f"{where}: '{key}' holds an unpaired surrogate (a \\ud800-\\udfff escape "
                "on its own), which is not text; fix the program that wrote the line")
    parts = [html_to_text(item.get(key) or "") for key in ("summary", "content")]
    body = "\n\n".join(part for part in parts if part)
    return Document(
        id=str(item_id) if item_id is not None else where,
        title=item.get("title") or "",
        body=body,
        source=item.get("source"),
        url=item.get("url"),
        lang=item.get("lang"),
    )


# The keys `item_document` reads besides `id` (`published` is part of the format but not
# read: an item's age matters to alerting, which `monitor match` does not do).
_TEXT_KEYS = ("title", "summary", "content", "url", "source", "lang")


def _is_unicode(text: str) -> bool:
    """False for a string with a lone surrogate, which JSON allows but UTF-8 cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: object) -> str:
    """How to name a JSON value in an error: containers by kind, scalars as written."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "an array"
    return json.dumps(value)
