"""Workflow files are parsed with limits: an alias bomb, deep nesting, too many aliases or a huge
file fail at once with the file, the place and the reason; ordinary anchors still work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_helix.cli.main import app
from maestro_helix.core.configfile import MAX_ALIASES, MAX_DEPTH, load_yaml
from maestro_helix.core.errors import ConfigError, WorkflowDefinitionError
from maestro_helix.core.workflow import load_definition_file


def alias_bomb() -> str:
    """The classic "billion laughs": nine levels of nine aliases each, about 560 bytes."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("name: bomb")
    lines.append("steps: [{id: s, capability: research, input: {x: *a9}}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_fails_fast_naming_file_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert 500 <= path.stat().st_size <= 700
    t0 = time.perf_counter()
    with pytest.raises(WorkflowDefinitionError) as err:
        load_definition_file(path)
    assert time.perf_counter() - t0 < 1.0
    text = str(err.value)
    assert "bomb.yaml" in text and "aliases" in text and "line " in text


def test_the_cli_refuses_the_bomb_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    r = CliRunner().invoke(app, ["run", str(path), "--input", "{}", "--db", str(tmp_path / "x.db")])
    assert r.exit_code == 2
    assert "bomb.yaml" in r.output and "alias" in r.output


def test_deep_nesting_is_refused_with_its_line() -> None:
    text = "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_DEPTH} levels") as err:
        load_yaml(text, "deep.yaml")
    assert err.value.source == "deep.yaml" and err.value.path.startswith("line 1 column")


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(ConfigError, match=f"more than {MAX_ALIASES} aliases"):
        load_yaml(text, "many.yaml")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\n# " + "x" * (2 << 20) + "\n")
    with pytest.raises(WorkflowDefinitionError, match="larger than 1024 KiB"):
        load_definition_file(path)


def test_ordinary_anchors_still_load(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "name: shared\n"
        "x-expect: &expect {mentions: ['${input.topic}'], min_length: 10}\n"
        "steps:\n"
        "  - {id: a, capability: research, input: {topic: '${input.topic}'}, expect: *expect}\n"
        "  - {id: b, capability: research, input: {topic: '${input.topic}'}, expect: *expect}\n"
    )
    data = load_yaml(path.read_text(), "flow.yaml")
    assert data["steps"][0]["expect"] == data["steps"][1]["expect"]


def test_invalid_yaml_still_names_line_and_column() -> None:
    with pytest.raises(ConfigError, match="invalid YAML") as err:
        load_yaml("a: [1, 2\nb: 3\n", "broken.yaml")
    assert err.value.path.startswith("line ")
