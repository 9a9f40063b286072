"""The optional LLM judge (helix/judge.py) against a local OpenAI-compatible endpoint.

The endpoint is a small HTTP server on 127.0.0.1 (an ephemeral port this test owns) that
answers chat-completion requests with grades from a queue: a stand-in for the external model,
not for any part of maestro-helix.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import EvaluationFailure, FailureKind, QualityScore
from maestro_helix.helix.base import EvaluationRequest
from maestro_helix.helix.gate import GateDecision, GateThresholds, HelixQualityGate
from maestro_helix.helix.judge import LLMJudge, parse_grade
from maestro_helix.helix.qsr import QSREvaluator


class _Judge(BaseHTTPRequestHandler):
    replies: ClassVar[list[str]] = []
    seen: ClassVar[list[dict[str, Any]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).seen.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            reply = type(self).replies.pop(0)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Judge.replies, _Judge.seen = [], []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


REQ = EvaluationRequest(
    step_id="s",
    task="Explain the offside rule in football.",
    input={},
    input_text="",
    output=AgentOutput(text="A player is offside when nearer the goal line than the ball and the "
                            "second-last defender when a team-mate plays the ball."),
)  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "grade"),
    [("SCORE: 7", 0.7), ("score=8/10", 0.8), ("0.65", 0.65), ("SCORE: 90/100", 0.9)],
)
def test_parse_grade(reply: str, grade: float) -> None:
    assert parse_grade(reply) == pytest.approx(grade)


def test_parse_grade_refuses_a_reply_without_one() -> None:
    with pytest.raises(ValueError, match="no grade"):
        parse_grade("I cannot grade this.")


async def test_consistent_grades_give_a_score_with_its_band(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAESTRO_JUDGE_API_KEY", "k-test")
    _Judge.replies = ["SCORE: 9", "SCORE: 8", "SCORE: 9", "SCORE: 9", "SCORE: 8"]
    judge = LLMJudge(endpoint, "grader", samples=5)
    q = await QSREvaluator(custom={"judge": judge}, custom_timeout_s=20).aevaluate(
        REQ, custom=("judge",)
    )
    assert isinstance(q, QualityScore)
    c = next(c for c in q.criteria if c.name == "judge")
    assert c.score == pytest.approx(0.86)
    assert "band" in c.detail and "5 samples" in c.detail
    assert len(_Judge.seen) == 5 and all(s["path"] == "/v1/chat/completions" for s in _Judge.seen)
    assert _Judge.seen[0]["body"]["model"] == "grader" and _Judge.seen[0]["auth"] == "Bearer k-test"


async def test_grades_straddling_the_gate_are_inconclusive_and_escalate(endpoint: str) -> None:
    _Judge.replies = ["SCORE: 5", "SCORE: 9", "SCORE: 6", "SCORE: 8", "SCORE: 7"]
    judge = LLMJudge(endpoint, "grader", samples=5, gate=0.7)
    result = await QSREvaluator(custom={"judge": judge}, custom_timeout_s=20).aevaluate(
        REQ, custom=("judge",)
    )
    assert isinstance(result, EvaluationFailure)
    assert result.kind is FailureKind.INCONCLUSIVE and "straddles the gate 0.7" in result.message
    verdict = HelixQualityGate().decide(result, None, attempt=1, thresholds=GateThresholds())
    assert verdict.decision is GateDecision.ESCALATE


def test_a_judge_needs_two_samples() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        LLMJudge("http://127.0.0.1:1/v1", "m", samples=1)
