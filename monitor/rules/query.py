"""The watch query language: tokens, a recursive-descent parser and the syntax tree.

Grammar (upper-case keywords are literal; one level may not mix AND with OR)::

    query   := bool EOF
    bool    := unary ((AND | OR | NOT) unary)*        # "a NOT b" means "a AND NOT b"
    unary   := NOT unary | near
    near    := primary [NEAR/n primary]               # 1 <= n <= 50, no chains
    primary := "(" bool ")" | scope | atom
    scope   := (title: | body:) (atom | "(" bool ")")
             | (source: | site: | lang:) (value | "(" value (OR value)* ")")
    atom    := word | word* | word~ | word~~ | "a phrase" | @actor-id | #theme-id

Offsets in the tree and in `QueryError` are character offsets into the query string; the
loader maps them to lines and columns of the rule file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from monitor.rules.patterns import Pattern, PatternError, parse_pattern

MAX_NEAR = 50
ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
TEXT_FIELDS = ("title", "body")
META_FIELDS = {"source": "source", "site": "source", "lang": "lang"}
_LANG_RE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*\Z")
_OPERATORS = ("AND", "OR", "NOT")


class QueryError(ValueError):
    """The query is malformed at `offset` (a character offset in the query text)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# --- syntax tree ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Term:
    """A word, phrase, wildcard or declined stem."""
    pattern: Pattern
    offset: int


@dataclass(frozen=True, slots=True)
class ActorRef:
    """@actor: any alias of the actor (weak aliases and exclusions applied)."""
    id: str
    offset: int


@dataclass(frozen=True, slots=True)
class ThemeRef:
    """#theme: any term of the theme."""
    id: str
    offset: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Expr, ...]
    offset: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Expr, ...]
    offset: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Expr
    offset: int


@dataclass(frozen=True, slots=True)
class Near:
    """Both operands occur in the same field, at most `distance` words apart, either order."""
    left: Expr
    right: Expr
    distance: int
    offset: int
    operator_offset: int  # where "NEAR/n" is written (errors about the distance point there)


@dataclass(frozen=True, slots=True)
class Field:
    """title:X or body:X — X evaluated on that field only."""
    field: str
    child: Expr
    offset: int


@dataclass(frozen=True, slots=True)
class Meta:
    """source:/site: (source name or URL host) or lang: — a filter on the item, not its text."""
    field: str            # "source" | "lang"
    values: tuple[str, ...]
    offset: int


Expr = Term | ActorRef | ThemeRef | And | Or | Not | Near | Field | Meta


# --- tokens --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str      # ( ) AND OR NOT NEAR WORD PHRASE ACTOR THEME FIELD EOF
    text: str      # the source text of the token
    offset: int
    value: str = ""
    number: int = 0

    def describe(self) -> str:
        if self.kind == "EOF":
            return "the end of the query"
        return f"'{self.text}'"


_SPECIAL = '()"'


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            tokens.append(_Token(char, char, i))
            i += 1
            continue
        if char == '"':
            close = query.find('"', i + 1)
            if close < 0:
                raise QueryError('unterminated phrase: expected a closing "', i)
            inner = query[i + 1:close]
            if not inner.strip():
                raise QueryError('empty phrase ""', i)
            tokens.append(_Token("PHRASE", query[i:close + 1], i, inner))
            i = close + 1
            continue
        j = i
        while j < n and not query[j].isspace() and query[j] not in _SPECIAL:
            j += 1
        tokens.extend(_word_tokens(query[i:j], i))
        i = j
    tokens.append(_Token("EOF", "", n))
    return tokens


def _word_tokens(word: str, offset: int) -> list[_Token]:
    if word in _OPERATORS:
        return [_Token(word, word, offset)]
    if word == "NEAR" or word.startswith("NEAR/"):
        number = word[5:]
        if not number.isdigit():
            raise QueryError("NEAR needs a distance in words: write NEAR/5", offset)
        distance = int(number)
        if not 1 <= distance <= MAX_NEAR:
            raise QueryError(f"{word}: the distance must be between 1 and {MAX_NEAR} words",
                             offset)
        return [_Token("NEAR", word, offset, number=distance)]
    if word[0] in "@#":
        kind, noun = ("ACTOR", "actor") if word[0] == "@" else ("THEME", "theme")
        ident = word[1:]
        if not ident:
            raise QueryError(f"expected {'an' if noun == 'actor' else 'a'} {noun} id after "
                             f"'{word[0]}'", offset)
        if not ID_RE.match(ident):
            raise QueryError(f"invalid {noun} reference '{word}': ids are lower-case "
                             "letters, digits, '_' and '-'", offset)
        return [_Token(kind, word, offset, ident)]
    colon = word.find(":")
    if colon >= 0:
        name = word[:colon].lower()
        if name not in TEXT_FIELDS and name not in META_FIELDS:
            raise QueryError(f"unknown field '{word[:colon + 1]}': fields are title:, body:, "
                             "source:, site: and lang: (put text containing ':' in quotes)",
                             offset)
        tokens = [_Token("FIELD", word[:colon + 1], offset, name)]
        rest = word[colon + 1:]
        if rest:
            tokens.extend(_word_tokens(rest, offset + colon + 1))
        return tokens
    return [_Token("WORD", word, offset, word)]


# --- parser --------------------------------------------------------------------------------

_EXPECTED = "expected a term, phrase, @actor, #theme or '('"
_MIXING = ("mixing AND and OR needs parentheses: write (a AND b) OR c or a AND (b OR c)")
_NEAR_OPERANDS = ("NEAR joins a term, phrase, wildcard, @actor, #theme or a parenthesised "
                  "OR-group of those")


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Expr:
        if self.peek().kind == "EOF":
            raise QueryError("the query is empty", 0)
        expr = self.parse_bool("at the start of the query")
        token = self.peek()
        if token.kind == ")":
            raise QueryError("unmatched ')'", token.offset)
        if token.kind != "EOF":
            self.adjacent(token)
        return expr

    def adjacent(self, token: _Token) -> None:
        """Raise the error for a term that follows another with no operator between."""
        previous = self.tokens[self.pos - 1]
        if token.kind == "WORD" and token.text.upper() in ("AND", "OR", "NOT", "NEAR"):
            upper = token.text.upper()
            raise QueryError(f"operators are upper-case: write {upper}, not '{token.text}' "
                             f"(or \"{token.text}\" in quotes to match the word)",
                             token.offset)
        if token.kind == "WORD" and previous.kind == "WORD":
            raise QueryError(
                f"expected AND, OR or NOT between '{previous.text}' and '{token.text}': "
                f"write {previous.text} AND {token.text}, or \"{previous.text} {token.text}\" "
                "in quotes for a phrase", token.offset)
        raise QueryError(f"expected AND, OR or NOT before {token.describe()} "
                         "(or quotes around a phrase)", token.offset)

    def parse_bool(self, where: str) -> Expr:
        first = self.parse_unary(where)
        children = [first]
        operator = ""
        while True:
            token = self.peek()
            if token.kind in ("AND", "OR"):
                self.next()
                child = self.parse_unary(f"after {token.kind}")
                kind = token.kind
            elif token.kind == "NOT":
                self.next()
                child = Not(self.parse_unary("after NOT"), token.offset)
                kind = "AND"
            else:
                break
            if operator and kind != operator:
                raise QueryError(_MIXING, token.offset)
            operator = kind
            children.append(child)
        if len(children) == 1:
            return first
        start = _offset(first)
        return And(tuple(children), start) if operator == "AND" else Or(tuple(children), start)

    def parse_unary(self, where: str) -> Expr:
        token = self.peek()
        if token.kind == "NOT":
            self.next()
            return Not(self.parse_unary("after NOT"), token.offset)
        return self.parse_near(where)

    def parse_near(self, where: str) -> Expr:
        left = self.parse_primary(where)
        token = self.peek()
        if token.kind != "NEAR":
            return left
        self.next()
        right = self.parse_primary(f"after {token.text}")
        for operand in (left, right):
            problem = _near_operand_problem(operand)
            if problem:
                raise QueryError(f"{_NEAR_OPERANDS}, not {problem}", _offset(operand))
        if self.peek().kind == "NEAR":
            raise QueryError("NEAR cannot be chained: write (a NEAR/5 b) AND (b NEAR/5 c)",
                             self.peek().offset)
        return Near(left, right, token.number, _offset(left), token.offset)

    def parse_primary(self, where: str) -> Expr:
        token = self.next()
        kind = token.kind
        if kind == "(":
            if self.peek().kind == ")":
                raise QueryError("empty parentheses '()'", token.offset)
            inner = self.parse_bool("after '('")
            close = self.peek()
            if close.kind == "EOF":
                raise QueryError("unclosed '(': expected ')' before the end of the query",
                                 token.offset)
            if close.kind != ")":
                self.adjacent(close)
            self.next()
            return inner
        if kind in ("WORD", "PHRASE"):
            return self.term(token)
        if kind == "ACTOR":
            return ActorRef(token.value, token.offset)
        if kind == "THEME":
            return ThemeRef(token.value, token.offset)
        if kind == "FIELD":
            if token.value in TEXT_FIELDS:
                child = self.parse_primary(f"after '{token.text}'")
                nested = _find_scope(child)
                if nested is not None:
                    raise QueryError("field scopes cannot be nested: "
                                     f"'{token.text}' contains another field scope",
                                     nested)
                return Field(token.value, child, token.offset)
            return self.meta(token)
        suffix = "" if kind == "EOF" else f", found {token.describe()}"
        if kind == "EOF" and where == "after '('":
            raise QueryError(f"{_EXPECTED} {where}", token.offset)
        raise QueryError(f"{_EXPECTED} {where}{suffix}", token.offset)

    def term(self, token: _Token) -> Term:
        start = token.offset + (1 if token.kind == "PHRASE" else 0)
        try:
            pattern = parse_pattern(token.value)
        except PatternError as exc:
            raise QueryError(exc.message, start + exc.offset) from None
        return Term(pattern, token.offset)

    def meta(self, field_token: _Token) -> Meta:
        field = META_FIELDS[field_token.value]
        what = "a language code (e.g. lang:ru)" if field == "lang" else \
            "a source name or web host (e.g. site:tass.com)"
        values: list[tuple[str, int]] = []
        token = self.next()
        if token.kind in ("WORD", "PHRASE"):
            values.append((token.value, token.offset))
        elif token.kind == "(":
            while True:
                value = self.next()
                if value.kind not in ("WORD", "PHRASE"):
                    raise QueryError(f"expected {what} inside '{field_token.text}(...)', "
                                     f"found {value.describe()}", value.offset)
                values.append((value.value, value.offset))
                after = self.next()
                if after.kind == ")":
                    break
                if after.kind != "OR":
                    raise QueryError(f"inside '{field_token.text}(...)' values are joined "
                                     f"by OR, found {after.describe()}", after.offset)
        else:
            raise QueryError(f"expected {what} after '{field_token.text}', found "
                             f"{token.describe()}", token.offset)
        cleaned: list[str] = []
        for raw, offset in values:
            text = raw.strip()
            if field == "lang":
                text = text.lower().replace("_", "-")
                if not _LANG_RE.match(text):
                    raise QueryError(f"'{text}' is not a language code: use ISO 639 codes "
                                     "such as ru, ar, en", offset)
            elif not text:
                raise QueryError(f"expected {what} after '{field_token.text}'", offset)
            cleaned.append(text)
        return Meta(field, tuple(cleaned), field_token.offset)


def _offset(expr: Expr) -> int:
    return expr.offset


def _near_operand_problem(expr: Expr) -> str:
    if isinstance(expr, (Term, ActorRef, ThemeRef)):
        return ""
    if isinstance(expr, Or):
        for child in expr.children:
            if not isinstance(child, (Term, ActorRef, ThemeRef)):
                return f"an OR-group containing {_describe_kind(child)}"
        return ""
    return _describe_kind(expr)


def _describe_kind(expr: Expr) -> str:
    if isinstance(expr, And):
        return "an AND-group"
    if isinstance(expr, Or):
        return "a nested OR-group"
    if isinstance(expr, Not):
        return "NOT"
    if isinstance(expr, Near):
        return "another NEAR"
    if isinstance(expr, Field):
        return f"a '{expr.field}:' scope (put the scope around the whole NEAR)"
    if isinstance(expr, Meta):
        return f"a '{expr.field}:' filter"
    return "this"


def _find_scope(expr: Expr) -> int | None:
    """Offset of a Field or Meta node inside `expr`, if any."""
    if isinstance(expr, (Field, Meta)):
        return expr.offset
    for child in _children(expr):
        found = _find_scope(child)
        if found is not None:
            return found
    return None


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, (And, Or)):
        return expr.children
    if isinstance(expr, (Not, Field)):
        return (expr.child,)
    if isinstance(expr, Near):
        return (expr.left, expr.right)
    return ()


def parse_query(query: str) -> Expr:
    """Parse a query; return its syntax tree.

    Raises QueryError with the offset of the problem for any syntax error, and when the
    query could match an item without any positive term (pure NOT, a lone source:/lang:
    filter, or an OR alternative of that kind).
    """
    expr = _Parser(query).parse()
    witness = unbounded(expr)
    if witness is not None:
        raise QueryError("a query must have at least one positive term (a word, phrase, "
                         "@actor or #theme not under NOT), in every OR alternative",
                         witness.offset)
    return expr


def unbounded(expr: Expr) -> Expr | None:
    """The part of `expr` that lets it match with no positive term present, or None."""
    if isinstance(expr, (Term, ActorRef, ThemeRef, Near)):
        return None
    if isinstance(expr, (Not, Meta)):
        return expr
    if isinstance(expr, Field):
        return unbounded(expr.child)
    if isinstance(expr, And):
        witnesses = [unbounded(child) for child in expr.children]
        return None if any(w is None for w in witnesses) else expr
    if isinstance(expr, Or):
        for child in expr.children:
            witness = unbounded(child)
            if witness is not None:
                return witness
        return None
    raise TypeError(expr)


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of `expr`, parents before children."""
    yield expr
    for child in _children(expr):
        yield from walk(child)


def positive_nears(expr: Expr) -> Iterator[Near]:
    """The NEARs of `expr` that are not under a NOT (those that must hold for a match)."""
    if isinstance(expr, Near):
        yield expr
    elif not isinstance(expr, Not):
        for child in _children(expr):
            yield from positive_nears(child)


def expand_refs(expr: Expr, expansions: dict[str, tuple[str, ...]]) -> Expr:
    """`expr` with every `@id` that `expansions` knows replaced by the OR of its members.

    `expansions` maps a group id to its members as resolved references ("@actor",
    "#theme"; nested groups already expanded). A group inside an OR is spliced into it, so
    `@a NEAR/5 (@group OR @b)` stays a NEAR of plain OR-groups. Offsets of the new
    references are the group reference's, so messages point at what the operator wrote.
    """
    if isinstance(expr, ActorRef):
        members = expansions.get(expr.id)
        if members is None:
            return expr
        refs = tuple(_member_ref(member, expr.offset) for member in members)
        return refs[0] if len(refs) == 1 else Or(refs, expr.offset)
    if isinstance(expr, (And, Or)):
        children: list[Expr] = []
        for child in expr.children:
            new = expand_refs(child, expansions)
            if isinstance(expr, Or) and isinstance(new, Or):
                children.extend(new.children)
            else:
                children.append(new)
        return type(expr)(tuple(children), expr.offset)
    if isinstance(expr, Not):
        return Not(expand_refs(expr.child, expansions), expr.offset)
    if isinstance(expr, Near):
        return Near(expand_refs(expr.left, expansions), expand_refs(expr.right, expansions),
                    expr.distance, expr.offset, expr.operator_offset)
    if isinstance(expr, Field):
        return Field(expr.field, expand_refs(expr.child, expansions), expr.offset)
    return expr


def _member_ref(member: str, offset: int) -> Expr:
    return ActorRef(member[1:], offset) if member[0] == "@" else ThemeRef(member[1:], offset)
