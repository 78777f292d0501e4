"""Read rule files (YAML) into a RuleSet, reporting every problem with file:line:column.

Loading is three passes: each file is parsed with node positions kept and checked against
the JSON Schema (`schema.json`, also shipped as rules/schema.json for editors); its entries
are turned into Actor/Theme/Watch objects (patterns and queries parsed); then the whole set is
checked across files (duplicate ids, unknown @actor/#theme references, context and group
cycles), and each watch's `@group` references are expanded into the OR of their members.
Errors inside a query or pattern point at the character within the YAML scalar.
"""

from __future__ import annotations

import difflib
import gc
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from monitor.errors import RuleError
from monitor.rules.model import (
    Actor,
    Alias,
    ContextTerm,
    Example,
    Group,
    Origin,
    RuleSet,
    Theme,
    Watch,
)
from monitor.rules.patterns import Pattern, PatternError, parse_pattern
from monitor.rules.query import (
    ID_RE,
    ActorRef,
    QueryError,
    ThemeRef,
    expand_refs,
    parse_query,
    positive_nears,
    walk,
)

if TYPE_CHECKING:
    import jsonschema

logger = logging.getLogger(__name__)

RULE_SUFFIXES = (".yaml", ".yml")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SECTION_NOUNS = {"actors": "actor", "themes": "theme", "groups": "group", "watches": "watch"}
_SECTIONS = tuple(_SECTION_NOUNS)


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of a rule file."""
    text = resources.files("monitor.rules").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


_validator: jsonschema.protocols.Validator | None = None


def _schema_validator() -> jsonschema.protocols.Validator:
    global _validator
    if _validator is None:
        import jsonschema  # imported when first needed: it is slow to import (~0.1 s)

        schema = load_schema()
        cls = jsonschema.validators.validator_for(schema)
        # The same schema with its $refs written out: resolving references dominates
        # validation time otherwise (several seconds for 10,000 watches).
        _validator = cls(_inline_refs(schema, schema.get("$defs", {})))
    return _validator


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """A copy of a schema node with local "#/$defs/..." references replaced by their target."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(definitions[ref[len("#/$defs/"):]], definitions)
            rest = {k: _inline_refs(v, definitions) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: _inline_refs(v, definitions) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def rule_files_in(directory: Path) -> list[Path]:
    """The rule files of a directory: its *.yaml and *.yml files, sorted."""
    return sorted(p for p in directory.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file())


def rule_files(paths: Iterable[Path | str]) -> list[Path]:
    """Expand files and directories (their *.yaml and *.yml, sorted) into rule files.

    Raises RuleError for a path that does not exist or a directory with no rule files.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = rule_files_in(path)
            if not found:
                raise RuleError(f"no *.yaml or *.yml rule files in {path}/", path=str(path))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise RuleError("no such file or directory", path=str(path))
    return files


def load_rules(paths: Iterable[Path | str]) -> RuleSet:
    """Load and check rule files or directories; return the RuleSet.

    Raises RuleError for the first problem (in file, line, column order); use
    `validate_rules` to see them all.
    """
    ruleset, errors = _load(paths)
    if errors:
        raise errors[0]
    return ruleset


def validate_rules(paths: Iterable[Path | str]) -> list[RuleError]:
    """Return every problem found in the rule files (empty when they are valid)."""
    try:
        _ruleset, errors = _load(paths)
    except RuleError as exc:
        return [exc]
    return errors


def load_rules_with_errors(paths: Iterable[Path | str]) -> tuple[RuleSet, list[RuleError]]:
    """Return what could be loaded and every problem; for callers that report both."""
    return _load(paths)


# --- positions -------------------------------------------------------------------------------

@dataclass
class _Source:
    """One file's text and its YAML node tree, to turn paths and offsets into positions."""

    path: str
    text: str
    root: yaml.Node | None

    def origin(self, node: yaml.Node, offset: int | None = None) -> Origin:
        """Where `node` starts, or where character `offset` of its (scalar) value is."""
        mark = node.start_mark
        if offset is None:
            return Origin(self.path, mark.line + 1, mark.column + 1)
        index = _scalar_index(self.text, node, offset)
        newlines = self.text.count("\n", mark.index, index)
        if newlines == 0:
            return Origin(self.path, mark.line + 1, mark.column + index - mark.index + 1)
        return Origin(self.path, mark.line + newlines + 1,
                      index - self.text.rfind("\n", mark.index, index))

    def node_at(self, path: Iterable[str | int], *, key: bool = False,
                start: yaml.Node | None = None) -> yaml.Node | None:
        """The node at a JSON path from the root or from `start` (or the key node of its
        last step when `key`); the deepest node on the way when the path runs out."""
        node = self.root if start is None else start
        steps = list(path)
        for i, step in enumerate(steps):
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == step:
                        node = key_node if key and i == len(steps) - 1 else value_node
                        break
                else:
                    return node
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(node.value):
                    return node
                node = node.value[step]
            else:
                return node
        return node


def _scalar_index(text: str, node: yaml.Node, offset: int) -> int:
    """Index in the file of character `offset` of a scalar's value.

    Walks the scalar's source and its value together: value characters are found in order
    in the source, a value space may come from any whitespace (folded lines), and quoting
    or escapes in between are skipped. Exact for plain and quoted single-line scalars.
    """
    start: int = node.start_mark.index
    end: int = node.end_mark.index
    value: str = node.value
    pos = start
    if getattr(node, "style", None) in ("'", '"'):
        pos += 1
    elif getattr(node, "style", None) in ("|", ">"):
        newline = text.find("\n", pos, end)
        pos = newline + 1 if newline >= 0 else pos
    found = pos
    for i, char in enumerate(value[:offset + 1]):
        limit = min(end, pos + 12)
        j = pos
        while j < limit:
            source = text[j]
            if source == char or (char.isspace() and source.isspace()):
                break
            j += 1
        if j < limit:
            found, pos = j, j + 1
        else:
            found, pos = pos, pos + 1
        if i == offset:
            return found
    return found if offset < len(value) else max(start, min(pos, end))


# --- pass 1: YAML and schema ----------------------------------------------------------------

@dataclass
class _Built:
    """An entry turned into an object, with where it came from; `ok` once it has no error."""

    obj: Any           # Actor | Theme | Group | Watch
    source: _Source
    node: yaml.Node
    ok: bool


@dataclass
class _Context:
    """Everything collected while loading, across files."""

    errors: list[tuple[int, RuleError]] = field(default_factory=list)
    # Built entries, valid or not (invalid ones still take part in the cross-file checks so
    # that one run reports everything) and left out of the RuleSet.
    built: dict[str, list[_Built]] = field(default_factory=lambda: {
        section: [] for section in _SECTIONS})
    # Every (id, origin) seen per section, built or not: for duplicate and reference checks.
    ids: dict[str, list[tuple[str, Origin]]] = field(default_factory=lambda: {
        section: [] for section in _SECTIONS})
    # group id → its members with nested groups expanded ("@actor", "#theme"), for the
    # groups that are valid; filled by the cross-file checks.
    expansions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # every valid `matching` setting (name → values, with where): files must agree on each
    matching: dict[str, list[tuple[int, Origin]]] = field(default_factory=dict)
    file_index: int = 0
    file_indices: dict[str, int] = field(default_factory=dict)

    def error(self, message: str, origin: Origin | None, path: str | None = None) -> None:
        if origin is None:
            exc = RuleError(message, path=path)
        else:
            exc = RuleError(message, path=origin.path, line=origin.line, column=origin.column)
        self.errors.append((self.file_index, exc))


def _load(paths: Iterable[Path | str]) -> tuple[RuleSet, list[RuleError]]:
    # Loading builds a large tree of small acyclic objects (YAML nodes, data, patterns);
    # the cyclic collector would walk it over and over for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_files(paths)
    finally:
        if enabled:
            gc.enable()


def _load_files(paths: Iterable[Path | str]) -> tuple[RuleSet, list[RuleError]]:
    ctx = _Context()
    files = rule_files(paths)
    for index, path in enumerate(files):
        ctx.file_index = index
        ctx.file_indices[str(path)] = index
        source = _read(path, ctx)
        if source is None or source.root is None:
            continue
        data = _construct(source, ctx)
        if data is None:
            continue
        broken = _check_schema(source, data, ctx)
        _build_entries(source, data, broken, ctx)
        _read_matching(source, data, ctx)
    _check_across_files(ctx)
    matching = {name: _agreed_setting(ctx, name) for name in ctx.matching}
    if "passage_words" in matching:
        _check_nears_fit_passages(ctx, matching["passage_words"])
    ruleset = RuleSet(
        actors=tuple(b.obj for b in ctx.built["actors"] if b.ok),
        themes=tuple(b.obj for b in ctx.built["themes"] if b.ok),
        watches=tuple(_expanded(b.obj, ctx.expansions) for b in ctx.built["watches"] if b.ok),
        files=tuple(str(p) for p in files),
        groups=tuple(b.obj for b in ctx.built["groups"] if b.ok),
        **matching,  # each `matching` setting of schema.json is a RuleSet field
    )
    ordered = sorted(ctx.errors, key=lambda item: (item[0], item[1].line or 0,
                                                   item[1].column or 0))
    logger.debug("loaded %d actors, %d themes, %d groups, %d watches from %d files "
                 "(%d errors)", len(ruleset.actors), len(ruleset.themes), len(ruleset.groups),
                 len(ruleset.watches), len(files), len(ordered))
    return ruleset, [exc for _i, exc in ordered]


def _read(path: Path, ctx: _Context) -> _Source | None:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        ctx.error(f"not UTF-8 text ({exc.reason} at byte {exc.start})", None, str(path))
        return None
    except OSError as exc:
        ctx.error(f"cannot read: {exc.strerror}", None, str(path))
        return None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        _yaml_error(exc, str(path), ctx)
        return None
    finally:
        loader.dispose()
    return _Source(str(path), text, root)


def _yaml_error(exc: yaml.YAMLError, path: str, ctx: _Context) -> None:
    """Report a PyYAML error as one line at its position."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        origin = Origin(path, mark.line + 1, mark.column + 1) if mark else None
        ctx.error(f"invalid YAML: {message}", origin, path)
    else:
        ctx.error(f"invalid YAML: {exc}", None, path)


def _construct(source: _Source, ctx: _Context) -> Any:
    """Plain Python data from the node tree, after rejecting duplicate mapping keys."""
    duplicates = False
    for node in _mapping_nodes(source.root):
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            key = getattr(key_node, "value", None)
            if isinstance(key, str) and key in seen:
                ctx.error(f"duplicate key '{key}' (first at line "
                          f"{seen[key].start_mark.line + 1})", source.origin(key_node))
                duplicates = True
            elif isinstance(key, str):
                seen[key] = key_node
    if duplicates:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(source.root)
    except yaml.YAMLError as exc:
        _yaml_error(exc, source.path, ctx)
        return None
    finally:
        loader.dispose()


def _mapping_nodes(node: yaml.Node | None,
                   seen: set[int] | None = None) -> Iterator[yaml.MappingNode]:
    """Every mapping node under `node`, once each (anchors may share or nest nodes)."""
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        yield node
        for key_node, value_node in node.value:
            yield from _mapping_nodes(key_node, seen)
            yield from _mapping_nodes(value_node, seen)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _mapping_nodes(child, seen)


def _check_schema(source: _Source, data: Any, ctx: _Context) -> set[tuple[str, int]]:
    """Report schema errors; return the (section, index) entries that are invalid."""
    if data is None:
        return set()
    broken: set[tuple[str, int]] = set()
    errors = sorted(_schema_validator().iter_errors(data),
                    key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] in _SECTION_NOUNS and isinstance(path[1], int):
            broken.add((path[0], path[1]))
        elif len(path) == 1 and path[0] in _SECTION_NOUNS:
            broken.add((path[0], -1))
        for message, node_path, on_key in _describe_schema_error(error, data):
            node = source.node_at(node_path, key=on_key)
            ctx.error(message, source.origin(node) if node is not None else None, source.path)
    return broken


def _where(path: list[str | int], data: Any) -> str:
    """Readable name for a JSON path: "watch 'x' priority", "actors[2].aliases[0]"."""
    if len(path) >= 2 and path[0] in _SECTION_NOUNS and isinstance(path[1], int):
        entry = data[path[0]][path[1]]
        noun = _SECTION_NOUNS[path[0]]
        ident = entry.get("id") if isinstance(entry, dict) else None
        head = f"{noun} '{ident}'" if isinstance(ident, str) else f"{noun} #{path[1] + 1}"
        rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[2:])
        return head + (f" {rest.lstrip('.')}" if rest else "")
    if not path:
        return "the file"
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _describe_schema_error(error: jsonschema.ValidationError,
                           data: Any) -> list[tuple[str, list[str | int], bool]]:
    """(message, node path, point-at-key) for one schema error, in operator words."""
    path = list(error.absolute_path)
    where = _where(path, data)
    validator = error.validator
    instance = error.instance
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in instance if k not in error.schema.get("properties", {})]
        thing = "the file (top level)" if not path else where
        return [(f"unknown key '{key}' in {thing}; allowed: {', '.join(allowed)}",
                 path + [key], True) for key in extras]
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [(f"{where} is missing required key '{missing}'", path, False)]
    if validator == "type":
        expected = error.validator_value
        names = {"array": "a list", "object": "a mapping", "string": "a string",
                 "boolean": "true or false", "integer": "a whole number"}
        want = names.get(expected, str(expected)) if isinstance(expected, str) else \
            " or ".join(names.get(e, e) for e in expected)
        return [(f"{where} must be {want}, not {_yaml_type(instance)}", path, False)]
    if validator == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return [(f"{where} must be one of {options} (got {instance!r})", path, False)]
    if validator == "pattern" and path and path[-1] == "id":
        return [(f"invalid id {instance!r}: ids are lower-case letters, digits, '_' and '-', "
                 "starting with a letter or digit", path, False)]
    if validator == "minItems":
        return [(f"{where} must not be empty", path, False)]
    if validator == "minLength":
        return [(f"{where} must not be empty", path, False)]
    if validator in ("oneOf", "anyOf"):
        if len(path) >= 2 and path[-2] == "aliases":
            return [(f"{where}: an alias is a string or a mapping "
                     "{text: ..., weak: true}", path, False)]
        if "match" in path or "no_match" in path:
            return [(f"{where}: an example is a string (the title) or a mapping with title "
                     "and/or body (and optional source, url, lang)", path, False)]
        from jsonschema.exceptions import best_match

        best = best_match(error.context or [])
        if best is not None:
            return _describe_schema_error(best, data)
    return [(f"{where}: {error.message}", path, False)]


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "empty (null)"
    return type(value).__name__


# --- pass 2: entries -------------------------------------------------------------------------

def _read_matching(source: _Source, data: Any, ctx: _Context) -> None:
    """Note this file's `matching` settings that are valid (the schema check reported the
    others)."""
    matching = data.get("matching") if isinstance(data, dict) else None
    if not isinstance(matching, dict):
        return
    for name, (least, most) in _matching_bounds().items():
        value = matching.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and least <= value <= most:
            node = source.node_at(["matching", name])
            ctx.matching.setdefault(name, []).append((value, source.origin(node)))


@cache
def _matching_bounds() -> dict[str, tuple[int, float]]:
    """Each `matching` setting with its least and greatest value, as schema.json has them."""
    settings = load_schema()["properties"]["matching"]["properties"]
    return {name: (spec["minimum"], spec.get("maximum", math.inf))
            for name, spec in settings.items()}


def _agreed_setting(ctx: _Context, name: str) -> int:
    """The one value of a `matching` setting in the rule set; a second, different value is
    an error (which file's would win is not something to leave to file order)."""
    value, first = ctx.matching[name][0]
    for other, origin in ctx.matching[name][1:]:
        if other != value:
            _error_at(ctx, f"matching.{name} is {other} here but {value} at {first}; "
                      "set it in one file", origin)
    return value


def _check_nears_fit_passages(ctx: _Context, passage_words: int) -> None:
    """A NEAR that must hold may not reach further than half a passage: words up to that far
    apart always share one, wider pairs only where the windows happen to fall."""
    reach = passage_words // 2
    for built in ctx.built["watches"]:
        for near in positive_nears(built.obj.expr):
            if near.distance > reach:
                _error_at(ctx, f"NEAR/{near.distance} reaches further than half a passage "
                          f"(matching.passage_words is {passage_words}, so only words up to "
                          f"{reach} apart are sure to share one): write NEAR/{reach} or "
                          f"less, or set passage_words to {2 * near.distance} or more",
                          _query_origin(built.source, built.node, near.operator_offset))
                built.ok = False


def _build_entries(source: _Source, data: dict[str, Any], broken: set[tuple[str, int]],
                   ctx: _Context) -> None:
    if not isinstance(data, dict):
        return
    for section, builder in (("actors", _build_actor), ("themes", _build_theme),
                             ("groups", _build_group), ("watches", _build_watch)):
        entries = data.get(section)
        if not isinstance(entries, list) or (section, -1) in broken:
            continue
        for index, entry in enumerate(entries):
            path: list[str | int] = [section, index]
            node = source.node_at(path)
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("id"), str):
                ctx.ids[section].append(
                    (entry["id"], source.origin(source.node_at(["id"], start=node))))
            invalid = (section, index) in broken
            before = len(ctx.errors)
            try:
                built = builder(entry, node, source, ctx)
            except (KeyError, TypeError, AttributeError, ValueError):
                if not invalid:
                    raise
                continue  # already reported by the schema check; nothing more to learn
            if built is not None:
                ok = not invalid and len(ctx.errors) == before
                ctx.built[section].append(_Built(built, source, node, ok))


def _pattern(text: str, path: list[str | int], source: _Source, ctx: _Context,
             start: yaml.Node) -> Pattern | None:
    node = source.node_at(path, start=start)
    try:
        return parse_pattern(text)
    except PatternError as exc:
        ctx.error(exc.message, source.origin(node, exc.offset))
        return None


def _build_actor(entry: dict[str, Any], node: yaml.Node, source: _Source,
                 ctx: _Context) -> Actor | None:
    aliases: list[Alias] = []
    for i, alias in enumerate(entry["aliases"]):
        text, weak = (alias, False) if isinstance(alias, str) else \
            (alias["text"], bool(alias.get("weak", False)))
        alias_path: list[str | int] = ["aliases", i]
        if not isinstance(alias, str):
            alias_path.append("text")
        pattern = _pattern(text, alias_path, source, ctx, node)
        if pattern is not None:
            origin = source.origin(source.node_at(alias_path, start=node))
            aliases.append(Alias(pattern, weak, origin))
    context: list[ContextTerm] = []
    for i, text in enumerate(entry.get("context", [])):
        item_path: list[str | int] = ["context", i]
        origin = source.origin(source.node_at(item_path, start=node))
        stripped = text.strip()
        if stripped[:1] in ("@", "#"):
            kind = "actor" if stripped[0] == "@" else "theme"
            if not ID_RE.match(stripped[1:]):
                ctx.error(f"invalid {kind} reference '{stripped}': ids are lower-case "
                          "letters, digits, '_' and '-'", origin)
                continue
            context.append(ContextTerm(kind, None, stripped[1:], origin))
            continue
        pattern = _pattern(text, item_path, source, ctx, node)
        if pattern is not None:
            context.append(ContextTerm("pattern", pattern, None, origin))
    exclude: list[Pattern] = []
    for i, text in enumerate(entry.get("exclude", [])):
        pattern = _pattern(text, ["exclude", i], source, ctx, node)
        if pattern is not None:
            exclude.append(pattern)
    if any(alias.weak for alias in aliases) and not context:
        ctx.error(f"actor '{entry['id']}' has weak aliases but no context: weak aliases "
                  "only count when a context term is present, so they would never match",
                  source.origin(source.node_at(["aliases"], key=True, start=node)))
    return Actor(
        id=entry["id"],
        name=entry.get("name", entry["id"]),
        kind=entry.get("kind", "other"),
        aliases=tuple(aliases),
        context=tuple(context),
        exclude=tuple(exclude),
        description=entry.get("description", ""),
        origin=source.origin(source.node_at(["id"], start=node)),
    )


def _build_theme(entry: dict[str, Any], node: yaml.Node, source: _Source,
                 ctx: _Context) -> Theme | None:
    terms: list[Pattern] = []
    for i, text in enumerate(entry["terms"]):
        pattern = _pattern(text, ["terms", i], source, ctx, node)
        if pattern is not None:
            terms.append(pattern)
    return Theme(
        id=entry["id"],
        name=entry.get("name", entry["id"]),
        terms=tuple(terms),
        description=entry.get("description", ""),
        origin=source.origin(source.node_at(["id"], start=node)),
    )


def _build_group(entry: dict[str, Any], node: yaml.Node, source: _Source,
                 ctx: _Context) -> Group | None:
    # Members that are not "@id"/"#id" strings are the schema check's to report; the
    # cross-file checks only ever see references.
    raw = entry["members"] if isinstance(entry["members"], list) else []
    kept = [(i, m) for i, m in enumerate(raw) if isinstance(m, str) and m[:1] in ("@", "#")]
    members = tuple(m for _i, m in kept)
    origins = tuple(source.origin(source.node_at(["members", i], start=node)) for i, _m in kept)
    return Group(
        id=entry["id"],
        name=entry.get("name", entry["id"]),
        members=members,
        member_origins=origins,
        description=entry.get("description", ""),
        origin=source.origin(source.node_at(["id"], start=node)),
    )


def _expanded(watch: Watch, expansions: dict[str, tuple[str, ...]]) -> Watch:
    """The watch with its @group references written out as ORs of their members."""
    if not any(isinstance(p, ActorRef) and p.id in expansions for p in walk(watch.expr)):
        return watch
    return replace(watch, expr=expand_refs(watch.expr, expansions))


def _build_watch(entry: dict[str, Any], node: yaml.Node, source: _Source,
                 ctx: _Context) -> Watch | None:
    query_node = source.node_at(["query"], start=node)
    try:
        expr = parse_query(entry["query"])
    except QueryError as exc:
        ctx.error(exc.message, source.origin(query_node, exc.offset))
        return None
    examples: list[Example] = []
    given = entry.get("examples")
    for key, expect in (("match", True), ("no_match", False)):
        items = given.get(key) if isinstance(given, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            origin = source.origin(source.node_at(["examples", key, i], start=node))
            if isinstance(item, str):
                examples.append(Example(expect, item, "", None, None, None, origin))
            elif isinstance(item, dict):
                examples.append(Example(expect, item.get("title", ""), item.get("body", ""),
                                        item.get("source"), item.get("url"),
                                        item.get("lang"), origin))
    return Watch(
        id=entry["id"],
        title=entry.get("title", entry["id"]),
        description=entry.get("description", ""),
        priority=entry.get("priority", "normal"),
        tags=tuple(entry.get("tags", [])),
        query=entry["query"],
        expr=expr,
        examples=tuple(examples),
        origin=source.origin(source.node_at(["id"], start=node)),
        query_origin=source.origin(query_node),
    )


# --- pass 3: across files --------------------------------------------------------------------

def _check_across_files(ctx: _Context) -> None:
    for section in _SECTIONS:
        first: dict[str, Origin] = {}
        noun = _SECTION_NOUNS[section]
        duplicates: set[tuple[str, str, int, int]] = set()
        for ident, origin in ctx.ids[section]:
            if ident in first:
                _error_at(ctx, f"duplicate {noun} id '{ident}' (first defined at "
                          f"{first[ident]})", origin)
                duplicates.add((ident, origin.path, origin.line, origin.column))
            else:
                first.setdefault(ident, origin)
        for built in ctx.built[section]:
            o = built.obj.origin
            if (built.obj.id, o.path, o.line, o.column) in duplicates:
                built.ok = False
    actor_ids = {ident for ident, _o in ctx.ids["actors"]}
    theme_ids = {ident for ident, _o in ctx.ids["themes"]}
    group_ids = {ident for ident, _o in ctx.ids["groups"]}
    for ident, origin in ctx.ids["groups"]:
        if ident in actor_ids:
            _error_at(ctx, f"group id '{ident}' is also an actor id: '@{ident}' in a query "
                      "would be ambiguous; rename one of them", origin)
            for built in ctx.built["groups"]:
                if built.obj.id == ident:
                    built.ok = False
    _check_groups(ctx, actor_ids, theme_ids, group_ids)
    for built in ctx.built["actors"]:
        actor = built.obj
        for term in actor.context:
            if term.kind == "actor" and term.ref not in actor_ids:
                _error_at(ctx, f"unknown actor '@{term.ref}' in the context of "
                          f"'{actor.id}'{suggest(term.ref, actor_ids)}", term.origin)
                built.ok = False
            elif term.kind == "theme" and term.ref not in theme_ids:
                _error_at(ctx, f"unknown theme '#{term.ref}' in the context of "
                          f"'{actor.id}'{suggest(term.ref, theme_ids)}", term.origin)
                built.ok = False
    _check_context_cycles(ctx)
    referable = actor_ids | group_ids
    for built in ctx.built["watches"]:
        watch = built.obj
        for part in walk(watch.expr):
            if isinstance(part, ActorRef) and part.id not in referable:
                _error_at(ctx, f"unknown actor or group '@{part.id}'"
                          f"{suggest(part.id, referable)}",
                          _query_origin(built.source, built.node, part.offset))
                built.ok = False
            elif isinstance(part, ThemeRef) and part.id not in theme_ids:
                _error_at(ctx, f"unknown theme '#{part.id}'{suggest(part.id, theme_ids)}",
                          _query_origin(built.source, built.node, part.offset))
                built.ok = False
    # A watch may only use actors and themes that made it into the rule set.
    good_actors = {b.obj.id for b in ctx.built["actors"] if b.ok}
    good_themes = {b.obj.id for b in ctx.built["themes"] if b.ok}
    for built in ctx.built["actors"]:
        if any(t.kind == "actor" and t.ref not in good_actors
               or t.kind == "theme" and t.ref not in good_themes for t in built.obj.context):
            built.ok = False
    _resolve_groups(ctx, good_actors, good_themes)
    good_refs = good_actors | set(ctx.expansions)
    for built in ctx.built["watches"]:
        if any(isinstance(p, ActorRef) and p.id not in good_refs
               or isinstance(p, ThemeRef) and p.id not in good_themes
               for p in walk(built.obj.expr)):
            built.ok = False


def _check_groups(ctx: _Context, actor_ids: set[str], theme_ids: set[str],
                  group_ids: set[str]) -> None:
    """Every member of a group must be a known actor, theme or group, without cycles."""
    for built in ctx.built["groups"]:
        group = built.obj
        for member, origin in zip(group.members, group.member_origins, strict=True):
            ident = member[1:]
            if member[0] == "#":
                if ident not in theme_ids:
                    _error_at(ctx, f"unknown theme '{member}' in group '{group.id}'"
                              f"{suggest(ident, theme_ids)}", origin)
                    built.ok = False
            elif ident not in actor_ids and ident not in group_ids:
                _error_at(ctx, f"unknown actor or group '{member}' in group '{group.id}'"
                          f"{suggest(ident, actor_ids | group_ids)}", origin)
                built.ok = False
    edges = {b.obj.id: [(m[1:], o) for m, o in zip(b.obj.members, b.obj.member_origins,
                                                    strict=True) if m[0] == "@"]
             for b in ctx.built["groups"]}
    looped = _report_cycles(ctx, edges, "groups contain each other in a cycle")
    for built in ctx.built["groups"]:
        if built.obj.id in looped:
            built.ok = False


def _resolve_groups(ctx: _Context, good_actors: set[str], good_themes: set[str]) -> None:
    """Fill `ctx.expansions` for the groups whose members are all valid (nested groups
    expanded, each reference once, in the order written)."""
    groups = {b.obj.id: b for b in ctx.built["groups"]}
    resolved: dict[str, tuple[str, ...] | None] = {}

    def resolve(group_id: str) -> tuple[str, ...] | None:
        if group_id in resolved:
            return resolved[group_id]
        resolved[group_id] = None  # a cycle guard; cycles are reported by _check_groups
        built = groups[group_id]
        out: dict[str, None] = {}
        ok = built.ok
        for member in built.obj.members:
            ident = member[1:]
            if member[0] == "#":
                ok = ok and ident in good_themes
                out[member] = None
            elif ident in groups:
                nested = resolve(ident)
                ok = ok and nested is not None
                out.update(dict.fromkeys(nested or ()))
            else:
                ok = ok and ident in good_actors
                out[member] = None
        built.ok = ok
        resolved[group_id] = tuple(out) if ok else None
        return resolved[group_id]

    for group_id in groups:
        members = resolve(group_id)
        if members is not None:
            ctx.expansions[group_id] = members


def _query_origin(source: _Source, watch_node: yaml.Node, offset: int) -> Origin:
    for key_node, value_node in watch_node.value:
        if key_node.value == "query":
            return source.origin(value_node, offset)
    return source.origin(watch_node)


def suggest(name: str, known: Iterable[str]) -> str:
    """The hint ` (did you mean 'x'?)` for the closest of `known`; empty when none is."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _error_at(ctx: _Context, message: str, origin: Origin) -> None:
    ctx.errors.append((ctx.file_indices.get(origin.path, 0), RuleError(
        message, path=origin.path, line=origin.line, column=origin.column)))


def _check_context_cycles(ctx: _Context) -> None:
    """An actor's weak aliases may depend on another actor, but not in a circle."""
    edges = {b.obj.id: [(t.ref or "", t.origin) for t in b.obj.context if t.kind == "actor"]
             for b in ctx.built["actors"]}
    _report_cycles(ctx, edges, "context references form a cycle")


def _report_cycles(ctx: _Context, edges: dict[str, list[tuple[str, Origin]]],
                   message: str) -> set[str]:
    """Report each cycle in `edges` (id → the ids it refers to, with where) at the reference
    that closes it; return the ids on a cycle."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    looped: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        trail = trail + [node]
        for ref, origin in edges.get(node, []):
            if state.get(ref) == 1:
                loop = trail[trail.index(ref):] + [ref]
                looped.update(loop)
                _error_at(ctx, f"{message}: " + " → ".join(f"@{n}" for n in loop), origin)
            elif state.get(ref) is None and ref in edges:
                visit(ref, trail)
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [])
    return looped
