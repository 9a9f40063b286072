"""Workflow definitions: loading, and the precise errors a bad file gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from maestro_helix.core.errors import WorkflowDefinitionError
from maestro_helix.core.workflow import (
    Catalog,
    Unresolved,
    check_definition,
    load_definition_file,
    parse_definition,
    render,
)

CATALOG = Catalog(
    capabilities=frozenset({"research", "analysis", "synthesis"}),
    agents=frozenset({"writer"}),
    action_types=frozenset({"email.send"}),
    evaluators=frozenset({"tone"}),
)

GOOD = """
name: flow
steps:
  - id: research
    capability: research
    input: {topic: "${input.topic}"}
  - id: analysis
    capability: analysis
    input: {findings: "${steps.research.findings}"}
  - id: synthesis
    capability: synthesis
    input: {text: "About ${input.topic}: ${steps.analysis.text}"}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_yaml_file_loads_and_checks(tmp_path: Path) -> None:
    defn = load_definition_file(write(tmp_path, "flow.yaml", GOOD))
    check_definition(defn, CATALOG, "flow.yaml")
    assert [s.id for s in defn.steps] == ["research", "analysis", "synthesis"]


def test_json_file_loads(tmp_path: Path) -> None:
    p = write(
        tmp_path, "flow.json", '{"name": "f", "steps": [{"id": "a", "capability": "research"}]}'
    )
    assert load_definition_file(p).steps[0].capability == "research"


def test_unknown_capability_names_file_field_and_known_names(tmp_path: Path) -> None:
    text = GOOD.replace("capability: synthesis", "capability: sumarize")
    defn = load_definition_file(write(tmp_path, "flow.yaml", text))
    with pytest.raises(WorkflowDefinitionError) as e:
        check_definition(defn, CATALOG, "flow.yaml")
    assert str(e.value) == (
        "flow.yaml: steps[2].capability: unknown capability 'sumarize' "
        "(known: analysis, research, synthesis)"
    )


def test_reference_to_a_later_step_is_refused() -> None:
    defn = parse_definition(
        {
            "name": "f",
            "steps": [
                {"id": "a", "capability": "research", "input": {"x": "${steps.b.text}"}},
                {"id": "b", "capability": "analysis"},
            ],
        }
    )
    with pytest.raises(WorkflowDefinitionError) as e:
        check_definition(defn, CATALOG, "f.yaml")
    assert "steps[0].input.x" in str(e.value)
    assert "does not run before it" in str(e.value)


def test_reference_to_unknown_step_is_refused() -> None:
    defn = parse_definition(
        {
            "name": "f",
            "steps": [{"id": "a", "capability": "research", "task": "use ${steps.zzz.text}"}],
        }
    )
    with pytest.raises(WorkflowDefinitionError, match=r"steps\[0\]\.task: reference to unknown"):
        check_definition(defn, CATALOG)


def test_unknown_field_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("  - id: analysis\n", "  - id: analysis\n    capabilty: x\n")
    with pytest.raises(WorkflowDefinitionError) as e:
        load_definition_file(write(tmp_path, "flow.yaml", text))
    assert "flow.yaml: steps[1].capabilty: unknown field" in str(e.value)


def test_step_needs_exactly_one_target() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"steps\[0\]: give exactly one of"):
        parse_definition({"name": "f", "steps": [{"id": "a"}]}, "f.yaml")


def test_bad_threshold_is_named() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"f.yaml: steps\[0\]\.gate\.min_qsr"):
        parse_definition(
            {
                "name": "f",
                "steps": [{"id": "a", "capability": "research", "gate": {"min_qsr": 1.5}}],
            },
            "f.yaml",
        )


def test_duplicate_step_ids_are_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="used twice"):
        parse_definition(
            {
                "name": "f",
                "steps": [
                    {"id": "a", "capability": "research"},
                    {"id": "a", "capability": "analysis"},
                ],
            }
        )


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    with pytest.raises(
        WorkflowDefinitionError, match=r"flow.yaml: line \d+ column \d+: invalid YAML"
    ):
        load_definition_file(write(tmp_path, "flow.yaml", "name: f\nsteps: [\n  - id: a\n"))


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(WorkflowDefinitionError, match="file not found"):
        load_definition_file(tmp_path / "nope.yaml")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(WorkflowDefinitionError, match="expected a mapping"):
        load_definition_file(write(tmp_path, "flow.yaml", "- a\n- b\n"))


def test_all_problems_reported_together() -> None:
    defn = parse_definition(
        {
            "name": "f",
            "steps": [
                {"id": "a", "capability": "nope"},
                {"id": "b", "agent": "ghost", "actions": ["x.y"]},
            ],
        }
    )
    with pytest.raises(WorkflowDefinitionError) as e:
        check_definition(defn, CATALOG, "f.yaml")
    assert len(e.value.errors) == 3


def test_unknown_evaluator_and_action_are_named() -> None:
    defn = parse_definition(
        {
            "name": "f",
            "steps": [
                {
                    "id": "a",
                    "capability": "research",
                    "evaluators": ["tonne"],
                    "actions": ["mail.send"],
                }
            ],
        }
    )
    with pytest.raises(WorkflowDefinitionError) as e:
        check_definition(defn, CATALOG, "f.yaml")
    text = str(e.value)
    assert "steps[0].evaluators[0]: unknown evaluator 'tonne' (known: tone)" in text
    assert "steps[0].actions[0]: unknown action type 'mail.send' (known: email.send)" in text


def test_render_keeps_type_of_whole_reference_and_interpolates_text() -> None:
    scope = {"input": {"n": 3, "topic": "tea"}, "steps": {"a": {"items": [1, 2]}}}
    assert render("${steps.a.items}", scope) == [1, 2]
    assert render("topic=${input.topic} n=${input.n}", scope) == "topic=tea n=3"


def test_render_optional_reference_is_empty_when_missing() -> None:
    assert render("${input.note?}", {"input": {}}) is None
    assert render("note: ${input.note?}.", {"input": {}}) == "note: ."
    with pytest.raises(Unresolved):
        render("${input.note}", {"input": {}})


def test_digest_ignores_nothing_but_changes_with_content() -> None:
    a = parse_definition({"name": "f", "steps": [{"id": "a", "capability": "research"}]})
    b = parse_definition({"name": "f", "steps": [{"id": "a", "capability": "analysis"}]})
    assert a.digest() != b.digest()
    assert a.digest() == parse_definition(a.canonical()).digest()


@pytest.mark.parametrize("value", [True, 2.5, "2"])
def test_a_gates_attempts_must_be_a_whole_number(value: object) -> None:
    from maestro_helix.core.workflow import GateOverride

    with pytest.raises(ValueError):
        GateOverride.model_validate({"max_attempts": value})


def test_a_gates_attempts_may_be_written_as_a_whole_float() -> None:
    """JSON Schema counts 1.0 as an integer; the API's clients (and YAML) may send it so."""
    from maestro_helix.core.workflow import GateOverride

    assert GateOverride.model_validate({"max_attempts": 2.0}).max_attempts == 2
