"""The rule files and the query language: what parses, and every error with its position."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rules import (
    Document,
    compile_rules,
    load_rules,
    parse_query,
    validate_rules,
)
from monitor.rules.loading import load_rules_with_errors
from monitor.rules.query import And, Field, Meta, Near, Not, Or, QueryError, Term

HEADER = """\
actors:
  - id: hamas
    aliases: [Hamas]
  - id: russia
    aliases: [Russia]
themes:
  - id: talks
    terms: [talks]
watches:
  - id: w
    query: '{query}'
"""
QUERY_LINE = 11
QUERY_COLUMN = len("    query: '") + 1  # column of the query's first character


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def query_error(tmp_path: Path, query: str) -> RuleError:
    path = write(tmp_path, HEADER.format(query=query))
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    return caught.value


# --- queries that parse ----------------------------------------------------------------------

def test_and_or_not_and_parentheses_build_the_expected_tree():
    expr = parse_query('@russia AND (@hamas OR "Islamic Jihad") AND NOT #talks')
    assert isinstance(expr, And)
    assert isinstance(expr.children[1], Or)
    assert isinstance(expr.children[2], Not)


def test_a_not_b_means_a_and_not_b():
    expr = parse_query("Hamas NOT Bahamas")
    assert isinstance(expr, And)
    assert isinstance(expr.children[1], Not)
    chained = parse_query("Hamas NOT Bahamas NOT Nassau")
    assert isinstance(chained, And)
    assert [type(c) for c in chained.children] == [Term, Not, Not]


def test_near_takes_terms_references_and_or_groups():
    expr = parse_query("Lavrov NEAR/5 (@hamas OR Hamas OR sanction*)")
    assert isinstance(expr, Near) and expr.distance == 5
    assert isinstance(expr.right, Or)


def test_field_scopes_apply_to_a_term_or_a_group():
    expr = parse_query('title:(Hamas OR "Islamic Jihad") AND body:Moscow')
    assert isinstance(expr, And)
    assert isinstance(expr.children[0], Field) and expr.children[0].field == "title"
    assert isinstance(expr.children[1], Field) and expr.children[1].field == "body"


def test_source_site_and_lang_filters_take_one_value_or_an_or_list():
    expr = parse_query('Hamas AND site:(tass.com OR ria.ru) AND source:"Moscow Times" '
                       "AND lang:RU")
    metas = [c for c in expr.children if isinstance(c, Meta)]
    assert metas[0].field == "source" and metas[0].values == ("tass.com", "ria.ru")
    assert metas[1].values == ("Moscow Times",)
    assert metas[2].field == "lang" and metas[2].values == ("ru",)


def test_phrases_wildcards_and_declension_marks_are_terms():
    expr = parse_query('"humanitarian pause*" OR sanction* OR Лавров~ OR российск~~')
    forms = [c.pattern.form for c in expr.children if isinstance(c, Term)]
    assert forms == ["prefix", "prefix", "noun", "adjective"]


def test_a_bare_hyphenated_word_is_a_phrase():
    expr = parse_query("cease-fire")
    assert isinstance(expr, Term) and expr.pattern.words == "cease fire"


# --- every query error, with its line and column ---------------------------------------------

QUERY_ERRORS = [
    # (query, offset of the reported position, message)
    ("   ", 0, "the query is empty"),
    ("Hamas AND Russia OR talks", 17,
     "mixing AND and OR needs parentheses: write (a AND b) OR c or a AND (b OR c)"),
    ("Hamas OR Russia NOT talks", 16,
     "mixing AND and OR needs parentheses: write (a AND b) OR c or a AND (b OR c)"),
    ("Hamas Moscow", 6,
     "expected AND, OR or NOT between 'Hamas' and 'Moscow': write Hamas AND Moscow, or "
     '"Hamas Moscow" in quotes for a phrase'),
    ("@hamas @russia", 7,
     "expected AND, OR or NOT before '@russia' (or quotes around a phrase)"),
    ("Hamas and Russia", 6,
     "operators are upper-case: write AND, not 'and' (or \"and\" in quotes to match the "
     "word)"),
    ("Hamas)", 5, "unmatched ')'"),
    ("(Hamas OR Russia", 0, "unclosed '(': expected ')' before the end of the query"),
    ('"Hamas delegation', 0, 'unterminated phrase: expected a closing "'),
    ('Hamas AND ""', 10, 'empty phrase ""'),
    ("Hamas NEAR Russia", 6, "NEAR needs a distance in words: write NEAR/5"),
    ("Hamas NEAR/x Russia", 6, "NEAR needs a distance in words: write NEAR/5"),
    ("Hamas NEAR/0 Russia", 6, "NEAR/0: the distance must be between 1 and 50 words"),
    ("Hamas NEAR/51 Russia", 6, "NEAR/51: the distance must be between 1 and 50 words"),
    ("Hamas NEAR/5 (Russia AND talks)", 14,
     "NEAR joins a term, phrase, wildcard, @actor, #theme or a parenthesised OR-group of "
     "those, not an AND-group"),
    ("Hamas NEAR/5 (Russia OR (a AND b))", 14,
     "NEAR joins a term, phrase, wildcard, @actor, #theme or a parenthesised OR-group of "
     "those, not an OR-group containing an AND-group"),
    ("title:Hamas NEAR/5 Russia", 0,
     "NEAR joins a term, phrase, wildcard, @actor, #theme or a parenthesised OR-group of "
     "those, not a 'title:' scope (put the scope around the whole NEAR)"),
    ("Hamas NEAR/5 (NOT Russia)", 14,
     "NEAR joins a term, phrase, wildcard, @actor, #theme or a parenthesised OR-group of "
     "those, not NOT"),
    ("Hamas NEAR/5 lang:ru", 13,
     "NEAR joins a term, phrase, wildcard, @actor, #theme or a parenthesised OR-group of "
     "those, not a 'lang:' filter"),
    ("Hamas NEAR/5 Russia NEAR/5 talks", 20,
     "NEAR cannot be chained: write (a NEAR/5 b) AND (b NEAR/5 c)"),
    ("@Hamas", 0,
     "invalid actor reference '@Hamas': ids are lower-case letters, digits, '_' and '-'"),
    ("#Talks", 0,
     "invalid theme reference '#Talks': ids are lower-case letters, digits, '_' and '-'"),
    ("Hamas AND @", 10, "expected an actor id after '@'"),
    ("Hamas AND #", 10, "expected a theme id after '#'"),
    ("headline:Hamas", 0,
     "unknown field 'headline:': fields are title:, body:, source:, site: and lang: (put "
     "text containing ':' in quotes)"),
    ("title:(Hamas OR body:Russia)", 16,
     "field scopes cannot be nested: 'title:' contains another field scope"),
    ("Hamas AND site:", 15,
     "expected a source name or web host (e.g. site:tass.com) after 'site:', found the end "
     "of the query"),
    ("Hamas AND lang:russian", 15,
     "'russian' is not a language code: use ISO 639 codes such as ru, ar, en"),
    ("Hamas AND site:(tass.com AND ria.ru)", 25,
     "inside 'site:(...)' values are joined by OR, found 'AND'"),
    ("Hamas AND site:(@hamas)", 16,
     "expected a source name or web host (e.g. site:tass.com) inside 'site:(...)', found "
     "'@hamas'"),
    ("AND Hamas", 0,
     "expected a term, phrase, @actor, #theme or '(' at the start of the query, found 'AND'"),
    ("Hamas AND", 9, "expected a term, phrase, @actor, #theme or '(' after AND"),
    ("Hamas OR", 8, "expected a term, phrase, @actor, #theme or '(' after OR"),
    ("Hamas AND NOT", 13, "expected a term, phrase, @actor, #theme or '(' after NOT"),
    ("Hamas AND (", 11, "expected a term, phrase, @actor, #theme or '(' after '('"),
    ("Hamas NEAR/3", 12, "expected a term, phrase, @actor, #theme or '(' after NEAR/3"),
    ("title:", 6, "expected a term, phrase, @actor, #theme or '(' after 'title:'"),
    ("Hamas AND ()", 10, "empty parentheses '()'"),
    ("NOT Hamas", 0,
     "a query must have at least one positive term (a word, phrase, @actor or #theme not "
     "under NOT), in every OR alternative"),
    ("Hamas OR NOT Russia", 9,
     "a query must have at least one positive term (a word, phrase, @actor or #theme not "
     "under NOT), in every OR alternative"),
    ("lang:ru", 0,
     "a query must have at least one positive term (a word, phrase, @actor or #theme not "
     "under NOT), in every OR alternative"),
    ("Hamas AND sa*", 10,
     "a wildcard needs at least 3 letters before *: 'sa*' would match too many words"),
    ("Hamas AND sanc*ion", 14,
     "a wildcard * may only end the last word, as in 'sanction*' or 'Лавров~'"),
    ('Hamas AND "Gaza *"', 16,
     "'*' must follow a letter or digit, with no space or punctuation before it"),
    ("Hamas AND Lavrov~", 16,
     "the declension mark ~ only follows a Cyrillic stem, as in 'Лавров~'; list other "
     "spellings as separate aliases"),
    ("Hamas AND !!!", 10, "'!!!' has no letters or digits to match"),
]


@pytest.mark.parametrize(("query", "offset", "message"), QUERY_ERRORS,
                         ids=[q for q, _o, _m in QUERY_ERRORS])
def test_query_error_names_file_line_column_and_what_was_expected(tmp_path, query, offset,
                                                                   message):
    error = query_error(tmp_path, query)
    assert error.reason == message
    assert (error.path, error.line, error.column) == (
        str(tmp_path / "rules.yaml"), QUERY_LINE, QUERY_COLUMN + offset)
    assert str(error).startswith(f"{tmp_path / 'rules.yaml'}:{QUERY_LINE}:")


def test_parse_query_reports_the_offset_without_a_file():
    with pytest.raises(QueryError) as caught:
        parse_query("Hamas AND Russia OR talks")
    assert caught.value.offset == 17


def test_query_error_in_a_folded_block_scalar_points_at_the_right_line(tmp_path):
    path = write(tmp_path, """\
actors:
  - id: hamas
    aliases: [Hamas]
watches:
  - id: w
    query: >
      @hamas AND
      Moscow OR Gaza
""")
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert (caught.value.line, caught.value.column) == (8, 14)
    assert caught.value.reason.startswith("mixing AND and OR")


def test_query_error_in_a_double_quoted_scalar_accounts_for_escapes(tmp_path):
    path = write(tmp_path, 'watches:\n  - id: w\n    query: "Hamas AND \\"Gaza"\n')
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert caught.value.reason == 'unterminated phrase: expected a closing "'
    assert (caught.value.line, caught.value.column) == (3, 24)  # the " after the backslash


# --- references ------------------------------------------------------------------------------

def test_unknown_actor_in_a_query_is_reported_where_it_is_with_a_suggestion(tmp_path):
    error = query_error(tmp_path, "@russia AND @hamass")
    assert error.reason == "unknown actor or group '@hamass' (did you mean 'hamas'?)"
    assert (error.line, error.column) == (QUERY_LINE, QUERY_COLUMN + 12)


def test_unknown_theme_in_a_query_is_reported(tmp_path):
    error = query_error(tmp_path, "@russia AND #contacts")
    assert error.reason == "unknown theme '#contacts'"
    assert (error.line, error.column) == (QUERY_LINE, QUERY_COLUMN + 12)


def test_references_work_across_files(tmp_path):
    write(tmp_path, "actors:\n  - id: hamas\n    aliases: [Hamas]\n", "a-actors.yaml")
    write(tmp_path, "watches:\n  - id: w\n    query: '@hamas'\n", "b-watches.yaml")
    rules = load_rules([tmp_path])
    assert [w.id for w in rules.watches] == ["w"]
    assert rules.files == (str(tmp_path / "a-actors.yaml"), str(tmp_path / "b-watches.yaml"))


def test_unknown_reference_in_a_context_is_reported(tmp_path):
    path = write(tmp_path, """\
actors:
  - id: hamas
    aliases: [Hamas, {text: Sinwar, weak: true}]
    context: ["@gaza", "#war"]
""")
    errors = validate_rules([path])
    assert [(e.line, e.column, e.reason) for e in errors] == [
        (4, 15, "unknown actor '@gaza' in the context of 'hamas'"),
        (4, 24, "unknown theme '#war' in the context of 'hamas'"),
    ]


def test_context_references_may_not_form_a_cycle(tmp_path):
    path = write(tmp_path, """\
actors:
  - id: a
    aliases: [{text: Alpha, weak: true}]
    context: ["@b"]
  - id: b
    aliases: [{text: Beta, weak: true}]
    context: ["@a"]
""")
    errors = validate_rules([path])
    assert len(errors) == 1
    assert errors[0].reason == "context references form a cycle: @a → @b → @a"
    assert (errors[0].line, errors[0].column) == (7, 15)


# --- groups ----------------------------------------------------------------------------------

GROUP_ACTORS = """\
actors:
  - {id: russia, aliases: [Russia, Moscow]}
  - {id: kremlin, aliases: [Kremlin]}
  - {id: lavrov, aliases: [Lavrov]}
  - {id: hamas, aliases: [Hamas]}
themes:
  - {id: war, terms: [war, airstrike*]}
"""


def with_groups(tmp_path: Path, rest: str) -> Path:
    """A rule file of GROUP_ACTORS followed by `rest` (groups and watches)."""
    return write(tmp_path, GROUP_ACTORS + rest)


def test_a_group_stands_for_the_or_of_its_members_nested_groups_included(tmp_path):
    path = with_groups(tmp_path, """\
groups:
  - id: officials
    members: ["@kremlin", "@lavrov"]
  - id: russian-side
    name: Russia and its officials
    members: ["@russia", "@officials", "@kremlin"]
watches:
  - id: w
    query: '@russian-side NEAR/3 (@hamas OR #war)'
""")
    rules = load_rules([path])
    assert [(g.id, g.members) for g in rules.groups] == [
        ("officials", ("@kremlin", "@lavrov")),
        ("russian-side", ("@russia", "@officials", "@kremlin"))]
    assert rules.group_by_id["russian-side"].name == "Russia and its officials"
    near = rules.watch_by_id["w"].expr
    assert isinstance(near, Near)
    # Nested groups are written out, each actor once, in the order written.
    assert [c.id for c in near.left.children] == ["russia", "kremlin", "lavrov"]
    assert rules.watch_by_id["w"].query == "@russian-side NEAR/3 (@hamas OR #war)"


def test_a_group_inside_an_or_is_spliced_into_it(tmp_path):
    path = with_groups(tmp_path, """\
groups:
  - {id: both, members: ["@russia", "#war"]}
watches:
  - {id: w, query: '@hamas NEAR/5 (@lavrov OR @both)'}
""")
    right = load_rules([path]).watch_by_id["w"].expr.right
    assert [type(c).__name__ for c in right.children] == ["ActorRef", "ActorRef", "ThemeRef"]


def test_group_errors_name_the_member_and_keep_the_watch_out(tmp_path):
    path = with_groups(tmp_path, """\
groups:
  - id: side
    members: ["@russia", "@kremlim", "#wars"]
  - id: hamas
    members: ["@russia"]
watches:
  - {id: w, query: '@side AND @hamas'}
  - {id: ok, query: '@russia'}
""")
    errors = validate_rules([path])
    assert [(e.line, e.column, e.reason) for e in errors] == [
        (10, 26, "unknown actor or group '@kremlim' in group 'side' (did you mean 'kremlin'?)"),
        (10, 38, "unknown theme '#wars' in group 'side' (did you mean 'war'?)"),
        (11, 9, "group id 'hamas' is also an actor id: '@hamas' in a query would be "
                "ambiguous; rename one of them"),
    ]
    rules, _errors = load_rules_with_errors([path])
    assert [w.id for w in rules.watches] == ["ok"]
    assert [g.id for g in rules.groups] == []


@pytest.mark.parametrize("members", ['[{"@russia": 1}, "@kremlin"]', '"@russia"', "[7, '']"])
def test_group_members_that_are_not_references_are_schema_errors(tmp_path, members):
    path = with_groups(tmp_path, f"""\
groups:
  - id: side
    members: {members}
watches:
  - {{id: w, query: '@side'}}
""")
    errors = validate_rules([path])
    # The schema's errors on the members line, and nothing made of the bad members.
    assert errors and all(e.line == 10 and "members" in e.reason for e in errors), errors
    assert load_rules_with_errors([path])[0].watches == ()


def test_groups_may_not_contain_each_other_in_a_cycle(tmp_path):
    path = with_groups(tmp_path, """\
groups:
  - {id: a, members: ["@russia", "@b"]}
  - {id: b, members: ["@a"]}
watches:
  - {id: w, query: '@a'}
""")
    errors = validate_rules([path])
    assert [e.reason for e in errors] == ["groups contain each other in a cycle: @a → @b → @a"]
    assert load_rules_with_errors([path])[0].watches == ()


def test_a_group_matches_what_its_members_match(tmp_path):
    path = with_groups(tmp_path, """\
groups:
  - {id: side, members: ["@russia", "@kremlin"]}
watches:
  - {id: w, query: '@side AND @hamas'}
""")
    matcher = compile_rules(load_rules([path]))
    hits = matcher.match(Document("d", "Kremlin receives Hamas", ""))
    assert [(h.watch, [(t.text, t.actor) for t in h.terms]) for h in hits] == [
        ("w", [("Kremlin", "kremlin"), ("Hamas", "hamas")])]
    assert matcher.match(Document("d", "Lavrov receives Hamas", "")) == []


def test_weak_aliases_without_context_are_an_error(tmp_path):
    path = write(tmp_path, "actors:\n  - id: a\n    aliases: [{text: Sinwar, weak: true}]\n")
    (error,) = validate_rules([path])
    assert error.reason.startswith("actor 'a' has weak aliases but no context")
    assert (error.line, error.column) == (3, 5)


# --- ids -------------------------------------------------------------------------------------

def test_duplicate_ids_across_files_name_the_first_definition(tmp_path):
    write(tmp_path, "actors:\n  - id: hamas\n    aliases: [Hamas]\n", "a.yaml")
    write(tmp_path, "actors:\n  - id: hamas\n    aliases: [HAMAS]\n", "b.yml")
    (error,) = validate_rules([tmp_path])
    assert error.reason == f"duplicate actor id 'hamas' (first defined at {tmp_path}/a.yaml:2:9)"
    assert (error.path, error.line, error.column) == (str(tmp_path / "b.yml"), 2, 9)


def test_ids_are_per_kind_so_an_actor_and_a_theme_may_share_one(tmp_path):
    path = write(tmp_path, """\
actors:
  - id: ceasefire
    aliases: [Ceasefire Commission]
themes:
  - id: ceasefire
    terms: [ceasefire]
watches:
  - id: ceasefire
    query: '@ceasefire OR #ceasefire'
""")
    assert validate_rules([path]) == []


# --- schema ----------------------------------------------------------------------------------

SCHEMA_ERRORS = [
    ("colour: red\n", 1, 1,
     "unknown key 'colour' in the file (top level); allowed: actors, groups, matching, themes, watches"),
    ("actors:\n  - id: a\n    aliases: [A]\n    colour: red\n", 4, 5,
     "unknown key 'colour' in actor 'a'; allowed: aliases, context, description, exclude, "
     "id, kind, name"),
    ("actors:\n  - id: a\n    aliases: Hamas\n", 3, 14,
     "actor 'a' aliases must be a list, not the string 'Hamas'"),
    ("actors:\n  - id: a\n    aliases: []\n", 3, 14, "actor 'a' aliases must not be empty"),
    ("actors:\n  - id: a\n    aliases: [{txt: A}]\n", 3, 15,
     "actor 'a' aliases[0]: an alias is a string or a mapping {text: ..., weak: true}"),
    ("actors:\n  - id: a\n    kind: company\n    aliases: [A]\n", 3, 11,
     "actor 'a' kind must be one of person, organisation, state, place, group, other (got "
     "'company')"),
    ("actors:\n  - name: A\n    aliases: [A]\n", 2, 5,
     "actor #1 is missing required key 'id'"),
    ("themes:\n  - id: Talks\n    terms: [talks]\n", 2, 9,
     "invalid id 'Talks': ids are lower-case letters, digits, '_' and '-', starting with a "
     "letter or digit"),
    ("watches:\n  - id: w\n    query: Hamas\n    priority: urgent\n", 4, 15,
     "watch 'w' priority must be one of low, normal, high, critical (got 'urgent')"),
    ("watches:\n  - id: w\n    query: Hamas\n    tags: russia\n", 4, 11,
     "watch 'w' tags must be a list, not the string 'russia'"),
    ("watches:\n  - id: w\n    query: 42\n", 3, 12,
     "watch 'w' query must be a string, not the number 42"),
    ("watches:\n  - id: w\n    query: Hamas\n    examples: {match: [42]}\n", 4, 24,
     "watch 'w' examples.match[0]: an example is a string (the title) or a mapping with "
     "title and/or body (and optional source, url, lang)"),
    ("watches:\n  - id: w\n    query: Hamas\n    examples: {hit: [x]}\n", 4, 16,
     "unknown key 'hit' in watch 'w' examples; allowed: match, no_match"),
    ("actors: {id: a}\n", 1, 9, "actors must be a list, not a mapping"),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), SCHEMA_ERRORS,
                         ids=[m[:40] for _t, _l, _c, m in SCHEMA_ERRORS])
def test_schema_error_names_file_line_column(tmp_path, text, line, column, message):
    path = write(tmp_path, text)
    errors = validate_rules([path])
    assert [(e.line, e.column, e.reason) for e in errors] == [(line, column, message)]
    assert errors[0].path == str(path)


def test_yaml_syntax_error_is_reported_with_its_position(tmp_path):
    path = write(tmp_path, "watches:\n  - id: w\n    query: [unclosed\n")
    (error,) = validate_rules([path])
    assert error.reason.startswith("invalid YAML:")
    assert error.path == str(path) and error.line == 4


def test_a_yaml_tag_that_is_not_plain_data_is_refused(tmp_path):
    path = write(tmp_path, "watches:\n  - id: w\n    query: !!python/name:os.system x\n")
    (error,) = validate_rules([path])
    assert error.reason.startswith("invalid YAML: could not determine a constructor")
    assert (error.line, error.column) == (3, 12)


def test_duplicate_yaml_keys_are_an_error_not_silently_overwritten(tmp_path):
    path = write(tmp_path, "watches:\n  - id: w\n    query: Hamas\n    query: Gaza\n")
    (error,) = validate_rules([path])
    assert error.reason == "duplicate key 'query' (first at line 3)"
    assert (error.line, error.column) == (4, 5)


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_bytes("actors: []\n# Хамас\n".encode("cp1251"))
    (error,) = validate_rules([path])
    assert error.path == str(path) and error.reason.startswith("not UTF-8 text")


def test_pattern_error_inside_a_flow_list_points_at_the_character(tmp_path):
    path = write(tmp_path, 'actors:\n  - id: a\n    aliases: [Hamas, "sa*"]\n')
    (error,) = validate_rules([path])
    assert error.reason.startswith("a wildcard needs at least 3 letters")
    assert (error.line, error.column) == (3, 23)


def test_validate_reports_every_error_and_load_raises_the_first(tmp_path):
    path = write(tmp_path, """\
actors:
  - id: a
    aliases: [A]
    colour: red
watches:
  - id: w1
    priority: urgent
    query: '@a AND @b'
  - id: w2
    query: 'x AND y OR z'
""")
    errors = validate_rules([path])
    assert [(e.line, e.reason.split(" ")[0]) for e in errors] == [
        (4, "unknown"), (7, "watch"), (8, "unknown"), (10, "mixing")]
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert caught.value.line == 4


def test_missing_path_and_empty_directory_are_errors(tmp_path):
    with pytest.raises(RuleError, match="no such file or directory"):
        load_rules([tmp_path / "nope.yaml"])
    with pytest.raises(RuleError, match=r"no \*\.yaml or \*\.yml rule files"):
        load_rules([tmp_path])


def test_directories_load_yaml_and_yml_files_in_name_order(tmp_path):
    write(tmp_path, "themes:\n  - id: t2\n    terms: [b]\n", "2.yml")
    write(tmp_path, "themes:\n  - id: t1\n    terms: [a]\n", "1.yaml")
    write(tmp_path, "not: rules\n", "notes.txt")
    assert [t.id for t in load_rules([tmp_path]).themes] == ["t1", "t2"]


def test_defaults_and_origins_are_filled_in(tmp_path):
    path = write(tmp_path, """\
actors:
  - id: hamas
    aliases: [Hamas]
watches:
  - id: w
    query: '@hamas'
    examples:
      match: [Hamas statement]
      no_match: [{title: Bahamas, body: tourism}]
""")
    rules = load_rules([path])
    actor, watch = rules.actors[0], rules.watches[0]
    assert (actor.name, actor.kind) == ("hamas", "other")
    assert (watch.title, watch.priority, watch.tags) == ("w", "normal", ())
    assert str(watch.origin) == f"{path}:5:9"
    assert [(e.expect_match, e.title, e.body) for e in watch.examples] == [
        (True, "Hamas statement", ""), (False, "Bahamas", "tourism")]
    assert rules.actor_by_id["hamas"] is actor


def test_the_shipped_schema_is_the_one_the_loader_uses():
    root = Path(__file__).resolve().parents[1]
    assert (root / "rules" / "schema.json").read_text("utf-8") == \
        (root / "monitor" / "rules" / "schema.json").read_text("utf-8")


# --- matching settings -----------------------------------------------------------------------

def test_matching_body_words_is_read_from_any_one_file(tmp_path):
    write(tmp_path, HEADER.format(query="@hamas"), "a.yaml")
    write(tmp_path, "matching:\n  body_words: 150\n", "b.yaml")
    assert load_rules([tmp_path]).body_words == 150
    assert load_rules([tmp_path / "a.yaml"]).body_words is None


def test_passage_settings_are_read_with_their_default(tmp_path):
    write(tmp_path, HEADER.format(query="@hamas"), "a.yaml")
    write(tmp_path, "matching:\n  passage_words: 24\n", "b.yaml")
    rules = load_rules([tmp_path])
    assert (rules.passage_words, rules.long_body_words) == (24, 100)
    write(tmp_path, "matching:\n  passage_words: 30\n  long_body_words: 250\n", "b.yaml")
    rules = load_rules([tmp_path])
    assert (rules.passage_words, rules.long_body_words) == (30, 250)
    assert load_rules([tmp_path / "a.yaml"]).passage_words is None


@pytest.mark.parametrize("text, reason", [
    ("matching:\n  body_words: 5\n", "5 is less than the minimum of 20"),
    ("matching:\n  passage_words: 3\n", "3 is less than the minimum of 10"),
    ("matching:\n  passage_words: 900\n", "900 is greater than the maximum of 500"),
    ("matching:\n  long_body_words: 0\n", "0 is less than the minimum of 20"),
    ("matching:\n  body_words: many\n", "must be a whole number, not the string 'many'"),
    ("matching:\n  words: 150\n", "unknown key 'words'"),
])
def test_a_bad_matching_setting_is_reported_where_it_is(tmp_path, text, reason):
    write(tmp_path, text)
    (error,) = validate_rules([tmp_path])
    assert reason in error.reason
    assert (error.path, error.line) == (str(tmp_path / "rules.yaml"), 2)
    rules = load_rules_with_errors([tmp_path])[0]
    assert (rules.body_words, rules.passage_words, rules.long_body_words) == (None, None, 100)


def test_two_files_that_disagree_on_body_words_are_an_error(tmp_path):
    write(tmp_path, "matching:\n  body_words: 150\n", "a.yaml")
    write(tmp_path, "matching:\n  body_words: 200\n", "b.yaml")
    (error,) = validate_rules([tmp_path])
    assert error.reason == (f"matching.body_words is 200 here but 150 at {tmp_path}/a.yaml:2:15;"
                            " set it in one file")
    assert (error.path, error.line, error.column) == (str(tmp_path / "b.yaml"), 2, 15)


def test_a_near_wider_than_half_a_passage_is_an_error_unless_under_not(tmp_path):
    write(tmp_path, "matching:\n  passage_words: 24\n", "a.yaml")
    write(tmp_path, HEADER.format(query="@hamas NEAR/13 @russia"), "b.yaml")
    (error,) = validate_rules([tmp_path])
    assert error.reason == (
        "NEAR/13 reaches further than half a passage (matching.passage_words is 24, so only "
        "words up to 12 apart are sure to share one): write NEAR/12 or less, or set "
        "passage_words to 26 or more")
    assert (error.path, error.line, error.column) == (
        str(tmp_path / "b.yaml"), QUERY_LINE, QUERY_COLUMN + len("@hamas "))  # at NEAR/13
    assert load_rules_with_errors([tmp_path])[0].watches == ()
    write(tmp_path, HEADER.format(query="@hamas NEAR/12 @russia AND NOT (talks NEAR/40 @russia)"),
          "b.yaml")
    assert validate_rules([tmp_path]) == []
    (tmp_path / "a.yaml").unlink()  # no passages: any NEAR up to 50
    write(tmp_path, HEADER.format(query="@hamas NEAR/40 @russia"), "b.yaml")
    assert validate_rules([tmp_path]) == []


def test_two_files_that_disagree_on_a_passage_setting_are_an_error(tmp_path):
    write(tmp_path, "matching:\n  passage_words: 24\n", "a.yaml")
    write(tmp_path, "matching:\n  passage_words: 24\n  long_body_words: 80\n", "b.yaml")
    write(tmp_path, "matching:\n  long_body_words: 120\n", "c.yaml")
    (error,) = validate_rules([tmp_path])
    assert error.reason == (f"matching.long_body_words is 120 here but 80 at "
                            f"{tmp_path}/b.yaml:3:20; set it in one file")
    assert (error.path, error.line) == (str(tmp_path / "c.yaml"), 2)
