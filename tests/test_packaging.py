"""Packaging: ranges not pins, extras, a licence, a version, and an embedded default that works
without the optional dependencies (each missing one named by its extra)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_helix.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OPTIONAL = (
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "nats",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "cryptography",
)

# Runs a command as if the optional extras were not installed: their imports fail the way they
# do in a bare `pip install .`.
_WITHOUT_EXTRAS = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Absent())
sys.argv = ["maestro", *{argv!r}]
from maestro_helix.cli.main import main
main()
"""


def without_extras(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    code = _WITHOUT_EXTRAS.format(blocked=OPTIONAL, argv=list(argv))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_runtime_dependencies_are_ranges_not_pins() -> None:
    deps = PYPROJECT["project"]["dependencies"]
    assert deps and all("==" not in d and ">=" in d for d in deps), deps
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        if extra in ("postgres", "nats", "server", "otel"):
            assert all("==" not in r for r in reqs), (extra, reqs)
    assert all("==" not in r for r in PYPROJECT["build-system"]["requires"])


def test_the_embedded_default_leaves_the_production_stacks_to_extras() -> None:
    names = " ".join(PYPROJECT["project"]["dependencies"])
    for heavy in ("psycopg", "nats-py", "fastapi", "uvicorn", "opentelemetry-sdk", "cryptography"):
        assert heavy not in names
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"postgres", "nats", "server", "otel", "all", "test"} <= set(extras)
    assert extras["all"] == ["maestro-helix[postgres,nats,server,otel]"]
    assert "maestro-helix[all]" in extras["test"]


def test_licence_file_matches_the_declared_licence() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert "License :: " not in " ".join(PYPROJECT["project"]["classifiers"])  # PEP 639


def test_version_comes_from_the_package_metadata() -> None:
    import maestro_helix

    assert maestro_helix.__version__ == version("maestro-helix")
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0
    assert r.output.strip() == f"maestro-helix {version('maestro-helix')}"


def test_importing_the_package_loads_none_of_its_dependencies() -> None:
    code = (
        "import sys, maestro_helix; "
        "print(sorted(m for m in ('sqlalchemy', 'pydantic', 'prometheus_client', 'fastapi', "
        "'opentelemetry', 'alembic', 'jsonschema') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_help_loads_no_database_web_bus_or_telemetry_stack() -> None:
    code = (
        "import sys; sys.argv = ['maestro', '--help']\n"
        "from maestro_helix.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('sqlalchemy', 'alembic', 'fastapi', 'nats', "
        "'psycopg', 'opentelemetry', 'cryptography', 'prometheus_client', 'jsonschema') "
        "if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in r.stdout, r.stdout[-500:]


@pytest.mark.slow
def test_demo_runs_without_any_extra(tmp_path: Path) -> None:
    r = without_extras(tmp_path, "demo", "--tasks", "5", "--db", str(tmp_path / "d.db"))
    assert r.returncode == 0, r.stderr
    assert "audit chain: intact" in r.stdout


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["serve", "--db", "x.db"], "server"),
        (["certs", "list"], "server"),
        (["worker", "--db", "x.db"], "nats"),
        (["demo", "--tasks", "1", "--db", "x.db", "--bus", "nats://127.0.0.1:1"], "nats"),
        (["runs", "list", "--db", "postgresql://nobody@127.0.0.1:1/none"], "postgres"),
    ],
)
def test_a_missing_extra_is_named_with_the_install_command(
    tmp_path: Path, argv: list[str], extra: str
) -> None:
    r = without_extras(tmp_path, *argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"needs the [{extra}] extra" in r.stderr
    assert f"pip install 'maestro-helix[{extra}]'" in r.stderr


def test_otlp_export_without_the_otel_extra_is_named(tmp_path: Path) -> None:
    code = _WITHOUT_EXTRAS.format(blocked=OPTIONAL, argv=[]).replace(
        "from maestro_helix.cli.main import main\nmain()",
        "import os; os.environ['OTEL_EXPORTER_OTLP_ENDPOINT'] = 'http://127.0.0.1:1'\n"
        "from maestro_helix.observability.tracing import tracer_provider_from_env\n"
        "from maestro_helix.core.errors import MissingExtra\n"
        "try:\n    tracer_provider_from_env()\nexcept MissingExtra as e:\n    print(e)\n",
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs the [otel] extra" in r.stdout


def test_the_cli_restates_the_certificate_defaults_faithfully() -> None:
    from maestro_helix.cli import certs as cli
    from maestro_helix.security import certs, tls

    assert (cli.DEFAULT_CA_DAYS, cli.DEFAULT_LEAF_DAYS) == (
        certs.DEFAULT_CA_DAYS,
        certs.DEFAULT_LEAF_DAYS,
    )
    assert (cli.DEFAULT_SERVER_NAME, cli.DEFAULT_CLIENT_NAME) == (
        tls.DEFAULT_SERVER_NAME,
        tls.DEFAULT_CLIENT_NAME,
    )
    assert {k.value for k in cli.LeafKind} <= {k.value for k in certs.CertKind}


def _floors(reqs: list[str]) -> dict[str, str]:
    """``name -> lower bound`` of requirements like ``psycopg[binary]>=3.2.3``."""
    out = {}
    for r in reqs:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?>=([^,;\s]+)", r)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_lowest_constraints_pin_every_lower_bound() -> None:
    """constraints/lowest.txt (what .ci/lowest installs) pins each runtime dependency and each
    production extra at exactly its lower bound: a raised or new bound cannot go untested."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    floors = _floors(PYPROJECT["project"]["dependencies"])
    for extra in ("postgres", "nats", "server", "otel"):
        floors.update(_floors(extras[extra]))
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints" / "lowest.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    pins = {k.strip().lower(): v.strip() for k, v in pins.items()}

    def same(a: str, b: str) -> bool:  # 2.10 == 2.10.0
        pa, pb = a.split("."), b.split(".")
        n = max(len(pa), len(pb))
        return pa + ["0"] * (n - len(pa)) == pb + ["0"] * (n - len(pb))

    wrong = {k: (v, pins.get(k)) for k, v in floors.items() if not same(v, pins.get(k, "-"))}
    assert not wrong, f"lower bound vs constraints/lowest.txt: {wrong}"


def test_the_ci_lock_satisfies_every_declared_requirement() -> None:
    """constraints/ci.txt (what .ci/run installs) pins every requirement of pyproject.toml's
    runtime and [test] dependencies at a version the requirement allows."""
    from packaging.requirements import Requirement

    lock = {}
    for line in (ROOT / "constraints" / "ci.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, v = line.partition("==")
            lock[re.sub(r"[-_.]+", "-", name).lower()] = v.strip()
    extras = PYPROJECT["project"]["optional-dependencies"]
    reqs = [*PYPROJECT["project"]["dependencies"], *extras["test"]]
    for extra in ("postgres", "nats", "server", "otel"):
        reqs += extras[extra]
    bad = []
    for text in reqs:
        req = Requirement(text)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name == "maestro-helix":
            continue
        if name not in lock or not req.specifier.contains(lock[name], prereleases=True):
            bad.append(f"{text}: locked {lock.get(name, 'nothing')}")
    assert not bad, bad
