"""Event bus benchmark: JetStream publish rate, measured side by side in one run.

(1) the naive loop, one awaited ack at a time: ``for e in events: await js.publish(...)``;
(2) ``JetStreamBus.publish`` with up to ``--max-in-flight`` acks outstanding.

Both publish the same small events (orjson of ``EventRecord.to_dict()``, ``Nats-Msg-Id`` header)
to their own fresh file-backed stream, and both return only when every event is acked. Figures
are appended to bench/RESULTS.md.

Run:  python bench/bench_bus.py --events 20000   (needs a NATS server with JetStream)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.metadata as md
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import orjson

from maestro_helix.bus.nats import MSG_ID_HEADER, JetStreamBus
from maestro_helix.core.clock import iso
from maestro_helix.store.base import EventRecord

HERE = Path(__file__).parent


def make_events(n: int, prefix: str) -> list[EventRecord]:
    ts = iso(dt.datetime.now(dt.UTC))
    return [
        EventRecord(
            f"{prefix}-{i:06d}",
            "step.finished",
            ts,
            f"run-{i // 3}",
            "research-pipeline",
            ("research", "analysis", "synthesis")[i % 3],
            {"decision": "pass", "qsr": 0.91, "mri": 0.12},
        )
        for i in range(n)
    ]


async def bench_naive(url: str, n: int, warmup: int) -> dict[str, Any]:
    """One awaited ack at a time, on a stream set up exactly as the bus sets up its own."""
    stream = f"BENCH_NAIVE_{uuid.uuid4().hex[:8]}"
    setup = JetStreamBus(url, stream=stream, subject=f"{stream.lower()}.events")
    await setup.open()
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:

        async def run(events: list[EventRecord]) -> None:
            for ev in events:
                await js.publish(
                    setup.subject,
                    orjson.dumps(ev.to_dict()),
                    stream=stream,
                    headers={MSG_ID_HEADER: ev.event_id},
                )

        await run(make_events(warmup, "warm"))
        events = make_events(n, "naive")
        t0 = time.perf_counter()
        await run(events)
        elapsed = time.perf_counter() - t0
        stored = await setup.stream_info()
        v = nc.connected_server_version
        server = f"v{v.major}.{v.minor}.{v.patch}"
        await js.delete_stream(stream)
    finally:
        await nc.close()
        await setup.aclose()
    assert stored == n + warmup, (stored, n + warmup)
    return {"events": n, "elapsed_s": elapsed, "rate": n / elapsed, "server": server}


async def bench_bus(url: str, n: int, warmup: int, max_in_flight: int) -> dict[str, Any]:
    stream = f"BENCH_BUS_{uuid.uuid4().hex[:8]}"
    bus = JetStreamBus(
        url, stream=stream, subject=f"{stream.lower()}.events", max_in_flight=max_in_flight
    )
    await bus.open()
    try:
        await bus.publish(make_events(warmup, "warm"))
        events = make_events(n, "bus")
        t0 = time.perf_counter()
        await bus.publish(events)
        elapsed = time.perf_counter() - t0
        stored = await bus.stream_info()
        nc = await nats.connect(url)
        await nc.jetstream().delete_stream(stream)
        await nc.close()
    finally:
        await bus.aclose()
    assert stored == n + warmup, (stored, n + warmup)
    return {"events": n, "elapsed_s": elapsed, "rate": n / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--max-in-flight", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--section", default="bus")
    args = ap.parse_args()

    sys.path.insert(0, str(HERE))
    from bench_engine import git_rev, machine

    print(f"(1) naive loop, one awaited ack at a time: {args.events} events ...", flush=True)
    naive = asyncio.run(bench_naive(args.url, args.events, args.warmup))
    print(f"    {naive['rate']:,.0f} events/s", flush=True)
    print(f"(2) JetStreamBus.publish, max_in_flight {args.max_in_flight} ...", flush=True)
    ours = asyncio.run(bench_bus(args.url, args.events, args.warmup, args.max_in_flight))
    print(f"    {ours['rate']:,.0f} events/s", flush=True)
    ratio = ours["rate"] / naive["rate"]

    lines = [
        f"## {args.section}: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (commit {git_rev()})",
        "",
        f"- machine: {machine()}",
        f"- command: `python bench/bench_bus.py --events {args.events} "
        f"--max-in-flight {args.max_in_flight}`",
        f"- server: nats-server {naive['server']} on the same machine (JetStream, file storage, "
        f"dedup by `Nats-Msg-Id`); client nats-py {md.version('nats-py')}",
        "",
        "| measurement | figure | target |",
        "|---|---|---|",
        f"| (1) naive loop, `await js.publish(...)` per event, {naive['events']} events | "
        f"{naive['rate']:,.0f} events/s ({naive['elapsed_s']:.2f} s) | — |",
        f"| (2) `JetStreamBus.publish`, max_in_flight {args.max_in_flight}, "
        f"{ours['events']} events | **{ours['rate']:,.0f} events/s** "
        f"({ours['elapsed_s']:.2f} s) | — |",
        f"| ratio (2) / (1) | **{ratio:.1f}×** | — |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    existing = args.out.read_text() if args.out.exists() else "# Benchmark results\n\n"
    args.out.write_text(existing.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    sys.exit(main())
