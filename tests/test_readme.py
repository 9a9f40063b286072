"""The README's first example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
