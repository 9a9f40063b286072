"""``maestro audit …`` (read, prove and verify the log) and ``maestro keys …`` (the log's key).

Read commands open the database with ``must_exist``: a mistyped path is an error, never a new
empty database that then "verifies".
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from maestro_helix.cli.common import DbOpt, ExitCode, err, open_store, out, run_async
from maestro_helix.core.errors import AuditLogError, ConfigError
from maestro_helix.governance.auditlog import (
    Anchor,
    Checkpointer,
    LogReport,
    build_tree,
    consistency_body,
    entry_leaf,
    inclusion_body,
    open_notes,
)
from maestro_helix.governance.auditscan import verify_store
from maestro_helix.governance.checkpoint import (
    DEFAULT_ORIGIN,
    PRIVATE_KEY_FILE,
    VERIFIER_KEY_FILE,
    NoteVerifier,
    init_keys,
    load_signer,
    load_verifier,
)
from maestro_helix.governance.witness import Fetch, witness_update
from maestro_helix.store.base import AuditFilter, CheckpointRecord, Store

audit_app = typer.Typer(help="The verifiable audit log (hash chain + Merkle tree).")
keys_app = typer.Typer(help="The audit log's signing key (Ed25519).", no_args_is_help=True)
audit_app.info.no_args_is_help = True

KeysOpt = Annotated[
    Path,
    typer.Option(
        "--keys",
        envvar="MAESTRO_KEYS",
        help="Folder of the log's signing key (audit-log.key, audit-log.vkey). Env: MAESTRO_KEYS.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DEFAULT_KEYS = Path("keys")
CHECKPOINT_SUFFIX = ".checkpoint"
LATEST_FILE = "checkpoint"


def _echo_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, sort_keys=True, default=str))


# -- keys ---------------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(
    keys: KeysOpt = DEFAULT_KEYS,
    origin: Annotated[
        str, typer.Option(help="The log's name (key name and checkpoint origin line).")
    ] = DEFAULT_ORIGIN,
) -> None:
    """Create the log's Ed25519 signing key (private key file mode 0600); never overwrites."""

    async def main() -> None:
        signer = init_keys(keys, origin)
        out.print(f"signing key: {keys / PRIVATE_KEY_FILE} (keep it secret, mode 0600)")
        out.print(f"public key:  {keys / VERIFIER_KEY_FILE}  key id {signer.key_id.hex()}")
        typer.echo(signer.vkey())

    run_async(main())


@keys_app.command("export")
def keys_export(
    keys: KeysOpt = DEFAULT_KEYS,
    form: Annotated[str, typer.Option("--format", help="vkey (signed-note) or pem.")] = "vkey",
    to: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
) -> None:
    """Print the public key witnesses verify checkpoints with."""

    async def main() -> None:
        verifier = load_verifier(keys)
        if form not in ("vkey", "pem"):
            raise ConfigError("--format", "", f"expected vkey or pem, got {form!r}")
        text = verifier.vkey() + "\n" if form == "vkey" else _pem(verifier)
        if to is None:
            typer.echo(text, nl=False)
        else:
            to.write_text(text, encoding="utf-8")
            out.print(f"wrote {to}")

    run_async(main())


def _pem(v: NoteVerifier) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(v.public_key)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


# -- checkpoints on disk ------------------------------------------------------------------------


def read_notes(folder: Path) -> list[tuple[str, str]]:
    """Every checkpoint file in ``folder`` as (path, text); an error when there is none."""
    if not folder.is_dir():
        raise ConfigError("--against", str(folder), "no such folder of checkpoints")
    files = sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}"))
    if (folder / LATEST_FILE).is_file():
        files.append(folder / LATEST_FILE)
    if not files:
        raise ConfigError("--against", str(folder), "holds no checkpoints: nothing to verify")
    notes = []
    for f in files:
        try:
            notes.append((str(f), f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(str(f), "", f"cannot read the checkpoint: {e}") from None
    return notes


def export_checkpoints(folder: Path, records: list[CheckpointRecord]) -> int:
    """Write each checkpoint as ``<size>.checkpoint`` (never overwriting a different one) and the
    newest as ``checkpoint``; returns how many files are new."""
    folder.mkdir(parents=True, exist_ok=True)
    new = 0
    for r in records:
        path = folder / f"{r.tree_size:012d}{CHECKPOINT_SUFFIX}"
        if path.exists():
            if path.read_text(encoding="utf-8") != r.note:
                raise ConfigError(
                    str(path),
                    "",
                    f"holds a different checkpoint for tree size {r.tree_size}: not overwritten "
                    "(the log and this copy disagree: run maestro audit verify --against)",
                )
            continue
        _write_atomically(path, r.note)
        new += 1
    if records:
        _write_atomically(folder / LATEST_FILE, records[-1].note)
    return new


def _write_atomically(path: Path, text: str) -> None:
    """A witness never reads half a checkpoint: write aside, then rename over."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _verifier(pubkey: Path | None, keys: Path, required: bool) -> NoteVerifier | None:
    if pubkey is not None:
        return load_verifier(pubkey)
    if (keys / VERIFIER_KEY_FILE).is_file():
        return load_verifier(keys)
    if required:
        raise ConfigError(
            "--pubkey", "", f"no public key: pass --pubkey FILE (or keep it in {keys})"
        )
    return None


# -- audit verify -------------------------------------------------------------------------------


def _print_report(r: LogReport) -> None:
    if r.ok:
        out.print(
            f"[green]audit log intact[/green]: {r.checked} entries verified, tree head "
            f"{r.root_hash}, {r.checkpoints} signed checkpoint(s) match",
            soft_wrap=True,
        )
        if not r.checkpoints:
            out.print(
                "[yellow]no signed checkpoint was compared[/yellow]: this proves the chain only; "
                "anchor it outside the database with --against DIR --pubkey FILE",
                soft_wrap=True,
            )
        return
    where = f"entry {r.first_bad_seq}" if r.first_bad_seq is not None else r.bad_checkpoint or "log"
    err.print(f"[red]audit log BROKEN at {where}[/red]: {r.reason}", soft_wrap=True)


async def _anchors(
    store: Store, against: Path | None, verifier: NoteVerifier | None
) -> tuple[list[Anchor], LogReport | None]:
    if against is not None:
        assert verifier is not None
        return open_notes(read_notes(against), verifier)
    if verifier is None:
        return [], None
    stored = await store.list_checkpoints()
    return open_notes([(f"stored checkpoint {c.tree_size}", c.note) for c in stored], verifier)


@audit_app.command("verify")
def audit_verify(
    db: DbOpt = "maestro.db",
    against: Annotated[
        Path | None,
        typer.Option(
            help="Folder of exported checkpoints a witness kept (audit checkpoint --export)."
        ),
    ] = None,
    pubkey: Annotated[
        Path | None, typer.Option(help="The log's public key (.vkey file from keys export).")
    ] = None,
    keys: KeysOpt = DEFAULT_KEYS,
    allow_empty: Annotated[bool, typer.Option(help="An empty log is not an error.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check every entry's link and hash, the recorded head, and the Merkle tree against signed
    checkpoints (the stored ones, or a witness's copy with --against); name the first bad
    entry or checkpoint."""

    async def main() -> None:
        verifier = _verifier(pubkey, keys, required=against is not None)
        async with open_store(db, must_exist=True) as store:
            anchors, bad = await _anchors(store, against, verifier)
            report = bad or await verify_store(store, anchors, allow_empty=allow_empty)
        if as_json:
            _echo_json(dataclasses.asdict(report))
        else:
            _print_report(report)
        if not report.ok:
            raise ExitCode(1)

    run_async(main())


# -- audit checkpoint ---------------------------------------------------------------------------


@audit_app.command("checkpoint")
def audit_checkpoint(
    db: DbOpt = "maestro.db",
    keys: KeysOpt = DEFAULT_KEYS,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Also write every stored checkpoint to this folder (a witness's copy, "
            "a git repository...)."
        ),
    ] = None,
    git: Annotated[
        bool,
        typer.Option("--git", help="Commit the exported files in the folder's git repository."),
    ] = False,
) -> None:
    """Sign the log's current tree head now (stored in the database); optionally export."""

    async def main() -> None:
        signer = load_signer(keys)
        async with open_store(db, must_exist=True) as store:
            made = await Checkpointer(store, signer).checkpoint()
            records = await store.list_checkpoints()
        if made is not None:
            out.print(
                f"signed checkpoint: tree size {made.tree_size}, root {made.root_hash}",
                soft_wrap=True,
            )
        else:
            out.print("nothing new to sign (the newest checkpoint covers the whole log)")
        if export is not None:
            verifier = signer.verifier()
            mine = [r for r in records if r.origin == signer.name]
            for r in mine:
                try:
                    verifier.open(r.note)
                except AuditLogError as e:
                    raise AuditLogError(
                        f"stored checkpoint {r.tree_size} does not verify ({e}): not exported"
                    ) from None
            n = export_checkpoints(export, mine)
            out.print(f"exported {len(mine)} checkpoint(s) to {export} ({n} new)")
            if git and mine:
                out.print(git_commit(export, f"audit checkpoint {mine[-1].tree_size}"))

    run_async(main())


def git_commit(folder: Path, message: str) -> str:
    """Commit the checkpoint files in ``folder``'s repository (nothing to commit is fine)."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
        )

    try:
        if git("rev-parse", "--is-inside-work-tree").returncode != 0:
            raise ConfigError("--git", str(folder), "is not inside a git work tree (git init)")
        git("add", "--", f"*{CHECKPOINT_SUFFIX}", LATEST_FILE)
        if git("diff", "--cached", "--quiet").returncode == 0:
            return "git: nothing new to commit"
        done = git("commit", "-q", "-m", message)
    except FileNotFoundError:
        raise ConfigError("--git", "", "git is not installed") from None
    if done.returncode != 0:
        raise ConfigError("--git", str(folder), f"git commit failed: {done.stderr.strip()}")
    return f"git: committed ({message})"


# -- audit prove / consistency ------------------------------------------------------------------


async def _latest(store: Store, verifier: NoteVerifier | None) -> CheckpointRecord:
    stored = await store.list_checkpoints()
    if not stored:
        raise AuditLogError("no signed checkpoint yet: run maestro audit checkpoint first")
    latest = stored[-1]
    if verifier is not None:
        verifier.open(latest.note)
    return latest


@audit_app.command("prove")
def audit_prove(
    seq: Annotated[int, typer.Argument(min=1, help="The entry's seq.")],
    db: DbOpt = "maestro.db",
    pubkey: Annotated[Path | None, typer.Option(help="Check the checkpoint with this key.")] = None,
    keys: KeysOpt = DEFAULT_KEYS,
    as_json: JsonOpt = False,
) -> None:
    """Inclusion proof of one entry in the latest signed checkpoint (RFC 9162 §2.1.3)."""

    async def main() -> None:
        verifier = _verifier(pubkey, keys, required=False)
        async with open_store(db, must_exist=True) as store:
            cp = await _latest(store, verifier)
            tree = await store.scan_audit(lambda entries, _head: build_tree(entries))
        body = inclusion_body(tree, seq, cp)
        if as_json:
            _echo_json(body)
            return
        out.print(
            f"entry {seq} is leaf {seq - 1} of the tree of size {cp.tree_size} "
            f"(checkpoint signed {cp.ts}); the proof verifies against root {cp.root_hash}",
            soft_wrap=True,
        )
        for i, h in enumerate(body["proof"]):
            out.print(f"  {i}: {h}")

    run_async(main())


@audit_app.command("consistency")
def audit_consistency(
    old: Annotated[int, typer.Argument(min=0, help="The older tree size.")],
    new: Annotated[int, typer.Argument(min=0, help="The newer tree size.")],
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
) -> None:
    """Consistency proof between two tree sizes (RFC 9162 §2.1.4): NEW only appended to OLD."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            tree = await store.scan_audit(lambda entries, _head: build_tree(entries))
            stored = {c.tree_size: c for c in await store.list_checkpoints()}
        body = consistency_body(tree, old, new)
        for key, size in (("old_checkpoint", old), ("new_checkpoint", new)):
            body[key] = stored[size].note if size in stored else None
        if as_json:
            _echo_json(body)
            return
        out.print(
            f"tree {new} ({body['new_root']}) extends tree {old} ({body['old_root']}); "
            f"{len(body['proof'])} hash(es) prove it",
            soft_wrap=True,
        )
        for i, h in enumerate(body["proof"]):
            out.print(f"  {i}: {h}")

    run_async(main())


# -- audit list / show --------------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    db: DbOpt = "maestro.db",
    run: Annotated[str | None, typer.Option("--run", help="Only this run's entries.")] = None,
    operator: Annotated[str | None, typer.Option(help="Only entries by this person.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. approval.decision).")] = (
        None
    ),
    after: Annotated[int, typer.Option(min=0, help="Only entries after this seq.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List audit entries, oldest first, filtered by run, operator and kind."""

    async def main() -> None:
        f = AuditFilter(run_id=run, operator=operator, kind=kind, after_seq=after, limit=limit)
        async with open_store(db, must_exist=True) as store:
            rows = await store.find_audit(f)
        if as_json:
            more = rows[-1]["seq"] if len(rows) == limit else None  # None: the end
            _echo_json({"entries": rows, "next_after": more})
            return
        table = Table(title=f"{len(rows)} audit entr{'y' if len(rows) == 1 else 'ies'}")
        for name in ("seq", "ts", "kind", "run", "step", "decision", "operator"):
            table.add_column(name, overflow="fold")
        for e in rows:
            decision = "/".join(x for x in (e["gate_decision"], e["gil_decision"]) if x)
            table.add_row(
                str(e["seq"]),
                str(e["ts"])[:19],
                e["kind"],
                (e["run_id"] or "—")[:8],
                e["step_id"] or "—",
                decision or "—",
                e["human_operator_id"] or "—",
            )
        out.print(table)

    run_async(main())


@audit_app.command("show")
def audit_show(
    seq: Annotated[int, typer.Argument(min=1, help="The entry's seq.")],
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
) -> None:
    """Show one audit entry completely, with its chain hash and Merkle leaf hash."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            rows = await store.find_audit(AuditFilter(seq=seq, limit=1))
        if not rows:
            err.print(f"[red]error:[/red] no audit entry with seq {seq}")
            raise ExitCode(2)
        entry = {**rows[0], "leaf_hash": entry_leaf(rows[0]).hex()}
        if as_json:
            _echo_json(entry)
            return
        for k, v in entry.items():
            text = json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v)
            out.print(f"[bold]{k}[/bold]: {text}", highlight=False, soft_wrap=True)

    run_async(main())


# -- audit witness ------------------------------------------------------------------------------


def http_fetch(url: str, token: str | None, context: ssl.SSLContext | None = None) -> Fetch:
    """GET ``url + path`` with the operator's token (stdlib only: a witness installs little);
    ``context``: the client side of a mutual-TLS server (``maestro serve --tls``)."""
    import asyncio
    import urllib.error
    import urllib.request

    def get(path: str) -> bytes:
        req = urllib.request.Request(url.rstrip("/") + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30, context=context) as resp:
                body: bytes = resp.read()
                return body
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            raise ConfigError("--url", req.full_url, f"HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ConfigError("--url", req.full_url, f"unreachable: {e}") from None

    async def fetch(path: str) -> bytes:
        return await asyncio.to_thread(get, path)

    return fetch


@audit_app.command("witness")
def audit_witness(
    folder: Annotated[Path, typer.Argument(help="The witness's folder of checkpoints.")],
    url: Annotated[str, typer.Option(help="The log's API, e.g. https://maestro.example:8080.")],
    pubkey: Annotated[Path, typer.Option(help="The log's public key (.vkey).")],
    token: Annotated[
        str | None,
        typer.Option(envvar="MAESTRO_TOKEN", help="An operator token (viewer is enough)."),
    ] = None,
    certs: Annotated[
        Path | None,
        typer.Option(
            envvar="MAESTRO_CERTS",
            help="For an https:// URL: the folder with the CA and this witness's client "
            "certificate (maestro certs issue NAME --kind client).",
        ),
    ] = None,
    client: Annotated[str, typer.Option(help="The client certificate's name in --certs.")] = (
        "maestro-client"
    ),
) -> None:
    """Be a witness without database access: fetch the newest signed checkpoint and a consistency
    proof from the newest one kept in FOLDER, and keep it only if the log just appended."""

    async def main() -> None:
        verifier = load_verifier(pubkey)
        context = None
        if certs is not None and url.startswith("https://"):
            from maestro_helix.security import client_ssl_context

            context = client_ssl_context(certs, name=client)
        try:
            r = await witness_update(folder, http_fetch(url, token, context), verifier)
        except AuditLogError as e:
            err.print(f"[red]log REFUSED[/red]: {e}", soft_wrap=True)
            raise ExitCode(1) from None
        cp = r.now.checkpoint
        if r.before is None:
            out.print(f"first checkpoint kept: tree size {cp.size}, root {cp.root.hex()}")
        elif r.stored:
            out.print(
                f"the log grew from {r.before.checkpoint.size} to {cp.size} entries by appending "
                f"only (consistency proof verified); checkpoint kept in {folder}",
                soft_wrap=True,
            )
        else:
            out.print(f"nothing new: tree size {cp.size} is already kept")

    run_async(main())
