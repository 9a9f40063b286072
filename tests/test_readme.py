"""The README's first example runs as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).parents[1] / "README.md"


def test_readme_example_runs_and_passes_its_gate(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("completed [('answer'")
    assert "'pass')]" in done.stdout
    assert (tmp_path / "maestro.db").exists()


def test_readme_quick_start_has_exactly_two_setup_commands() -> None:
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "maestro demo" in commands[0] and "pytest" in commands[1]


# -- the rest of the README is true too ----------------------------------------------------------

TEXT = README.read_text()


def block(language: str, first_line: str) -> str:
    """The fenced block of ``language`` whose first line is ``first_line``."""
    for m in re.finditer(rf"```{language}\n(.*?)```", TEXT, re.S):
        if m.group(1).splitlines()[0].strip() == first_line:
            return m.group(1)
    raise AssertionError(f"no ```{language} block starting with {first_line!r}")


def commands() -> dict[str, set[str]]:
    """Every ``maestro`` command path, with its ``--`` options."""
    import typer.main

    from maestro_helix.cli.main import app

    found: dict[str, set[str]] = {}

    def walk(cmd: Any, path: list[str]) -> None:  # typer's own click types
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = {o for p in cmd.params for o in p.opts if o.startswith("--")}

    walk(typer.main.get_command(app), [])
    return found


def table_rows() -> list[str]:
    section = TEXT.split("## Command line", 1)[1].split("\n\n", 2)[1]
    return [line for line in section.splitlines() if line.startswith("| `maestro")]


def test_the_command_table_lists_every_command() -> None:
    rows = "\n".join(table_rows())
    missing = [path for path in commands() if not re.search(rf"\b{re.escape(path)}\b", rows)]
    assert not missing, f"commands missing from the README's table: {missing}"


def test_every_option_in_the_command_table_exists() -> None:
    known = commands()
    for row in table_rows():
        named = [p for p in known if re.search(rf"\b{re.escape(p)}\b", row.split("|")[1])]
        options = set().union(*(known[p] for p in named)) | {"--version"}
        for flag in re.findall(r"--[a-z][a-z-]*", row.split("|")[1]):
            assert flag in options, f"{flag} in {row!r} is not an option of {named}"


def test_the_app_rule_names_exactly_the_commands_that_take_app() -> None:
    para = TEXT.split("**One app and one policy for every command.**", 1)[1].split("\n\n")[0]
    listed = para.split("GIL policy from `--policy`:", 1)[1].split(". Give them", 1)[0]
    named = set(re.findall(r"`([a-z ]+)`", listed))
    taking_app = {path for path, opts in commands().items() if "--app" in opts}
    assert named == taking_app
    # `policy apply` takes --app to check the policy against the app's action types; the policy
    # it applies is its FILE, and gates are not its business
    assert all({"--gates", "--policy"} <= commands()[p] for p in taking_app - {"policy apply"})


def test_the_policy_table_is_the_policy_model() -> None:
    from maestro_helix.governance.policy import GovernancePolicy

    section = TEXT.split("## The policy file", 1)[1].split("\n\n", 2)[1]
    rows = [r.split("|")[1:3] for r in section.splitlines() if r.startswith("| `")]
    documented = {name.strip().strip("`"): default.strip() for name, default in rows}
    assert set(documented) == set(GovernancePolicy.model_fields)
    defaults = GovernancePolicy().model_dump(mode="json")
    for name, default in documented.items():
        assert json.loads(default.strip("`")) == defaults[name], name


def run_shell_line(line: str, env: dict[str, str]) -> str:
    """One ``maestro ...`` line of a console block, through Typer's runner (in this process,
    in the current folder), with the line's own ``VAR=value`` prefixes."""
    from typer.testing import CliRunner

    from maestro_helix.cli.main import app

    args = shlex.split(line.split("#", 1)[0])
    assigns = dict(a.split("=", 1) for a in args if re.fullmatch(r"[A-Z_]+=.*", a))
    argv = [a for a in args if a not in {f"{k}={v}" for k, v in assigns.items()}]
    assert argv[0] == "maestro", line
    done = CliRunner().invoke(app, argv[1:], env={**env, **assigns})
    assert done.exit_code == 0, (line, done.output)
    return done.output


@pytest.fixture(scope="module")
def refund_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The app module, the workflow file and the console session of the README, run as written
    (tokens and the request id filled in from the commands' own output)."""
    tmp_path = tmp_path_factory.mktemp("refunds")
    first = "# refunds_app.py: use it with --app refunds_app:app (or MAESTRO_APP=refunds_app:app)"
    (tmp_path / "refunds_app.py").write_text(block("python", first))
    (tmp_path / "refund.yaml").write_text(block("yaml", "# refund.yaml"))
    session = block("console", "$ export MAESTRO_APP=refunds_app:app").splitlines()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        for k in [k for k in os.environ if k.startswith("MAESTRO_")]:
            mp.delenv(k)
        outputs = _session(session)
    return tmp_path, outputs


def _session(session: list[str]) -> list[str]:
    env: dict[str, str] = {}  # what the session exports (the runner sets it per command)
    tokens: dict[str, str] = {}
    request_id = payload_hash = ""
    outputs: list[str] = []
    for line in (ln.removeprefix("$ ") for ln in session):
        if line.startswith("export "):
            key, value = line.removeprefix("export ").split("=", 1)
            env[key] = value
            continue
        for who, token in tokens.items():
            line = line.replace(f"<{who}'s token>", token)
        line = line.replace("REQUEST_ID", request_id).replace("HASH", payload_hash)
        text = run_shell_line(line, env)
        outputs.append(text)
        if "operators add" in line:
            tokens[line.split()[3]] = text.strip().splitlines()[-1]
        if "approvals list" in line:
            listed = run_shell_line("maestro approvals list --json", env)
            request_id = json.loads(listed)["approvals"][0]["request_id"]
            shown = run_shell_line(f"maestro approvals show {request_id} --json", env)
            payload_hash = json.loads(shown)["payload_hash"]
    outputs.append(run_shell_line("maestro runs list --json", env))
    return outputs


@pytest.mark.slow
def test_the_refund_example_runs_as_written(refund_session: tuple[Path, list[str]]) -> None:
    """Two people approve; the handler runs once, with its idempotency key."""
    tmp_path, outputs = refund_session
    assert "escalate" in outputs[0]
    assert "0/2" in outputs[1]  # the two-person rule
    assert "request approved (2 of 2 approvals)" in outputs[-2]
    assert "completed" in outputs[-2]
    refunds = (tmp_path / "refunds.log").read_text().splitlines()
    assert len(refunds) == 1 and refunds[0].endswith(" A-1001 25.0")


@pytest.mark.slow
def test_the_refund_run_is_stored_completed_after_the_approvals(
    refund_session: tuple[Path, list[str]],
) -> None:
    runs = json.loads(refund_session[1][-1])["runs"]
    assert runs[0]["status"] == "completed"


def test_the_log_line_in_the_readme_is_what_the_formatter_writes() -> None:
    import logging

    from maestro_helix.observability.logs import LogFormat, StructuredFormatter

    shown = re.search(r"\n  (\d{4}-\d\d-\d\dT[^\n]+)\n", TEXT)
    assert shown is not None
    record = logging.LogRecord(
        "maestro_helix.bus.workqueue", logging.WARNING, "", 1, "work queue fetch failed", (), None
    )
    record.error = "TimeoutError: nats: timeout"
    line = StructuredFormatter(LogFormat.TEXT).format(record)
    assert line.split(" ", 1)[1] == shown.group(1).split(" ", 1)[1]
    assert "MAESTRO_LOG_FORMAT=json" in TEXT and "MAESTRO_LOG_LEVEL" in TEXT


# -- the snippets for model agents, the Helix client and the adapters name real things ----------


def python_blocks(*names: str) -> list[str]:
    """The ```python blocks that use any of ``names``."""
    found = re.findall(r"```python\n(.*?)```", TEXT, re.S)
    return [b for b in found if any(re.search(rf"\b{n}\b", b) for n in names)]


@pytest.mark.parametrize(
    ("uses", "must_check"),
    [
        (
            "ChatAgent",
            {"maestro_helix.agents.chat.ChatAgent", "ChatAgent.from_config"},
        ),
        (
            "HelixClient",
            {
                "maestro_helix.client.HelixClient",
                "HelixClient(token=)",
                "HelixClient(verify=)",
                "HelixClient(cert=)",
                "HelixClient.gate",
                "HelixClient.gate(expect=)",
                "GateResult.decision",
                "GateResult.verdict",
                "GateVerdict.reasons",
            },
        ),
        (
            "helix_node",
            {
                "maestro_helix.adapters.langgraph.helix_node",
                "helix_node(judge=)",
                "helix_node(text_key=)",
                "helix_node(task=)",
                "helix_node(expect=)",
            },
        ),
        (
            "GilToolApprovals",
            {
                "maestro_helix.adapters.openai_agents.GilToolApprovals",
                "maestro_helix.adapters.openai_agents.helix_output_guardrail",
                "GilToolApprovals(tools=)",
                "GilToolApprovals.needs_approval",
                "GilToolApprovals.decide",
                "GilToolApprovals.decide(operator_id=)",
                "GilToolApprovals.decide(payload_hash_seen=)",
                "GilToolApprovals.review",
                "ApprovalStatus.payload_hash",
                "helix_output_guardrail(expect=)",
                "maestro_helix.governance.policy.load_policy",
            },
        ),
    ],
)
def test_the_readme_snippets_compile_and_name_real_attributes(
    uses: str, must_check: set[str]
) -> None:
    from readme_names import check_snippet

    blocks = python_blocks(uses)
    assert blocks, f"no python block in the README uses {uses}"
    checked: set[str] = set()
    for code in blocks:
        result = check_snippet(code)
        assert not result.errors, (result.errors, code)
        checked |= result.names
    assert must_check <= checked, sorted(must_check - checked)  # the checker did look


def test_the_readme_chat_agent_snippets_build_the_agents_they_say() -> None:
    """The Python snippet builds its ChatAgent (no call is made); the YAML one parses."""
    import yaml

    from maestro_helix.agents.base import AgentRegistry
    from maestro_helix.agents.chat import OutputFormat, agents_from_config

    section = TEXT.split("### Model agents: any OpenAI-compatible endpoint", 1)[1]
    section = section.split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    ns: dict[str, Any] = {"agents": AgentRegistry()}
    exec(code, ns)
    agent = ns["agents"].get("extractor")
    assert agent.config.max_concurrency == 8 and agent.config.api_key_env == "OPENAI_API_KEY"
    assert agent.config.output is OutputFormat.JSON
    (declared,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    (b,) = agents_from_config(yaml.safe_load(declared))
    assert b.id == "extractor" and b.config.output is OutputFormat.JSON


def test_the_readme_says_the_agents_sdk_approvals_are_not_audited() -> None:
    """The adapters' section tells what GilToolApprovals keeps: in memory, not in the store."""
    import maestro_helix.adapters.openai_agents as sdk

    section = TEXT.split("### Helix and GIL inside LangGraph and the OpenAI Agents SDK", 1)[1]
    section = " ".join(section.split("\n## ", 1)[0].split())
    assert "in memory" in section and "not stored in Maestro's database" in section
    assert "audit log" in section
    import ast

    tree = ast.parse(Path(sdk.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    keeps = ("maestro_helix.store", "maestro_helix.governance.service", "maestro_helix.app")
    keeps += ("maestro_helix.governance.audit", "maestro_helix.governance.auditlog")
    assert not [m for m in imported if m.startswith(keeps)], (
        "the Agents SDK adapter now uses the store or the audit log: update the README section"
    )


@pytest.mark.slow
def test_the_rollout_shell_session_runs_as_written(tmp_path: Path) -> None:
    """The README's rollout from the shell, verbatim, in bash (``maestro`` is this Python's)."""
    import shutil

    session = block("bash", "cat > brief.yaml <<'EOF'")
    bindir = Path(sys.executable).parent
    found = shutil.which("maestro", path=str(bindir))
    shim = "" if found else f'maestro() {{ "{sys.executable}" -m maestro_helix "$@"; }}\n'
    (tmp_path / "session.sh").write_text("set -euo pipefail\n" + shim + session)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "session.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert text.count("is now staging") == 2 and "v1 is now production" in text
    assert "v2 gets there through a canary" in text
    assert "canary of v2 started: 10% of new runs" in text
    assert "decision: continue" in text and "GO" in text
    assert (tmp_path / "v2.html").exists()
