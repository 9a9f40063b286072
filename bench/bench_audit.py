"""Audit log benchmark: appends per second, verification of a million entries, proof costs.

(1) audited, fsync'd appends per second on one database: ``Store.append_audit`` of one entry per
    call, ``--concurrency`` callers per process, in 1 and in several processes at once, on SQLite
    (WAL, synchronous=FULL) and PostgreSQL (``--pg``; fsync as the server is configured). Each
    append returns only once committed (group commit shares one transaction and one fsync among
    the callers waiting). Reference: Trillian Tessera does ~1,600 appends/s on a one-core VM.
(2) ``maestro audit verify`` of ``--verify`` entries (default 1,000,000): chain, head and Merkle
    tree in one pass, against a signed checkpoint of the full log — in process (``scan_audit`` +
    ``verify_log``) and end to end (the CLI in a subprocess, ``--against`` a checkpoint folder).
(3) proofs over that tree: building the full tree, inclusion and consistency proof generation and
    verification (per proof), and ``maestro audit prove`` end to end.

Figures are appended to bench/RESULTS.md (machine, date, command).

Run:  python bench/bench_audit.py --appends 20000 --procs 1,4 --verify 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from maestro_helix.governance.audit import AuditDraft
from maestro_helix.governance.auditlog import Checkpointer, build_tree, open_notes, verify_log
from maestro_helix.governance.auditscan import verify_store
from maestro_helix.governance.checkpoint import init_keys, load_signer
from maestro_helix.governance.merkle import verify_consistency, verify_inclusion
from maestro_helix.store.base import Store
from maestro_helix.store.sequencer import AuditSequencer
from maestro_helix.store.sqlite import SQLiteStore

HERE = Path(__file__).parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def draft(i: int, prefix: str) -> AuditDraft:
    """An entry shaped like the engine's step decisions (about 400 bytes canonical)."""
    return AuditDraft(
        entry_id=f"{prefix}-{i}/0/1/decision",
        ts="2026-12-01T09:18:29.949268+00:00",
        kind="step.decision",
        run_id=str(uuid.UUID(int=i)),
        step_id=("research", "analysis", "synthesis")[i % 3],
        step_index=i % 3,
        attempt=1,
        workflow="research-pipeline",
        workflow_version=1,
        agent_id="research.deep",
        qsr_score=0.9 + (i % 97) / 1000,
        mri_score=0.05,
        gate_decision="pass",
        gil_decision="not_required",
        evaluator_versions={"qsr": "qsr-1", "mri": "mri-1"},
        details={"reasons": [], "self_score": 0.9},
    )


def make_store(backend: str, target: str, schema: str | None) -> Store:
    if backend == "sqlite":
        return SQLiteStore(target)
    from maestro_helix.store.postgres import PostgresStore

    return PostgresStore(target, connect_args={"options": f"-c search_path={schema}"})


# -- (1) appends ---------------------------------------------------------------------------------


async def _append_many(store: Store, n: int, concurrency: int, prefix: str) -> None:
    queue = iter(range(n))

    async def caller() -> None:
        for i in queue:
            await store.append_audit([draft(i, prefix)])

    await asyncio.gather(*(caller() for _ in range(concurrency)))


def append_worker(
    backend: str,
    target: str,
    schema: str | None,
    n: int,
    concurrency: int,
    barrier: Any,
    batched: bool,
) -> tuple[float, float]:
    """One process: open the store, wait for the others, append ``n`` entries; (start, end).

    Batched: entries are written as pending and a sequencer runs here too (one of the processes
    holds the lease); the end is when nothing is pending any more (every entry has its seq).
    """

    async def main() -> tuple[float, float]:
        store = make_store(backend, target, schema)
        if batched:
            store.use_batched_audit()  # type: ignore[attr-defined]
        async with store:
            sequencer = AuditSequencer(store)
            if batched:
                await sequencer.start()
            await _append_many(store, 50, 8, f"warm-{os.getpid()}")
            await asyncio.to_thread(barrier.wait)
            t0 = time.time()
            await _append_many(store, n, concurrency, f"p{os.getpid()}")
            while batched and await store.pending_audit():
                await asyncio.sleep(0.002)
            t1 = time.time()
            await asyncio.to_thread(barrier.wait)  # the lease holder stays until all are done
            await sequencer.aclose()
            return t0, t1

    return asyncio.run(main())


def measure_appends(
    backend: str,
    target: str,
    schema: str | None,
    procs: int,
    total: int,
    concurrency: int,
    batched: bool = False,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Manager().Barrier(procs)
    per = total // procs
    with ctx.Pool(procs) as pool:
        jobs = [
            pool.apply_async(
                append_worker, (backend, target, schema, per, concurrency, barrier, batched)
            )
            for _ in range(procs)
        ]
        spans = [j.get(timeout=1800) for j in jobs]
    elapsed = max(e for _, e in spans) - min(s for s, _ in spans)
    return {
        "procs": procs,
        "appends": per * procs,
        "elapsed_s": elapsed,
        "rate": per * procs / elapsed,
    }


async def check_chain(backend: str, target: str, schema: str | None) -> int:
    async with make_store(backend, target, schema) as store:
        report = await store.scan_audit(lambda e, h: verify_log(e, h, allow_empty=False))
        if not report.ok:
            raise SystemExit(f"chain broken after the append benchmark: {report.reason}")
        return report.checked


# -- (2) + (3) verify and proofs -----------------------------------------------------------------


async def build_log(db: Path, n: int, keys: Path) -> float:
    t0 = time.perf_counter()
    async with SQLiteStore(db, durability="normal") as store:
        batch = 10_000
        for lo in range(0, n, batch):
            await store.append_audit([draft(i, "v") for i in range(lo, min(n, lo + batch))])
        await Checkpointer(store, load_signer(keys)).checkpoint()
    return time.perf_counter() - t0


async def verify_in_process(db: Path, keys: Path) -> tuple[float, float, float, float, Any]:
    """verify_store in one pass and in one worker process per CPU: wall and CPU seconds of each
    (the CPU figure does not depend on what else the machine runs), and the report."""
    async with SQLiteStore(db, must_exist=True) as store:
        stored = await store.list_checkpoints()
        notes = [(str(c.tree_size), c.note) for c in stored]
        anchors, bad = open_notes(notes, load_signer(keys).verifier())
        assert bad is None
        t0, c0 = time.perf_counter(), time.process_time()
        one = await verify_store(store, anchors, parts=1)
        t1, c1 = time.perf_counter(), time.process_time()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        par = await verify_store(store, anchors, parts=os.cpu_count() or 2)
        t2 = time.perf_counter()
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        kids = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        assert one == par, (one, par)
        return t1 - t0, c1 - c0, t2 - t1, kids + time.process_time() - c1, one


def run_cli(*args: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "maestro_helix.cli.main", *args], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"maestro {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return elapsed


async def proofs(db: Path, samples: int) -> dict[str, float]:
    async with SQLiteStore(db, must_exist=True) as store:
        t0 = time.perf_counter()
        tree = await store.scan_audit(lambda e, _h: build_tree(e))
        build = time.perf_counter() - t0
    n = tree.size
    rng = random.Random(7)
    idx = [rng.randrange(n) for _ in range(samples)]
    root = tree.root()
    t0 = time.perf_counter()
    paths = [tree.inclusion_proof(i) for i in idx]
    gen = (time.perf_counter() - t0) / samples
    t0 = time.perf_counter()
    assert all(
        verify_inclusion(tree.leaf(i), i, n, p, root) for i, p in zip(idx, paths, strict=True)
    )
    ver = (time.perf_counter() - t0) / samples
    olds = [rng.randrange(1, n) for _ in range(samples)]
    t0 = time.perf_counter()
    cps = [(m, tree.root(m), tree.consistency_proof(m)) for m in olds]
    cgen = (time.perf_counter() - t0) / samples
    t0 = time.perf_counter()
    assert all(verify_consistency(m, n, r, root, p) for m, r, p in cps)
    cver = (time.perf_counter() - t0) / samples
    return {
        "tree_build_s": build,
        "incl_gen_us": gen * 1e6,
        "incl_ver_us": ver * 1e6,
        "cons_gen_us": cgen * 1e6,
        "cons_ver_us": cver * 1e6,
        "proof_len": sum(len(p) for p in paths) / samples,
    }


# -- report --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )


def commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
            ).stdout.strip()
            or "?"
        )
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--appends", type=int, default=20_000, help="entries per measurement (0: skip)")
    ap.add_argument("--procs", default="1,4", help="process counts, comma separated")
    ap.add_argument("--concurrency", type=int, default=64, help="callers per process")
    ap.add_argument(
        "--verify", type=int, default=1_000_000, help="entries of the verify log (0: skip)"
    )
    ap.add_argument("--samples", type=int, default=10_000, help="proofs generated and checked")
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL URL ('' to skip)")
    ap.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--keep", help="folder for the verify log, reused when it is there already")
    args = ap.parse_args(argv)
    procs = [int(p) for p in args.procs.split(",")]
    rows: list[str] = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        rows += bench_appends(Path(tmp), args, procs)
        rows += bench_verify(Path(args.keep) if args.keep else Path(tmp), args)
    text = report(args, rows, (load0, os.getloadavg()[0]))
    print(text)
    if not args.no_record:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0


def bench_appends(tmp: Path, args: Any, procs: list[int]) -> list[str]:
    if args.appends <= 0:
        return []
    rows = []
    backends = ["sqlite", "postgresql"] if args.pg else ["sqlite"]
    for backend, batched, p in itertools.product(backends, (False, True), procs):
        target = str(tmp / f"append-{p}-{batched}.db") if backend == "sqlite" else args.pg
        schema = pg_schema(args.pg) if backend == "postgresql" else None
        try:
            asyncio.run(_create(backend, target, schema))  # the schema, before the race
            r = measure_appends(backend, target, schema, p, args.appends, args.concurrency, batched)
            n = asyncio.run(check_chain(backend, target, schema))
        finally:
            if schema:
                pg_schema(args.pg, drop=schema)
        how = "batched sequencer" if batched else "seq in each transaction"
        print(f"{backend} {how} {p} proc: {r['rate']:,.0f} appends/s", flush=True)
        rows.append(
            f"| (1) appends, {backend}, {how}, {p} process(es) × {args.concurrency} callers, "
            f"{r['appends']} entries (chain of {n} verified after) | "
            f"**{r['rate']:,.0f} appends/s** ({r['elapsed_s']:.2f} s) | > 1,600 |"
        )
    return rows


async def _create(backend: str, target: str, schema: str | None) -> None:
    async with make_store(backend, target, schema):
        pass


def pg_schema(url: str, *, drop: str | None = None) -> str | None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        if drop:
            c.execute(f'DROP SCHEMA "{drop}" CASCADE')
            return None
        name = f"bench_{uuid.uuid4().hex[:10]}"
        c.execute(f'CREATE SCHEMA "{name}"')
        return name


def bench_verify(tmp: Path, args: Any) -> list[str]:
    if args.verify <= 0:
        return []
    tmp.mkdir(parents=True, exist_ok=True)
    db, keys, witness = tmp / f"verify-{args.verify}.db", tmp / "keys", tmp / "witness"
    if not db.exists():
        if not keys.exists():
            init_keys(keys)
        built = asyncio.run(build_log(db, args.verify, keys))
        print(f"built {args.verify} entries in {built:.1f} s", flush=True)
    in_proc, in_cpu, par, par_cpu, report_ = asyncio.run(verify_in_process(db, keys))
    assert report_.ok and report_.checked == args.verify, report_
    run_cli("audit", "checkpoint", "--db", str(db), "--keys", str(keys), "--export", str(witness))
    cli = run_cli(
        "audit",
        "verify",
        "--db",
        str(db),
        "--against",
        str(witness),
        "--pubkey",
        str(keys / "audit-log.vkey"),
    )
    print(f"verify: {in_proc:.2f} s one pass, {par:.2f} s parallel, {cli:.2f} s CLI", flush=True)
    p = asyncio.run(proofs(db, args.samples))
    prove = run_cli("audit", "prove", str(args.verify // 2), "--db", str(db), "--keys", str(keys))
    n = f"{args.verify:,}"
    return [
        f"| (2) verify {n} entries in process, one pass (chain + head + Merkle tree vs a signed "
        f"checkpoint) | **{in_proc:.2f} s** ({args.verify / in_proc:,.0f} entries/s; "
        f"{in_cpu:.2f} CPU-s) | ≤ 10 s |",
        f"| (2) the same, {os.cpu_count()} worker processes (power-of-two segments) | "
        f"**{par:.2f} s** ({par_cpu:.2f} CPU-s in all) | ≤ 10 s |",
        f"| (2) `maestro audit verify --against DIR --pubkey FILE`, {n} entries, end to end "
        f"(process start included) | **{cli:.2f} s** | ≤ 10 s |",
        f"| (3) full tree of {n} leaves (read + hash + all perfect subtrees) | "
        f"{p['tree_build_s']:.2f} s | — |",
        f"| (3) inclusion proof, {n} leaves ({p['proof_len']:.1f} hashes): generate / verify | "
        f"{p['incl_gen_us']:.1f} µs / {p['incl_ver_us']:.1f} µs | — |",
        f"| (3) consistency proof to {n}: generate / verify | "
        f"{p['cons_gen_us']:.1f} µs / {p['cons_ver_us']:.1f} µs | — |",
        f"| (3) `maestro audit prove SEQ`, {n} entries, end to end | {prove:.2f} s | — |",
    ]


def report(args: Any, rows: list[str], load: tuple[float, float]) -> str:
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cmd = " ".join(["python", "bench/bench_audit.py", *sys.argv[1:]])
    head = [
        f"## audit log: {now} (commit {commit()})",
        "",
        f"- machine: {machine()}",
        f"- command: `{cmd}`",
        "- SQLite: WAL, synchronous=FULL (fsync per commit); PostgreSQL on the same machine "
        "(server defaults: fsync on, synchronous_commit on); appends: one entry per call, "
        "each call returns after its commit",
        f"- load average (1 min) at start / end: {load[0]:.1f} / {load[1]:.1f} on "
        f"{os.cpu_count()} cores (the machine is shared with other sessions)",
        "",
        "| measurement | figure | target |",
        "|---|---|---|",
    ]
    return "\n".join([*head, *rows, ""])


if __name__ == "__main__":
    sys.exit(main())
