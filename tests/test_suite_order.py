"""The suite's own order (``longest_first`` in tests/conftest.py), checked against the installed
pytest-xdist's work-stealing scheduler: each worker's first batch starts with its share of the
longest tests, a file kept together lands on one worker, and the long tests are shared out so
that no worker holds much more of them than another."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from xdist.scheduler.worksteal import WorkStealingScheduling

from conftest import LONGEST, _cost, longest_first

HEAVY = [
    "tests/test_many_processes.py::test_many_processes_share_one_database[sqlite]",
    "tests/test_many_processes.py::test_many_processes_share_one_database[postgresql]",
    "tests/test_static.py::test_code_gate[mypy-strict]",
    "tests/test_api_contract.py::test_the_api_answers_as_its_document_says",
    *(f"tests/test_llm_local.py::test_{i}" for i in range(4)),
    "tests/test_kill9.py::test_kill9_mid_batch_then_resume",
]
LIGHT = [f"tests/test_text.py::test_{i}" for i in range(60)]
# the collection order: the long tests among the short ones, as the files fall
COLLECTED = [*LIGHT[:20], *HEAVY[2:4], *LIGHT[20:40], *HEAVY[4:], *LIGHT[40:], *HEAVY[:2]]


class Node:
    """What the scheduler sees of a worker."""

    def __init__(self, n: int) -> None:
        self.gateway = SimpleNamespace(id=f"gw{n}")
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def send_steal(self, indices: list[int]) -> None:
        pass

    def shutdown(self) -> None:
        self.shutting_down = True


def first_batches(order: list[str], workers: int) -> list[list[str]]:
    """The tests each worker is first given, by pytest-xdist's own ``--dist worksteal``."""
    config: Any = SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"])
    scheduler = WorkStealingScheduling(config)
    nodes = [Node(n) for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
    for node in nodes:
        scheduler.add_node_collection(node, order)  # type: ignore[arg-type]
    scheduler.schedule()
    return [[order[i] for i in node.sent] for node in nodes]


def items(ids: list[str]) -> list[Any]:
    return [SimpleNamespace(nodeid=i) for i in ids]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_every_worker_starts_with_its_share_of_the_longest_tests(workers: int) -> None:
    ordered = longest_first(items(COLLECTED), workers)
    assert ordered is not None
    order = [i.nodeid for i in ordered]
    assert sorted(order) == sorted(COLLECTED)  # the same tests, each once
    batches = first_batches(order, workers)
    assert sorted(t for b in batches for t in b) == sorted(COLLECTED)
    heavy = set(HEAVY)
    load = []
    for batch in batches:
        n = sum(t in heavy for t in batch)
        assert all(t in heavy for t in batch[:n]), batch  # the long tests first
        costs = dict(_cost(i) for i in items(batch[:n]))  # a file kept together counts once
        load.append(sum(costs.values()))
    for kept in ("test_llm_local.py", "test_many_processes.py"):
        holders = [b for b in batches if any(f"/{kept}::" in t for t in b)]
        assert len(holders) == 1, (kept, batches)  # the file's tests on one worker
    assert max(load) - min(load) <= max(LONGEST.values()), load


def test_a_selection_too_small_to_share_keeps_its_order() -> None:
    selected = items(HEAVY[4:8])  # one file kept together, on two workers of two tests each
    assert longest_first(selected, 2) is None
