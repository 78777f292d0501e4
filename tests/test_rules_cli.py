"""`monitor rules validate|test` and `monitor match`, driven the way a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.rules.commands import match_command, rules_group

RULES = """\
actors:
  - id: hamas
    aliases: [Hamas, Хамас~]
  - id: russia
    aliases: [Russia, Moscow, Москв~]
    exclude: ["Moscow, Idaho"]
themes:
  - id: contacts
    terms: [talks, visit*, delegation]
watches:
  - id: russia-hamas-contacts
    priority: high
    query: '@russia AND @hamas AND #contacts'
    examples:
      match: ["Hamas delegation visits Moscow"]
      no_match: ["Moscow, Idaho: Hamas fan club talks"]
  - id: hamas-any
    priority: low
    query: '@hamas'
    examples:
      match: ["Хамаса"]
"""


@pytest.fixture
def cli() -> click.Group:
    """The commands as monitor/cli.py registers them."""
    group = click.Group("monitor")
    group.add_command(rules_group)
    group.add_command(match_command)
    return group


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "rules.yaml").write_text(RULES, encoding="utf-8")
    return directory


def test_validate_prints_counts_when_the_rules_are_valid(cli, rules_dir):
    result = CliRunner().invoke(cli, ["rules", "validate", str(rules_dir)])
    assert result.exit_code == 0, result.output
    assert result.output == "ok: 2 actors, 1 themes, 2 watches\n"


def test_validate_defaults_to_the_rules_directory(cli, rules_dir, monkeypatch):
    monkeypatch.chdir(rules_dir.parent)
    result = CliRunner().invoke(cli, ["rules", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 2 actors")


def test_validate_prints_every_error_as_file_line_column_and_exits_2(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("watches:\n  - id: w\n    priority: urgent\n    query: 'a AND b OR c'\n")
    result = CliRunner().invoke(cli, ["rules", "validate", str(bad)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{bad}:3:15: watch 'w' priority must be one of low, normal, high, critical "
        "(got 'urgent')",
        f"{bad}:4:21: mixing AND and OR needs parentheses: write (a AND b) OR c or "
        "a AND (b OR c)",
    ]
    assert "2 problems found" in result.stderr


def test_validate_of_a_missing_path_exits_2(cli, tmp_path):
    result = CliRunner().invoke(cli, ["rules", "validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or directory" in result.output


def test_test_passes_when_every_example_agrees(cli, rules_dir):
    result = CliRunner().invoke(cli, ["rules", "test", str(rules_dir)])
    assert result.exit_code == 0, result.output
    assert result.output == "ok: 3 examples passed in 2 watches\n"


def test_test_prints_failures_with_the_matched_terms_and_exits_1(cli, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace('no_match: ["Moscow, Idaho: Hamas fan club talks"]',
                                  'no_match: ["Hamas talks in Moscow"]'), encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "test", str(path)])
    assert result.exit_code == 1
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("FAIL")]
    assert f"{path}:16:" in line
    assert "watch 'russia-hamas-contacts' should not match but does" in line
    assert "'Hamas' [Hamas @hamas, title]" in line
    assert "'talks' [talks #contacts, title]" in line
    assert "'Moscow' [Moscow @russia, title]" in line
    assert "1 of 3 examples failed" in result.stderr


def test_test_exits_2_when_the_rules_do_not_load(cli, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("watches:\n  - id: w\n    query: '@nobody'\n")
    result = CliRunner().invoke(cli, ["rules", "test", str(path)])
    assert result.exit_code == 2
    assert "unknown actor or group '@nobody'" in result.output


ITEMS = [
    {"id": "a1", "title": "Hamas delegation in Moscow",
     "summary": "<p>The <b>talks</b> lasted two days.</p>", "url": "https://x.example/1"},
    {"id": "a2", "title": "Bahamas tourism", "summary": "Beaches."},
    {"id": "a3", "title": "Делегация ХАМАС", "summary": "", "content":
     "<div>Переговоры в Москве, визит продолжится &amp; talks</div>", "lang": "ru"},
    {"id": "a4", "title": "Police in Moscow, Idaho", "summary": "Hamas fan club talks"},
]


def _lines(items: list[dict[str, object]]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def test_match_prints_one_json_line_per_hit(cli, rules_dir, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text(_lines(ITEMS), encoding="utf-8")
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input",
                                      str(items)])
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits == [
        {"id": "a1", "watch": "russia-hamas-contacts", "priority": "high",
         "terms": ["Hamas", "delegation", "Moscow", "talks"]},
        {"id": "a1", "watch": "hamas-any", "priority": "low", "terms": ["Hamas"]},
        {"id": "a3", "watch": "russia-hamas-contacts", "priority": "high",
         "terms": ["Хамас~", "Москв~", "talks"]},
        {"id": "a3", "watch": "hamas-any", "priority": "low", "terms": ["Хамас~"]},
        {"id": "a4", "watch": "hamas-any", "priority": "low", "terms": ["Hamas"]},
    ]


def test_match_reads_stdin_with_a_dash(cli, rules_dir):
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input", "-"],
                                input=_lines(ITEMS[:2]) + "\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a1", "a1"]


def test_match_rejects_a_line_that_is_not_json(cli, rules_dir):
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input", "-"],
                                input=_lines(ITEMS[:1]) + "{not json\n")
    assert result.exit_code == 1
    assert "<stdin>:2: not a JSON object" in result.output


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "a", "lang": 3}', "<stdin>:2: 'lang' must be a string or null, got 3"),
    ('{"id": "a", "title": ["Hamas"]}',
     "<stdin>:2: 'title' must be a string or null, got an array"),
    ('{"id": "a", "summary": {"text": "Hamas"}}',
     "<stdin>:2: 'summary' must be a string or null, got an object"),
    ('{"id": "a", "source": false}', "<stdin>:2: 'source' must be a string or null, got false"),
    ('{"id": 2.5}', "<stdin>:2: 'id' must be a string or a whole number, got 2.5"),
    ('{"id": "a", "title": "Hamas \\ud800"}', "<stdin>:2: 'title' holds an unpaired surrogate"),
    ('{"id": "\\udc00"}', "<stdin>:2: 'id' holds an unpaired surrogate"),
])
def test_match_rejects_a_field_of_the_wrong_type(cli, rules_dir, line, message):
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input", "-"],
                                input=_lines(ITEMS[:1]) + line + "\n")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_match_takes_a_numeric_id_and_null_fields(cli, rules_dir):
    line = json.dumps({"id": 7, "title": ITEMS[0]["title"], "summary": None, "lang": None})
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input", "-"],
                                input=line + "\n")
    assert result.exit_code == 0, result.output
    assert {json.loads(out)["id"] for out in result.stdout.splitlines()} == {"7"}


def test_match_skips_a_byte_order_mark_and_takes_crlf_lines(cli, rules_dir):
    data = b"\xef\xbb\xbf" + _lines(ITEMS[:2]).replace("\n", "\r\n").encode("utf-8")
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input", "-"],
                                input=data)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a1", "a1"]


def test_match_names_the_line_that_is_not_utf8(cli, rules_dir):
    # Long enough good lines before it that a decoder reading ahead would fail early.
    good = _lines(ITEMS[:1] * 2000).encode("utf-8")
    data = good + b'{"id": "x", "title": "Hamas \xff"}\n'
    result = CliRunner().invoke(cli, ["match", "--rules", str(rules_dir), "--input", "-"],
                                input=data)
    assert result.exit_code == 1
    assert "<stdin>:2001: not UTF-8 text (byte 29 of the line)" in result.output
    assert "Traceback" not in result.output


def test_match_with_invalid_rules_exits_with_the_rule_error(cli, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("watches:\n  - id: w\n    query: 'NOT x'\n")
    result = CliRunner().invoke(cli, ["match", "--rules", str(path), "--input", "-"],
                                input="")
    assert result.exit_code == 1
    assert f"{path}:3:13: a query must have at least one positive term" in result.output
